"""PROTOCOL §5 ranking metrics: Keras streaming metric vs the NumPy reference."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from fpam_tf.metrics import (
    KS,
    RankingMetrics,
    format_markdown_table,
    metric_keys,
    ranking_metrics_numpy,
    target_ranks,
)

V = 300


def data(b=64, seed=0):
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 40, size=(b, V)).astype(np.float32)  # many ties
    targets = rng.integers(1, V, size=b)
    scores[:4, 0] = 1e9  # column 0 (padding) scores highest: must never count
    scores[4, :] = 1.0  # a row where everything ties with the target
    return scores, targets


def numpy_ranks(scores, targets):
    return 1 + (scores[:, 1:] > scores[np.arange(len(targets)), targets][:, None]).sum(1)


def test_ranks():
    scores, targets = data()
    ranks = np.asarray(target_ranks(scores, targets))
    assert keras.backend.standardize_dtype(target_ranks(scores, targets).dtype) == "int32"
    np.testing.assert_array_equal(ranks, numpy_ranks(scores, targets))
    assert ranks[4] == 1
    # column 0 never counted: the same ranks when it is pushed to the top or bottom
    low = scores.copy()
    low[:, 0] = -1e9
    np.testing.assert_array_equal(np.asarray(target_ranks(low, targets)), ranks)


def test_tiny_example():
    scores = np.array([[100.0, 0.5, 0.9, 0.1, 0.9], [0.0, 0.2, 0.2, 0.2, 0.3]], np.float32)
    targets = np.array([2, 1])
    np.testing.assert_array_equal(np.asarray(target_ranks(scores, targets)), [1, 2])
    ref = ranking_metrics_numpy(scores, targets, ks=(1, 5))
    assert ref["hr@1"] == pytest.approx(50.0)
    assert ref["mrr@5"] == pytest.approx(100 * (1 + 0.5) / 2)
    assert ref["ndcg@5"] == pytest.approx(100 * (1 + 1 / np.log2(3)) / 2)


def test_all_metrics_match_numpy():
    scores, targets = data()
    metric = RankingMetrics()
    metric.update_state(targets, scores)
    got = {k: float(v) for k, v in metric.result().items()}
    ref = ranking_metrics_numpy(scores, targets)
    assert sorted(got) == sorted(metric_keys(KS)) and len(got) == 15
    for key in ref:
        assert got[key] == pytest.approx(ref[key], rel=1e-5, abs=1e-4), key


def test_streaming_equals_one_pass_and_reset():
    scores, targets = data(b=90, seed=3)
    metric = RankingMetrics()
    for lo, hi in [(0, 17), (17, 50), (50, 90)]:
        metric.update_state(targets[lo:hi], scores[lo:hi])
    one = RankingMetrics()
    one.update_state(targets, scores)
    for key, value in one.result().items():
        assert float(metric.result()[key]) == pytest.approx(float(value), rel=1e-5, abs=1e-4)
    metric.reset_state()
    assert all(float(v) == 0.0 for v in metric.result().values())


def test_sample_weight_excludes_rows():
    scores, targets = data(b=40, seed=5)
    weight = np.ones(40, np.float32)
    weight[25:] = 0.0
    metric = RankingMetrics()
    metric.update_state(targets, scores, sample_weight=weight)
    ref = ranking_metrics_numpy(scores[:25], targets[:25])
    assert ref == pytest.approx(ranking_metrics_numpy(scores, targets, sample_weight=weight))
    for key, value in metric.result().items():
        assert float(value) == pytest.approx(ref[key], rel=1e-5, abs=1e-4)


def test_float32_under_mixed_float16():
    keras.config.set_dtype_policy("mixed_float16")
    try:
        scores, targets = data()
        metric = RankingMetrics()
        metric.update_state(targets, keras.ops.cast(scores, "float16"))
        result = metric.result()
    finally:
        keras.config.set_dtype_policy("float32")
    assert all(keras.backend.standardize_dtype(v.dtype) == "float32" for v in result.values())
    assert all(v.dtype == "float32" for v in metric.variables)
    ref = ranking_metrics_numpy(scores, targets)  # integer scores are exact in float16
    for key, value in result.items():
        assert float(value) == pytest.approx(ref[key], rel=1e-5, abs=1e-4)


def test_config_round_trip():
    metric = RankingMetrics(ks=(1, 3), name="val_ranking")
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(metric))
    assert clone.ks == (1, 3) and clone.name == "val_ranking"


def test_markdown_table():
    scores, targets = data()
    table = format_markdown_table(ranking_metrics_numpy(scores, targets), title="test")
    lines = table.strip().splitlines()
    assert lines[0] == "### test"
    assert lines[2] == "| metric (%) | @5 | @10 | @20 | @50 | @100 |"
    assert [line.split("|")[1].strip() for line in lines[4:]] == ["HR", "MRR", "NDCG"]
    assert "-" in format_markdown_table({"hr@5": 1.0}).splitlines()[2]


def test_skip_metrics_are_hr_and_mrr_of_skip_windows_and_the_separation():
    from fpam_tf.metrics import skip_metrics

    ranking = {f"{m}@{k}": 10.0 * k for m in ("hr", "mrr", "ndcg") for k in KS}
    skips = {f"{m}@{k}": 1.0 * k for m in ("hr", "mrr", "ndcg") for k in KS}
    got = skip_metrics(skips, ranking)
    assert got["skiphr@20"] == 20.0 and got["skipmrr@5"] == 5.0
    assert got["separation@20"] == 200.0 - 20.0
    assert len(got) == 3 * len(KS)
    table = format_markdown_table({**ranking, **got})
    assert "| SkipHR (lower is better) | 5.00 |" in table and "| HR - SkipHR | 45.00 |" in table
    assert "SkipHR" not in format_markdown_table(ranking)


def test_ranks_over_blocks_of_items_equal_ranks_over_all_items():
    from fpam_tf.metrics import chunked_target_ranks
    from fpam_tf.scoring import chunk_bounds

    rng = np.random.default_rng(3)
    # Few distinct scores: ties between the target and items of other blocks are common.
    scores = rng.integers(0, 4, (9, 17)).astype(np.float32)
    targets = rng.integers(1, 17, 9)
    whole = np.asarray(target_ranks(scores, targets))
    for chunk_items in (1, 5, 16, None):
        blocks = chunked_target_ranks(
            lambda start, stop, _: scores[:, start:stop], chunk_bounds(17, chunk_items), targets
        )
        np.testing.assert_array_equal(np.asarray(blocks), whole)


def test_chunk_bounds_cover_the_table_and_reject_an_empty_block():
    from fpam_tf.scoring import chunk_bounds, default_chunk_items

    assert chunk_bounds(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert chunk_bounds(10, None) == [(0, 10)]
    assert default_chunk_items(17_102) is None and default_chunk_items(792_360) == 16_384
    with pytest.raises(ValueError, match="got 0"):
        chunk_bounds(10, 0)
