"""The tf.data input pipeline: windows -> shuffled, length-bucketed, padded batches.

Features a backbone needs beyond the prefix (SR-GNN's session graph) are built here by the
backbone's own :meth:`~fpam_tf.backbones.base.SessionEncoder.prefix_features`, passed in
:class:`BatchOptions`; this module knows no backbone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

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
    windows: Windows,
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
    """
    import tensorflow as tf

    num_windows = len(windows)
    if num_windows == 0:
        raise DataError(
            "no windows to batch: the split is empty after the vocabulary filter",
            fix="use a larger dataset or lower the vocabulary's minimum count",
        )
    track_items = tf.constant(windows.track_items)
    track_flags = tf.constant(windows.track_flags)
    fp_track = tf.constant(windows.fp_track)
    prefix_begin = tf.constant(windows.prefix_begin)
    prefix_end = tf.constant(windows.prefix_end)
    prefix_lengths = tf.constant(windows.prefix_lengths.astype(np.int32))
    fp_begin = tf.constant(windows.fp_begin)
    fp_end = tf.constant(windows.fp_end)
    targets = tf.constant(windows.targets)
    target_is_fp = tf.constant(windows.target_is_fp)
    users = tf.constant(windows.users)
    if options.grade_weights is not None:
        grade_weights = tf.constant(options.grade_weights, tf.float32)
        # int32: tf.gather takes no int8 indices.
        target_grades = tf.constant(windows.target_grades.astype(np.int32))

    def gather_batch(index):
        begin, end = tf.gather(prefix_begin, index), tf.gather(prefix_end, index)
        prefix = tf.ragged.range(begin, end)  # ragged [B, (length)] positions in the track
        items = tf.gather(track_items, prefix).to_tensor()
        features = {
            "items": items,
            "lengths": tf.cast(end - begin, tf.int32),
            "users": tf.gather(users, index),
        }
        if options.flags:
            features["flags"] = tf.gather(track_flags, prefix).to_tensor()
        is_fp_target = tf.gather(target_is_fp, index)
        if options.fp_items:
            fp_positions = tf.ragged.range(tf.gather(fp_begin, index), tf.gather(fp_end, index))
            features["fp_items"] = tf.gather(fp_track, fp_positions).to_tensor()
        if options.fp_items or options.target_is_fp:
            features["target_is_fp"] = is_fp_target
        if options.prefix_features is not None:
            features.update(options.prefix_features(items, items != PADDING))
        if options.grade_weights is None:
            fp_target_weight = tf.constant(options.fp_target_weight, tf.float32)
            weight = tf.where(is_fp_target, fp_target_weight, 1.0)
        else:
            weight = tf.gather(grade_weights, tf.gather(target_grades, index))
        return features, tf.gather(targets, index), weight

    if shuffle:
        chunk = batch_size * bucket_batches
        num_chunks = -(-num_windows // chunk)

        def epoch_chunks(random_seed):
            # One vectorised permutation per epoch (a fresh seed each iteration over the dataset),
            # cut into chunks: no per-window element ever passes through tf.data.
            order = tf.random.experimental.stateless_shuffle(
                tf.range(num_windows, dtype=tf.int64),
                seed=tf.stack([random_seed, tf.constant(seed, tf.int64)]),
            )
            return tf.data.Dataset.range(num_chunks).map(
                lambda c: order[c * chunk : (c + 1) * chunk]
            )

        def bucketed(chunk_index):
            by_length = tf.gather(
                chunk_index, tf.argsort(tf.gather(prefix_lengths, chunk_index), stable=True)
            )
            return tf.data.Dataset.range(-(-tf.size(by_length, tf.int64) // batch_size)).map(
                lambda b: by_length[b * batch_size : (b + 1) * batch_size]
            )

        dataset = (
            tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
            .take(1)
            .flat_map(epoch_chunks)
            .flat_map(bucketed)
            .shuffle(bucket_batches, seed=seed + 1, reshuffle_each_iteration=True)
        )
    else:
        dataset = tf.data.Dataset.range(num_windows).batch(batch_size)
    dataset = dataset.map(gather_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.prefetch(tf.data.AUTOTUNE)
