"""Scoring every item of the table against session embeddings, whole or a block of rows at a time.

A model scores all V items of its table for each of B windows: a [B, V] float32 block of logits,
1 GB at B = 512 and V = 500,000. The training loss and the ranking metrics need it whole only
through reductions over the items (a log-sum-exp, a count of items above the target), so a large
table is scored in blocks of rows (:func:`chunk_bounds`) and no [B, V] tensor is ever held
(:func:`fpam_tf.losses.chunked_softmax_cross_entropy`,
:func:`fpam_tf.metrics.chunked_target_ranks`).
"""

from __future__ import annotations

import keras
from keras import ops

MASKED_LOGIT = -1e9  # Padding's logit: never ranked, never in the softmax.
# Tables up to this many rows are scored whole (a [512, 262,144] block is 512 MB); larger ones in
# blocks of CHUNK_ITEMS rows (32 MB of float32 logits at batch 512).
WHOLE_TABLE_MAX_ITEMS = 262_144
CHUNK_ITEMS = 16_384


def default_chunk_items(num_items: int) -> int | None:
    """The block size a model of ``num_items`` items scores in: ``None`` (the whole table at once)
    up to :data:`WHOLE_TABLE_MAX_ITEMS` items, else :data:`CHUNK_ITEMS`."""
    return None if num_items <= WHOLE_TABLE_MAX_ITEMS else CHUNK_ITEMS


def chunk_bounds(num_items: int, chunk_items: int | None) -> list[tuple[int, int]]:
    """``[(start, stop), ...]``: consecutive row ranges of ``chunk_items`` rows covering
    ``0..num_items`` (one range when ``chunk_items`` is None)."""
    if chunk_items is None:
        return [(0, num_items)]
    if chunk_items < 1:
        raise ValueError(f"chunk_items must be a positive number of rows, got {chunk_items}")
    return [
        (start, min(start + chunk_items, num_items)) for start in range(0, num_items, chunk_items)
    ]


def item_logits(session_embedding, rows, start: int):
    """float32 logits [B, R] of the table rows ``rows`` [R, D], the items ``start..start + R - 1``,
    for ``session_embedding`` [B, D]; the padding item 0 (when ``start`` is 0) masked.

    The product runs in ``session_embedding``'s dtype. The padding mask rides in the product as
    one extra constant column (``1`` on the session side, ``-1e9`` for row 0 and ``0`` elsewhere on
    the item side), so masking costs no extra pass over the logits, forward or backward.
    """
    dtype = session_embedding.dtype
    rows = ops.cast(rows, dtype)
    if start > 0:
        return ops.cast(ops.matmul(session_embedding, ops.transpose(rows)), "float32")
    padding_column = ops.cast(
        ops.where(ops.equal(ops.arange(ops.shape(rows)[0]), 0), MASKED_LOGIT, 0.0), dtype
    )
    batch_ones = ops.ones_like(session_embedding[:, :1])
    logits = ops.matmul(
        ops.concatenate([session_embedding, batch_ones], axis=1),
        ops.transpose(ops.concatenate([rows, padding_column[:, None]], axis=1)),
    )
    return ops.cast(logits, "float32")


def chunk_entries(values, targets, start: int, stop: int, default):
    """float32 [B]: ``values[b, targets[b] - start]`` where ``start <= targets[b] < stop``, else
    ``default[b]``; ``values`` [B, stop - start] is the block of items ``start..stop - 1``."""
    targets = ops.cast(targets, "int32")
    inside = ops.logical_and(ops.greater_equal(targets, start), ops.less(targets, stop))
    column = ops.clip(targets - start, 0, stop - start - 1)
    picked = ops.take_along_axis(values, column[:, None], axis=1)[:, 0]
    return ops.where(inside, picked, default)


def after(value, *dependencies):
    """``value``, used only once ``dependencies`` (tensors, or None) have been computed.

    TensorFlow's executor runs every op whose inputs are ready, so the blocks of a table, which do
    not depend on each other, would all be scored before the first is reduced, holding the whole
    [B, V] again. Each block's products read the session embedding through this, after the last
    block's reduction. Other backends compile the loop and need no order (the value is returned
    as it is).
    """
    dependencies = [d for d in dependencies if d is not None]
    if not dependencies or keras.backend.backend() != "tensorflow":
        return value
    import tensorflow as tf

    with tf.control_dependencies(dependencies):
        return tf.identity(value)


def ordered_block(session_embedding, table, start: int, stop: int, *dependencies):
    """``(session_embedding, table[start:stop])`` for scoring the items ``start..stop - 1``, both
    read only once ``dependencies`` (every result of the previous block) have been computed
    (:func:`after`): so a block's rows are sliced, and its products run, when the block before it
    is done with."""
    return after(session_embedding, *dependencies), after(table, *dependencies)[start:stop]
