"""The interface every session encoder (backbone) implements.

A backbone maps a session prefix to one session embedding ``e_seq`` [B, D] in the item
embedding space, so that the score of item i is ``e_seq . e_i`` with the item table shared
between input and output (FPAdaMetric, Jeong et al. AAAI 2022, §3: ``e_seq = f_seq(...)``).
"""

from __future__ import annotations

import keras
from keras import ops


class SessionEncoder(keras.layers.Layer):
    """Base class of the session encoders: ``call(inputs: dict, training=False) -> [B, D]``.

    Input dict (all built by the input pipeline; B batch, T prefix length, D item embedding dim):

    - ``"sequence"``: [B, T, D] item embeddings of the prefix, right-padded, oldest event first;
      the last real event of row b is at index ``length_b - 1``.
    - ``"mask"``: bool [B, T], True on real events; every row has at least one True and padding
      is at the end.
    - ``"context"`` (optional): [B, T, D] per-position context embeddings (the played/skipped
      flag embedding under ``--context all``); encoders add it to their per-position inputs
      (see :meth:`position_inputs`).
    - whatever the backbone's :meth:`feature_inputs` makes of its own batch features (SR-GNN: the
      session graph's node embeddings, adjacency and aliases).

    Output: the session embedding ``e_seq`` [B, D] in ``self.compute_dtype``, where
    ``D = inputs["sequence"].shape[-1]``. Padded positions (mask False) never change the output,
    whatever embeddings they hold.

    Subclasses implement ``build(input_shape)`` (``input_shape`` is the dict of input shapes),
    ``call`` and ``get_config``; they create their sublayers with ``dtype=self.dtype_policy`` so
    that mixed precision policies reach them.
    """

    #: The batch features this backbone needs beyond the prefix, built by :meth:`prefix_features`.
    FEATURES: tuple[str, ...] = ()

    @staticmethod
    def prefix_features(items, mask) -> dict:
        """This backbone's own batch features of a padded prefix, in TensorFlow ops.

        Runs in the tf.data input pipeline, in the exported serving graph and on the sample batch
        that builds a model, so that none of them knows any backbone.

        Args:
          items: int32 ``[B, T]`` item indices, right-padded with 0.
          mask: bool ``[B, T]``, True on real events.

        Returns:
          a dict holding exactly the names in :attr:`FEATURES` (empty by default).
        """
        return {}

    def feature_inputs(self, features: dict, item_embedding) -> dict:
        """Encoder inputs made from the batch features named in :attr:`FEATURES`.

        ``item_embedding`` maps item indices to embeddings (the model's shared table). The default
        passes the features through unchanged; a backbone whose features hold item indices embeds
        them here.
        """
        return {name: features[name] for name in self.FEATURES}

    def position_inputs(self, inputs: dict):
        """``sequence + context`` (context only if present), cast to ``self.compute_dtype``.
        [B, T, D]."""
        x = ops.cast(inputs["sequence"], self.compute_dtype)
        context = inputs.get("context")
        if context is not None:
            x = x + ops.cast(context, self.compute_dtype)
        return x

    def masked(self, x, mask):
        """Zero ``x`` [B, T, ...] where ``mask`` [B, T] is False (``where``, so padding garbage,
        even non-finite, cannot leak)."""
        m = ops.cast(mask, "bool")
        while len(m.shape) < len(x.shape):
            m = ops.expand_dims(m, -1)
        return ops.where(m, x, ops.zeros_like(x))

    @staticmethod
    def last_index(mask):
        """int32 [B]: index of the last real position of each row (right padding)."""
        return ops.sum(ops.cast(mask, "int32"), axis=1) - 1

    def gather_last(self, x, mask):
        """[B, T, H] -> [B, H]: the state at each row's last real position."""
        idx = ops.reshape(self.last_index(mask), (-1, 1, 1))
        idx = ops.broadcast_to(idx, (ops.shape(x)[0], 1, ops.shape(x)[-1]))
        return ops.squeeze(ops.take_along_axis(x, idx, axis=1), axis=1)

    @staticmethod
    def embedding_dim(input_shape: dict) -> int:
        dim = input_shape["sequence"][-1]
        if dim is None:
            raise ValueError(
                "the last axis of inputs['sequence'] (the item embedding dim D) must be known"
            )
        return int(dim)

    def compute_output_shape(self, input_shape):
        return (input_shape["sequence"][0], input_shape["sequence"][-1])
