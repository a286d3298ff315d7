"""``python -m fpam_tf.evaluate --run-dir R``: re-score a run's best checkpoint on the test split.

Prints PROTOCOL's metrics table and rewrites ``metrics.json`` / ``metrics.md`` of the run.
"""

from __future__ import annotations

import argparse

import fpam_tf  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)
from fpam_tf.cli import user_errors
from fpam_tf.errors import ConfigError
from fpam_tf.training.run_dir import RunDir


def finished_experiment(run_dir: RunDir, *, data_dir=None, tfds_dir=None):
    """The :class:`~fpam_tf.training.Experiment` of a run that has best weights
    (``write_test_results`` loads them)."""
    import dataclasses

    from fpam_tf.training.experiment import Experiment

    config = run_dir.read_config()
    if not run_dir.best_weights.is_file():
        raise ConfigError(
            f"{run_dir.path} has no trained model yet ({run_dir.best_weights} is missing); "
            "finish its training first (rerun the same train command to resume)"
        )
    if data_dir is not None:
        config = dataclasses.replace(config, data_dir=data_dir)
    return Experiment.create(config, tfds_dir=tfds_dir)


@user_errors
def main(argv=None):
    from fpam_tf.training.results import write_test_results

    p = argparse.ArgumentParser(prog="python -m fpam_tf.evaluate", description=__doc__)
    p.add_argument("--run-dir", required=True)
    p.add_argument("--data-dir", default=None, help="raw data location, if it moved since training")
    p.add_argument("--tfds-dir", default=None)
    args = p.parse_args(argv)
    run_dir = RunDir(args.run_dir)
    experiment = finished_experiment(run_dir, data_dir=args.data_dir, tfds_dir=args.tfds_dir)
    result = write_test_results(experiment, run_dir)
    print(run_dir.metrics_md.read_text())
    return result


if __name__ == "__main__":
    main()
