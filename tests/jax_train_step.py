"""One training step of every backbone with the FP-AdaMetric loss, run under ``KERAS_BACKEND=jax``.

Executed as a subprocess by ``test_model.py`` (the backend is fixed when keras is first imported).
Prints one JSON line per backbone: its loss terms before and after a step.
"""

import json
import os
import sys

assert os.environ.get("KERAS_BACKEND") == "jax"
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from fpam_tf.backbones import BACKBONES  # noqa: E402
from fpam_tf.model import MethodConfig, build_model  # noqa: E402
from fpam_tf.windows import session_graph  # noqa: E402

assert keras.backend.backend() == "jax"
rng = np.random.default_rng(0)
items = np.array([[3, 5, 3, 7], [2, 9, 0, 0], [4, 0, 0, 0]], np.int32)
features = {
    "items": items,
    "flags": (rng.random(items.shape) < 0.3).astype(np.int32) * (items != 0),
    "users": np.array([1, 2, 0], np.int32),
    "fp_items": np.array([[6, 8], [1, 0], [0, 0]], np.int32),
    "target_is_fp": np.array([False, False, False]),
}
features.update({k: np.asarray(v) for k, v in session_graph(items, items != 0).items()})
targets = np.array([2, 5, 7], np.int32)
method = MethodConfig.preset("fp-adametric", context="all", fp_lambda=1.0)
for name in BACKBONES:
    model = build_model(method, backbone=name, num_items=12, num_users=3, embedding_dim=8, hidden_units=8)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    first = model.train_on_batch(features, targets, return_dict=True)
    second = model.train_on_batch(features, targets, return_dict=True)
    print(json.dumps({"backbone": name, "first": {k: float(v) for k, v in first.items()},
                      "second": {k: float(v) for k, v in second.items()}}))
