"""The session recommender: scores, the loss composition, method presets and their command-line
overrides, precision and backends."""

import argparse
import dataclasses
import json
import re

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


def test_a_table_scored_in_blocks_matches_it_scored_whole_under_the_jax_backend(
    jax_backend_checks,
):
    whole, blocks = jax_backend_checks["blocks"]["None"], jax_backend_checks["blocks"]["5"]
    assert "logits" in whole["outputs"] and "logits" not in blocks["outputs"]
    for key, value in whole["evaluated"].items():
        assert blocks["evaluated"][key] == pytest.approx(value, rel=1e-5, abs=1e-6), key
    assert blocks["trained_loss"] == pytest.approx(whole["trained_loss"], rel=1e-5)
    for got, want in zip(blocks["weights"], whole["weights"]):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


def test_ranking_metrics_are_computed_on_evaluation_steps_only():
    model = small_model(MethodConfig.preset("vanilla"))
    assert model.train_on_batch(FEATURES, TARGETS, return_dict=True)["hr@100"] == 0.0
    model.reset_metrics()
    assert model.test_on_batch(FEATURES, TARGETS, return_dict=True)["hr@100"] == pytest.approx(
        100.0
    )


def test_auto_precision_is_bfloat16_only_on_cpus_where_hardware_bfloat16_measured_faster():
    from fpam_tf.training.precision import MIN_BF16_SPEEDUP, resolve_precision

    fast, slow = MIN_BF16_SPEEDUP + 0.5, 0.83  # 0.83: an AMD EPYC's bfloat16, emulated
    assert resolve_precision("auto", gpu=True, flags={"amx_bf16"}) == "mixed_float16"
    for flags in ({"avx2", "amx_bf16"}, {"avx512f", "avx512_bf16"}):
        assert resolve_precision("auto", gpu=False, flags=flags, bf16_speedup=fast) == (
            "mixed_bfloat16"
        )
        assert resolve_precision("auto", gpu=False, flags=flags, bf16_speedup=slow) == "float32"
    assert resolve_precision("auto", gpu=False, flags={"avx2", "avx512f"}) == "float32"
    assert resolve_precision("float32", gpu=False, flags={"amx_bf16"}) == "float32"


def test_the_bfloat16_speedup_is_measured_once_per_machine_then_read_back(tmp_path, monkeypatch):
    from fpam_tf.training import precision

    monkeypatch.setenv("FPAM_CACHE_DIR", str(tmp_path))
    flags = {"amx_bf16"}
    timings = iter([4.0, 3.0, 5.0, 1.0, 2.0, 1.5])  # float32 three times, then bfloat16
    monkeypatch.setattr(precision, "output_products_ms", lambda *a, **k: next(timings))
    assert precision.measured_bf16_speedup(flags) == pytest.approx(3.0)  # min 3.0 / min 1.0
    record = json.loads(precision.speedup_cache_path(flags).read_text())
    assert (record["float32_ms"], record["bfloat16_ms"]) == (3.0, 1.0)
    monkeypatch.setattr(precision, "output_products_ms", lambda *a, **k: pytest.fail("re-timed"))
    assert precision.measured_bf16_speedup(flags) == pytest.approx(3.0)
    assert precision.speedup_cache_path({"avx512_bf16"}) != precision.speedup_cache_path(flags)


def test_new_method_presets_learn_from_fp_targets_with_skip_flags():
    unlikelihood = MethodConfig.preset("fp-unlikelihood")
    assert (unlikelihood.context, unlikelihood.flags, unlikelihood.fp_target_weight) == (
        "all",
        True,
        0.0,
    )
    assert unlikelihood.unlikelihood == 1.0 and unlikelihood.fp_targets
    skiphead = MethodConfig.preset("fp-skiphead")
    assert skiphead.skip_head and skiphead.fp_target_weight == 1.0 and skiphead.flags
    assert not MethodConfig.preset("vanilla").skip_head
    with pytest.raises(ConfigError, match="unlikelihood must be >= 0, got -1"):
        MethodConfig.preset("vanilla", unlikelihood=-1)


def test_fp_graded_weights_every_window_by_its_targets_skip_grade_with_skip_flags():
    from fpam_tf.training.run import hparams_of
    from fpam_tf.training.run_dir import RunConfig

    graded = MethodConfig.preset("fp-graded")
    assert (graded.context, graded.flags, graded.fp_targets) == ("all", True, True)
    assert graded.grade_weights == pytest.approx((1.0, 2 / 3, 1 / 3, 0.0))
    assert MethodConfig.preset("vanilla").grade_weights is None
    # Grade weights decide which targets count, whatever the preset's FP target weight.
    assert MethodConfig.preset("fp-simple", grade_weights=(1, 0.5, 0.5, 0)).fp_targets
    assert not MethodConfig.preset("fp-simple", grade_weights=(0, 0, 0, 0)).fp_targets
    # A run's config read back from its JSON (a list) is the config that was written.
    assert MethodConfig(**json.loads(json.dumps(dataclasses.asdict(graded)))) == graded
    assert hparams_of(RunConfig(method=graded))["grade_weights"] == "1,0.667,0.333,0"
    assert hparams_of(RunConfig())["grade_weights"] == "-"


def method_from_flags(*flags):
    from fpam_tf.cli import add_dataset_arguments, add_run_arguments, run_config_from_args

    parser = argparse.ArgumentParser()
    add_dataset_arguments(parser)
    add_run_arguments(parser)
    return run_config_from_args(parser.parse_args(list(flags))).method


def test_grade_weights_flag_overrides_the_preset_and_says_what_it_received_when_bad():
    assert method_from_flags("--method", "fp-graded") == MethodConfig.preset("fp-graded")
    custom = method_from_flags("--method", "fp-graded", "--grade-weights", "1,1,0.5,0")
    assert custom.grade_weights == (1.0, 1.0, 0.5, 0.0) and custom.method == "fp-graded"
    for bad in ("1,0.5,0", "1,0.5,0,x", "1,0.5,0,2", ""):
        message = (
            re.escape("4 comma-separated numbers in [0, 1]") + ".*" + re.escape(f"got {bad!r}")
        )
        with pytest.raises(ConfigError, match=message):
            method_from_flags("--grade-weights", bad)
    with pytest.raises(ConfigError, match="--fp-target-weight has no effect with grade weights"):
        method_from_flags("--method", "fp-graded", "--fp-target-weight", "0.5")


def log_softmax(logits):
    logits = np.asarray(logits, np.float64)
    top = logits.max(1, keepdims=True)
    return logits - top - np.log(np.exp(logits - top).sum(1, keepdims=True))


def test_unlikelihood_adds_alpha_times_mean_minus_log_one_minus_p_of_fp_targets():
    model = small_model(MethodConfig.preset("fp-unlikelihood", unlikelihood=0.5))
    y_pred = model(FEATURES)
    weight = np.where(FEATURES["target_is_fp"], 0.0, 1.0).astype(np.float32)
    total = float(model.compute_loss(FEATURES, TARGETS, y_pred, weight))
    p = np.exp(log_softmax(y_pred["logits"])[np.arange(3), TARGETS])
    ce = -np.log(p)
    expected_ce = (ce * weight).sum() / weight.sum()
    expected_unlikelihood = -np.log(1 - p[1])  # window 1 is the only FP target
    assert total == pytest.approx(expected_ce + 0.5 * expected_unlikelihood, rel=1e-5)
    assert float(model.skip_tracker.result()) == pytest.approx(
        0.5 * expected_unlikelihood, rel=1e-5
    )


def test_unlikelihood_pushes_an_fp_targets_probability_down():
    model = small_model(MethodConfig.preset("fp-unlikelihood"))
    only_fp = dict(FEATURES, target_is_fp=np.array([True, True, True]))
    weight = np.zeros(3, np.float32)

    def target_probability():
        return np.exp(log_softmax(model(only_fp)["logits"])[np.arange(3), TARGETS]).sum()

    before = target_probability()
    for _ in range(5):
        model.train_on_batch(only_fp, TARGETS, sample_weight=weight)
    assert target_probability() < before


def test_the_skip_head_trains_without_changing_the_recommenders_gradients():
    method = MethodConfig.preset("fp-skiphead")
    model = small_model(method)
    head = {id(v) for v in model.skip_head.trainable_variables}
    recommender = [v for v in model.trainable_variables if id(v) not in head]

    def gradients(with_skip_terms):
        features = (
            FEATURES
            if with_skip_terms
            else {k: v for k, v in FEATURES.items() if k != "target_is_fp"}
        )
        with tf.GradientTape() as tape:
            # training=False: no dropout, so both passes see the same network
            loss = model.compute_loss(features, TARGETS, model(features))
        return loss, tape.gradient(loss, recommender + list(model.skip_head.trainable_variables))

    loss_with, with_head = gradients(True)
    loss_without, without = gradients(False)
    assert float(loss_with) > float(loss_without)  # the head's binary cross-entropy
    for got, want in zip(with_head[: len(recommender)], without[: len(recommender)]):
        np.testing.assert_allclose(tf.convert_to_tensor(got), tf.convert_to_tensor(want), atol=1e-6)
    assert all(g is not None for g in with_head[len(recommender) :])


def test_with_a_skip_head_items_rank_by_logit_plus_log_probability_not_skipped():
    model = small_model(MethodConfig.preset("fp-skiphead"))
    model.skip_head.item_bias.assign(np.linspace(-3, 3, 12))
    out = model(FEATURES)
    skip_logits = model.skip_head.all_items(
        model.session_embedding(FEATURES), model.item_embedding.embeddings
    )
    expected = out["logits"].numpy() - np.logaddexp(0.0, np.asarray(skip_logits))
    np.testing.assert_allclose(out["ranking_scores"].numpy(), expected, rtol=1e-5, atol=1e-5)
    assert "ranking_scores" not in model(FEATURES, training=True)
    model.reset_metrics()
    ranked = model.test_on_batch(FEATURES, TARGETS, return_dict=True)
    from fpam_tf.metrics import ranking_metrics_numpy

    assert ranked["mrr@20"] == pytest.approx(
        ranking_metrics_numpy(expected, TARGETS)["mrr@20"], rel=1e-4
    )


def test_skip_head_config_round_trips():
    from fpam_tf.skip_head import SkipHead

    head = SkipHead(12, name="skip_head")
    clone = SkipHead.from_config(head.get_config())
    assert clone.num_items == 12 and clone.name == "skip_head"
    with pytest.raises(ValueError, match="got None"):
        head.build((None, None))


@pytest.mark.parametrize("preset", ["fp-adametric", "fp-skiphead", "fp-unlikelihood"])
def test_a_model_scoring_its_table_in_blocks_trains_and_ranks_as_one_scoring_it_whole(
    preset, monkeypatch
):
    method = MethodConfig.preset(preset)
    whole = small_model(method, backbone="stamp")  # no dropout: both train steps see one network
    monkeypatch.setattr("fpam_tf.model.default_chunk_items", lambda num_items: 5)
    blocks = small_model(method, backbone="stamp")
    assert blocks.output_blocks == [(0, 5), (5, 10), (10, 12)]
    blocks.set_weights(whole.get_weights())
    assert "logits" not in blocks(FEATURES) and "ranking_scores" not in blocks(FEATURES)
    if blocks.skip_head is not None:
        for model in (whole, blocks):
            model.skip_head.item_bias.assign(np.linspace(-3, 3, 12))
    evaluated = [m.test_on_batch(FEATURES, TARGETS, return_dict=True) for m in (whole, blocks)]
    for key in ("loss", "ce_loss", "mrr@20", "hr@5", "ndcg@100"):
        assert evaluated[1][key] == pytest.approx(evaluated[0][key], rel=1e-5, abs=1e-6), key
    weight = np.where(FEATURES["target_is_fp"], 0.5, 1.0).astype(np.float32)
    trained = [
        m.train_on_batch(FEATURES, TARGETS, sample_weight=weight, return_dict=True)
        for m in (whole, blocks)
    ]
    assert trained[1]["loss"] == pytest.approx(trained[0]["loss"], rel=1e-5)
    for got, want in zip(blocks.get_weights(), whole.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    clone = type(blocks).from_config(blocks.get_config())
    assert clone.output_chunk_items == 5 and clone.output_blocks == blocks.output_blocks
