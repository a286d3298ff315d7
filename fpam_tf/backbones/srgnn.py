"""SR-GNN: Session-based Recommendation with Graph Neural Networks (Wu et al., AAAI 2019)."""

from __future__ import annotations

import keras
from keras import ops

from fpam_tf.backbones.base import SessionEncoder


@keras.saving.register_keras_serializable(package="fpam_tf")
class SRGNN(SessionEncoder):
    """SR-GNN session encoder: gated GNN over the session graph, soft attention readout.

    Wu et al. 2019, §3: node states v (the session graph's unique items, [B, N, H]) go through
    ``steps`` gated GNN steps (eqs. 1-5):
    ``a = [adj_in @ (W_in v) + b_in ; adj_out @ (W_out v) + b_out]`` (eq. 1, with the in/out
    adjacency normalised by degree as in the reference code), then GRU-style gates
    z = sigmoid(W_z a + U_z v), r = sigmoid(W_r a + U_r v), ṽ = tanh(W_o a + U_o (r * v)),
    v <- (1 - z) * ṽ + z * v (eqs. 2-5; eq. 5 in the reference code's
    form, equivalent up to z -> 1 - z). Node states are gathered to positions through
    ``alias`` (plus the per-position context if present); with v_n the last position's state,
    ``alpha_i = q^T sigmoid(W1 v_n + W2 v_i + c)``, s_g = sum_i alpha_i v_i (eq. 6, masked),
    s_l = v_n, and ``e_seq = s_h = W3 [s_l ; s_g]`` (eq. 7), a Dense 2H -> D (with bias, as in
    the reference code). The paper uses no dropout (it regularises with L2).

    ``hidden_units`` defaults to D (the paper's node states are the item embeddings); a
    different value projects the node embeddings D -> H first.

    Shapes: inputs["nodes"] [B, N, D], inputs["node_mask"] bool [B, N], inputs["adj_in"],
    inputs["adj_out"] [B, N, N], inputs["alias"] int32 [B, T], inputs["mask"] bool [B, T],
    inputs["sequence"] [B, T, D] (only its D is used) -> e_seq [B, D].
    """

    FEATURES = ("nodes", "alias", "adj_in", "adj_out")

    @staticmethod
    def prefix_features(items, mask):
        """SR-GNN's per-session graph of a padded batch (Wu et al. 2019), in TensorFlow ops.

        Args:
          items: int32 ``[B, T]`` prefixes, right-padded with 0.
          mask: bool ``[B, T]``.

        Returns:
          dict with ``nodes`` int32 ``[B, N]`` (unique items in order of first occurrence,
          0-padded), ``alias`` int32 ``[B, T]`` (node of each position, 0 on padding), and
          ``adj_in`` / ``adj_out`` float32 ``[B, N, N]`` normalised as the reference code:
          ``adj_in[b,i,j] = A[j,i] / max(indegree(i), 1)`` and
          ``adj_out[b,i,j] = A[i,j] / max(outdegree(i), 1)``, ``A[u,v] = 1`` when the prefix has
          a transition ``u -> v``.
        """
        import tensorflow as tf

        length = tf.shape(items)[1]
        positions = tf.range(length)
        same = tf.equal(items[:, :, None], items[:, None, :])
        first = tf.argmax(
            tf.cast(same, tf.int32), axis=2, output_type=tf.int32
        )  # first position holding the same item
        is_first = tf.logical_and(tf.equal(first, positions[None, :]), mask)
        node_of_first = tf.cumsum(tf.cast(is_first, tf.int32), axis=1) - 1
        alias = tf.where(mask, tf.gather(node_of_first, first, batch_dims=1), 0)
        nodes = tf.ragged.boolean_mask(items, is_first).to_tensor()
        num_nodes = tf.shape(nodes)[1]
        transition = tf.cast(tf.logical_and(mask[:, 1:], mask[:, :-1]), tf.float32)
        source = tf.one_hot(alias[:, :-1], num_nodes) * transition[:, :, None]
        target = tf.one_hot(alias[:, 1:], num_nodes)
        adjacency = tf.minimum(tf.einsum("bpu,bpv->buv", source, target), 1.0)
        indegree = tf.maximum(tf.reduce_sum(adjacency, axis=1), 1.0)
        outdegree = tf.maximum(tf.reduce_sum(adjacency, axis=2), 1.0)
        return {
            "nodes": nodes,
            "alias": alias,
            "adj_in": tf.transpose(adjacency, [0, 2, 1]) / indegree[:, :, None],
            "adj_out": adjacency / outdegree[:, :, None],
        }

    def feature_inputs(self, features: dict, item_embedding) -> dict:
        """The graph of :meth:`prefix_features` with its nodes embedded by the shared item table."""
        nodes = features["nodes"]
        return {
            "nodes": item_embedding(nodes),
            "node_mask": ops.not_equal(nodes, 0),
            "adj_in": features["adj_in"],
            "adj_out": features["adj_out"],
            "alias": features["alias"],
        }

    def __init__(self, hidden_units: int | None = None, steps: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.hidden_units = None if hidden_units is None else int(hidden_units)
        self.steps = int(steps)
        self.node_projection = None

    def build(self, input_shape):
        d = self.embedding_dim(input_shape)
        h = d if self.hidden_units is None else self.hidden_units
        self._h = h
        p = self.dtype_policy
        b = input_shape["sequence"][0]
        if h != d:
            self.node_projection = keras.layers.Dense(
                h, use_bias=False, dtype=p, name="node_projection"
            )
            self.node_projection.build((b, d))
        self.edge_in = keras.layers.Dense(
            h, dtype=p, name="W_in"
        )  # bias: reference's linear_edge_in
        self.edge_out = keras.layers.Dense(h, dtype=p, name="W_out")
        self.b_in = self.add_weight(shape=(h,), initializer="zeros", name="b_in")
        self.b_out = self.add_weight(shape=(h,), initializer="zeros", name="b_out")
        self.gate_a = keras.layers.Dense(3 * h, dtype=p, name="gates_a")  # W_r, W_z, W_o on a
        self.gate_v = keras.layers.Dense(3 * h, dtype=p, name="gates_v")  # U_r, U_z, U_o on v
        self.w1 = keras.layers.Dense(h, dtype=p, name="W1")  # its bias is c
        self.w2 = keras.layers.Dense(h, use_bias=False, dtype=p, name="W2")
        self.q = keras.layers.Dense(1, use_bias=False, dtype=p, name="q")
        self.w3 = keras.layers.Dense(d, dtype=p, name="W3")
        for layer in (self.edge_in, self.edge_out, self.gate_v, self.w1, self.w2, self.q):
            layer.build((b, h))
        self.gate_a.build((b, 2 * h))
        self.w3.build((b, 2 * h))
        self.built = True

    def gnn_step(self, v, adj_in, adj_out, node_mask):
        """One gated GNN step (eqs. 1-5). v [B,N,H] -> [B,N,H]."""
        h = self._h
        a_in = ops.matmul(adj_in, self.edge_in(v)) + self.b_in
        a_out = ops.matmul(adj_out, self.edge_out(v)) + self.b_out
        a = ops.concatenate([a_in, a_out], axis=-1)  # [B,N,2H]
        gi = self.gate_a(a)
        gh = self.gate_v(v)
        i_r, i_z, i_n = gi[..., :h], gi[..., h : 2 * h], gi[..., 2 * h :]
        h_r, h_z, h_n = gh[..., :h], gh[..., h : 2 * h], gh[..., 2 * h :]
        reset = ops.sigmoid(i_r + h_r)
        update = ops.sigmoid(i_z + h_z)
        candidate = ops.tanh(i_n + reset * h_n)  # reference code: r applied to U_o v (incl. bias)
        v = candidate + update * (
            v - candidate
        )  # = (1 - z) * candidate + z * v, as in the reference
        return self.masked(v, node_mask)

    def call(self, inputs, training=False):
        dt = self.compute_dtype
        mask = ops.cast(inputs["mask"], "bool")
        node_mask = ops.cast(inputs["node_mask"], "bool")
        v = self.masked(ops.cast(inputs["nodes"], dt), node_mask)
        if self.node_projection is not None:
            v = self.node_projection(v)
        # Padding nodes must not send messages, whatever the pipeline put in adj.
        pair = ops.logical_and(ops.expand_dims(node_mask, 2), ops.expand_dims(node_mask, 1))
        adj_in = ops.where(pair, ops.cast(inputs["adj_in"], dt), ops.zeros((), dt))
        adj_out = ops.where(pair, ops.cast(inputs["adj_out"], dt), ops.zeros((), dt))
        for _ in range(self.steps):
            v = self.gnn_step(v, adj_in, adj_out, node_mask)
        alias = ops.where(mask, ops.cast(inputs["alias"], "int32"), 0)
        idx = ops.broadcast_to(
            ops.expand_dims(alias, -1), (ops.shape(alias)[0], ops.shape(alias)[1], self._h)
        )
        states = ops.take_along_axis(v, idx, axis=1)  # [B,T,H]
        context = inputs.get("context")
        if context is not None:
            ctx = ops.cast(context, dt)
            if self.node_projection is not None:
                ctx = self.node_projection(ctx)
            states = states + ctx
        states = self.masked(states, mask)
        v_n = self.gather_last(states, mask)  # s_l [B,H]
        pre = ops.expand_dims(self.w1(v_n), 1) + self.w2(states)
        alpha = self.masked(self.q(ops.sigmoid(pre)), mask)  # [B,T,1]
        s_g = ops.sum(alpha * states, axis=1)
        return self.w3(ops.concatenate([v_n, s_g], axis=-1))

    def get_config(self):
        config = super().get_config()
        config.update(hidden_units=self.hidden_units, steps=self.steps)
        return config
