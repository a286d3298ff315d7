"""In-graph preparation of a served session: string ids -> the padded prefix the model was trained
on.

Everything here is TensorFlow ops, traced into the exported signatures, so TF Serving needs no
Python at request time. Requests carry dense, ""-padded string batches; the model wants int32
prefixes right-padded with 0, oldest event first, at most ``MAX_PREFIX`` events (PROTOCOL §4).
"""

from __future__ import annotations

import tensorflow as tf

from fpam_tf.vocabulary import PADDING
from fpam_tf.windows import MAX_PREFIX

PLACEHOLDER_ITEM = (
    1  # Any real index: the prefix of a row with no known item (its output is discarded).
)


def vocabulary_table(vocabulary_path: str) -> tf.lookup.StaticHashTable:
    """Item id -> int64 line number of a run's ``vocabulary.txt`` (-1 for an unknown id).

    Built from the file with ``TextFileInitializer``, which tracks it as a SavedModel asset, so the
    exported model carries its own vocabulary.
    """
    initializer = tf.lookup.TextFileInitializer(
        vocabulary_path,
        key_dtype=tf.string,
        key_index=tf.lookup.TextFileIndex.WHOLE_LINE,
        value_dtype=tf.int64,
        value_index=tf.lookup.TextFileIndex.LINE_NUMBER,
    )
    return tf.lookup.StaticHashTable(initializer, default_value=-1)


def item_indices(table: tf.lookup.StaticHashTable, ids: tf.Tensor) -> tf.Tensor:
    """int32 model indices of string ``ids`` (any shape): line k -> k + 1; "" and unknown ids
    -> 0."""
    indices = tf.cast(table.lookup(ids) + 1, tf.int32)
    # "" is padding at the request boundary even if a vocabulary ever held an empty id.
    return tf.where(tf.equal(ids, ""), PADDING, indices)


def is_skipped(items: tf.Tensor, skipped: tf.Tensor) -> tf.Tensor:
    """bool [B, T]: whether ``items[b, t]`` (int32 [B, T]) is one of the known items in
    ``skipped[b]`` (int32 [B, S])."""
    same = tf.equal(items[:, :, None], skipped[:, None, :])
    known = tf.not_equal(skipped, PADDING)[:, None, :]
    return tf.reduce_any(tf.logical_and(same, known), axis=2)


def compact(values: tf.Tensor, keep: tf.Tensor, max_length: int = MAX_PREFIX) -> tf.Tensor:
    """``values`` [B, T] with only the ``keep`` positions, moved left in order, the last
    ``max_length`` of each row.

    Returns [B, W] right-padded with 0, ``W = max(1, longest kept row)`` (at least one column, for
    the placeholder of empty rows).
    """
    kept = tf.ragged.boolean_mask(values, keep)[:, -max_length:]
    width = tf.maximum(tf.reduce_max(kept.row_lengths()), 1)
    return kept.to_tensor(
        default_value=0, shape=tf.stack([kept.nrows(), tf.cast(width, kept.row_splits.dtype)])
    )


def model_features(
    items: tf.Tensor, skipped: tf.Tensor, *, positives_only: bool, flags: bool, prefix_features=None
) -> tuple[dict, tf.Tensor]:
    """The model's input features for int32 item indices ``items`` [B, T] and ``skipped`` [B, S]
    (0 = padding / unknown).

    Unknown ids and padding are removed from the prefix; a model trained on positives only
    (context ``positives``) also loses the events of skipped items, a model with skip flags gets
    flag 1 on them. Backbones require at least one event per row, so a row left empty is given
    the placeholder prefix ``[1]``; callers replace its output using the returned ``has_items``.

    Returns:
      ``(features, has_items)``: ``{"items": int32 [B, W]}`` plus ``"flags"`` [B, W] when ``flags``
      and the backbone's own features when ``prefix_features`` (its
      :meth:`~fpam_tf.backbones.base.SessionEncoder.prefix_features`) is given;
      ``has_items`` bool [B], whether the row kept any event.
    """
    skipped_event = is_skipped(items, skipped)
    keep = tf.not_equal(items, PADDING)
    if positives_only:
        keep = tf.logical_and(keep, tf.logical_not(skipped_event))
    prefix = compact(items, keep)
    has_items = tf.not_equal(prefix[:, 0], PADDING)
    first = tf.where(has_items, prefix[:, 0], PLACEHOLDER_ITEM)
    features = {"items": tf.concat([first[:, None], prefix[:, 1:]], axis=1)}
    if flags:
        features["flags"] = compact(tf.cast(skipped_event, tf.int32), keep)
    if prefix_features is not None:
        features.update(
            prefix_features(features["items"], tf.not_equal(features["items"], PADDING))
        )
    return features, has_items
