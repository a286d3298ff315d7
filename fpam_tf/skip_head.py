"""The skip head: how likely the user is to skip an item if it is played next in a session."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="fpam_tf")
class SkipHead(keras.layers.Layer):
    """Skip logits ``s[b, i] = <W e_seq[b] + c, e_i> + bias_i``: a bilinear form between the session
    embedding and the (shared) item embeddings, plus a per-item skip propensity.

    ``sigmoid(s[b, i])`` estimates P(skipped | session b, next item i). Trained with binary
    cross-entropy on training windows' targets (label: the target was an FP), it reranks the next-
    item distribution: ``log P(i) + log P(not skipped | i)`` scores "played next and kept"
    (:meth:`fpam_tf.model.SessionRecommender.ranking_scores`).

    ``call(session_embedding [B, D], item_embeddings [B, N, D], items int [B, N])`` returns float32
    skip logits [B, N] of N items per window (N = 1: the windows' targets; serving: the candidates).
    :meth:`all_items` scores every item of the table, or a block of its rows: [B, V]. Products run
    in ``compute_dtype``, logits are float32.

    Args:
      num_items: V, the size of the item table (row 0, padding, included).
    """

    def __init__(self, num_items: int, **kwargs):
        super().__init__(**kwargs)
        self.num_items = int(num_items)
        self.query = None

    def build(self, session_embedding_shape):
        dim = session_embedding_shape[-1]
        if dim is None:
            raise ValueError(
                "SkipHead needs the embedding dim (last axis of session_embedding), got None"
            )
        self.query = keras.layers.Dense(int(dim), dtype=self.dtype_policy, name="query")
        self.query.build((None, int(dim)))
        self.item_bias = self.add_weight(
            shape=(self.num_items,), initializer="zeros", name="item_bias"
        )
        self.built = True

    def call(self, session_embedding, item_embeddings, items):
        query = self.query(ops.cast(session_embedding, self.compute_dtype))  # [B, D]
        products = ops.sum(query[:, None, :] * ops.cast(item_embeddings, self.compute_dtype), -1)
        bias = ops.take(self.item_bias, ops.cast(items, "int32"), axis=0)
        return ops.cast(products, "float32") + ops.cast(bias, "float32")

    def all_items(self, session_embedding, table, start: int = 0):
        """float32 skip logits [B, R] of every row of ``table`` [R, D]: the item table, or the
        block of its rows that starts at item ``start``."""
        query = self.query(ops.cast(session_embedding, self.compute_dtype))
        products = ops.matmul(query, ops.transpose(ops.cast(table, self.compute_dtype)))
        bias = self.item_bias[start : start + ops.shape(table)[0]]
        return ops.cast(products, "float32") + ops.cast(bias, "float32")[None, :]

    def get_config(self):
        config = super().get_config()
        config.update(num_items=self.num_items)
        return config
