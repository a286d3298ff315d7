"""Training and evaluation windows (PROTOCOL §4): prefix -> target, with the FP side sequence.

A window's prefix is always a contiguous run of a flat *track* of events: the session's events
(context ``all``) or its positives only (context ``positives``). A window therefore stores only
``[begin, end)`` into the track; the input pipeline (:mod:`fpam_tf.input_pipeline`) gathers the
ragged prefixes of a batch with ``tf.gather(track, tf.ragged.range(begin, end))`` and pads them
densely. The FP side sequence of a window is stored the same way over a track of FP events.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from fpam_tf.errors import ConfigError
from fpam_tf.registry import Registry
from fpam_tf.vocabulary import PADDING, EncodedSessions

MAX_PREFIX = 50  # PROTOCOL §4: L, the most recent events of a prefix.
MAX_FP_ITEMS = (
    50  # Cap of an FP side sequence (most recent FPs); sessions are far shorter in practice.
)

CONTEXTS: Registry[None] = Registry("context")
CONTEXTS.register("all", None, "every event, each with its skip flag")
CONTEXTS.register("positives", None, "FPs removed, the paper's FP-Simple input (eq. 2)")
FP_SCOPES: Registry[None] = Registry("FP scope")
FP_SCOPES.register("session", None, "the session's FPs")
FP_SCOPES.register("prefix", None, "the session's FPs before the target")
FP_SCOPES.register("user", None, "the user's FPs in train")


@dataclasses.dataclass(frozen=True)
class Windows:
    """``w`` windows (prefix -> target), stored as ranges over flat tracks.

    Attributes:
      track_items: int32 ``[c]``: the events prefixes are cut from (all events, or positives only).
      track_flags: int32 ``[c]``: 1 where the track's event is an FP (skipped), else 0.
      prefix_begin, prefix_end: int64 ``[w]``: window ``k``'s prefix is
        ``track_items[begin:end]``, at most L long.
      targets: int32 ``[w]`` target item indices.
      target_is_fp: bool ``[w]``.
      target_grades: int8 ``[w]`` skip grade of each target (:mod:`fpam_tf.events`).
      users: int32 ``[w]`` user index of the window's session.
      session_index: int64 ``[w]`` index of the window's session in its split.
      fp_track: int32 ``[f]`` FP items the side sequences are cut from.
      fp_begin, fp_end: int64 ``[w]``: window ``k``'s FP side sequence is ``fp_track[begin:end]``.
    """

    track_items: np.ndarray
    track_flags: np.ndarray
    prefix_begin: np.ndarray
    prefix_end: np.ndarray
    targets: np.ndarray
    target_is_fp: np.ndarray
    target_grades: np.ndarray
    users: np.ndarray
    session_index: np.ndarray
    fp_track: np.ndarray
    fp_begin: np.ndarray
    fp_end: np.ndarray

    def __len__(self) -> int:
        return len(self.targets)

    @property
    def prefix_lengths(self) -> np.ndarray:
        return self.prefix_end - self.prefix_begin

    def prefixes(self) -> list[np.ndarray]:
        """The prefixes as NumPy arrays (for inspection and tests; the pipeline never materialises
        them)."""
        return [self.track_items[b:e] for b, e in zip(self.prefix_begin, self.prefix_end)]

    def prefix_flags(self) -> list[np.ndarray]:
        return [self.track_flags[b:e] for b, e in zip(self.prefix_begin, self.prefix_end)]

    def fp_sequences(self) -> list[np.ndarray]:
        return [self.fp_track[b:e] for b, e in zip(self.fp_begin, self.fp_end)]


def _cumulative(flags: np.ndarray) -> np.ndarray:
    """``[e + 1]``: element ``j`` counts the flags before event ``j`` (so ``[e]`` is the total)."""
    return np.concatenate([[0], np.cumsum(flags, dtype=np.int64)])


def build_windows(
    sessions: EncodedSessions,
    *,
    context: str,
    fp_targets: bool,
    require_positive_before: bool,
    skip_targets: bool = False,
    fp_scope: str = "session",
    user_fp: tuple[np.ndarray, np.ndarray] | None = None,
    max_prefix: int = MAX_PREFIX,
    max_fp: int = MAX_FP_ITEMS,
) -> Windows:
    """Builds the windows of ``sessions`` (PROTOCOL §4).

    A window ends at every event ``t >= 1`` of a session whose target is kept (positives only
    unless ``fp_targets``) and, when ``require_positive_before``, that has a positive before it.
    Its prefix is the last ``max_prefix`` events before ``t`` of the ``context`` track.

    Args:
      context: ``"all"`` (every event before t, each with its FP flag) or ``"positives"``.
      fp_targets: keep windows whose target is an FP.
      require_positive_before: drop windows without a positive before the target
        (evaluation windows, and every window of the positives-only context).
      skip_targets: keep only windows whose target is an FP (PROTOCOL §5b skip windows: does a
        model rank high what the user then skipped?).
      fp_scope: the FP side sequence: the session's FPs (``session``), those before t
        (``prefix``), or the user's FPs in train (``user``, needs ``user_fp``).
      user_fp: ``(row_splits, items)`` of each user's train FP items, from :func:`user_fp_items`.
    """
    CONTEXTS.get(context)
    FP_SCOPES.get(fp_scope)
    # Per event only what selects the windows (a few bytes an event); everything else per window.
    # The full logs have tens of millions of events, and a window family is built for each count.
    row_splits, is_fp = sessions.row_splits, sessions.is_fp
    lengths = np.diff(row_splits)
    session_of = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    positive = ~is_fp
    positives_upto = _cumulative(positive)  # [e + 1]: positives before each event, dataset-wide

    keep = np.ones(sessions.num_events, dtype=bool)
    keep[row_splits[:-1][lengths > 0]] = False  # t >= 1
    if skip_targets:
        keep &= is_fp
    elif not fp_targets:
        keep &= positive
    if require_positive_before or context == "positives":
        keep &= positives_upto[:-1] > positives_upto[row_splits[:-1]][session_of]
    ends = np.flatnonzero(keep)
    window_session = session_of[ends]
    del session_of
    first_event = row_splits[window_session]

    if context == "all":
        track_items, track_flags = sessions.items, is_fp.astype(np.int32)
        prefix_end, prefix_start = ends, first_event
    else:
        track_items = sessions.items[positive]
        track_flags = np.zeros(len(track_items), np.int32)
        prefix_end, prefix_start = positives_upto[ends], positives_upto[first_event]
    del positives_upto
    prefix_begin = np.maximum(prefix_start, prefix_end - max_prefix)

    users = sessions.users[window_session]
    if fp_scope == "user":
        if user_fp is None:
            raise ConfigError("the 'user' FP scope needs the users' train FP items (user_fp)")
        user_splits, fp_track = user_fp
        fp_end = user_splits[users + 1]
        fp_start = user_splits[users]
    else:
        fp_track = sessions.items[is_fp]
        fps_upto = _cumulative(is_fp)
        fp_start = fps_upto[first_event]
        fp_end = fps_upto[ends if fp_scope == "prefix" else row_splits[window_session + 1]]
        del fps_upto
    fp_begin = np.maximum(fp_start, fp_end - max_fp)

    return Windows(
        track_items=track_items.astype(np.int32, copy=False),
        track_flags=track_flags,
        prefix_begin=prefix_begin.astype(np.int64, copy=False),
        prefix_end=prefix_end.astype(np.int64, copy=False),
        targets=sessions.items[ends].astype(np.int32, copy=False),
        target_is_fp=is_fp[ends],
        target_grades=sessions.grades[ends],
        users=users.astype(np.int32, copy=False),
        session_index=window_session,
        fp_track=fp_track.astype(np.int32, copy=False),
        fp_begin=fp_begin.astype(np.int64, copy=False),
        fp_end=fp_end.astype(np.int64, copy=False),
    )


def user_fp_items(train: EncodedSessions, num_users: int) -> tuple[np.ndarray, np.ndarray]:
    """Each user's FP items in train, in time order: ``(row_splits [num_users + 1], items)``.

    Sessions of a split are in chronological order, so a stable sort by user keeps time order.
    User 0 (no user) gets none: an anonymous session has no user history.
    """
    session_of = np.repeat(np.arange(len(train), dtype=np.int64), np.diff(train.row_splits))
    event_users = train.users[session_of]
    chosen = train.is_fp & (event_users != PADDING)
    order = np.argsort(event_users[chosen], kind="stable")
    counts = np.bincount(event_users[chosen], minlength=num_users)[:num_users]
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64), train.items[chosen][order]
