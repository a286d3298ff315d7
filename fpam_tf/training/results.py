"""A finished run's outputs: test metrics of the best weights, and the embedding projector's
points."""

from __future__ import annotations

import json

import numpy as np

from fpam_tf.atomic import write_json_atomic, write_text_atomic
from fpam_tf.metrics import (
    KS,
    METRIC_NAMES,
    SEPARATION,
    SKIP_METRIC_NAMES,
    format_markdown_table,
)
from fpam_tf.training.experiment import Experiment
from fpam_tf.training.run_dir import RunDir
from fpam_tf.vocabulary import PADDING


def write_test_results(experiment: Experiment, run_dir: RunDir) -> dict:
    """Loads the best weights, scores the test split (PROTOCOL §5 and §5b) and the validation
    split, writes metrics.json and metrics.md.

    ``metrics`` holds the test figures; ``validation`` the same figures of the validation split at
    the best weights (what a rule choosing between runs may look at: §5b's are never selected on
    during training).
    """
    experiment.model.load_weights(run_dir.best_weights)
    test = experiment.evaluate("test", skip_metrics=True)
    validation = experiment.evaluate("validation", skip_metrics=True)
    progress = json.loads(run_dir.progress.read_text()) if run_dir.progress.is_file() else {}
    config = experiment.config
    result = {
        "dataset": config.dataset,
        "model": config.model,
        "method": config.method.method,
        "split": "test",
        "windows": experiment.evaluation_window_count("test"),
        "skip_windows": experiment.evaluation_window_count("test", skips=True),
        "units": "percent",
        "best_epoch": progress.get("best_epoch"),
        "best_validation_mrr@20": progress.get("best"),
        "metrics": reported(test),
        "validation": reported(validation),
        "config": config.to_json(),
    }
    write_json_atomic(run_dir.metrics_json, result)
    title = (
        f"# Test results: {config.model} / {config.method.method} on {config.dataset}\n\n"
        f"{result['windows']} test windows and {result['skip_windows']} skip windows, best "
        f"epoch {result['best_epoch']} (validation MRR@20 {result['best_validation_mrr@20']}). "
        "Percent; PROTOCOL §5, and §5b for the skip rows.\n\n"
    )
    write_text_atomic(run_dir.metrics_md, title + format_markdown_table(result["metrics"]) + "\n")
    return result


def reported(results: dict) -> dict:
    """The §5 and §5b figures of :meth:`Experiment.evaluate`'s results (the loss left out),
    rounded."""
    names = (*METRIC_NAMES, *SKIP_METRIC_NAMES, SEPARATION)
    return {f"{m}@{k}": round(results[f"{m}@{k}"], 4) for m in names for k in KS}


def projector_embeddings(experiment: Experiment, max_windows: int = 1000):
    """The paper's Figure 3 points for the first ``max_windows`` test windows.

    Returns ``(session [n, D], positive [n, D], fp [m, D], fp_window [m])``: e_seq of each window,
    its target's (a true positive's) embedding, and the embeddings of its session's FP items with
    the window each belongs to.
    """
    sessions, targets, fp_lists = [], [], []
    for features, batch_targets, _ in experiment.evaluation_dataset("test", fp_items=True):
        sessions.append(np.asarray(experiment.model.session_embedding(features)).astype(np.float32))
        targets.append(batch_targets.numpy())
        fp_lists.extend(row[row != PADDING] for row in features["fp_items"].numpy())
        if len(fp_lists) >= max_windows:
            break
    session = np.concatenate(sessions)[:max_windows]
    n = len(session)
    table = np.asarray(experiment.model.item_embedding.embeddings).astype(np.float32)
    fp_lists = fp_lists[:n]
    fp_window = np.repeat(np.arange(n), [len(f) for f in fp_lists])
    fp_items = np.concatenate(fp_lists) if fp_lists else np.zeros(0, np.int32)
    return session, table[np.concatenate(targets)[:n]], table[fp_items], fp_window
