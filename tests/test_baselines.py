"""Baselines (POP, S-POP, SKNN): exact scores on hand-made sessions, FP-awareness, the vectorised
SKNN against a plain-Python one, metric aggregation, and PROTOCOL §6's S-POP / POP figures on
Spotify."""

import math

import numpy as np
import pytest

from fpam_tf.baselines import BASELINES, POP, SKNN, SPOP, evaluate_baseline, evaluate_scores
from fpam_tf.metrics import ranking_metrics_numpy
from fpam_tf.protocol import ProtocolData
from fpam_tf.vocabulary import EncodedSessions, Vocabulary


def encoded(sessions) -> EncodedSessions:
    """Sessions given as lists of ``(item, is_fp)``."""
    lengths = [len(s) for s in sessions]
    events = [e for s in sessions for e in s]
    return EncodedSessions(
        row_splits=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        items=np.array([i for i, _ in events], np.int32),
        is_fp=np.array([f for _, f in events]),
        users=np.zeros(len(sessions), np.int32),
        session_ids=np.arange(len(sessions)).astype(str),
    )


def protocol_data(train, test, num_items) -> ProtocolData:
    vocabulary = Vocabulary([f"i{k}" for k in range(1, num_items)])
    return ProtocolData(
        vocabulary, Vocabulary([]), {"train": encoded(train), "test": encoded(test)}
    )


P, F = False, True  # positive, false positive (skipped)
# Train sessions s0, s1, s2 (chronological); item 4 is only ever skipped.
HAND = protocol_data(
    train=[[(1, P), (2, P), (3, P)], [(1, P), (4, F)], [(2, P), (3, P), (5, P)]],
    test=[[(1, P), (4, F), (2, P), (3, P)]],
    num_items=6,
)


def scores_of(baseline, fp_aware=False):
    """The baseline's score matrix [W, V] of HAND's test windows (window 0: target 2, window 1:
    target 3)."""
    baseline.fit(HAND, fp_aware=fp_aware)
    windows = HAND.evaluation_windows("test", context=baseline.context)
    batches = list(baseline.score(windows, batch_size=1))
    assert [t for _, t in batches] == [[2], [3]]
    assert all(s.dtype == np.float32 and s.shape == (1, 6) for s, _ in batches)
    return np.concatenate([s for s, _ in batches])


# PROTOCOL §5b's POP order on HAND: positives counted (items 1, 2, 3: 2; item 5: 1; item 4: 0),
# ties by id: 1, 2, 3, 5, 4; position p scores (V - 1 - p) / V.
POP_ORDER = np.array([0, 5, 4, 3, 1, 2]) / 6


def test_pop_is_the_strict_order_of_positive_counts_then_ids_whatever_the_fp_awareness():
    np.testing.assert_allclose(scores_of(POP())[0], POP_ORDER, rtol=1e-6)
    np.testing.assert_allclose(scores_of(POP(), fp_aware=True)[1], POP_ORDER, rtol=1e-6)
    assert len(set(POP_ORDER[1:])) == 5  # no two items tie


def test_spop_puts_the_prefix_items_first_by_count_then_pop_order():
    np.testing.assert_allclose(
        scores_of(SPOP())[0], POP_ORDER + [0, 1, 0, 0, 1, 0], rtol=1e-6
    )  # prefix 1, 4
    np.testing.assert_allclose(
        scores_of(SPOP())[1], POP_ORDER + [0, 1, 1, 0, 1, 0], rtol=1e-6
    )  # prefix 1, 4, 2


def test_spop_fp_aware_ignores_the_skipped_prefix_item():
    scores = scores_of(SPOP(), fp_aware=True)
    np.testing.assert_allclose(scores[0], POP_ORDER + [0, 1, 0, 0, 0, 0], rtol=1e-6)


def test_sknn_sums_cosine_similarities_of_neighbours():
    # Column 0 (padding, never ranked) and items no neighbour holds: popularity / (max + 1) - 1.
    s = 1 / math.sqrt(6)  # prefix {1, 4} vs s0 {1, 2, 3}; vs s1 {1, 4}: 1; s2 shares nothing
    np.testing.assert_allclose(scores_of(SKNN())[0], [-1, 1 + s, s, s, 1, 1 / 3 - 1], rtol=1e-6)


def test_sknn_fp_aware_uses_positive_prefixes_and_sessions():
    s = 1 / math.sqrt(3)  # prefix {1} vs s0 {1, 2, 3}; vs s1 {1} (its skip dropped): 1
    # Item 4 was only skipped: no neighbour holds it, and its positives-only popularity is 0.
    np.testing.assert_allclose(
        scores_of(SKNN(), fp_aware=True)[0], [-1, 1 + s, s, s, -1, 1 / 3 - 1], rtol=1e-6
    )


def test_sknn_keeps_the_k_nearest_among_the_most_recent_candidates():
    np.testing.assert_allclose(
        scores_of(SKNN(k=1))[0], [-1, 1, -1 / 3, -1 / 3, 1, 1 / 3 - 1], rtol=1e-6
    )
    # Window 1 (prefix {1, 2, 4}): all three sessions are candidates; the most recent one is
    # s2 = {2, 3, 5}.
    np.testing.assert_allclose(
        scores_of(SKNN(sample_size=1))[1], [-1, -1 / 3, 1 / 3, 1 / 3, 1 / 3 - 1, 1 / 3], rtol=1e-6
    )


def reference_sknn(data, k, sample_size):
    """Plain-Python SKNN over sets, for the vectorised one: [W, V] scores (0 where no neighbour)."""
    train = data.splits["train"]
    sessions = [
        set(train.items[b:e].tolist()) for b, e in zip(train.row_splits[:-1], train.row_splits[1:])
    ]
    windows = data.evaluation_windows("test", context="all")
    out = np.zeros((len(windows), len(data.items)))
    for w, prefix in enumerate(windows.prefixes()):
        prefix = set(prefix.tolist())
        candidates = [j for j, s in enumerate(sessions) if s & prefix][-sample_size:]
        similar = sorted(
            (
                (len(sessions[j] & prefix) / math.sqrt(len(prefix) * len(sessions[j])), j)
                for j in candidates
            ),
            reverse=True,
        )[:k]
        for similarity, j in similar:
            for item in sessions[j]:
                out[w, item] += similarity
    return out


def random_data(seed=0, num_items=30):
    rng = np.random.default_rng(seed)

    def sessions(n):
        return [
            [
                (int(rng.integers(1, num_items)), bool(rng.random() < 0.3))
                for _ in range(rng.integers(2, 9))
            ]
            for _ in range(n)
        ]

    return protocol_data(sessions(200), sessions(40), num_items)


def test_vectorised_sknn_matches_a_plain_python_one():
    data = random_data()
    for k, sample_size in ((100, 500), (5, 20)):
        baseline = SKNN(k=k, sample_size=sample_size).fit(data)
        windows = data.evaluation_windows("test", context="all")
        scores = np.concatenate([s for s, _ in baseline.score(windows, batch_size=7)])
        expected = reference_sknn(data, k, sample_size)
        np.testing.assert_allclose(np.where(expected > 0, scores, 0), expected, rtol=1e-5)
        assert (scores[expected == 0] < 0).all()  # unscored items rank below every scored one


@pytest.mark.parametrize("name", list(BASELINES))
def test_metrics_are_the_reference_ranking_metrics_of_the_scores(name):
    data = random_data(1)
    baseline = BASELINES[name]().fit(data, fp_aware=True)
    windows = data.evaluation_windows("test", context="positives")
    batches = list(baseline.score(windows, batch_size=6))
    scores, targets = (
        np.concatenate([s for s, _ in batches]),
        np.concatenate([t for _, t in batches]),
    )
    expected = ranking_metrics_numpy(scores, targets)
    got = evaluate_baseline(name, data, "test", fp_aware=True, batch_size=6)
    assert got.keys() == expected.keys() and len(got) == 15
    for key in expected:
        assert got[key] == pytest.approx(expected[key], abs=1e-9)
    assert evaluate_scores(iter(batches)) == got


def test_skip_metrics_rank_the_skip_windows_with_the_same_scores():
    from fpam_tf.metrics import skip_metrics

    data = random_data(1)
    got = evaluate_baseline("spop", data, "test", fp_aware=True, batch_size=6, skip_metrics=True)
    baseline = BASELINES["spop"]().fit(data, fp_aware=True)
    skips = evaluate_scores(baseline.score(data.skip_windows("test", context="positives"), 6))
    expected = skip_metrics(skips, got)
    assert len(data.skip_windows("test", context="positives")) > 0
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-9)


@pytest.mark.parametrize("name, fp_aware, expected", [("spop", True, 6.06), ("pop", False, 1.13)])
def test_spotify_figures_of_protocol(spotify_protocol, name, fp_aware, expected):
    assert evaluate_baseline(name, spotify_protocol, "test", fp_aware)["mrr@20"] == pytest.approx(
        expected, abs=0.01
    )


def test_spotify_spop_all_events_prefix(spotify_protocol):
    assert evaluate_baseline("spop", spotify_protocol, "test", False)["mrr@20"] == pytest.approx(
        7.79, abs=0.01
    )
