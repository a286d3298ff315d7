"""Sessions of events with false-positive flags and skip grades, and the chronological split
(PROTOCOL §1-2).

A dataset reader turns its raw log into :class:`SessionRecord` objects or, for logs of tens of
millions of events (Last.fm 1K), straight into :class:`Sessions`: sessions column-wise (NumPy),
which is what the vocabulary and window builders use.

An event's *skip grade* (int8) says how little of it was played: 3 = skipped at once (MSSD
``skip_1``), 2 = briefly (``skip_2``), 1 = most of it (``skip_3``), 0 = played to the end. Only
Spotify MSSD logs record the depth of a skip; every other dataset (Last.fm, ratings, synthetic,
Yoochoose) stores :data:`FP_GRADE` for an FP and 0 otherwise (:func:`grades_from_fp`): a skip of
unknown depth counts as the strongest. The FP flag is independent of the grade: it is whatever the
dataset's threshold says (MSSD: the ``skip_field`` column).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np

SPLITS = ("train", "validation", "test")
NUM_GRADES = 4  # Skip grades 0 (played to the end) .. 3 (skipped at once).
FP_GRADE = 3  # The grade of an FP when the log does not say how early it was skipped.


def grades_from_fp(is_fp) -> np.ndarray:
    """int8 ``[e]``: the grades of events whose log has no skip depth, from their FP flags
    ``[e]`` (:data:`FP_GRADE` for an FP, 0 otherwise)."""
    return np.where(np.asarray(is_fp, dtype=bool), FP_GRADE, 0).astype(np.int8)


class SessionRecord(NamedTuple):
    """One session as a reader yields it and a TFDS example stores it.

    Attributes:
      session_id: unique id of the session within its dataset.
      user_id: the user's id, ``""`` when the log has no users (Spotify MSSD).
      start_time: seconds since the Unix epoch of the session's first event (sort key of the split).
      items: raw item ids in event order.
      is_fp: one flag per item, ``True`` when the event is a false positive (skip / low rating).
      grades: one skip grade per item (0-3, see the module docstring), or None when the log
        records no skip depth: then :meth:`event_grades` derives them from ``is_fp``.
    """

    session_id: str
    user_id: str
    start_time: int
    items: Sequence[str]
    is_fp: Sequence[bool]
    grades: Sequence[int] | None = None

    def event_grades(self) -> np.ndarray:
        """int8 ``[len(items)]``: the session's skip grades, given or derived from ``is_fp``."""
        if self.grades is None:
            return grades_from_fp(self.is_fp)
        return np.asarray(self.grades, dtype=np.int8)


@dataclasses.dataclass(frozen=True)
class Sessions:
    """Sessions stored column-wise: ``n`` sessions with ``e`` events in all.

    Attributes:
      session_ids: str array ``[n]``.
      user_ids: str array ``[n]`` (``""`` = no user).
      start_times: int64 array ``[n]``, seconds since the epoch.
      row_splits: int64 array ``[n + 1]``; session ``i`` owns events
        ``row_splits[i]:row_splits[i+1]``.
      items: object array ``[e]`` of ``str``, raw item ids (:func:`item_column`: events of one
        item share one string, so a column costs 8 bytes per event whatever the ids' lengths).
      is_fp: bool array ``[e]``.
      grades: int8 array ``[e]``, skip grades 0-3 (see the module docstring).
    """

    session_ids: np.ndarray
    user_ids: np.ndarray
    start_times: np.ndarray
    row_splits: np.ndarray
    items: np.ndarray
    is_fp: np.ndarray
    grades: np.ndarray

    @classmethod
    def from_records(cls, records: Iterable[SessionRecord]) -> Sessions:
        """Builds the columns from records, in the order given. Empty sessions are dropped."""
        session_ids, user_ids, start_times, lengths = [], [], [], []
        items: list[str] = []
        is_fp: list[bool] = []
        grades: list[np.ndarray] = []
        for record in records:
            if len(record.items) == 0:
                continue
            record_grades = record.event_grades()
            if not len(record.items) == len(record.is_fp) == len(record_grades):
                raise ValueError(
                    f"session {record.session_id!r}: {len(record.items)} items, "
                    f"{len(record.is_fp)} FP flags and {len(record_grades)} skip grades; a reader "
                    "must give one flag (and grade, if it has grades) per item"
                )
            session_ids.append(record.session_id)
            user_ids.append(record.user_id)
            start_times.append(record.start_time)
            lengths.append(len(record.items))
            items.extend(record.items)
            is_fp.extend(bool(flag) for flag in record.is_fp)
            grades.append(record_grades)
        all_grades = np.concatenate(grades) if grades else np.zeros(0, np.int8)
        if ((all_grades < 0) | (all_grades >= NUM_GRADES)).any():
            raise ValueError(f"skip grades must be in 0..{NUM_GRADES - 1}")
        return cls(
            session_ids=np.asarray(session_ids, dtype=object).astype(str),
            user_ids=np.asarray(user_ids, dtype=object).astype(str),
            start_times=np.asarray(start_times, dtype=np.int64),
            row_splits=np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]).astype(np.int64),
            items=item_column(items),
            is_fp=np.asarray(is_fp, dtype=bool),
            grades=all_grades,
        )

    def __len__(self) -> int:
        return len(self.session_ids)

    @property
    def num_events(self) -> int:
        return int(self.row_splits[-1])

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.row_splits)

    @property
    def session_of_event(self) -> np.ndarray:
        """int64 ``[e]``: index of the session each event belongs to."""
        return np.repeat(np.arange(len(self), dtype=np.int64), self.lengths)

    def records(self) -> Iterable[SessionRecord]:
        """Yields the sessions back as records (what a TFDS builder writes)."""
        for i in range(len(self)):
            lo, hi = self.row_splits[i], self.row_splits[i + 1]
            yield SessionRecord(
                str(self.session_ids[i]),
                str(self.user_ids[i]),
                int(self.start_times[i]),
                self.items[lo:hi].tolist(),
                self.is_fp[lo:hi].tolist(),
                self.grades[lo:hi].tolist(),
            )

    def take(self, indices: np.ndarray) -> Sessions:
        """The sessions at ``indices``, in that order."""
        indices = np.asarray(indices, dtype=np.int64)
        starts, ends = self.row_splits[indices], self.row_splits[indices + 1]
        event_index = ranges(starts, ends)
        return Sessions(
            session_ids=self.session_ids[indices],
            user_ids=self.user_ids[indices],
            start_times=self.start_times[indices],
            row_splits=np.concatenate([[0], np.cumsum(ends - starts)]).astype(np.int64),
            items=self.items[event_index],
            is_fp=self.is_fp[event_index],
            grades=self.grades[event_index],
        )

    @classmethod
    def concatenate(cls, parts: Sequence[Sessions]) -> Sessions:
        """The sessions of ``parts``, one after the other."""
        offsets = np.cumsum([0] + [part.num_events for part in parts[:-1]])
        return cls(
            session_ids=np.concatenate([part.session_ids for part in parts]),
            user_ids=np.concatenate([part.user_ids for part in parts]),
            start_times=np.concatenate([part.start_times for part in parts]),
            row_splits=np.concatenate(
                [[0]] + [part.row_splits[1:] + offset for part, offset in zip(parts, offsets)]
            ).astype(np.int64),
            items=np.concatenate([part.items for part in parts]),
            is_fp=np.concatenate([part.is_fp for part in parts]),
            grades=np.concatenate([part.grades for part in parts]),
        )

    def keep_events(self, keep: np.ndarray) -> Sessions:
        """Drops the events where ``keep`` is False; sessions left empty are dropped too."""
        kept_per_session = (
            np.add.reduceat(keep.astype(np.int64), self.row_splits[:-1])
            if len(self)
            else np.zeros(0, np.int64)
        )
        # reduceat on an empty segment returns the next element, not 0: fix empty sessions.
        kept_per_session = np.where(self.lengths > 0, kept_per_session, 0)
        nonempty = kept_per_session > 0
        return Sessions(
            session_ids=self.session_ids[nonempty],
            user_ids=self.user_ids[nonempty],
            start_times=self.start_times[nonempty],
            row_splits=np.concatenate([[0], np.cumsum(kept_per_session[nonempty])]).astype(
                np.int64
            ),
            items=self.items[keep],
            is_fp=self.is_fp[keep],
            grades=self.grades[keep],
        )


def item_column(ids, table: dict | None = None) -> np.ndarray:
    """Object array ``[e]`` of the ids ``ids`` (``str``, or a UTF-8 bytes array as TFRecords hold
    them) in which equal ids are one ``str`` object.

    A fixed-width ``str`` array costs 4 bytes per character of the *longest* id for every event
    (Last.fm keys run to hundreds of characters: gigabytes for its 19M plays); this costs a pointer
    per event plus each distinct id once. ``table`` (distinct id -> its string) is shared by calls
    that should share strings, e.g. the chunks of one column.
    """
    table = {} if table is None else table
    if isinstance(ids, np.ndarray) and ids.dtype.kind == "S":
        # Sorting bytes is native: decode each distinct id once, then gather.
        distinct, inverse = np.unique(ids, return_inverse=True)
        texts = (value.decode("utf-8") for value in distinct.tolist())
        strings = np.array([table.setdefault(text, text) for text in texts] or [], dtype=object)
        return strings[inverse.reshape(-1)]
    return np.fromiter(
        (table.setdefault(i, i) for i in map(str, ids)), dtype=object, count=len(ids)
    )


def ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, e)`` for each pair, vectorised (int64)."""
    starts = np.asarray(starts, dtype=np.int64)
    lengths = np.asarray(ends, dtype=np.int64) - starts
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.cumsum(lengths) - lengths
    return np.repeat(starts - offsets, lengths) + np.arange(total, dtype=np.int64)


def split_sessions(sessions: Sessions, *, shuffle_seed: int | None = None) -> dict[str, Sessions]:
    """PROTOCOL §2: order by (start time, session id); first floor(0.8 n) train, up to
    floor(0.9 n) validation, rest test.

    ``shuffle_seed`` (a protocol variant, never PROTOCOL's figures): cut the sessions in a random
    order drawn with that seed instead; each split then keeps (start time, session id) order.
    """
    order = np.lexsort((sessions.session_ids, sessions.start_times))
    n = len(order)
    # Integer arithmetic: floor(0.8 n) and floor(0.9 n) without float rounding surprises.
    n_train, n_valid = n * 8 // 10, n * 9 // 10
    parts = {
        "train": slice(0, n_train),
        "validation": slice(n_train, n_valid),
        "test": slice(n_valid, n),
    }
    if shuffle_seed is None:
        return {split: sessions.take(order[part]) for split, part in parts.items()}
    drawn = np.random.default_rng(shuffle_seed).permutation(n)
    position = np.empty(n, np.int64)
    position[order] = np.arange(n)  # each session's place in the chronological order

    def chronological(indices):
        return indices[np.argsort(position[indices])]

    return {split: sessions.take(chronological(drawn[part])) for split, part in parts.items()}
