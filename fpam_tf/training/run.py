"""One training run end to end: claim the run directory, train, test, write TensorBoard output."""

from __future__ import annotations

import dataclasses

from fpam_tf.atomic import write_json_atomic
from fpam_tf.training.experiment import Experiment
from fpam_tf.training.loop import train
from fpam_tf.training.precision import resolve_precision
from fpam_tf.training.results import projector_embeddings, write_test_results
from fpam_tf.training.run_dir import RunConfig, RunDir
from fpam_tf.training.warm_start import warm_start


def run(
    config: RunConfig,
    run_dir: RunDir,
    *,
    tfds_dir=None,
    checkpoint_steps: int = 200,
    verbose: int = 1,
    max_steps_per_epoch: int | None = None,
    data=None,
) -> dict:
    """Trains, tests and writes a run directory; returns the test results (``metrics.json``).

    ``data`` (a :class:`~fpam_tf.protocol.ProtocolData`) replaces reading ``config``'s dataset.
    ``verbose``: 0 silent, 1 a progress bar per epoch, 2 also TFDS's own output while preparing.
    The precision ``config.precision`` resolves to here is recorded in the run's config.
    """
    from fpam_tf.training.summaries import RunSummaries

    config = dataclasses.replace(config, resolved_precision=resolve_precision(config.precision))
    run_dir.claim(config)
    experiment = Experiment.create(config, tfds_dir=tfds_dir, data=data, verbose=verbose >= 2)
    experiment.data.items.save(run_dir.vocabulary)
    experiment.data.users.save(run_dir.users)
    if config.init_from is not None and not run_dir.latest_weights.is_file():
        # A fresh run only: a resumed one continues from its own checkpoint.
        record = warm_start(
            experiment.model, RunDir(config.init_from), experiment.data.items, experiment.data.users
        )
        write_json_atomic(run_dir.path / "warm_start.json", record)
        if verbose:
            items = record["items"]
            print(
                f"Warm start from {record['from']}: {items['kept']} items kept, {items['new']} "
                f"new, {items['dropped']} dropped; {len(record['fresh'])} variable(s) start fresh"
            )
    summaries = RunSummaries(run_dir.logs)
    try:
        train(
            experiment,
            run_dir,
            checkpoint_steps=checkpoint_steps,
            verbose=verbose,
            summaries=summaries,
            max_steps_per_epoch=max_steps_per_epoch,
        )
        result = write_test_results(experiment, run_dir)
        summaries.hparams(hparams_of(config), result["metrics"])
        summaries.projector(*projector_embeddings(experiment))
    finally:
        summaries.close()
    return result


def hparams_of(config: RunConfig) -> dict:
    """The settings shown in TensorBoard's HParams table."""
    m = config.method
    return {
        "dataset": config.dataset,
        "model": config.model,
        "method": m.method,
        "context": m.context,
        "fp_target_weight": m.fp_target_weight,
        "lambda": m.fp_lambda,
        "margin": m.margin,
        "fp_weighting": m.fp_weighting,
        "fp_scope": m.fp_scope,
        "unlikelihood": m.unlikelihood,
        "skip_head": m.skip_head,
        # HParams values are scalars or strings.
        "grade_weights": (
            "-" if m.grade_weights is None else ",".join(f"{w:.3g}" for w in m.grade_weights)
        ),
        "batch_size": config.batch_size,
        "learning_rate": config.learning_rate,
        "seed": config.seed,
        "precision": config.resolved_precision or config.precision,
        "protocol_variant": config.protocol_variant,
        "init_from": config.init_from or "-",
    }
