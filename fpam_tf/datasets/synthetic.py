"""The embedded default dataset: a generated Last.fm-1K-format log with known false positives.

Ground truth. Users have latent taste vectors; items belong to genres with latent trait vectors and
have Zipf popularity. Within a session the taste drifts (a random walk). A liked play samples a
genre by taste affinity, then an item of that genre by popularity, and is listened to for 2-6
minutes. A false positive is an item drawn from popularity alone (independent of the taste, so it
says nothing about the next liked play) and is skipped after a few seconds. Sessions of a user are
hours apart.

The file has the 6 Last.fm 1K columns, users in order and each user's plays newest first, so the
``lastfm`` reader reads it back: it recovers the sessions exactly (gaps within a session are at most
6 minutes, between sessions at least 2 hours) and the FP flags (skips last < 30 s, liked plays
>= 2 min). FPs are never a session's last play (the reader cannot see a last play's play time), and
exactly ``round(fp_rate * events)`` plays are FPs, so the realised FP rate equals ``fp_rate``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from fpam_tf.errors import ConfigError

# Bumped whenever the generator's output changes, so prepared synthetic datasets are not reused
# stale.
GENERATOR_VERSION = 1
# Plays are generated from this date on (UTC), users starting up to a month apart.
EPOCH_START = 1577836800  # 2020-01-01T00:00:00Z
LIKED_PLAY_SECONDS = (120, 360)
SKIPPED_PLAY_SECONDS = (2, 25)
SESSION_GAP_HOURS = (2, 72)
WRITE_BLOCK_ROWS = 1_000_000


def _normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length."""
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


def _normalise_weights(weights: np.ndarray) -> np.ndarray:
    """Weights scaled to sum to 1."""
    return weights / weights.sum()


def _sample_by_weight(
    rng: np.random.Generator, cumulative: np.ndarray, lows: np.ndarray, highs: np.ndarray
) -> np.ndarray:
    """For each (low, high) range of a cumulative-weight array, one index drawn in proportion to
    its weight."""
    targets = lows + rng.random(len(lows)) * (highs - lows)
    return np.searchsorted(cumulative, targets, side="right")


def _fake_mbids(rng: np.random.Generator, count: int) -> list[str]:
    """``count`` random UUID-shaped ids, as MusicBrainz ids look."""
    digits = [
        f"{a:016x}{b:016x}" for a, b in rng.integers(0, 2**63, size=(count, 2), dtype=np.int64)
    ]
    return [f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}" for h in digits]


def _session_start_times(rng, session_users, durations, num_users) -> np.ndarray:
    """Start time of each session: each user's sessions in index order, 2-72 hours after the
    previous one ends."""
    order = np.argsort(session_users, kind="stable")
    users = session_users[order]
    gaps = rng.integers(
        SESSION_GAP_HOURS[0] * 3600, SESSION_GAP_HOURS[1] * 3600 + 1, size=len(order)
    )
    user_offsets = EPOCH_START + rng.integers(0, 30 * 86400, size=num_users)
    # Elapsed time before each session within its user's timeline: cumsum of (duration + gap),
    # restarted per user.
    step = durations[order] + gaps
    total = np.cumsum(step) - step
    first_of_user = np.concatenate([[True], users[1:] != users[:-1]])
    user_base = np.maximum.accumulate(np.where(first_of_user, total, 0))
    starts = np.empty(len(order), dtype=np.int64)
    starts[order] = user_offsets[users] + total - user_base
    return starts


def generate(
    path,
    *,
    num_users: int = 500,
    num_items: int = 2000,
    num_sessions: int = 12000,
    fp_rate: float = 0.30,
    seed: int = 0,
    min_session_length: int = 5,
    max_session_length: int = 30,
    num_genres: int = 40,
    taste_dims: int = 8,
    taste_drift: float = 0.25,
    affinity_sharpness: float = 5.0,
    zipf_exponent: float = 0.8,
) -> Path:
    """Writes the synthetic log (Last.fm 1K TSV) to ``path`` atomically and returns ``path``.

    The file is byte-identical for the same arguments. See the module docstring for the model.
    """
    if not 2 <= min_session_length <= max_session_length:
        raise ConfigError(
            "synthetic session lengths need 2 <= min_session_length <= max_session_length"
        )
    if min(num_users, num_items, num_sessions, num_genres, taste_dims) < 1:
        raise ConfigError(
            "synthetic num_users, num_items, num_sessions, num_genres, taste_dims must be >= 1"
        )
    rng = np.random.default_rng(seed)

    genre_traits = _normalise(rng.standard_normal((num_genres, taste_dims)))
    item_genre = rng.integers(0, num_genres, size=num_items)
    popularity = np.empty(num_items)
    popularity[rng.permutation(num_items)] = 1.0 / np.arange(1, num_items + 1) ** zipf_exponent
    user_tastes = _normalise(rng.standard_normal((num_users, taste_dims)))

    session_users = rng.choice(
        num_users, size=num_sessions, p=_normalise_weights(rng.lognormal(0, 0.5, num_users))
    )
    lengths = rng.integers(min_session_length, max_session_length + 1, size=num_sessions)
    num_events = int(lengths.sum())
    num_fp = round(fp_rate * num_events)
    if not 0 <= num_fp <= num_events - num_sessions:
        raise ConfigError(
            f"synthetic fp_rate {fp_rate} is out of reach: it must lie in [0, "
            f"{(num_events - num_sessions) / num_events:.3f}] (a session's last play is never FP)"
        )
    row_splits = np.concatenate([[0], np.cumsum(lengths)])
    session_of_event = np.repeat(np.arange(num_sessions), lengths)
    is_last = np.zeros(num_events, dtype=bool)
    is_last[row_splits[1:] - 1] = True

    # Taste of each play: the session's start taste plus a random walk restarted at each session.
    start_tastes = user_tastes[session_users] + 0.5 * rng.standard_normal(
        (num_sessions, taste_dims)
    )
    steps = taste_drift * rng.standard_normal((num_events, taste_dims))
    steps[row_splits[:-1]] = 0.0
    walk = np.cumsum(steps, axis=0)
    walk -= walk[row_splits[:-1]][session_of_event]
    tastes = _normalise(start_tastes[session_of_event] + walk)

    # Liked plays: genre by taste affinity (Gumbel-max), then an item of that genre by popularity.
    logits = affinity_sharpness * tastes @ genre_traits.T
    genres = np.argmax(logits + rng.gumbel(size=logits.shape), axis=1)
    by_genre = np.argsort(item_genre, kind="stable")
    cumulative = np.cumsum(popularity[by_genre])
    genre_ends = np.searchsorted(item_genre[by_genre], np.arange(num_genres), side="right")
    genre_starts = np.concatenate([[0], genre_ends[:-1]])
    genre_lows = np.concatenate([[0.0], cumulative])[genre_starts]
    genre_highs = np.concatenate([[0.0], cumulative])[genre_ends]
    # A genre with no items falls back to the whole catalogue.
    empty = genre_starts == genre_ends
    genre_lows[empty], genre_highs[empty] = 0.0, cumulative[-1]
    items = by_genre[
        np.minimum(
            _sample_by_weight(rng, cumulative, genre_lows[genres], genre_highs[genres]),
            num_items - 1,
        )
    ]

    # False positives: exactly num_fp non-last plays, items by popularity alone.
    is_fp = np.zeros(num_events, dtype=bool)
    is_fp[rng.choice(np.flatnonzero(~is_last), size=num_fp, replace=False)] = True
    all_cumulative = np.cumsum(popularity)
    fp_items = _sample_by_weight(
        rng, all_cumulative, np.zeros(num_fp), np.full(num_fp, all_cumulative[-1])
    )
    items[is_fp] = np.minimum(fp_items, num_items - 1)

    play_seconds = np.where(
        is_fp,
        rng.integers(SKIPPED_PLAY_SECONDS[0], SKIPPED_PLAY_SECONDS[1] + 1, size=num_events),
        rng.integers(LIKED_PLAY_SECONDS[0], LIKED_PLAY_SECONDS[1] + 1, size=num_events),
    )
    durations = np.add.reduceat(play_seconds, row_splits[:-1])
    session_starts = _session_start_times(rng, session_users, durations, num_users)
    elapsed = np.cumsum(play_seconds) - play_seconds
    timestamps = (
        session_starts[session_of_event] + elapsed - elapsed[row_splits[:-1]][session_of_event]
    )

    return _write_tsv(
        Path(path),
        rng,
        session_users[session_of_event],
        timestamps,
        items,
        item_genre,
        num_items,
        num_genres,
    )


def _write_tsv(
    path: Path, rng, event_users, timestamps, items, item_genre, num_items, num_genres
) -> Path:
    """Writes plays as Last.fm 1K rows (users ascending, each user's plays newest first) via a
    temporary file."""
    artist_ids = _fake_mbids(rng, num_genres)
    track_ids = _fake_mbids(rng, num_items)
    # About 28% of the real file's rows lack a track MBID: keep both item-key paths of the reader
    # in use.
    without_mbid = rng.random(num_items) < 0.28
    track_ids = ["" if missing else track for missing, track in zip(without_mbid, track_ids)]
    order = np.lexsort((-timestamps, event_users))
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with open(partial, "w", encoding="utf-8", newline="") as stream:
        # A block of rows at a time: the text of a 19M-play log would not fit in memory at once.
        for block in np.array_split(order, max(1, len(order) // WRITE_BLOCK_ROWS)):
            stamps = np.char.add(
                np.datetime_as_string(timestamps[block].astype("datetime64[s]")), "Z"
            )
            stream.writelines(
                f"user_{user:06d}\t{stamp}\t{artist_ids[item_genre[item]]}\t"
                f"Artist {item_genre[item]:03d}\t{track_ids[item]}\tTrack {item:05d}\n"
                for user, stamp, item in zip(
                    event_users[block].tolist(), stamps.tolist(), items[block].tolist()
                )
            )
    os.replace(partial, path)
    return path
