"""Vocabulary and windows (PROTOCOL §3-4) on hand-made sessions, skip grades through both, and the
tf.data batches."""

import numpy as np
import pytest

from fpam_tf.backbones import SRGNN
from fpam_tf.errors import ConfigError
from fpam_tf.events import SessionRecord, Sessions, split_sessions
from fpam_tf.input_pipeline import BatchOptions, make_dataset
from fpam_tf.protocol import ProtocolData
from fpam_tf.vocabulary import EncodedSessions, Vocabulary
from fpam_tf.windows import build_windows, user_fp_items

# Items a..f; uppercase = the play was skipped (FP).
HAND_MADE = [
    ("s1", "u1", "a b C d E f"),
    ("s2", "u1", "B a c"),
    ("s3", "", "a A b"),
]


def encode(specs, vocabulary="abcdef"):
    records = [
        SessionRecord(
            sid, user, i, [x.lower() for x in s.split()], [x.isupper() for x in s.split()]
        )
        for i, (sid, user, s) in enumerate(specs)
    ]
    sessions = Sessions.from_records(records)
    users = Vocabulary(sorted({u for _, u, _ in specs if u}))
    return EncodedSessions.encode(sessions, Vocabulary(list(vocabulary)), users), users


# HAND_MADE's s1 with MSSD skip grades: a played to the end (0), b most of it (1), C skipped at
# once (3), d to the end (0), E briefly (2), f most of it (1).
GRADED = SessionRecord(
    "s1", "u1", 0, list("abcdef"), [False, False, True, False, True, False], [0, 1, 3, 0, 2, 1]
)


def names(indices):
    return "".join("_abcdef"[i] for i in indices)


def windows_of(specs, **kwargs):
    encoded, _ = encode(specs)
    return build_windows(encoded, **kwargs)


def test_vanilla_windows_are_every_position_after_the_first_with_the_full_prefix():
    w = windows_of(HAND_MADE[:1], context="all", fp_targets=True, require_positive_before=False)
    assert [names(p) for p in w.prefixes()] == ["a", "ab", "abc", "abcd", "abcde"]
    assert names(w.targets) == "bcdef"
    assert w.target_is_fp.tolist() == [False, True, False, True, False]


def test_positives_only_windows_drop_every_fp_from_prefix_and_targets():
    w = windows_of(HAND_MADE, context="positives", fp_targets=False, require_positive_before=True)
    assert [names(p) for p in w.prefixes()] == ["a", "ab", "abd", "a", "a"]
    assert names(w.targets) == "bdfcb"
    assert not w.target_is_fp.any()
    assert all((f == 0).all() for f in w.prefix_flags())  # no FP in an FP-aware prefix


def test_full_context_windows_keep_fps_in_the_prefix_with_their_flags():
    w = windows_of(HAND_MADE[:2], context="all", fp_targets=False, require_positive_before=False)
    assert [names(p) for p in w.prefixes()] == ["a", "abc", "abcde", "b", "ba"]
    assert [f.tolist() for f in w.prefix_flags()][2] == [0, 0, 1, 0, 1]
    assert [f.tolist() for f in w.prefix_flags()][3] == [
        1
    ]  # prefix of only an FP is allowed in training


def test_evaluation_windows_have_identical_targets_for_every_context():
    encoded, _ = encode(HAND_MADE)
    full = build_windows(encoded, context="all", fp_targets=False, require_positive_before=True)
    positives = build_windows(
        encoded, context="positives", fp_targets=False, require_positive_before=True
    )
    np.testing.assert_array_equal(full.targets, positives.targets)
    np.testing.assert_array_equal(full.session_index, positives.session_index)
    # s2's "a" has only a skipped play before it: no evaluation window there.
    assert names(full.targets) == "bdfcb"
    assert [names(p) for p in full.prefixes()] == ["a", "abc", "abcde", "ba", "aa"]


def test_skip_windows_target_every_fp_with_a_positive_before_it():
    encoded, _ = encode(HAND_MADE)
    kwargs = dict(fp_targets=True, skip_targets=True, require_positive_before=True)
    full = build_windows(encoded, context="all", **kwargs)
    positives = build_windows(encoded, context="positives", **kwargs)
    # s2's leading "B" has nothing before it; s3's "A" follows its positive "a".
    assert names(full.targets) == names(positives.targets) == "cea"
    assert full.target_is_fp.all()
    assert [names(p) for p in full.prefixes()] == ["ab", "abcd", "a"]
    assert [names(p) for p in positives.prefixes()] == ["ab", "abd", "a"]


@pytest.mark.parametrize(
    "scope, expected",
    [
        ("session", ["ce", "ce", "ce", "b", "a"]),
        ("prefix", ["", "c", "ce", "b", "a"]),
    ],
)
def test_fp_side_sequence_scopes(scope, expected):
    w = windows_of(
        HAND_MADE,
        context="positives",
        fp_targets=False,
        require_positive_before=True,
        fp_scope=scope,
    )
    assert [names(f) for f in w.fp_sequences()] == expected


def test_user_scope_holds_the_users_train_fps_and_nothing_for_anonymous_sessions():
    encoded, users = encode(HAND_MADE)
    w = build_windows(
        encoded,
        context="positives",
        fp_targets=False,
        require_positive_before=True,
        fp_scope="user",
        user_fp=user_fp_items(encoded, len(users)),
    )
    assert [names(f) for f in w.fp_sequences()] == ["ceb", "ceb", "ceb", "ceb", ""]


def test_prefix_and_fp_sequences_are_truncated_to_the_most_recent():
    long_session = [("s", "u", " ".join(["a", "B"] * 40 + ["c"]))]
    w = windows_of(
        long_session,
        context="all",
        fp_targets=True,
        require_positive_before=False,
        max_prefix=50,
        max_fp=7,
    )
    assert max(len(p) for p in w.prefixes()) == 50
    np.testing.assert_array_equal(w.prefixes()[-1], np.array([1, 2] * 25))
    assert max(len(f) for f in w.fp_sequences()) == 7


def test_out_of_vocabulary_events_are_removed_before_windowing():
    encoded, _ = encode([("s", "", "a z b Z c")], vocabulary="abc")
    assert names(encoded.items) == "abc"
    w = build_windows(encoded, context="all", fp_targets=True, require_positive_before=False)
    assert [names(p) for p in w.prefixes()] == ["a", "ab"]


def test_sessions_keep_grades_aligned_and_derive_missing_ones_from_fp_flags():
    no_grades = SessionRecord("s2", "", 1, list("bac"), [True, False, False])
    sessions = Sessions.from_records([GRADED, no_grades])
    assert sessions.grades.dtype == np.int8
    assert sessions.grades.tolist() == [0, 1, 3, 0, 2, 1, 3, 0, 0]
    assert sessions.take(np.array([1, 0])).grades.tolist() == [3, 0, 0, 0, 1, 3, 0, 2, 1]
    assert [record.grades for record in sessions.records()] == [[0, 1, 3, 0, 2, 1], [3, 0, 0]]
    with pytest.raises(ValueError, match="6 items, 6 FP flags and 2 skip grades"):
        Sessions.from_records([GRADED._replace(grades=[0, 1])])


def test_the_vocabulary_filter_keeps_grades_aligned_with_items():
    record = SessionRecord(
        "s", "", 0, list("azbzc"), [False, True, False, True, False], [1, 3, 0, 2, 1]
    )
    encoded = EncodedSessions.encode(
        Sessions.from_records([record]), Vocabulary(list("abc")), Vocabulary([])
    )
    assert names(encoded.items) == "abc" and encoded.grades.tolist() == [1, 0, 1]
    hand_built = EncodedSessions(
        row_splits=np.array([0, 2]),
        items=np.array([1, 2], np.int32),
        is_fp=np.array([False, True]),
        users=np.zeros(1, np.int32),
        session_ids=np.array(["s"]),
    )
    assert hand_built.grades.tolist() == [0, 3]  # none given: derived from the FP flags


def test_every_kind_of_window_carries_its_targets_grade():
    encoded = EncodedSessions.encode(
        Sessions.from_records([GRADED]), Vocabulary(list("abcdef")), Vocabulary(["u1"])
    )
    vanilla = build_windows(encoded, context="all", fp_targets=True, require_positive_before=False)
    assert names(vanilla.targets) == "bcdef"
    assert vanilla.target_grades.dtype == np.int8
    assert vanilla.target_grades.tolist() == [1, 3, 0, 2, 1]
    positives = build_windows(
        encoded, context="positives", fp_targets=False, require_positive_before=True
    )
    assert names(positives.targets) == "bdf" and positives.target_grades.tolist() == [1, 0, 1]
    skips = build_windows(
        encoded, context="all", fp_targets=True, skip_targets=True, require_positive_before=True
    )
    assert names(skips.targets) == "ce" and skips.target_grades.tolist() == [3, 2]
    user_scope = build_windows(
        encoded,
        context="all",
        fp_targets=True,
        require_positive_before=False,
        fp_scope="user",
        user_fp=user_fp_items(encoded, 2),
    )
    assert user_scope.target_grades.tolist() == [1, 3, 0, 2, 1]


def test_unknown_context_and_scope_are_config_errors():
    encoded, _ = encode(HAND_MADE)
    with pytest.raises(ConfigError, match="context"):
        build_windows(encoded, context="skips", fp_targets=False, require_positive_before=True)
    with pytest.raises(ConfigError, match="FP scope"):
        build_windows(
            encoded, context="all", fp_targets=False, require_positive_before=True, fp_scope="week"
        )


def test_vocabulary_orders_by_train_frequency_then_id_and_round_trips(tmp_path):
    vocabulary = Vocabulary.from_counts(np.array(list("bbbbbaaaaacccccczzzz")), min_count=5)
    assert vocabulary.ids.tolist() == ["c", "a", "b"]  # z occurs 4 times: out
    assert vocabulary.lookup(["a", "z", "c"]).tolist() == [2, 0, 1]
    assert Vocabulary.load(vocabulary.save(tmp_path / "vocabulary.txt")).ids.tolist() == [
        "c",
        "a",
        "b",
    ]


def test_split_is_chronological_with_ties_broken_by_session_id():
    records = [SessionRecord(f"s{i:02d}", "", 100 - (i // 2), ["a"], [False]) for i in range(10)]
    splits = split_sessions(Sessions.from_records(records))
    assert [len(splits[k]) for k in ("train", "validation", "test")] == [8, 1, 1]
    assert splits["train"].session_ids[:2].tolist() == [
        "s08",
        "s09",
    ]  # earliest start first, then by id
    assert splits["test"].session_ids.tolist() == ["s01"]


def test_protocol_data_counts_window_families():
    sessions = Sessions.from_records(
        SessionRecord(f"s{i}", "", i, list("abcab"), [False, True, False, False, False])
        for i in range(10)
    )
    data = ProtocolData.from_sessions(split_sessions(sessions), min_count=5)
    stats = data.stats(split_sessions(sessions))
    assert stats["vocab_size"] == 3
    assert stats["train_windows_vanilla"] == 8 * 4
    assert stats["train_windows_fp"] == 8 * 3
    assert stats["train_windows_fp_all"] == 8 * 3
    assert stats["valid_windows"] == stats["test_windows"] == 3


def test_batches_are_padded_dense_with_lengths_and_fp_side_sequences():
    w = windows_of(HAND_MADE, context="all", fp_targets=True, require_positive_before=False)
    options = BatchOptions(flags=True, fp_items=True, fp_target_weight=0.25)
    features, targets, weights = next(iter(make_dataset(w, batch_size=100, options=options)))
    assert features["items"].shape == (len(w), 5)
    assert features["lengths"].numpy().tolist() == [len(p) for p in w.prefixes()]
    np.testing.assert_array_equal(features["items"].numpy()[1, :2], w.prefixes()[1])
    assert (features["items"].numpy()[0, 1:] == 0).all()
    assert features["flags"].numpy()[2].tolist() == [0, 0, 1, 0, 0]
    assert names(features["fp_items"].numpy()[0][:2]) == "ce"
    np.testing.assert_allclose(weights.numpy(), np.where(w.target_is_fp, 0.25, 1.0))
    np.testing.assert_array_equal(targets.numpy(), w.targets)


def test_grade_weights_replace_the_fp_target_weight_by_the_targets_grade():
    encoded = EncodedSessions.encode(
        Sessions.from_records([GRADED]), Vocabulary(list("abcdef")), Vocabulary([])
    )
    w = build_windows(encoded, context="all", fp_targets=True, require_positive_before=False)
    options = BatchOptions(flags=True, fp_target_weight=0.25, grade_weights=(1.0, 0.5, 0.25, 0.0))
    # Targets b c d e f have grades 1 3 0 2 1.
    expected = {"b": 0.5, "c": 0.0, "d": 1.0, "e": 0.25, "f": 0.5}
    _, targets, weights = next(iter(make_dataset(w, batch_size=100, options=options)))
    np.testing.assert_allclose(weights.numpy(), [expected[t] for t in names(targets.numpy())])
    for _, targets, weights in make_dataset(w, batch_size=2, options=options, shuffle=True):
        np.testing.assert_allclose(weights.numpy(), [expected[t] for t in names(targets.numpy())])


def test_training_batches_cover_every_window_once_per_epoch_and_reshuffle():
    sessions = Sessions.from_records(
        SessionRecord(f"s{i}", "", i, list("abcdef"[: 2 + i % 5]), [False] * (2 + i % 5))
        for i in range(300)
    )
    encoded = EncodedSessions.encode(sessions, Vocabulary(list("abcdef")), Vocabulary([]))
    w = build_windows(encoded, context="all", fp_targets=True, require_positive_before=False)
    dataset = make_dataset(w, batch_size=16, shuffle=True, seed=3, bucket_batches=4)
    epochs = [
        np.concatenate([f["lengths"].numpy() * 100 + t.numpy() for f, t, _ in dataset])
        for _ in range(2)
    ]
    expected = np.sort(w.prefix_lengths * 100 + w.targets)
    for epoch in epochs:
        np.testing.assert_array_equal(np.sort(epoch), expected)
    assert not np.array_equal(epochs[0], epochs[1])
    # Bucketing: a batch's prefixes have similar lengths.
    spreads = [np.ptp(f["lengths"].numpy()) for f, _, _ in dataset]
    assert np.mean(spreads) < np.ptp(w.prefix_lengths)


def test_session_graph_matches_the_srgnn_reference_construction():
    items = np.array([[3, 5, 3, 7, 0, 0]], np.int32)
    graph = {k: v.numpy() for k, v in SRGNN.prefix_features(items, items != 0).items()}
    assert graph["nodes"].tolist() == [[3, 5, 7]]
    assert graph["alias"].tolist() == [[0, 1, 0, 2, 0, 0]]
    adjacency = np.zeros((3, 3))
    for u, v in [(0, 1), (1, 0), (0, 2)]:
        adjacency[u, v] = 1
    indegree = np.maximum(adjacency.sum(0), 1)
    outdegree = np.maximum(adjacency.sum(1), 1)
    np.testing.assert_allclose(graph["adj_in"][0], adjacency.T / indegree[:, None])
    np.testing.assert_allclose(graph["adj_out"][0], adjacency / outdegree[:, None])
