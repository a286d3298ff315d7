"""The epoch loop of a run: validation every epoch, early stopping on validation MRR@20, atomic
checkpoints every epoch and every ``checkpoint_steps`` steps, resume mid-epoch, and a clear stop on
a NaN loss (the last good checkpoint is kept).

Under a ``tf.distribute`` strategy (the model created in its scope) every global batch is split
over the replicas; the loop, its steps, checkpoints and resume are the same as on one device.
"""

from __future__ import annotations

import json
import math
import time

from fpam_tf.atomic import write_json_atomic
from fpam_tf.errors import FpamError
from fpam_tf.metrics import SELECTION_METRIC
from fpam_tf.training.experiment import Experiment
from fpam_tf.training.run_dir import RunDir, save_weights_atomic
from fpam_tf.training.steps import batch_logs


class NaNLossError(FpamError):
    """The training loss became NaN or infinite."""


def train(
    experiment: Experiment,
    run_dir: RunDir,
    *,
    checkpoint_steps: int = 200,
    verbose: int = 1,
    summaries=None,
    max_steps_per_epoch: int | None = None,
) -> dict:
    """Trains until ``config.epochs`` or early stopping, resuming from ``run_dir`` when it holds
    progress.

    Returns the progress record (epochs done, best validation metrics, history).
    """
    import keras

    config, model = experiment.config, experiment.model
    steps = experiment.training_steps()
    if max_steps_per_epoch:
        steps = min(steps, max_steps_per_epoch)
    progress = {
        "epoch": 0,
        "step": 0,
        "best": None,
        "best_epoch": None,
        "wait": 0,
        "history": [],
        "global_step": 0,
        "stopped": None,
    }
    if run_dir.progress.is_file() and run_dir.latest_weights.is_file():
        progress = json.loads(run_dir.progress.read_text())
        model.load_weights(run_dir.latest_weights)
        if verbose:
            print(
                f"Resuming {run_dir.path} at epoch {progress['epoch'] + 1}, step {progress['step']}"
            )

    def checkpoint():
        save_weights_atomic(model, run_dir.latest_weights)
        write_json_atomic(run_dir.progress, progress)

    while progress["epoch"] < config.epochs and progress["stopped"] is None:
        epoch = progress["epoch"]
        model.reset_metrics()
        # batch_logs reports each batch's own loss terms; the bar averages them over the epoch.
        bar = keras.utils.Progbar(steps, verbose=verbose, unit_name="step")
        if verbose:
            print(f"Epoch {epoch + 1}/{config.epochs}")
        started = time.perf_counter()
        logs = {}
        batches = experiment.training_batches(epoch, steps_to=steps, start_step=progress["step"])
        for logs in batch_logs(model, batches, steps - progress["step"]):
            loss = logs["loss"]
            if not math.isfinite(loss):
                raise NaNLossError(
                    f"the training loss became {loss} at epoch {epoch + 1}, "
                    f"step {progress['step'] + 1}; "
                    f"training stopped. The last good checkpoint is kept in {run_dir.checkpoints} "
                    "(lower --learning-rate, use --precision float32, or lower --lambda, "
                    "then rerun with a new --run-dir)"
                )
            progress["step"] += 1
            progress["global_step"] += 1
            if summaries is not None:
                summaries.train_step(progress["global_step"], logs, model.optimizer)
            bar.update(progress["step"], list(logs.items()))
            if checkpoint_steps and progress["step"] % checkpoint_steps == 0:
                checkpoint()
        seconds = time.perf_counter() - started
        validation = experiment.evaluate("validation")
        score = validation[SELECTION_METRIC]
        record = {
            "epoch": epoch + 1,
            "seconds": round(seconds, 2),
            "train_loss": logs["loss"] if logs else None,
            **{f"val_{k}": round(v, 4) for k, v in validation.items()},
        }
        progress["history"].append(record)
        if verbose:
            print(
                f"  validation: HR@20 {validation['hr@20']:.2f}  MRR@20 {score:.2f}  "
                f"NDCG@20 {validation['ndcg@20']:.2f}  ({seconds:.1f} s training)"
            )
        if summaries is not None:
            summaries.validation(epoch + 1, validation)
        if progress["best"] is None or score > progress["best"]:
            progress.update(best=score, best_epoch=epoch + 1, wait=0)
            save_weights_atomic(model, run_dir.best_weights)
        else:
            progress["wait"] += 1
            if progress["wait"] >= config.patience:
                progress["stopped"] = (
                    f"early stopping: no validation {SELECTION_METRIC} gain "
                    f"for {config.patience} epochs"
                )
        progress.update(epoch=epoch + 1, step=0)
        checkpoint()
    if progress["stopped"] and verbose:
        print(progress["stopped"])
    return progress
