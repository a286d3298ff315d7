"""GRU4Rec: Session-based Recommendations with Recurrent Neural Networks
(Hidasi et al., ICLR 2016)."""

from __future__ import annotations

import keras
from keras import ops

from fpam_tf.backbones.base import SessionEncoder


@keras.saving.register_keras_serializable(package="fpam_tf")
class GRU4Rec(SessionEncoder):
    """GRU4Rec session encoder: one GRU layer over the prefix, last hidden state projected to D.

    Hidasi et al. 2016, §3.1: a GRU (eqs. 1-4 of the paper's GRU definition) reads the session's
    items one by one; the final hidden state h_t scores every item through a feed-forward output
    layer. Here the output layer is split into a Dense H -> D (``e_seq = W h_t + b``) followed by
    the dot product with the shared item table, so ``score_i = e_seq . e_i``.

    The paper tunes dropout on the hidden layer per dataset (Table 2 reports values in 0-0.5);
    our default ``hidden_dropout`` = 0.25 is applied to h_t before the projection (our choice,
    the same rate as NARM's embedding dropout). One layer, ``hidden_units`` = 100 as in the paper.

    Shapes: inputs["sequence"] [B, T, D], inputs["mask"] bool [B, T] -> e_seq [B, D].
    """

    def __init__(self, hidden_units: int = 100, hidden_dropout: float = 0.25, **kwargs):
        super().__init__(**kwargs)
        self.hidden_units = int(hidden_units)
        self.hidden_dropout = float(hidden_dropout)
        p = self.dtype_policy
        self.gru = keras.layers.GRU(self.hidden_units, dtype=p, name="gru")
        self.drop = keras.layers.Dropout(self.hidden_dropout, dtype=p, name="hidden_dropout")
        self.project = None

    def build(self, input_shape):
        d = self.embedding_dim(input_shape)
        b, t = input_shape["sequence"][0], input_shape["sequence"][1]
        self.gru.build((b, t, d))
        self.project = keras.layers.Dense(d, dtype=self.dtype_policy, name="project")
        self.project.build((b, self.hidden_units))
        self.built = True

    def call(self, inputs, training=False):
        mask = ops.cast(inputs["mask"], "bool")
        x = self.masked(self.position_inputs(inputs), mask)
        last = self.gru(x, mask=mask, training=training)  # state at the last real step [B, H]
        return self.project(self.drop(last, training=training))

    def get_config(self):
        config = super().get_config()
        config.update(hidden_units=self.hidden_units, hidden_dropout=self.hidden_dropout)
        return config
