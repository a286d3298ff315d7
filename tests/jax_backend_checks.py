"""The checks that need ``KERAS_BACKEND=jax``, run as one subprocess (the backend is fixed when
keras is first imported, and one JAX start-up instead of two keeps the suite short).

Run by the ``jax_backend_checks`` fixture in ``conftest.py``; prints one ``RESULT`` JSON line:
- ``forward``: per backbone, the session embedding's shape, its array module, and the largest
  change of the output when the padding is made longer and filled with garbage (0 when padding
  never reaches the output);
- ``loss_mean`` / ``loss_adaptive``: the FP term and the dtype of the FP weights of
  ``FPAdaMetricLoss``;
- ``metric``: HR@5 of ``RankingMetrics`` on random scores;
- ``train_steps``: per backbone, the loss terms before and after one FP-AdaMetric training step;
- ``blocks``: a model scoring its table whole (``"None"``) and in blocks of 5 rows (``"5"``),
  from the same weights: its outputs' names, evaluation figures, training loss and first weights
  after the step.
"""

import json
import os
import sys

assert os.environ.get("KERAS_BACKEND") == "jax"
TESTS = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(TESTS), os.path.join(TESTS, "backbones")]

import keras  # noqa: E402
import numpy as np  # noqa: E402
from graph_inputs import session_graph as embedded_session_graph  # noqa: E402

from fpam_tf import backbones  # noqa: E402
from fpam_tf.losses import FPAdaMetricLoss  # noqa: E402
from fpam_tf.methods import MethodConfig  # noqa: E402
from fpam_tf.metrics import RankingMetrics  # noqa: E402
from fpam_tf.model import build_model  # noqa: E402

assert keras.backend.backend() == "jax", keras.backend.backend()
out = {"forward": {}, "train_steps": {}}

table = np.random.default_rng(0).normal(size=(10, 8)).astype(np.float32)
sessions = [[3, 5, 3, 7], [2], [4, 4, 6, 1]]
inputs = embedded_session_graph(sessions, table, 6, 5)
padded_with_garbage = embedded_session_graph(sessions, table, 9, 7, garbage=30.0)
for name in sorted(backbones.BACKBONES):
    encoder = backbones.create(name)
    session_embedding = encoder(inputs, training=True)
    padding_leak = float(
        np.abs(np.asarray(encoder(inputs)) - np.asarray(encoder(padded_with_garbage))).max()
    )
    out["forward"][name] = [
        list(session_embedding.shape),
        type(session_embedding).__module__,
        padding_leak,
    ]

rng = np.random.default_rng(1)
fp_embeddings = rng.normal(size=(3, 2, 8)).astype(np.float32)
fp_mask = np.array([[1, 0], [0, 0], [1, 1]], bool)
for aggregation in ("mean", "adaptive"):
    terms = FPAdaMetricLoss(aggregation=aggregation, hidden_units=4)(
        session_embedding, table[[1, 2, 3]], fp_embeddings, fp_mask
    )
    out["loss_" + aggregation] = [float(terms["fp_term"]), str(terms["fp_weights"].dtype)]
metric = RankingMetrics()
metric.update_state(np.array([1, 2]), rng.normal(size=(2, 10)))
out["metric"] = float(metric.result()["hr@5"])

items = np.array([[3, 5, 3, 7], [2, 9, 0, 0], [4, 0, 0, 0]], np.int32)
features = {
    "items": items,
    "flags": (rng.random(items.shape) < 0.3).astype(np.int32) * (items != 0),
    "users": np.array([1, 2, 0], np.int32),
    "fp_items": np.array([[6, 8], [1, 0], [0, 0]], np.int32),
    "target_is_fp": np.array([False, False, False]),
}
features.update(
    {k: np.asarray(v) for k, v in backbones.SRGNN.prefix_features(items, items != 0).items()}
)
targets = np.array([2, 5, 7], np.int32)
method = MethodConfig.preset("fp-adametric", context="all", fp_lambda=1.0)
for name in sorted(backbones.BACKBONES):
    model = build_model(
        method, backbone=name, num_items=12, num_users=3, embedding_dim=8, hidden_units=8
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    first = model.train_on_batch(features, targets, return_dict=True)
    second = model.train_on_batch(features, targets, return_dict=True)
    out["train_steps"][name] = {
        "first": {k: float(v) for k, v in first.items()},
        "second": {k: float(v) for k, v in second.items()},
    }

# A table scored in blocks (fpam_tf.scoring) against the same table scored whole: STAMP (no
# dropout), FP-SkipHead (the skip head's ranking scores too), same weights.
import fpam_tf.model as model_module  # noqa: E402

out["blocks"], weights = {}, None
for chunk_items in (None, 5):
    model_module.default_chunk_items = lambda num_items, chunk_items=chunk_items: chunk_items
    model = build_model(
        MethodConfig.preset("fp-skiphead"),
        backbone="stamp",
        num_items=12,
        num_users=3,
        embedding_dim=8,
        hidden_units=8,
    )
    if weights is None:
        weights = model.get_weights()
    model.set_weights(weights)
    evaluated = model.test_on_batch(features, targets, return_dict=True)
    trained = model.train_on_batch(features, targets, return_dict=True)
    out["blocks"][str(chunk_items)] = {
        "outputs": sorted(model(features)),
        "evaluated": {k: float(evaluated[k]) for k in ("loss", "mrr@20", "hr@5")},
        "trained_loss": float(trained["loss"]),
        "weights": [np.asarray(w).tolist() for w in model.get_weights()[:2]],
    }
print("RESULT" + json.dumps(out))
