"""Synthetic generator: determinism, realised FP rate through the Last.fm reader, vocabulary
coverage."""

import collections

import numpy as np
import pytest

from fpam_tf.datasets import lastfm, synthetic
from fpam_tf.errors import ConfigError
from fpam_tf.events import split_sessions

SMALL = dict(num_users=50, num_items=300, num_sessions=800)


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    first = synthetic.generate(tmp_path / "a.tsv", seed=3, **SMALL).read_bytes()
    assert synthetic.generate(tmp_path / "b.tsv", seed=3, **SMALL).read_bytes() == first
    assert synthetic.generate(tmp_path / "c.tsv", seed=4, **SMALL).read_bytes() != first
    assert not list(tmp_path.glob("*.partial"))


@pytest.mark.parametrize("fp_rate", [0.3, 0.12, 0.5])
def test_realised_fp_rate_matches(tmp_path, fp_rate):
    path = synthetic.generate(tmp_path / "log.tsv", fp_rate=fp_rate, **SMALL)
    sessions = lastfm.read_sessions(path)
    assert len(sessions) == SMALL["num_sessions"]  # the reader recovers the generated sessions
    assert abs(sessions.is_fp.mean() - fp_rate) < 0.02


def test_default_size_keeps_most_items(tmp_path):
    sessions = lastfm.read_sessions(synthetic.generate(tmp_path / "log.tsv"))
    assert len(sessions) == 12000 and 5 <= sessions.lengths.min() and sessions.lengths.max() <= 30
    counts = collections.Counter(split_sessions(sessions)["train"].items.tolist())
    assert sum(count >= 5 for count in counts.values()) >= 0.95 * 2000
    # Both item-key paths of the reader are in use (MBID and "artist - track").
    assert any(" - " in item for item in counts) and any(" - " not in item for item in counts)


def test_fp_items_do_not_follow_taste(tmp_path):
    # Liked plays concentrate on few genres per session; FP plays spread like global popularity.
    sessions = lastfm.read_sessions(synthetic.generate(tmp_path / "log.tsv", **SMALL))
    lines = (tmp_path / "log.tsv").read_text().splitlines()
    genre_of = {}
    for line in lines:
        fields = line.split("\t")
        genre_of[fields[4] or f"{fields[3]} - {fields[5]}"] = fields[3]
    genres = np.array([genre_of[item] for item in sessions.items])

    def same_next(mask):
        return np.mean(genres[:-1][mask[:-1]] == genres[1:][mask[:-1]])

    liked, same_session = ~sessions.is_fp, np.diff(sessions.session_of_event) == 0
    liked_pairs = np.concatenate([liked[:-1] & liked[1:] & same_session, [False]])
    fp_pairs = np.concatenate([sessions.is_fp[:-1] & liked[1:] & same_session, [False]])
    assert same_next(liked_pairs) > 2 * same_next(fp_pairs)


def test_unreachable_fp_rate(tmp_path):
    with pytest.raises(ConfigError, match="fp_rate"):
        synthetic.generate(tmp_path / "log.tsv", fp_rate=0.99, **SMALL)
