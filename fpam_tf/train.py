"""``python -m fpam_tf.train``: train a backbone with a method, validate every epoch, test the best
weights.

Example::

    python -m fpam_tf.train --dataset spotify --data-dir ../shared/datasets/spotify_mssd_sample \\
        --model narm --method fp-adametric --run-dir runs/spotify-narm-fpam

A run killed at any point continues from its last checkpoint when started again with the same
``--run-dir``; the test results land in ``<run-dir>/metrics.json`` and ``metrics.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import fpam_tf  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)
from fpam_tf.cli import add_dataset_arguments, add_run_arguments, run_config_from_args, user_errors
from fpam_tf.training.run_dir import RunDir


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m fpam_tf.train",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_dataset_arguments(p)
    add_run_arguments(p)
    p.add_argument(
        "--run-dir",
        default=None,
        help="run directory (default: runs/<dataset>-<model>-<method>-s<seed>)",
    )
    p.add_argument(
        "--checkpoint-steps",
        type=int,
        default=200,
        help="also checkpoint every N steps (0: epochs only)",
    )
    p.add_argument(
        "--export",
        action="store_true",
        help="export the trained model for TF Serving (see fpam_tf.export)",
    )
    p.add_argument(
        "--export-base", default="saved_models", help="TF Serving model base folder for --export"
    )
    p.add_argument(
        "--init-from",
        default=None,
        metavar="RUN_DIR",
        help="warm start from an earlier run's best weights (same backbone and sizes): items in "
        "both vocabularies keep their embeddings, new items start fresh, dropped ones go; the run "
        "records it in config.json and warm_start.json",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


@user_errors
def main(argv=None):
    from fpam_tf.training.run import run

    args = parser().parse_args(argv)
    config = run_config_from_args(args)
    if args.init_from is not None:
        source = RunDir(Path(args.init_from).expanduser().resolve())
        source.read_config()  # a ConfigError now, before anything is written, if it is no run
        config = dataclasses.replace(config, init_from=str(source.path))
    run_dir = RunDir(
        args.run_dir
        or Path("runs") / f"{config.dataset}-{config.model}-{config.method.method}-s{config.seed}"
    )
    result = run(
        config,
        run_dir,
        tfds_dir=args.tfds_dir,
        checkpoint_steps=args.checkpoint_steps,
        verbose=0 if args.quiet else 2 if args.verbose else 1,
        max_steps_per_epoch=args.max_steps_per_epoch,
    )
    print(run_dir.metrics_md.read_text())
    print(f"Run directory: {run_dir.path}  (tensorboard --logdir {run_dir.logs})")
    if args.export:
        from fpam_tf import export

        export.main(["--run-dir", str(run_dir.path), "--export-base", args.export_base])
    return result


if __name__ == "__main__":
    main()
