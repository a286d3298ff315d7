"""FPAdaMetricLoss (paper eqs. 8-11) against a NumPy reference."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from fpam_tf.losses import FPAdaMetricLoss

B, F, D = 5, 4, 6


def batch(seed=0, use_user=False):
    rng = np.random.default_rng(seed)
    x = {
        "session_embedding": rng.normal(size=(B, D)).astype(np.float32),
        "positive_embedding": rng.normal(size=(B, D)).astype(np.float32),
        "fp_embeddings": rng.normal(size=(B, F, D)).astype(np.float32),
        # row 2 has no FP, row 4 a single one
        "fp_mask": np.array(
            [[1, 1, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1], [0, 1, 0, 0]], bool
        ),
        "window_mask": np.array([True, True, True, True, False]),
    }
    x["fp_embeddings"][~x["fp_mask"]] = 1e4  # garbage on padding must not leak
    if use_user:
        x["user_embedding"] = rng.normal(size=(B, D)).astype(np.float32)
    return x


def relu(x):
    return np.maximum(x, 0.0)


def reference(layer, x):
    """NumPy eqs. 8-11: per-window hinge and weights, float64."""
    e_seq, e_pos = (
        x["session_embedding"].astype(np.float64),
        x["positive_embedding"].astype(np.float64),
    )
    mask = x["fp_mask"]
    e_fp = np.where(mask[..., None], x["fp_embeddings"], 0.0).astype(np.float64)
    n = mask.sum(1)
    if layer.aggregation == "mean":
        w = mask / np.maximum(n, 1)[:, None]
    else:
        seq = np.repeat(e_seq[:, None], F, axis=1)
        parts = [np.repeat(x["user_embedding"][:, None], F, axis=1)] if layer.use_user else []
        parts += [e_fp, seq] + ([e_fp * seq] if layer.include_product else [])
        k1, b1 = (np.asarray(v, np.float64) for v in layer.fpa_hidden.weights)
        k2, b2 = (np.asarray(v, np.float64) for v in layer.fpa_out.weights)
        s = (relu(np.concatenate(parts, -1) @ k1 + b1) @ k2 + b2)[..., 0]
        if layer.weighting == "softmax":
            s = np.where(mask, s, -np.inf)
            e = np.exp(s - np.max(np.where(mask, s, -1e300), axis=1, keepdims=True))
            w = np.where(mask, e, 0.0) / np.maximum(
                np.where(mask, e, 0.0).sum(1, keepdims=True), 1e-300
            )
        else:
            w = mask / (1 + np.exp(-s)) / np.maximum(n, 1)[:, None]
    bar = (w[..., None] * e_fp).sum(1)
    hinge = relu(-(e_pos * e_seq).sum(1) + (bar * e_seq).sum(1) + layer.margin)
    valid = (n > 0) & x["window_mask"]
    per = np.where(valid, hinge, 0.0)
    return per.sum() / max(valid.sum(), 1), per, w


CASES = [
    ("mean", "softmax", False),
    ("adaptive", "softmax", False),
    ("adaptive", "sigmoid", False),
    ("adaptive", "softmax", True),
]


@pytest.mark.parametrize("aggregation,weighting,use_user", CASES)
def test_matches_numpy(aggregation, weighting, use_user):
    layer = FPAdaMetricLoss(
        aggregation=aggregation, weighting=weighting, margin=0.5, hidden_units=7, use_user=use_user
    )
    x = batch(use_user=use_user)
    out = layer(**x)
    term, per, w = reference(layer, x)
    for key in ("fp_term", "per_window", "fp_weights"):
        assert keras.backend.standardize_dtype(out[key].dtype) == "float32"
    np.testing.assert_allclose(np.asarray(out["per_window"]), per, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(float(out["fp_term"]), term, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(out["fp_weights"]), w, rtol=1e-5, atol=1e-6)
    assert np.asarray(out["per_window"])[2] == 0.0 and np.asarray(out["per_window"])[4] == 0.0
    if weighting == "softmax":  # a weighted expectation over each window's FPs
        np.testing.assert_allclose(np.asarray(out["fp_weights"]).sum(1), [1, 1, 0, 1, 1], atol=1e-6)


def test_no_fp_gives_exact_zero():
    layer = FPAdaMetricLoss(aggregation="adaptive", hidden_units=4)
    x = batch()
    x["fp_mask"] = np.zeros((B, F), bool)
    out = layer(**x)
    assert float(out["fp_term"]) == 0.0
    assert np.all(np.asarray(out["per_window"]) == 0.0)
    assert np.all(np.asarray(out["fp_weights"]) == 0.0)
    x = batch()
    x["window_mask"] = np.zeros(B, bool)
    assert float(layer(**x)["fp_term"]) == 0.0


@pytest.mark.parametrize("aggregation", ["mean", "adaptive"])
def test_zero_width_fp_axis(aggregation):
    layer = FPAdaMetricLoss(aggregation=aggregation, hidden_units=4)
    x = batch()
    x["fp_embeddings"] = np.zeros((B, 0, D), np.float32)
    x["fp_mask"] = np.zeros((B, 0), bool)
    out = layer(**x)
    assert float(out["fp_term"]) == 0.0 and not np.isnan(float(out["fp_term"]))
    assert tuple(out["per_window"].shape) == (B,) and tuple(out["fp_weights"].shape) == (B, 0)


@pytest.mark.parametrize("weighting", ["softmax", "sigmoid"])
def test_gradients_reach_fpa(weighting):
    layer = FPAdaMetricLoss(
        aggregation="adaptive", weighting=weighting, margin=10.0, hidden_units=5
    )
    x = {k: tf.constant(v) for k, v in batch().items()}
    layer(**x)
    with tf.GradientTape() as tape:
        term = layer(**x)["fp_term"]
    grads = tape.gradient(term, layer.trainable_weights)
    assert len(layer.trainable_weights) == 4
    for v, g in zip(layer.trainable_weights, grads):
        assert g is not None, v.path
        assert np.all(np.isfinite(g.numpy())), v.path
    assert any(np.abs(g.numpy()).sum() > 0 for g in grads)
    assert (
        np.abs(grads[-1].numpy()).sum() > 0 or weighting == "softmax"
    )  # softmax ignores the out bias


def test_mixed_precision_returns_float32():
    keras.config.set_dtype_policy("mixed_float16")
    try:
        layer = FPAdaMetricLoss(aggregation="adaptive", hidden_units=4)
        out = layer(**batch())
    finally:
        keras.config.set_dtype_policy("float32")
    assert layer.compute_dtype == "float16"
    for key in ("fp_term", "per_window", "fp_weights"):
        assert keras.backend.standardize_dtype(out[key].dtype) == "float32"
    assert np.isfinite(float(out["fp_term"]))


def test_config_round_trip_and_validation():
    layer = FPAdaMetricLoss(
        aggregation="adaptive",
        weighting="sigmoid",
        margin=0.3,
        hidden_units=9,
        use_user=True,
        include_product=False,
    )
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert clone.get_config() == layer.get_config()
    with pytest.raises(ValueError):
        FPAdaMetricLoss(aggregation="max")
    with pytest.raises(ValueError):
        FPAdaMetricLoss(weighting="tanh")
    with pytest.raises(ValueError):
        FPAdaMetricLoss(use_user=True)(**batch())


def test_softmax_cross_entropy_and_its_gradient_match_keras():
    import tensorflow as tf

    from fpam_tf.losses import softmax_cross_entropy

    rng = np.random.default_rng(0)
    logits = tf.constant(rng.normal(0, 3, (6, 40)).astype(np.float32))
    targets = tf.constant([0, 5, 39, 7, 7, 1], tf.int32)
    weights = tf.constant(rng.random(6).astype(np.float32))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(logits)
        ours = softmax_cross_entropy(targets, logits)
        reference = keras.losses.sparse_categorical_crossentropy(targets, logits, from_logits=True)
        ours_total = tf.reduce_sum(ours * weights)
        reference_total = tf.reduce_sum(reference * weights)
    np.testing.assert_allclose(ours.numpy(), reference.numpy(), rtol=1e-5, atol=1e-6)
    loss_only = softmax_cross_entropy(targets, logits, differentiable=False)
    np.testing.assert_allclose(loss_only.numpy(), reference.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        tape.gradient(ours_total, logits).numpy(),
        tape.gradient(reference_total, logits).numpy(),
        rtol=1e-5,
        atol=1e-6,
    )


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_cross_entropy_over_blocks_of_the_table_equals_it_over_the_whole_table(dtype):
    import tensorflow as tf

    from fpam_tf.losses import chunked_softmax_cross_entropy, softmax_cross_entropy
    from fpam_tf.scoring import item_logits

    rng = np.random.default_rng(1)
    embedding = tf.constant(rng.normal(0, 1, (6, 5)), dtype)
    table = tf.Variable(rng.normal(0, 1, (23, 5)).astype(np.float32))
    targets = tf.constant([1, 5, 22, 7, 7, 10], tf.int32)  # 7 twice: one row, two windows
    weights = tf.constant(rng.random(6).astype(np.float32))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(embedding)
        whole = softmax_cross_entropy(targets, item_logits(embedding, table, 0))
        blocks = chunked_softmax_cross_entropy(targets, embedding, tf.convert_to_tensor(table), 4)
        whole_total, blocks_total = tf.reduce_sum(whole * weights), tf.reduce_sum(blocks * weights)
    tolerance = {"rtol": 1e-5, "atol": 1e-5} if dtype == "float32" else {"rtol": 2e-2, "atol": 2e-2}
    assert blocks.dtype == tf.float32
    np.testing.assert_allclose(blocks.numpy(), whole.numpy(), **tolerance)
    loss_only = chunked_softmax_cross_entropy(
        targets, embedding, table.value(), 4, differentiable=False
    )
    np.testing.assert_allclose(loss_only.numpy(), blocks.numpy(), rtol=1e-6)
    for got, want in zip(
        tape.gradient(blocks_total, [embedding, table]),
        tape.gradient(whole_total, [embedding, table]),
    ):
        got, want = tf.convert_to_tensor(got), tf.convert_to_tensor(want)
        assert got.dtype == want.dtype
        np.testing.assert_allclose(
            tf.cast(got, tf.float32).numpy(), tf.cast(want, tf.float32).numpy(), **tolerance
        )
