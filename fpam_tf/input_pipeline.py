"""The tf.data input pipeline: windows -> shuffled, length-bucketed, padded batches.

Features a backbone needs beyond the prefix (SR-GNN's session graph) are built here by the
backbone's own :meth:`~fpam_tf.backbones.base.SessionEncoder.prefix_features`, passed in
:class:`BatchOptions`; this module knows no backbone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

import numpy as np

from fpam_tf.errors import DataError
from fpam_tf.vocabulary import PADDING
from fpam_tf.windows import Windows

BUCKET_BATCHES = 16  # Training batches sorted together by prefix length (see make_dataset).


@dataclasses.dataclass(frozen=True)
class BatchOptions:
    """What a batch carries besides the prefix (decided by the model, not by the data).

    Attributes:
      flags: include ``flags`` (FP flag per prefix event): models with a learned skip-flag
        embedding.
      fp_items: include ``fp_items`` / ``target_is_fp``: models with an FP metric term.
      target_is_fp: include ``target_is_fp`` (implied by ``fp_items``): models with a loss on
        FP targets of their own (unlikelihood, skip head).
      fp_target_weight: cross-entropy weight of windows whose target is an FP (1 for others).
      grade_weights: cross-entropy weight of a window by its target's skip grade 0-3
        (:mod:`fpam_tf.events`), or None; when set it replaces ``fp_target_weight``.
      prefix_features: the backbone's builder of its own features from a padded prefix
        (``items`` int32 [B, T], ``mask`` bool [B, T] -> dict of tensors), or None.
    """

    flags: bool = False
    fp_items: bool = False
    target_is_fp: bool = False
    fp_target_weight: float = 1.0
    grade_weights: tuple[float, float, float, float] | None = None
    prefix_features: Callable[..., dict] | None = None


def num_batches(num_windows: int, batch_size: int, bucket_batches: int = BUCKET_BATCHES) -> int:
    """Batches per epoch of :func:`make_dataset` with ``shuffle=True``: each chunk of
    ``batch_size * bucket_batches`` windows is cut into batches separately."""
    full, rest = divmod(num_windows, batch_size * bucket_batches)
    return full * bucket_batches + -(-rest // batch_size)


def make_dataset(
    windows: Windows | dict,
    *,
    batch_size: int,
    options: BatchOptions = BatchOptions(),
    shuffle: bool = False,
    seed: int = 0,
    bucket_batches: int = BUCKET_BATCHES,
):
    """A ``tf.data.Dataset`` of padded batches ``(features, targets, sample_weight)``.

    Features: ``items`` int32 ``[B, T]`` (T = longest prefix of the batch), ``lengths`` int32
    ``[B]``, ``users`` int32 ``[B]``, and per ``options``: ``flags`` int32 ``[B, T]``,
    ``fp_items`` int32 ``[B, F]``, ``target_is_fp`` bool ``[B]``, the backbone's prefix
    features. ``sample_weight`` is float32 ``[B]``: ``grade_weights[target grade]`` when
    ``options.grade_weights`` is set, else ``fp_target_weight`` on FP targets and 1 on others.

    Training (``shuffle=True``) reshuffles every epoch, then buckets by length: chunks of
    ``bucket_batches`` batches are sorted by prefix length and cut into batches, whose order is
    shuffled again, so padding stays small without ordering the epoch by length. Evaluation keeps
    the windows' order.

    ``windows``: a :class:`Windows`, or its :func:`window_tensors` (what a caller that batches the
    same windows every epoch keeps, instead of a second copy per epoch).
    """
    import tensorflow as tf

    tensors = window_tensors(windows) if isinstance(windows, Windows) else windows
    if int(tf.size(tensors["targets"])) == 0:
        raise DataError(
            "no windows to batch: the split is empty after the vocabulary filter",
            fix="use a larger dataset or lower the vocabulary's minimum count",
        )
    if shuffle:
        # One vectorised permutation per iteration over the dataset (a fresh seed each time):
        # no per-window element ever passes through tf.data.
        orders = (
            tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
            .take(1)
            .map(lambda random_seed: tf.stack([random_seed, tf.constant(seed, tf.int64)]))
        )
        dataset = orders.flat_map(
            lambda order_seed: _index_batches(
                tensors, batch_size, order_seed=order_seed, bucket_batches=bucket_batches
            )
        ).shuffle(bucket_batches, seed=seed + 1, reshuffle_each_iteration=True)
    else:
        dataset = _index_batches(tensors, batch_size)
    dataset = dataset.map(
        _batch_gatherer(tensors, options), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )
    return dataset.prefetch(tf.data.AUTOTUNE)


def make_streamed_dataset(
    window_chunks: Callable[[], Iterator[Windows]],
    *,
    num_batches: int,
    batch_size: int,
    options: BatchOptions = BatchOptions(),
    shuffle: bool = False,
    seed: int = 0,
    bucket_batches: int = BUCKET_BATCHES,
):
    """:func:`make_dataset`'s batches over windows that arrive in chunks, one chunk in memory at a
    time: ``window_chunks()`` yields them (a block of sessions' windows each), in the order they
    are to be read. Each chunk is batched as :func:`make_dataset` batches a whole split (with
    ``shuffle``: permuted with a seed of its own, bucketed by length); with ``shuffle`` the batches
    of consecutive chunks are mixed again in a buffer of ``bucket_batches``. Its cardinality is
    ``num_batches``: what :func:`chunk_batches` counts over the same chunks.
    """
    import tensorflow as tf

    signature = {
        name: tf.TensorSpec([None], tf.as_dtype(dtype)) for name, dtype in WINDOW_COLUMNS.items()
    }

    def columns():
        for windows in window_chunks():
            if len(windows):
                yield window_columns(windows)

    def chunk_dataset(chunk_index, tensors):
        order_seed = tf.stack([chunk_index, tf.constant(seed, tf.int64)]) if shuffle else None
        batches = _index_batches(
            tensors, batch_size, order_seed=order_seed, bucket_batches=bucket_batches
        )
        return batches.map(_batch_gatherer(tensors, options))

    dataset = (
        tf.data.Dataset.from_generator(columns, output_signature=signature)
        .enumerate()
        .flat_map(chunk_dataset)
    )
    if shuffle:
        dataset = dataset.shuffle(bucket_batches, seed=seed + 1)
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(num_batches))
    return dataset.prefetch(tf.data.AUTOTUNE)


def chunk_batches(
    window_counts, batch_size: int, *, shuffle: bool, bucket_batches: int = BUCKET_BATCHES
) -> int:
    """Batches of :func:`make_streamed_dataset` over chunks of ``window_counts`` windows: each
    chunk is batched on its own."""
    if shuffle:
        return sum(num_batches(count, batch_size, bucket_batches) for count in window_counts)
    return sum(-(-count // batch_size) for count in window_counts)


# The columns of a Windows that batches are gathered from, and their dtypes.
WINDOW_COLUMNS = {
    "track_items": np.int32,
    "track_flags": np.int32,
    "fp_track": np.int32,
    "prefix_begin": np.int64,
    "prefix_end": np.int64,
    "prefix_lengths": np.int32,
    "fp_begin": np.int64,
    "fp_end": np.int64,
    "targets": np.int32,
    "target_is_fp": np.bool_,
    "target_grades": np.int32,  # int32: tf.gather takes no int8 indices
    "users": np.int32,
}


def window_columns(windows: Windows) -> dict[str, np.ndarray]:
    """The arrays of :data:`WINDOW_COLUMNS` of ``windows``."""
    return {
        name: np.asarray(
            windows.prefix_lengths if name == "prefix_lengths" else getattr(windows, name),
            dtype=dtype,
        )
        for name, dtype in WINDOW_COLUMNS.items()
    }


def window_tensors(windows: Windows) -> dict:
    """:func:`window_columns` as tensors: what :func:`make_dataset` gathers batches from."""
    import tensorflow as tf

    return {name: tf.constant(values) for name, values in window_columns(windows).items()}


def _index_batches(tensors, batch_size: int, *, order_seed=None, bucket_batches=BUCKET_BATCHES):
    """Batches of window indices into ``tensors``: in order, or with ``order_seed`` (int64
    ``[2]``) permuted, cut into chunks of ``bucket_batches`` batches, each sorted by prefix length
    and cut into batches."""
    import tensorflow as tf

    num_windows = tf.size(tensors["targets"], tf.int64)
    if order_seed is None:
        return tf.data.Dataset.range(num_windows).batch(batch_size)
    chunk = batch_size * bucket_batches
    order = tf.random.experimental.stateless_shuffle(
        tf.range(num_windows, dtype=tf.int64), seed=order_seed
    )
    prefix_lengths = tensors["prefix_lengths"]

    def bucketed(c):
        chunk_index = order[c * chunk : (c + 1) * chunk]
        by_length = tf.gather(
            chunk_index, tf.argsort(tf.gather(prefix_lengths, chunk_index), stable=True)
        )
        return tf.data.Dataset.range(-(-tf.size(by_length, tf.int64) // batch_size)).map(
            lambda b: by_length[b * batch_size : (b + 1) * batch_size]
        )

    return tf.data.Dataset.range(-(-num_windows // chunk)).flat_map(bucketed)


def _batch_gatherer(tensors, options: BatchOptions):
    """``index [B] -> (features, targets, sample_weight)`` of those windows of ``tensors``."""
    import tensorflow as tf

    def gather_batch(index):
        begin = tf.gather(tensors["prefix_begin"], index)
        end = tf.gather(tensors["prefix_end"], index)
        prefix = tf.ragged.range(begin, end)  # ragged [B, (length)] positions in the track
        items = tf.gather(tensors["track_items"], prefix).to_tensor()
        features = {
            "items": items,
            "lengths": tf.cast(end - begin, tf.int32),
            "users": tf.gather(tensors["users"], index),
        }
        if options.flags:
            features["flags"] = tf.gather(tensors["track_flags"], prefix).to_tensor()
        is_fp_target = tf.gather(tensors["target_is_fp"], index)
        if options.fp_items:
            fp_positions = tf.ragged.range(
                tf.gather(tensors["fp_begin"], index), tf.gather(tensors["fp_end"], index)
            )
            features["fp_items"] = tf.gather(tensors["fp_track"], fp_positions).to_tensor()
        if options.fp_items or options.target_is_fp:
            features["target_is_fp"] = is_fp_target
        if options.prefix_features is not None:
            features.update(options.prefix_features(items, items != PADDING))
        if options.grade_weights is None:
            fp_target_weight = tf.constant(options.fp_target_weight, tf.float32)
            weight = tf.where(is_fp_target, fp_target_weight, 1.0)
        else:
            grade_weights = tf.constant(options.grade_weights, tf.float32)
            weight = tf.gather(grade_weights, tf.gather(tensors["target_grades"], index))
        return features, tf.gather(tensors["targets"], index), weight

    return gather_batch
