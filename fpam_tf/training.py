"""Training and evaluation of a run: the epoch loop with validation, early stopping on validation
MRR@20, atomic checkpoints every epoch and every ``checkpoint_steps`` steps, resume mid-epoch, and
a clear stop on a NaN loss (the last good checkpoint is kept)."""

from __future__ import annotations

import dataclasses
import json
import math
import time

import numpy as np

from fpam_tf import datasets
from fpam_tf.errors import FpamError
from fpam_tf.metrics import KS, format_markdown_table
from fpam_tf.model import build_model
from fpam_tf.runs import RunConfig, RunDir, save_weights_atomic, write_json_atomic, write_text_atomic
from fpam_tf.windows import ProtocolData, Windows, make_dataset, num_batches

SELECTION_METRIC = "mrr@20"  # PROTOCOL §5: model selection on validation MRR@20.


class NaNLossError(FpamError):
    """The training loss became NaN or infinite."""


def resolve_precision(precision: str) -> str:
    """``auto``: mixed_float16 on a GPU, float32 on CPU."""
    if precision != "auto":
        return precision
    import tensorflow as tf

    return "mixed_float16" if tf.config.list_physical_devices("GPU") else "float32"


def load_protocol_data(config: RunConfig, *, tfds_dir=None) -> ProtocolData:
    """Prepares (if needed) the run's dataset and applies PROTOCOL §3 (vocabulary, encoding)."""
    prepared = datasets.load(config.dataset, config.data_dir, tfds_dir=tfds_dir, **config.dataset_options)
    return ProtocolData.from_sessions(prepared.splits)


@dataclasses.dataclass
class Experiment:
    """The data and model of a run, built from its config."""

    config: RunConfig
    data: ProtocolData
    model: object

    @classmethod
    def create(cls, config: RunConfig, *, tfds_dir=None, data: ProtocolData | None = None) -> "Experiment":
        import keras

        keras.mixed_precision.set_global_policy(resolve_precision(config.precision))
        keras.utils.set_random_seed(config.seed)
        if data is None:
            data = load_protocol_data(config, tfds_dir=tfds_dir)
        model = build_model(config.method, backbone=config.model, num_items=len(data.items),
                            num_users=len(data.users), embedding_dim=config.embedding_dim,
                            hidden_units=config.hidden_units)
        model.compile(optimizer=keras.optimizers.Adam(config.learning_rate))
        experiment = cls(config, data, model)
        sample, _, _ = next(iter(experiment.evaluation_dataset("validation", batch_size=2)))
        model(sample)  # Builds the variables so weights can be loaded.
        model.optimizer.build(model.trainable_variables)
        return experiment

    @property
    def batch_options(self):
        return self.config.method.batch_options(self.model.requires_graph)

    def training_windows(self) -> Windows:
        method = self.config.method
        return self.data.training_windows(context=method.context, fp_targets=method.fp_targets,
                                          fp_scope=method.fp_scope)

    def training_dataset(self, windows: Windows, epoch: int):
        """Epoch ``epoch``'s batches; the order depends only on (seed, epoch), so a resumed run sees the same."""
        return make_dataset(windows, batch_size=self.config.batch_size, options=self.batch_options, shuffle=True,
                            seed=self.config.seed * 100_003 + epoch)

    def evaluation_windows(self, split: str) -> Windows:
        return self.data.evaluation_windows(split, context=self.config.method.context)

    def evaluation_dataset(self, split: str, batch_size: int | None = None):
        options = dataclasses.replace(self.batch_options, fp_items=False)
        return make_dataset(self.evaluation_windows(split), batch_size=batch_size or self.config.batch_size,
                            options=options)

    def evaluate(self, split: str) -> dict:
        """PROTOCOL §5 metrics (percent) of the current weights on a split."""
        self.model.reset_metrics()
        logs = self.model.evaluate(self.evaluation_dataset(split), verbose=0, return_dict=True)
        return {k: float(v) for k, v in logs.items()}


def train(experiment: Experiment, run_dir: RunDir, *, checkpoint_steps: int = 200, verbose: int = 1,
          summaries=None, max_steps_per_epoch: int | None = None) -> dict:
    """Trains until ``config.epochs`` or early stopping, resuming from ``run_dir`` when it holds progress.

    Returns the progress record (epochs done, best validation metrics, history).
    """
    import keras

    config, model = experiment.config, experiment.model
    windows = experiment.training_windows()
    steps = num_batches(len(windows), config.batch_size)  # shuffled epochs cut each chunk separately
    if max_steps_per_epoch:
        steps = min(steps, max_steps_per_epoch)
    progress = {"epoch": 0, "step": 0, "best": None, "best_epoch": None, "wait": 0, "history": [],
                "global_step": 0, "stopped": None}
    if run_dir.progress.is_file() and run_dir.latest_weights.is_file():
        progress = json.loads(run_dir.progress.read_text())
        model.load_weights(run_dir.latest_weights)
        if verbose:
            print(f"Resuming {run_dir.path} at epoch {progress['epoch'] + 1}, step {progress['step']}")

    def checkpoint():
        save_weights_atomic(model, run_dir.latest_weights)
        write_json_atomic(run_dir.progress, progress)

    while progress["epoch"] < config.epochs and progress["stopped"] is None:
        epoch = progress["epoch"]
        model.reset_metrics()
        # train_on_batch reports each batch's own loss terms; the bar averages them over the epoch.
        bar = keras.utils.Progbar(steps, verbose=verbose, unit_name="step")
        if verbose:
            print(f"Epoch {epoch + 1}/{config.epochs}")
        started = time.perf_counter()
        logs = {}
        batches = experiment.training_dataset(windows, epoch).take(steps).skip(progress["step"])
        for features, targets, weights in batches:
            logs = model.train_on_batch(features, targets, weights, return_dict=True)
            loss = float(logs["loss"])
            if not math.isfinite(loss):
                raise NaNLossError(
                    f"the training loss became {loss} at epoch {epoch + 1}, step {progress['step'] + 1}; "
                    f"training stopped. The last good checkpoint is kept in {run_dir.checkpoints} "
                    "(lower --learning-rate, use --precision float32, or lower --lambda, then rerun with a new --run-dir)")
            progress["step"] += 1
            progress["global_step"] += 1
            if summaries is not None:
                summaries.train_step(progress["global_step"], logs, model.optimizer)
            bar.update(progress["step"], [(k, float(logs[k])) for k in ("loss", "ce_loss", "fp_loss")])
            if checkpoint_steps and progress["step"] % checkpoint_steps == 0:
                checkpoint()
        seconds = time.perf_counter() - started
        validation = experiment.evaluate("validation")
        score = validation[SELECTION_METRIC]
        record = {"epoch": epoch + 1, "seconds": round(seconds, 2), "train_loss": float(logs["loss"]) if logs else None,
                  **{f"val_{k}": round(v, 4) for k, v in validation.items()}}
        progress["history"].append(record)
        if verbose:
            print(f"  validation: HR@20 {validation['hr@20']:.2f}  MRR@20 {score:.2f}  "
                  f"NDCG@20 {validation['ndcg@20']:.2f}  ({seconds:.1f} s training)")
        if summaries is not None:
            summaries.validation(epoch + 1, validation)
        if progress["best"] is None or score > progress["best"]:
            progress.update(best=score, best_epoch=epoch + 1, wait=0)
            save_weights_atomic(model, run_dir.best_weights)
        else:
            progress["wait"] += 1
            if progress["wait"] >= config.patience:
                progress["stopped"] = f"early stopping: no validation {SELECTION_METRIC} gain for {config.patience} epochs"
        progress.update(epoch=epoch + 1, step=0)
        checkpoint()
    if progress["stopped"] and verbose:
        print(progress["stopped"])
    return progress


def write_test_results(experiment: Experiment, run_dir: RunDir) -> dict:
    """Loads the best weights, scores the test split, writes metrics.json and metrics.md."""
    experiment.model.load_weights(run_dir.best_weights)
    test = experiment.evaluate("test")
    progress = json.loads(run_dir.progress.read_text()) if run_dir.progress.is_file() else {}
    config = experiment.config
    metrics = {f"{m}@{k}": round(test[f"{m}@{k}"], 4) for m in ("hr", "mrr", "ndcg") for k in KS}
    result = {
        "dataset": config.dataset, "model": config.model, "method": config.method.method,
        "split": "test", "windows": len(experiment.evaluation_windows("test")), "units": "percent",
        "best_epoch": progress.get("best_epoch"), "best_validation_mrr@20": progress.get("best"),
        "metrics": metrics, "config": config.to_json(),
    }
    write_json_atomic(run_dir.metrics_json, result)
    title = (f"# Test results: {config.model} / {config.method.method} on {config.dataset}\n\n"
             f"{result['windows']} test windows, best epoch {result['best_epoch']} "
             f"(validation MRR@20 {result['best_validation_mrr@20']}). Percent, PROTOCOL §5.\n\n")
    write_text_atomic(run_dir.metrics_md, title + format_markdown_table(metrics) + "\n")
    return result


def projector_embeddings(experiment: Experiment, max_windows: int = 1000):
    """The paper's Figure 3 points for the first ``max_windows`` test windows.

    Returns ``(session [n, D], positive [n, D], fp [m, D], fp_window [m])``: e_seq of each window,
    its target's (a true positive's) embedding, and the embeddings of its session's FP items with
    the window each belongs to.
    """
    windows = experiment.evaluation_windows("test")
    chunks, total = [], 0
    for features, _, _ in experiment.evaluation_dataset("test"):
        chunks.append(np.asarray(experiment.model.session_embedding(features)).astype(np.float32))
        total += len(chunks[-1])
        if total >= max_windows:
            break
    session = np.concatenate(chunks)[:max_windows]
    n = len(session)
    table = np.asarray(experiment.model.item_embedding.embeddings).astype(np.float32)
    fp_lists = windows.fp_sequences()[:n]
    fp_window = np.repeat(np.arange(n), [len(f) for f in fp_lists])
    fp_items = np.concatenate(fp_lists) if fp_lists else np.zeros(0, np.int32)
    return session, table[windows.targets[:n]], table[fp_items], fp_window
