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
