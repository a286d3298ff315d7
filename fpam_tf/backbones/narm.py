"""NARM: Neural Attentive Session-based Recommendation (Li et al., CIKM 2017)."""

from __future__ import annotations

import keras
from keras import ops

from fpam_tf.backbones.base import SessionEncoder


@keras.saving.register_keras_serializable(package="fpam_tf")
class NARM(SessionEncoder):
    """NARM session encoder: GRU + global and local (attention) encoders, projected to D.

    Li et al. 2017, §3: the GRU states h_1..h_t over the prefix (eq. 3-4);
    global encoder c_g = h_t (eq. 5); local encoder c_l = sum_j alpha_tj h_j with
    ``alpha_tj = v^T sigmoid(A1 h_t + A2 h_j)`` (eqs. 6-8, not normalised, as in the paper and
    the reference code; masked to real positions here); c_t = [c_g; c_l] (eq. 9). The paper
    scores ``S_i = emb_i^T B c_t`` (eq. 10); here ``e_seq = B c_t`` (a bias-free Dense 2H -> D),
    so ``S_i = e_seq . emb_i``.

    Dropout as in the authors' reference implementation: ``embedding_dropout`` = 0.25 on the
    per-position inputs and ``context_dropout`` = 0.5 on c_t before B.

    Shapes: inputs["sequence"] [B, T, D], inputs["mask"] bool [B, T] -> e_seq [B, D].
    """

    def __init__(
        self,
        hidden_units: int = 100,
        embedding_dropout: float = 0.25,
        context_dropout: float = 0.5,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.hidden_units = int(hidden_units)
        self.embedding_dropout = float(embedding_dropout)
        self.context_dropout = float(context_dropout)
        p = self.dtype_policy
        self.input_drop = keras.layers.Dropout(
            self.embedding_dropout, dtype=p, name="embedding_dropout"
        )
        self.gru = keras.layers.GRU(
            self.hidden_units, return_sequences=True, return_state=True, dtype=p, name="gru"
        )
        self.a1 = keras.layers.Dense(self.hidden_units, use_bias=False, dtype=p, name="A1")
        self.a2 = keras.layers.Dense(self.hidden_units, use_bias=False, dtype=p, name="A2")
        self.v = keras.layers.Dense(1, use_bias=False, dtype=p, name="v")
        self.ct_drop = keras.layers.Dropout(self.context_dropout, dtype=p, name="context_dropout")
        self.bilinear = None

    def build(self, input_shape):
        d = self.embedding_dim(input_shape)
        b, t = input_shape["sequence"][0], input_shape["sequence"][1]
        h = self.hidden_units
        self.gru.build((b, t, d))
        self.a1.build((b, h))
        self.a2.build((b, t, h))
        self.v.build((b, t, h))
        self.bilinear = keras.layers.Dense(d, use_bias=False, dtype=self.dtype_policy, name="B")
        self.bilinear.build((b, 2 * h))
        self.built = True

    def call(self, inputs, training=False):
        mask = ops.cast(inputs["mask"], "bool")
        x = self.masked(self.position_inputs(inputs), mask)
        x = self.input_drop(x, training=training)
        states, last = self.gru(x, mask=mask, training=training)  # [B,T,H], [B,H]
        states = self.masked(states, mask)
        q = ops.sigmoid(ops.expand_dims(self.a1(last), 1) + self.a2(states))  # [B,T,H]
        alpha = self.masked(self.v(q), mask)  # [B,T,1]
        c_local = ops.sum(alpha * states, axis=1)  # [B,H]
        c_t = ops.concatenate([last, c_local], axis=-1)  # [B,2H] = [c_g; c_l]
        c_t = self.ct_drop(c_t, training=training)
        return self.bilinear(c_t)

    def get_config(self):
        config = super().get_config()
        config.update(
            hidden_units=self.hidden_units,
            embedding_dropout=self.embedding_dropout,
            context_dropout=self.context_dropout,
        )
        return config
