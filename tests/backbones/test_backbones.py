"""Every backbone: shapes, mixed precision, padding invariance, context, registry, config round
trip."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))
import keras  # noqa: E402
from graph_inputs import session_graph  # noqa: E402

from fpam_tf import backbones  # noqa: E402
from fpam_tf.errors import ConfigError  # noqa: E402

D = 8
SESSIONS = [[3, 5, 3, 7], [2], [4, 4, 6, 1, 9, 2], [8, 1]]
NAMES = sorted(backbones.BACKBONES)
SMALL = {
    "narm": {"hidden_units": 6},
    "gru4rec": {"hidden_units": 6},
    "srgnn": {"steps": 2},
    "stamp": {},
}


def table(seed=0):
    return np.random.default_rng(seed).normal(size=(10, D)).astype(np.float32)


def inputs(t_pad=6, n_pad=5, garbage=0.0, seed=1, context=False):
    rng = np.random.default_rng(seed)
    x = session_graph(SESSIONS, table(), t_pad, n_pad, rng=rng, garbage=garbage)
    if context:
        real = np.zeros((len(SESSIONS), t_pad, D))  # the same real context whatever t_pad
        real[:, :6] = np.random.default_rng(99).normal(
            size=(len(SESSIONS), 6, D)
        )  # sessions <= 6 long
        ctx = np.where(x["mask"][..., None], real, garbage * rng.normal(size=real.shape))
        x["context"] = ctx.astype(np.float32)
    return x


@pytest.fixture
def policy():
    yield keras.config.set_dtype_policy
    keras.config.set_dtype_policy("float32")


@pytest.mark.parametrize("name", NAMES)
def test_shape_float32(name):
    enc = backbones.create(name, **SMALL[name])
    out = enc(inputs(), training=False)
    assert tuple(out.shape) == (len(SESSIONS), D)
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    assert np.all(np.isfinite(np.asarray(out)))
    # training mode (dropout on) runs too
    assert tuple(enc(inputs(), training=True).shape) == (len(SESSIONS), D)


@pytest.mark.parametrize("name", NAMES)
def test_shape_mixed_bfloat16(name, policy):
    policy("mixed_bfloat16")
    enc = backbones.create(name, **SMALL[name])
    assert enc.compute_dtype == "bfloat16"
    out = enc(inputs(), training=False)
    assert tuple(out.shape) == (len(SESSIONS), D)
    assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"
    assert np.all(np.isfinite(np.asarray(keras.ops.cast(out, "float32"))))
    assert all(v.dtype == "float32" for v in enc.weights)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("with_context", [False, True])
def test_padding_invariance(name, with_context):
    enc = backbones.create(name, **SMALL[name])
    short = enc(inputs(t_pad=6, n_pad=5, context=with_context), training=False)
    long = enc(
        inputs(t_pad=11, n_pad=9, garbage=50.0, seed=7, context=with_context), training=False
    )
    np.testing.assert_allclose(np.asarray(short), np.asarray(long), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_context_is_used(name):
    enc = backbones.create(name, **SMALL[name])
    plain = enc(inputs(), training=False)
    with_ctx = enc(inputs(context=True), training=False)
    assert not np.allclose(np.asarray(plain), np.asarray(with_ctx))


@pytest.mark.parametrize("name", NAMES)
def test_config_round_trip(name):
    enc = backbones.create(name, **SMALL[name])
    x = inputs()
    out = enc(x, training=False)
    config = keras.saving.serialize_keras_object(enc)
    assert config["registered_name"] == f"fpam_tf>{type(enc).__name__}"
    clone = keras.saving.deserialize_keras_object(config)
    assert type(clone) is type(enc) and clone.get_config() == enc.get_config()
    clone(x)
    clone.set_weights(enc.get_weights())
    np.testing.assert_allclose(
        np.asarray(clone(x, training=False)), np.asarray(out), rtol=1e-6, atol=1e-6
    )


def test_only_srgnn_declares_features_of_its_own():
    assert backbones.SRGNN.FEATURES == ("nodes", "alias", "adj_in", "adj_out")
    assert not any(backbones.BACKBONES.get(n).FEATURES for n in ("narm", "stamp", "gru4rec"))
    assert all(
        issubclass(backbones.BACKBONES.get(n), backbones.SessionEncoder)
        for n in backbones.BACKBONES
    )


def test_registry_errors():
    with pytest.raises(ConfigError) as err:
        backbones.create("transformer")
    for name in NAMES:
        assert name in str(err.value)
    assert isinstance(backbones.create("NARM"), backbones.NARM)


def test_srgnn_hidden_projection():
    enc = backbones.create("srgnn", hidden_units=5)
    out = enc(inputs(), training=False)
    assert tuple(out.shape) == (len(SESSIONS), D)


def _sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def _w(layer):
    return [np.asarray(v, np.float64) for v in layer.weights]


def test_srgnn_matches_numpy_reference():
    enc = backbones.create("srgnn", steps=2)
    x = inputs()
    out = np.asarray(enc(x, training=False))
    (ki, bi), (ko, bo) = _w(enc.edge_in), _w(enc.edge_out)
    (ka, ba), (kv, bv) = _w(enc.gate_a), _w(enc.gate_v)
    (k1, c), (k2,), (kq,), (k3, b3) = _w(enc.w1), _w(enc.w2), _w(enc.q), _w(enc.w3)
    b_in, b_out = np.asarray(enc.b_in, np.float64), np.asarray(enc.b_out, np.float64)
    for r, s in enumerate(SESSIONS):
        n = len(dict.fromkeys(s))
        v = x["nodes"][r, :n].astype(np.float64)
        a_in, a_out = x["adj_in"][r, :n, :n], x["adj_out"][r, :n, :n]
        for _ in range(2):  # eqs. 1-5
            a = np.concatenate([a_in @ (v @ ki + bi) + b_in, a_out @ (v @ ko + bo) + b_out], -1)
            gi, gh = a @ ka + ba, v @ kv + bv
            z = _sig(gi[:, D : 2 * D] + gh[:, D : 2 * D])
            rr = _sig(gi[:, :D] + gh[:, :D])
            cand = np.tanh(gi[:, 2 * D :] + rr * gh[:, 2 * D :])
            v = (1 - z) * cand + z * v
        states = v[x["alias"][r, : len(s)]]
        v_n = states[-1]
        alpha = _sig(v_n @ k1 + c + states @ k2) @ kq  # eq. 6
        s_g = (alpha * states).sum(0)
        ref = np.concatenate([v_n, s_g]) @ k3 + b3  # eq. 7
        np.testing.assert_allclose(out[r], ref, rtol=1e-4, atol=1e-5)


def test_stamp_matches_numpy_reference():
    enc = backbones.create("stamp")
    x = inputs()
    out = np.asarray(enc(x, training=False))
    (k1,), (k2,), (k3, b_a), (k0,) = _w(enc.w1), _w(enc.w2), _w(enc.w3), _w(enc.w0)
    (ka, ba), (kb, bb) = _w(enc.mlp_a), _w(enc.mlp_b)
    for r, s in enumerate(SESSIONS):
        xs = table()[s].astype(np.float64)
        m_s, m_t = xs.mean(0), xs[-1]
        alpha = _sig(xs @ k1 + m_t @ k2 + m_s @ k3 + b_a) @ k0  # eq. 7
        m_a = (alpha * xs).sum(0)
        ref = np.tanh(m_a @ ka + ba) * np.tanh(m_t @ kb + bb)
        np.testing.assert_allclose(out[r], ref, rtol=1e-4, atol=1e-5)


def test_narm_matches_numpy_reference():
    enc = backbones.create("narm", hidden_units=6)
    x = inputs()
    out = np.asarray(enc(x, training=False))
    (a1,), (a2,), (v,), (bil,) = _w(enc.a1), _w(enc.a2), _w(enc.v), _w(enc.bilinear)
    for r, s in enumerate(SESSIONS):
        states, last = (np.asarray(t, np.float64)[0] for t in enc.gru(table()[s][None]))  # unpadded
        alpha = _sig(last @ a1 + states @ a2) @ v  # eqs. 7-8
        c_t = np.concatenate([last, (alpha * states).sum(0)])  # eq. 9: [c_g; c_l]
        np.testing.assert_allclose(out[r], c_t @ bil, rtol=1e-4, atol=1e-5)
