"""Trainer: ``fpam_tf`` training on the transformed shards, optionally under a ``tf.distribute``
strategy.

The data are the Transform outputs (item indices from the transform graph, the vocabularies from its
``items`` and ``user_frequencies`` assets), not the raw logs re-read, so the trained model's
vocabulary is the transform graph's. They are streamed (:func:`streamed_data`): every pass over a
split reads its shards in blocks of sessions and cuts each block's windows on the fly, so the
Trainer's memory does not grow with the number or size of the shards. A ``multiworker`` worker
reads its own shards of every split (:func:`worker_part`). Training, validation, test and the run
directory are :func:`fpam_tf.training.run.run`'s; the ``model`` artifact *is* that run directory.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from fpam_tf.events import SPLITS, Sessions
from fpam_tf.protocol import DataPart, ProtocolData, StreamedProtocolData
from fpam_tf.registry import Registry
from fpam_tf.vocabulary import PADDING, EncodedSessions, Vocabulary
from pipelines import records
from pipelines.errors import PipelineError
from pipelines.transform import USER_FREQUENCIES, VOCABULARY, protocol_order

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


def worker_part(distribution: str) -> DataPart:
    """The part of every split this process trains on: the whole, but for a ``multiworker``
    worker, which reads its own shards: part i of the cluster's training tasks (``TF_CONFIG``'s
    ``chief``, then its ``worker`` tasks, in order)."""
    if distribution != "multiworker":
        return DataPart()
    tf_config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    cluster, task = tf_config.get("cluster", {}), tf_config.get("task", {})
    tasks = [("chief", i) for i in range(len(cluster.get("chief", [])))] + [
        ("worker", i) for i in range(len(cluster.get("worker", [])))
    ]
    if not tasks:
        return DataPart()  # no cluster: one worker
    this = (task.get("type", "worker"), int(task.get("index", 0)))
    if this not in tasks:
        raise PipelineError(
            COMPONENT,
            f"TF_CONFIG's task {this[0]} {this[1]} is not a chief or worker of its cluster "
            f"{sorted(cluster)}: only those train under --distribution multiworker",
            fix="start the pipeline only on the cluster's chief and worker tasks",
        )
    return DataPart(tasks.index(this), len(tasks))


def is_chief(distribution: str) -> bool:
    """Whether this process writes the model and runs the components after the Trainers: always,
    but for a ``multiworker`` worker that ``TF_CONFIG`` does not make the chief (the ``chief``
    task when the cluster has one, else ``worker`` 0, as ``MultiWorkerMirroredStrategy`` decides):
    the one that reads part 0."""
    return worker_part(distribution).index == 0


@functools.cache
def strategy_for(distribution: str):
    """The ``tf.distribute`` strategy of ``--distribution`` (see docs/PIPELINES.md for
    ``multiworker``), created once per process: ``MultiWorkerMirroredStrategy`` configures the
    collectives of TensorFlow's runtime, which must happen before the runtime starts (before any
    other TensorFlow work, such as the upstream components of a pipeline run)."""
    return DISTRIBUTIONS.get(distribution)()


# Sessions per block a streamed split is read in: what the Trainer holds of a split at a time
# (with the block's windows), whatever the number and size of the shards.
BLOCK_SESSIONS = 4096


def _split_files(transformed: Path, split: str, part: DataPart = DataPart()) -> list[str]:
    """The shards of ``split`` that are ``part`` of it: every ``part.count``-th from
    ``part.index``, in name order."""
    files = records.shards(transformed, split)
    if not files:
        raise PipelineError(
            COMPONENT,
            f"no transformed shards for split {split!r}",
            path=records.split_dir(transformed, split),
        )
    if len(files) < part.count:
        raise PipelineError(
            COMPONENT,
            f"split {split!r} has {len(files)} shard(s) for {part.count} workers, and every "
            "worker reads shards of its own",
            path=records.split_dir(transformed, split),
            fix=f"rerun the pipeline with --shards {part.count} (or a multiple of it)",
        )
    return files[part.index :: part.count]


def shards_fingerprint(transformed: Path) -> int:
    """A 63-bit hash (an int64 workers can all-gather) of the names and sizes of every split's
    transformed shards."""
    listing = [
        [split, Path(file).name, Path(file).stat().st_size]
        for split in SPLITS
        for file in records.shards(transformed, split)
    ]
    digest = hashlib.sha256(json.dumps(listing).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def check_same_shards(strategy, transformed: Path) -> None:
    """Refuses to train when the workers of ``strategy`` see different transformed shards (names
    and sizes of every split's shards): each reads a part of them, which together are a split
    only if they are the same files (Beam assigns sessions to shards at random, so two Transform
    runs of the same examples shard them differently). One collective.

    Raises:
      PipelineError: the workers' shards differ.
    """
    from fpam_tf.training.steps import worker_counts

    if len(set(worker_counts(strategy, shards_fingerprint(transformed)))) > 1:
        raise PipelineError(
            COMPONENT,
            "the workers' transformed shards differ (names or sizes), so their parts would not "
            "together be each split",
            path=transformed,
            fix="run Transform once and give every worker that output (a shared pipeline root, "
            "or copies of it made with modification times kept, e.g. cp -a or rsync -a)",
        )


def read_blocks(
    graph_dir: Path, files: list[str], block_sessions: int = BLOCK_SESSIONS
) -> Iterator[Sessions]:
    """The sessions of transformed shards as :class:`Sessions` blocks of at most
    ``block_sessions``, whose ``items`` are vocabulary indices, file by file in ``files``' order
    (so a block never spans two files and the blocks of a file are the same in any file order)."""
    import tensorflow as tf
    import tensorflow_transform as tft

    spec = tft.TFTransformOutput(str(graph_dir)).transformed_feature_spec()

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

    for file in files:
        dataset = tf.data.TFRecordDataset(file, compression_type="GZIP")
        for block in dataset.batch(block_sessions).map(flatten).as_numpy_iterator():
            yield Sessions(
                session_ids=block["session_id"].astype(str),
                user_ids=block["user_id"].astype(str),
                start_times=block["start_time"].astype(np.int64),
                row_splits=np.concatenate([[0], np.cumsum(block["lengths"])]).astype(np.int64),
                items=block["items"].astype(np.int32),
                is_fp=block["is_fp"].astype(bool),
                grades=block["grades"].astype(np.int8),
            )


def read_transformed(graph_dir: Path, transformed: Path, split: str) -> Sessions:
    """One whole transformed split as :class:`Sessions` whose ``items`` are vocabulary indices, in
    PROTOCOL §2 order (for checks against the in-memory path; training streams,
    :func:`streamed_data`)."""
    sessions = Sessions.concatenate(list(read_blocks(graph_dir, _split_files(transformed, split))))
    # Shards hold sessions in no particular order; windows and user histories need the
    # chronological one.
    return sessions.take(np.lexsort((sessions.session_ids, sessions.start_times)))


def item_vocabulary(graph_dir: Path) -> Vocabulary:
    """The transform graph's item vocabulary (its asset)."""
    import tensorflow_transform as tft

    return Vocabulary(
        Path(tft.TFTransformOutput(str(graph_dir)).vocabulary_file_by_name(VOCABULARY))
        .read_text(encoding="utf-8")
        .splitlines()
    )


def encoded(sessions: Sessions, users: Vocabulary) -> EncodedSessions:
    """PROTOCOL §3 on transformed sessions: events outside the vocabulary removed, users
    indexed."""
    kept = sessions.keep_events(sessions.items != PADDING)
    return EncodedSessions(
        row_splits=kept.row_splits,
        items=kept.items.astype(np.int32),
        is_fp=kept.is_fp,
        users=users.lookup(kept.user_ids),
        session_ids=kept.session_ids,
        grades=kept.grades,
    )


def user_vocabulary(graph_dir: Path) -> Vocabulary:
    """PROTOCOL §3's users, the non-empty user ids of train ordered as
    :meth:`~fpam_tf.vocabulary.Vocabulary.from_counts` orders them (by descending count of
    sessions, ties by id), from the transform graph's asset."""
    import tensorflow as tf
    import tensorflow_transform as tft
    from tensorflow_transform.analyzers import get_empy_vocabulary_dummy_value

    try:
        asset = tft.TFTransformOutput(str(graph_dir)).vocabulary_file_by_name(USER_FREQUENCIES)
    except ValueError as error:
        raise PipelineError(
            COMPONENT,
            "the transform graph has no user vocabulary (written by an older Transform)",
            path=graph_dir,
            fix="rerun the pipeline: its Transform writes one",
        ) from error
    # tft leaves empty ids out of a vocabulary file and writes its placeholder into an empty one
    # (a log without users).
    placeholder = get_empy_vocabulary_dummy_value(tf.string)[1].decode()
    users = protocol_order(Path(asset).read_text(encoding="utf-8").splitlines())
    return Vocabulary([user for user in users if user != placeholder])


def protocol_data(graph_dir: Path, transformed: Path) -> ProtocolData:
    """PROTOCOL §3 data from the Transform outputs, every split whole in memory: vocabularies from
    the graph's assets, events outside the item vocabulary removed."""
    indexed = {split: read_transformed(graph_dir, transformed, split) for split in SPLITS}
    users = user_vocabulary(graph_dir)
    splits = {split: encoded(sessions, users) for split, sessions in indexed.items()}
    return ProtocolData(item_vocabulary(graph_dir), users, splits)


def streamed_data(
    graph_dir: Path,
    transformed: Path,
    block_sessions: int = BLOCK_SESSIONS,
    part: DataPart = DataPart(),
) -> StreamedProtocolData:
    """PROTOCOL §3 data from the Transform outputs, read block by block whenever a split is used
    (:class:`~fpam_tf.protocol.StreamedProtocolData`): the Trainer holds one block of sessions and
    its windows at a time, plus the vocabularies. A training epoch reads the files in an order of
    its own (``order_seed``); blocks never span files, so their window counts stay the same.

    ``part``: a worker's part of every split, its own shards (every ``part.count``-th shard from
    ``part.index``; a split needs at least ``part.count`` shards); it never opens the others.
    """
    files = {split: _split_files(transformed, split, part) for split in SPLITS}
    users = user_vocabulary(graph_dir)

    def blocks(split: str, order_seed: int | None) -> Iterator[EncodedSessions]:
        ordered = files[split]
        if order_seed is not None:
            order = np.random.default_rng(order_seed).permutation(len(ordered))
            ordered = [ordered[i] for i in order]
        for sessions in read_blocks(graph_dir, ordered, block_sessions):
            yield encoded(sessions, users)

    return StreamedProtocolData(item_vocabulary(graph_dir), users, blocks, part)


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
    part = worker_part(distribution)
    if not part.whole:
        check_same_shards(strategy, transformed)
    data = streamed_data(graph_dir, transformed, part=part)
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
    data: ProtocolData | StreamedProtocolData,
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
