"""STAMP: Short-Term Attention/Memory Priority Model (Liu et al., KDD 2018)."""

from __future__ import annotations

import keras
from keras import ops

from fpam_tf.backbones.base import SessionEncoder


@keras.saving.register_keras_serializable(package="fpam_tf")
class STAMP(SessionEncoder):
    """STAMP session encoder: attention over the prefix with the last click as short-term memory.

    Liu et al. 2018, §4.2-4.3: m_s = mean of the prefix embeddings x_1..x_t (eq. 2), m_t = x_t;
    ``alpha_i = w0^T sigmoid(W1 x_i + W2 x_t + W3 m_s + b_a)`` (eq. 7), m_a = sum_i alpha_i x_i
    (eq. 8); h_s = tanh(W_A m_a + b_A), h_t = tanh(W_B m_t + b_B) (eqs. 9-10, the MLP cells A
    and B). The paper scores with the trilinear product <h_s, h_t, x_i> (eq. 11), which equals
    ``(h_s * h_t) . x_i``; so ``e_seq = h_s * h_t`` [B, D]. The paper uses no dropout.

    Shapes: inputs["sequence"] [B, T, D], inputs["mask"] bool [B, T] -> e_seq [B, D].
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.w1 = self.w2 = self.w3 = self.w0 = self.mlp_a = self.mlp_b = None

    def build(self, input_shape):
        d = self.embedding_dim(input_shape)
        b = input_shape["sequence"][0]
        p = self.dtype_policy
        self.w1 = keras.layers.Dense(d, use_bias=False, dtype=p, name="W1")
        self.w2 = keras.layers.Dense(d, use_bias=False, dtype=p, name="W2")
        self.w3 = keras.layers.Dense(d, use_bias=True, dtype=p, name="W3")  # its bias is b_a
        self.w0 = keras.layers.Dense(1, use_bias=False, dtype=p, name="w0")
        self.mlp_a = keras.layers.Dense(d, activation="tanh", dtype=p, name="mlp_a")
        self.mlp_b = keras.layers.Dense(d, activation="tanh", dtype=p, name="mlp_b")
        for layer in (self.w1, self.w2, self.w3, self.w0, self.mlp_a, self.mlp_b):
            layer.build((b, d))
        self.built = True

    def call(self, inputs, training=False):
        mask = ops.cast(inputs["mask"], "bool")
        x = self.masked(self.position_inputs(inputs), mask)  # [B,T,D]
        count = ops.sum(ops.cast(mask, x.dtype), axis=1, keepdims=True)  # [B,1]
        m_s = ops.sum(x, axis=1) / count  # [B,D]
        m_t = self.gather_last(x, mask)  # [B,D]
        pre = self.w1(x) + ops.expand_dims(self.w2(m_t) + self.w3(m_s), 1)  # [B,T,D]
        alpha = self.masked(self.w0(ops.sigmoid(pre)), mask)  # [B,T,1]
        m_a = ops.sum(alpha * x, axis=1)  # [B,D]
        return self.mlp_a(m_a) * self.mlp_b(m_t)

    def get_config(self):
        return super().get_config()  # no hyper-parameters: all sizes follow D
