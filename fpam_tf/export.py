"""``python -m fpam_tf.export``: a trained run as a TF Serving model version.

Example::

    python -m fpam_tf.export --run-dir runs/spotify-narm-fpam --k 100
    # -> saved_models/spotify-narm-fpam/<version>/ (saved_model.pb, variables/,
    #    assets/vocabulary.txt, assets.extra/tf_serving_warmup_requests)

The version is one above the highest present; it is written under a temporary name and renamed
into place when complete. Signatures and request shapes: BUILD.md, "Deployment: TF Serving".
"""

from __future__ import annotations

import argparse
from pathlib import Path

import fpam_tf  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)
from fpam_tf.cli import user_errors
from fpam_tf.errors import ConfigError
from fpam_tf.training.run_dir import RunDir, load_model


def export(run_dir, *, k: int = 100, export_base="saved_models", name: str | None = None) -> Path:
    """Exports the best weights of ``run_dir`` to ``<export_base>/<name>/<version>/``; returns
    that folder.

    ``name`` defaults to the run directory's name; ``k`` is the number of results per session.

    Raises:
      ConfigError: no trained model in ``run_dir``, a bad ``k`` or ``name``, or an unwritable
        ``export_base``.
    """
    import tensorflow as tf

    from fpam_tf.serving.module import RecommenderModule
    from fpam_tf.serving.versions import write_new_version
    from fpam_tf.serving.warmup import write_warmup_requests

    run_dir = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
    name = name or run_dir.path.resolve().name
    if not name or name.isdigit() or "/" in name or name in (".", ".."):
        raise ConfigError(
            f"--name {name!r} cannot name a model folder; pass a plain name such as 'spotify-narm'"
        )
    config, model, items, _ = load_model(run_dir)
    num_candidates = len(items) - 1
    if not 1 <= k <= num_candidates:
        raise ConfigError(
            f"--k {k} is outside 1..{num_candidates} "
            f"(the run's catalogue has {num_candidates} items)"
        )
    module = RecommenderModule(
        model,
        str(run_dir.vocabulary),
        items.ids,
        k=k,
        positives_only=config.method.context == "positives",
    )

    def write(staging: Path) -> None:
        tf.saved_model.save(module, str(staging), signatures=module.signatures())
        write_warmup_requests(staging, name, items.ids)

    return write_new_version(Path(export_base) / name, write)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m fpam_tf.export",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--run-dir", required=True, help="a finished training run (fpam_tf.train --run-dir)"
    )
    p.add_argument("--k", type=int, default=100, help="results per session (default: 100)")
    p.add_argument(
        "--export-base",
        default="saved_models",
        help="TF Serving model base folder (default: saved_models)",
    )
    p.add_argument("--name", default=None, help="model name (default: the run directory's name)")
    return p


@user_errors
def main(argv=None) -> Path:
    args = parser().parse_args(argv)
    path = export(args.run_dir, k=args.k, export_base=args.export_base, name=args.name)
    print(f"Exported {path}  (inspect: saved_model_cli show --dir {path} --all)")
    return path


if __name__ == "__main__":
    main()
