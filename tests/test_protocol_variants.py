"""Protocol variants: where each cuts a window's prefix, on a hand-made session."""

import numpy as np
import pytest

from fpam_tf.errors import ConfigError
from fpam_tf.protocol_variants import shifted_windows
from fpam_tf.vocabulary import EncodedSessions
from fpam_tf.windows import build_windows

# One session: items 1..6, items 2 and 4 skipped (FPs): positives track [1, 3, 5, 6].
SESSION = EncodedSessions(
    row_splits=np.array([0, 6], np.int64),
    items=np.array([1, 2, 3, 4, 5, 6], np.int32),
    is_fp=np.array([False, True, False, True, False, False]),
    users=np.zeros(1, np.int32),
    session_ids=np.array(["s"]),
)


def prefixes(windows):
    return [
        windows.track_items[b:e].tolist() for b, e in zip(windows.prefix_begin, windows.prefix_end)
    ]


def positives_windows():
    return build_windows(
        SESSION, context="positives", fp_targets=False, require_positive_before=True
    )


def test_standard_positives_prefixes_are_the_positives_before_the_target():
    windows = positives_windows()
    assert windows.targets.tolist() == [3, 5, 6]
    assert prefixes(shifted_windows("standard", SESSION, windows, context="positives")) == [
        [1],
        [1, 3],
        [1, 3, 5],
    ]


def test_index_shift_cuts_at_the_full_session_position_so_later_plays_leak():
    shifted = shifted_windows("index-shift", SESSION, positives_windows(), context="positives")
    # Target 3 is event 2: the first two positives [1, 3] hold it; target 5 (event 4) gets 1, 3, 5
    # and 6 (four positives, one after it); target 6 (event 5) every positive there is.
    assert prefixes(shifted) == [[1, 3], [1, 3, 5, 6], [1, 3, 5, 6]]
    assert shifted.targets.tolist() == [3, 5, 6]


def test_index_shift_leaves_an_all_events_prefix_alone():
    windows = build_windows(SESSION, context="all", fp_targets=True, require_positive_before=True)
    assert prefixes(shifted_windows("index-shift", SESSION, windows, context="all")) == prefixes(
        windows
    )


def test_target_in_prefix_ends_every_prefix_with_its_target():
    shifted = shifted_windows("target-in-prefix", SESSION, positives_windows(), context="positives")
    assert prefixes(shifted) == [[1, 3], [1, 3, 5], [1, 3, 5, 6]]
    every = build_windows(SESSION, context="all", fp_targets=True, require_positive_before=True)
    shifted = shifted_windows("target-in-prefix", SESSION, every, context="all", max_prefix=3)
    assert [p[-1] for p in prefixes(shifted)] == every.targets.tolist()
    assert max(len(p) for p in prefixes(shifted)) == 3  # still at most max_prefix events


def test_an_unknown_variant_is_a_config_error_listing_the_variants():
    with pytest.raises(ConfigError, match="index-shift"):
        shifted_windows("random", SESSION, positives_windows(), context="positives")


def test_random_split_pools_the_sessions_and_cuts_them_80_10_10_in_a_seeded_random_order():
    from fpam_tf.events import Sessions, split_sessions
    from fpam_tf.protocol_variants import variant_splits

    n = 50
    sessions = Sessions(
        session_ids=np.array([f"s{i:02d}" for i in range(n)]),
        user_ids=np.array([""] * n),
        start_times=np.arange(n, dtype=np.int64) * 100,
        row_splits=np.arange(0, 2 * n + 1, 2, dtype=np.int64),
        items=np.array([f"i{i}" for i in range(2 * n)]),
        is_fp=np.zeros(2 * n, bool),
        grades=np.zeros(2 * n, np.int8),
    )
    standard = split_sessions(sessions)
    assert variant_splits("standard", standard) is standard
    shuffled = variant_splits("random-split", standard)
    assert [len(shuffled[s]) for s in ("train", "validation", "test")] == [40, 5, 5]
    ids = {s: shuffled[s].session_ids.tolist() for s in shuffled}
    assert sorted(sum(ids.values(), [])) == sessions.session_ids.tolist()  # every session once
    assert ids["test"] != standard["test"].session_ids.tolist()  # not the latest sessions
    assert all(ids[s] == sorted(ids[s]) for s in ids)  # each split still in time order
    assert variant_splits("random-split", standard)["test"].session_ids.tolist() == ids["test"]
    first = shuffled["train"]
    assert first.items[first.row_splits[0] : first.row_splits[1]].tolist() == [
        f"i{2 * int(ids['train'][0][1:])}",
        f"i{2 * int(ids['train'][0][1:]) + 1}",
    ]
