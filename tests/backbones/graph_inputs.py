"""Test helper: the SR-GNN graph inputs of a batch of item-id sessions, built with NumPy."""

from __future__ import annotations

import numpy as np


def session_graph(sessions, table, t_pad, n_pad, rng=None, garbage=0.0):
    """Encoder inputs (graph keys included) for ``sessions`` (lists of item ids >= 1).

    ``table`` [V, D] item embeddings. Positions beyond a session and nodes beyond its unique
    items are padding; they hold ``garbage`` * N(0, 1) embeddings (and garbage alias ids) so that
    tests can check that padding never reaches the output.
    """
    rng = rng or np.random.default_rng(0)
    b, d = len(sessions), table.shape[1]
    seq = garbage * rng.normal(size=(b, t_pad, d))
    nodes = garbage * rng.normal(size=(b, n_pad, d))
    mask = np.zeros((b, t_pad), bool)
    node_mask = np.zeros((b, n_pad), bool)
    alias = (rng.integers(0, n_pad, size=(b, t_pad)) if garbage else np.zeros((b, t_pad))).astype(
        np.int32
    )
    adj_in = np.zeros((b, n_pad, n_pad))
    adj_out = np.zeros((b, n_pad, n_pad))
    for r, s in enumerate(sessions):
        uniq = list(dict.fromkeys(s))
        index = {item: i for i, item in enumerate(uniq)}
        a = np.zeros((n_pad, n_pad))
        for u, v in zip(s[:-1], s[1:]):
            a[index[u], index[v]] = 1.0
        indeg = np.maximum(a.sum(0), 1.0)
        outdeg = np.maximum(a.sum(1), 1.0)
        adj_in[r] = a.T / indeg[:, None]  # adj_in[i, j] = A[j, i] / indegree(i)
        adj_out[r] = a / outdeg[:, None]  # adj_out[i, j] = A[i, j] / outdegree(i)
        seq[r, : len(s)] = table[s]
        mask[r, : len(s)] = True
        nodes[r, : len(uniq)] = table[uniq]
        node_mask[r, : len(uniq)] = True
        alias[r, : len(s)] = [index[i] for i in s]
    f32 = lambda x: x.astype(np.float32)  # noqa: E731
    return {
        "sequence": f32(seq),
        "mask": mask,
        "nodes": f32(nodes),
        "node_mask": node_mask,
        "adj_in": f32(adj_in),
        "adj_out": f32(adj_out),
        "alias": alias,
    }
