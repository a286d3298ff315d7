"""Item and user vocabularies and integer-encoded sessions (PROTOCOL §3).

Data flows one way: :class:`fpam_tf.events.Sessions` (raw ids) -> :class:`Vocabulary` and
:class:`EncodedSessions` (integer ids, out-of-vocabulary events removed) -> windows
(:mod:`fpam_tf.windows`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from fpam_tf.errors import DataError
from fpam_tf.events import Sessions, grades_from_fp

MIN_ITEM_COUNT = 5  # PROTOCOL §3.
PADDING = 0  # Index 0 of every vocabulary: padding and out-of-vocabulary.


class Vocabulary:
    """Item (or user) ids <-> integer indices; index 0 is padding / out-of-vocabulary.

    PROTOCOL §3: items occurring at least ``min_count`` times in the train split, indexed by
    descending train frequency, ties broken by id. Saved as plain text, one id per line, line ``k``
    (0-based) holding index ``k + 1``, so a serving graph can embed it as an asset.
    """

    def __init__(self, ids):
        self.ids = np.asarray(ids, dtype=object).astype(str)
        self._index = {item: i + 1 for i, item in enumerate(self.ids.tolist())}

    @classmethod
    def from_counts(cls, ids: np.ndarray, min_count: int = MIN_ITEM_COUNT) -> Vocabulary:
        """Vocabulary of the ids occurring at least ``min_count`` times in ``ids``."""
        unique, counts = np.unique(ids, return_counts=True)
        keep = counts >= min_count
        unique, counts = unique[keep], counts[keep]
        order = np.lexsort((unique, -counts))  # Descending count, ties by id.
        return cls(unique[order])

    def __len__(self) -> int:
        """Number of indices including padding (the size of an embedding table)."""
        return len(self.ids) + 1

    def lookup(self, ids) -> np.ndarray:
        """int32 indices of ``ids``; 0 for an id outside the vocabulary."""
        index = self._index
        return np.fromiter((index.get(i, PADDING) for i in ids), dtype=np.int32, count=len(ids))

    def save(self, path) -> Path:
        path = Path(path)
        bad = [i for i in self.ids.tolist() if "\n" in i or "\r" in i]
        if bad:
            raise DataError(
                f"item id {bad[0]!r} contains a line break",
                path=path,
                fix="line breaks cannot be stored in a one-id-per-line vocabulary; "
                "clean the ids in the raw log",
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text("".join(i + "\n" for i in self.ids.tolist()), encoding="utf-8")
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path) -> Vocabulary:
        path = Path(path)
        if not path.is_file():
            raise DataError(
                "vocabulary file not found",
                path=path,
                fix="pass the run directory of a finished training run",
            )
        return cls(path.read_text(encoding="utf-8").splitlines())


@dataclasses.dataclass(frozen=True)
class EncodedSessions:
    """Sessions with integer item and user indices; out-of-vocabulary events removed (PROTOCOL §3).

    Attributes:
      row_splits: int64 ``[n + 1]``.
      items: int32 ``[e]`` item indices (never 0).
      is_fp: bool ``[e]``.
      users: int32 ``[n]`` user indices (0 = no user / unknown user).
      session_ids: str ``[n]``.
      grades: int8 ``[e]`` skip grades (:mod:`fpam_tf.events`); given as None, they are derived
        from ``is_fp`` as for a dataset without grades.
    """

    row_splits: np.ndarray
    items: np.ndarray
    is_fp: np.ndarray
    users: np.ndarray
    session_ids: np.ndarray
    grades: np.ndarray | None = None

    def __post_init__(self):
        if self.grades is None:
            object.__setattr__(self, "grades", grades_from_fp(self.is_fp))

    @classmethod
    def encode(cls, sessions: Sessions, items: Vocabulary, users: Vocabulary) -> EncodedSessions:
        indices = items.lookup(sessions.items)
        kept = sessions.keep_events(indices != PADDING)
        return cls(
            row_splits=kept.row_splits,
            items=indices[indices != PADDING],
            is_fp=kept.is_fp,
            users=users.lookup(kept.user_ids),
            session_ids=kept.session_ids,
            grades=kept.grades,
        )

    def __len__(self) -> int:
        return len(self.users)

    @property
    def num_events(self) -> int:
        return int(self.row_splits[-1])
