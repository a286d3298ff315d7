"""The session recommender: scores, the loss composition, method presets, precision and backends."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from fpam_tf.errors import ConfigError
from fpam_tf.methods import MethodConfig
from fpam_tf.model import build_model

FEATURES = {
    "items": np.array([[3, 5, 3, 7], [2, 9, 0, 0], [4, 0, 0, 0]], np.int32),
    "flags": np.array([[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]], np.int32),
    "users": np.array([1, 2, 0], np.int32),
    "fp_items": np.array([[6, 8], [1, 0], [0, 0]], np.int32),
    "target_is_fp": np.array([False, True, False]),
}
TARGETS = np.array([2, 5, 7], np.int32)


def small_model(method: MethodConfig, backbone: str = "gru4rec"):
    model = build_model(
        method, backbone=backbone, num_items=12, num_users=3, embedding_dim=8, hidden_units=8
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    return model


def test_method_presets_are_the_papers_points_of_the_method_space():
    vanilla = MethodConfig.preset("vanilla")
    assert (vanilla.context, vanilla.flags, vanilla.fp_target_weight, vanilla.fp_lambda) == (
        "all",
        False,
        1.0,
        0.0,
    )
    simple = MethodConfig.preset("fp-simple")
    assert (simple.context, simple.fp_target_weight, simple.fp_lambda, simple.fp_targets) == (
        "positives",
        0.0,
        0.0,
        False,
    )
    metric = MethodConfig.preset("fp-metric")
    assert metric.fp_lambda > 0 and metric.aggregation == "mean"
    ada = MethodConfig.preset("fp-adametric", context="all", fp_target_weight=0.5)
    assert ada.aggregation == "adaptive" and ada.flags and ada.fp_targets


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"method": "fp-magic"}, "unknown method"),
        ({"method": "fp-simple", "context": "skips"}, "unknown context"),
        ({"method": "fp-simple", "fp_target_weight": 1.5}, "fp-target-weight"),
        ({"method": "fp-metric", "fp_lambda": -1.0}, "lambda"),
    ],
)
def test_bad_method_settings_are_config_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        MethodConfig.preset(**kwargs)


def test_unknown_backbone_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown backbone 'bert4rec'"):
        small_model(MethodConfig.preset("vanilla"), backbone="bert4rec")


def test_logits_are_session_embedding_dot_item_table_with_padding_masked():
    model = small_model(MethodConfig.preset("vanilla"))
    out = model(FEATURES)
    table = model.item_embedding.embeddings.numpy()
    expected = out["session_embedding"].numpy() @ table.T
    np.testing.assert_allclose(out["logits"].numpy()[:, 1:], expected[:, 1:], rtol=1e-5, atol=1e-6)
    assert (out["logits"].numpy()[:, 0] < -1e8).all()
    assert out["logits"].dtype == "float32"


def test_loss_is_weighted_cross_entropy_plus_lambda_times_fp_term():
    method = MethodConfig.preset("fp-adametric", context="all", fp_target_weight=0.5, fp_lambda=0.7)
    model = small_model(method)
    y_pred = model(FEATURES)
    weight = np.where(FEATURES["target_is_fp"], 0.5, 1.0).astype(np.float32)
    total = float(model.compute_loss(FEATURES, TARGETS, y_pred, weight))
    logits = y_pred["logits"].numpy().astype(np.float64)
    log_softmax = (
        logits
        - np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1, keepdims=True))
        - logits.max(1, keepdims=True)
    )
    ce = -log_softmax[np.arange(3), TARGETS]
    expected_ce = (ce * weight).sum() / weight.sum()
    table = model.item_embedding.embeddings
    fp_term = float(
        model.fp_term(
            y_pred["session_embedding"],
            tf.gather(table, TARGETS),
            tf.gather(table, FEATURES["fp_items"]),
            FEATURES["fp_items"] != 0,
            model.user_embedding(FEATURES["users"]),
            ~FEATURES["target_is_fp"],
        )["fp_term"]
    )
    assert fp_term > 0
    assert total == pytest.approx(expected_ce + 0.7 * fp_term, rel=1e-5)
    assert float(model.ce_tracker.result()) == pytest.approx(expected_ce, rel=1e-5)
    assert float(model.fp_tracker.result()) == pytest.approx(fp_term, rel=1e-5)


def test_fp_term_ignores_windows_whose_target_is_an_fp():
    model = small_model(MethodConfig.preset("fp-metric", fp_lambda=1.0))
    y_pred = model(FEATURES)
    only_fp_target = dict(FEATURES, target_is_fp=np.array([True, True, True]))
    model.compute_loss(only_fp_target, TARGETS, y_pred)
    assert float(model.fp_tracker.result()) == 0.0


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_one_training_step_under_mixed_precision_keeps_logits_and_losses_float32(policy):
    keras.mixed_precision.set_global_policy(policy)
    try:
        model = small_model(MethodConfig.preset("fp-adametric", context="all"), backbone="narm")
        logs = model.train_on_batch(FEATURES, TARGETS, return_dict=True)
        out = model(FEATURES)
        assert out["logits"].dtype == "float32" and out["session_embedding"].dtype == "float32"
        assert model.item_embedding.embeddings.dtype == "float32"  # variables stay float32
        assert all(np.isfinite(float(v)) for v in logs.values())
        if policy == "mixed_float16":
            assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_every_backbone_takes_a_training_step_under_the_jax_backend(jax_backend_checks):
    steps = jax_backend_checks["train_steps"]
    assert sorted(steps) == ["gru4rec", "narm", "srgnn", "stamp"]
    for name, step in steps.items():
        assert step["first"]["fp_loss"] > 0 and np.isfinite(step["second"]["loss"]), (name, step)


def test_ranking_metrics_are_computed_on_evaluation_steps_only():
    model = small_model(MethodConfig.preset("vanilla"))
    assert model.train_on_batch(FEATURES, TARGETS, return_dict=True)["hr@100"] == 0.0
    model.reset_metrics()
    assert model.test_on_batch(FEATURES, TARGETS, return_dict=True)["hr@100"] == pytest.approx(
        100.0
    )


def test_auto_precision_is_bfloat16_only_on_cpus_with_hardware_bfloat16():
    from fpam_tf.training.precision import resolve_precision

    assert resolve_precision("auto", gpu=True, flags={"amx_bf16"}) == "mixed_float16"
    assert resolve_precision("auto", gpu=False, flags={"avx2", "amx_bf16"}) == "mixed_bfloat16"
    assert (
        resolve_precision("auto", gpu=False, flags={"avx512f", "avx512_bf16"}) == "mixed_bfloat16"
    )
    assert resolve_precision("auto", gpu=False, flags={"avx2", "avx512f"}) == "float32"
    assert resolve_precision("float32", gpu=False, flags={"amx_bf16"}) == "float32"
