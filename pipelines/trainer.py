"""Trainer: ``fpam_tf`` training on the transformed shards, optionally under a ``tf.distribute``
strategy.

The :class:`~fpam_tf.protocol.ProtocolData` is built from the Transform outputs (item indices from
the transform graph, the vocabulary from its ``items`` asset), not by re-reading the raw logs, so
the trained model's vocabulary is the transform graph's. Training, validation, test and the run
directory are :func:`fpam_tf.training.run.run`'s; the ``model`` artifact *is* that run directory.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from fpam_tf.events import SPLITS, Sessions
from fpam_tf.protocol import ProtocolData
from fpam_tf.registry import Registry
from fpam_tf.vocabulary import PADDING, EncodedSessions, Vocabulary
from pipelines import records
from pipelines.errors import PipelineError
from pipelines.transform import VOCABULARY

COMPONENT = "Trainer"


def _default_strategy():
    import tensorflow as tf

    return tf.distribute.get_strategy()


def _mirrored():
    import tensorflow as tf

    return tf.distribute.MirroredStrategy()


def _multiworker():
    import tensorflow as tf

    return tf.distribute.MultiWorkerMirroredStrategy()


# --distribution: name -> the tf.distribute strategy it creates (TensorFlow is imported only then).
DISTRIBUTIONS: Registry = Registry("distribution")
DISTRIBUTIONS.register("none", _default_strategy, "the default strategy")
DISTRIBUTIONS.register("mirrored", _mirrored, "MirroredStrategy over this machine's devices")
DISTRIBUTIONS.register("multiworker", _multiworker, "MultiWorkerMirroredStrategy; reads TF_CONFIG")


def is_chief(distribution: str) -> bool:
    """Whether this process writes the model and runs the components after the Trainers: always,
    but for a ``multiworker`` worker that ``TF_CONFIG`` does not make the chief (the ``chief``
    task when the cluster has one, else ``worker`` 0, as ``MultiWorkerMirroredStrategy`` decides).
    """
    if distribution != "multiworker":
        return True
    tf_config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    task = tf_config.get("task", {})
    if "chief" in tf_config.get("cluster", {}):
        return task.get("type") == "chief"
    return task.get("type", "worker") == "worker" and int(task.get("index", 0)) == 0


def strategy_for(distribution: str):
    """The ``tf.distribute`` strategy of ``--distribution`` (see docs/PIPELINES.md for
    ``multiworker``)."""
    return DISTRIBUTIONS.get(distribution)()


def read_transformed(graph_dir: Path, transformed: Path, split: str) -> Sessions:
    """One transformed split as :class:`Sessions` whose ``items`` are vocabulary indices, in
    PROTOCOL §2 order."""
    import tensorflow as tf
    import tensorflow_transform as tft

    spec = tft.TFTransformOutput(str(graph_dir)).transformed_feature_spec()
    files = records.shards(transformed, split)
    if not files:
        raise PipelineError(
            COMPONENT,
            f"no transformed shards for split {split!r}",
            path=records.split_dir(transformed, split),
        )

    def flatten(serialized):
        """A batch of parsed sessions as flat columns: the ragged event lists as values +
        lengths."""
        features = tf.io.parse_example(serialized, spec)
        items = tf.RaggedTensor.from_sparse(features["item_index"])
        return {
            "session_id": features["session_id"],
            "user_id": features["user_id"],
            "start_time": features["start_time"],
            "lengths": items.row_lengths(),
            "items": items.flat_values,
            "is_fp": tf.RaggedTensor.from_sparse(features["is_fp"]).flat_values,
            "grades": tf.RaggedTensor.from_sparse(features["grades"]).flat_values,
        }

    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP").batch(4096).map(flatten)
    columns = {
        name: []
        for name in ("session_id", "user_id", "start_time", "lengths", "items", "is_fp", "grades")
    }
    for batch in dataset.as_numpy_iterator():
        for name, values in batch.items():
            columns[name].append(values)
    joined = {
        name: np.concatenate(parts) if parts else np.zeros(0) for name, parts in columns.items()
    }
    sessions = Sessions(
        session_ids=joined["session_id"].astype(str),
        user_ids=joined["user_id"].astype(str),
        start_times=joined["start_time"].astype(np.int64),
        row_splits=np.concatenate([[0], np.cumsum(joined["lengths"])]).astype(np.int64),
        items=joined["items"].astype(np.int32),
        is_fp=joined["is_fp"].astype(bool),
        grades=joined["grades"].astype(np.int8),
    )
    # Shards hold sessions in no particular order; windows and user histories need the
    # chronological one.
    return sessions.take(np.lexsort((sessions.session_ids, sessions.start_times)))


def protocol_data(graph_dir: Path, transformed: Path) -> ProtocolData:
    """PROTOCOL §3 data from the Transform outputs: vocabulary from the graph's asset, events
    outside it removed."""
    import tensorflow_transform as tft

    items = Vocabulary(
        Path(tft.TFTransformOutput(str(graph_dir)).vocabulary_file_by_name(VOCABULARY))
        .read_text(encoding="utf-8")
        .splitlines()
    )
    indexed = {split: read_transformed(graph_dir, transformed, split) for split in SPLITS}
    train = indexed["train"]
    users = Vocabulary.from_counts(train.user_ids[train.user_ids != ""], 1)
    splits = {}
    for split, sessions in indexed.items():
        kept = sessions.keep_events(sessions.items != PADDING)
        splits[split] = EncodedSessions(
            row_splits=kept.row_splits,
            items=kept.items.astype(np.int32),
            is_fp=kept.is_fp,
            users=users.lookup(kept.user_ids),
            session_ids=kept.session_ids,
            grades=kept.grades,
        )
    return ProtocolData(items, users, splits)


def run(
    config,
    graph_dir: Path,
    transformed: Path,
    model_dir: Path,
    *,
    distribution: str = "none",
    max_steps_per_epoch: int | None = None,
    verbose: int = 0,
) -> dict:
    """Trains ``config`` (a :class:`~fpam_tf.training.run_dir.RunConfig`) on the transformed
    shards into the run directory ``model_dir`` under ``--distribution`` (see :func:`train`).

    Returns the run's best validation MRR@20, test results (``metrics.json``), replica count and
    whether this process is the chief.
    """
    # The strategy first: MultiWorkerMirroredStrategy must be created before TensorFlow's runtime
    # starts.
    strategy = strategy_for(distribution)
    data = protocol_data(graph_dir, transformed)
    return {
        **train(
            config,
            data,
            model_dir,
            strategy,
            chief=is_chief(distribution),
            max_steps_per_epoch=max_steps_per_epoch,
            verbose=verbose,
        ),
        "distribution": distribution,
    }


def train(
    config,
    data: ProtocolData,
    model_dir: Path,
    strategy,
    *,
    chief: bool = True,
    max_steps_per_epoch: int | None = None,
    verbose: int = 0,
) -> dict:
    """Trains ``config`` on ``data`` under ``strategy`` into the run directory ``model_dir``.

    The model is created and trained inside the strategy's scope, so its variables are mirrored
    over the strategy's devices and every global batch is split over its replicas. Every worker
    of a multi-worker strategy runs the whole run (training, validation and test steps are
    collective, so all take them together), but only the ``chief`` writes ``model_dir``: the
    others write a temporary run directory, removed afterwards. Returns the run's best
    validation MRR@20 and test results.
    """
    from fpam_tf.training.run import run as run_training
    from fpam_tf.training.run_dir import RunDir

    run_dir = Path(model_dir) if chief else Path(tempfile.mkdtemp(prefix="fpam-worker-run-"))
    try:
        with strategy.scope():
            result = run_training(
                config,
                RunDir(run_dir),
                checkpoint_steps=0,
                verbose=verbose,
                max_steps_per_epoch=max_steps_per_epoch,
                data=data,
            )
    finally:
        if not chief:
            shutil.rmtree(run_dir, ignore_errors=True)
    return {
        "best_validation_mrr@20": result["best_validation_mrr@20"],
        "test": result["metrics"],
        "replicas": strategy.num_replicas_in_sync,
        "chief": chief,
    }
