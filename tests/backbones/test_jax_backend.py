"""Every backbone, the FP loss and the ranking metric run under the JAX backend (one subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import keras
    assert keras.backend.backend() == "jax", keras.backend.backend()
    sys.path.insert(0, sys.argv[1])
    from graph_inputs import session_graph
    from fpam_tf import backbones
    from fpam_tf.losses import FPAdaMetricLoss
    from fpam_tf.metrics import RankingMetrics

    table = np.random.default_rng(0).normal(size=(10, 8)).astype(np.float32)
    x = session_graph([[3, 5, 3, 7], [2], [4, 4, 6, 1]], table, 6, 5)
    out = {}
    for name in sorted(backbones.BACKBONES):
        enc = backbones.get(name)
        e = enc(x, training=True)
        long = session_graph([[3, 5, 3, 7], [2], [4, 4, 6, 1]], table, 9, 7, garbage=30.0)
        diff = float(np.abs(np.asarray(enc(x)) - np.asarray(enc(long))).max())
        out[name] = [list(e.shape), type(e).__module__, diff]
    rng = np.random.default_rng(1)
    fp = rng.normal(size=(3, 2, 8)).astype(np.float32)
    fp_mask = np.array([[1, 0], [0, 0], [1, 1]], bool)
    for agg in ("mean", "adaptive"):
        r = FPAdaMetricLoss(aggregation=agg, hidden_units=4)(e, table[[1, 2, 3]], fp, fp_mask)
        out["loss_" + agg] = [float(r["fp_term"]), str(r["fp_weights"].dtype)]
    m = RankingMetrics()
    m.update_state(np.array([1, 2]), rng.normal(size=(2, 10)))
    out["metric"] = float(m.result()["hr@5"])
    print("RESULT" + json.dumps(out))
""")


def test_forward_under_jax_backend():
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu",
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", SCRIPT, HERE], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")][-1]
    out = json.loads(line[len("RESULT"):])
    for name in ("gru4rec", "narm", "srgnn", "stamp"):
        shape, module, diff = out[name]
        assert shape == [3, 8] and module.startswith("jax"), out[name]
        assert diff < 1e-5, (name, diff)
    for agg in ("mean", "adaptive"):
        term, dtype = out["loss_" + agg]
        assert term >= 0.0 and dtype == "float32"
    assert 0.0 <= out["metric"] <= 100.0
