"""Non-neural baselines, scored exactly like the trained models (PROTOCOL §5: full ranking, no
sampling).

Every baseline is fitted on the train split of a :class:`~fpam_tf.windows.ProtocolData` and turns
evaluation windows into dense score matrices ``[B, V]`` over the whole vocabulary (column 0,
padding, is never ranked), batch by batch, which :func:`evaluate_scores` ranks with
:func:`fpam_tf.metrics.ranking_metrics_numpy`.

- ``pop``: PROTOCOL §5b's strict popularity order: train count of positive events, then item id
  (:func:`popularity_order`); it reads no prefix, so FP-awareness changes nothing.
- ``spop``: session popularity: the prefix's items first, by their count in the prefix, then the
  rest, both in POP's order (PROTOCOL §5b).
- ``sknn``: session-based kNN (Jannach & Ludewig 2017; Ludewig & Jannach 2018): cosine similarity
  between the prefix's item set and the item sets of the most recent train sessions sharing an item.

``fp_aware=True`` ignores skipped items (false positives): SKNN's neighbour sessions and popularity
come from train positives only, and the prefix is the positives-only one (context ``positives``).
The plain variant uses every event (context ``all``). POP's order counts positives in both. The
targets are the same.
Implemented with NumPy only (inverted index + ``bincount``), no sparse-matrix dependency.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from fpam_tf import metrics
from fpam_tf.events import ranges
from fpam_tf.metrics import KS, metric_keys, ranking_metrics_numpy
from fpam_tf.protocol import ProtocolData
from fpam_tf.vocabulary import EncodedSessions
from fpam_tf.windows import Windows

DEFAULT_BATCH_SIZE = 256


def context_of(fp_aware: bool) -> str:
    """The evaluation-window context a baseline reads: positives only when FP-aware, else every
    event."""
    return "positives" if fp_aware else "all"


def train_events(data: ProtocolData, fp_aware: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(row_splits [n + 1], items [e])`` of the train sessions, positives only when
    ``fp_aware``."""
    train: EncodedSessions = data.splits["train"]
    keep = ~train.is_fp if fp_aware else np.ones(train.num_events, bool)
    session_of = np.repeat(np.arange(len(train), dtype=np.int64), np.diff(train.row_splits))
    counts = np.bincount(session_of[keep], minlength=len(train))
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64), train.items[keep].astype(
        np.int64
    )


def popularity_tiebreak(items: np.ndarray, num_items: int) -> np.ndarray:
    """float64 ``[V]``: ``count / (max count + 1)``, in [0, 1): train popularity scaled below one
    prefix event."""
    counts = np.bincount(items, minlength=num_items).astype(np.float64)
    counts[0] = 0.0
    return counts / (counts.max() + 1.0)


def popularity_order(data: ProtocolData) -> np.ndarray:
    """float64 ``[V]`` in ``[0, 1)``: PROTOCOL §5b's strict POP order as scores, highest first.

    Items by their train count of positive events (descending), then by item id (ascending; items
    with no positive train event come last, by id): the item at position ``p`` of that order scores
    ``(V - 1 - p) / V``. Padding (column 0) scores 0 and is never ranked. No two items tie, so the
    rank of PROTOCOL §5 is the target's position in the order.
    """
    train: EncodedSessions = data.splits["train"]
    num_items = len(data.items)
    counts = np.bincount(train.items[~train.is_fp], minlength=num_items)[1:]
    id_position = np.argsort(np.argsort(data.items.ids, kind="stable"), kind="stable")
    order = np.lexsort((id_position, -counts)) + 1  # item indices, best first
    scores = np.zeros(num_items)
    scores[order] = (num_items - 1 - np.arange(num_items - 1)) / num_items
    return scores


def prefix_pairs(windows: Windows, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(row, item)`` int64 ``[p]`` of every prefix event of windows ``rows``; row = position in
    ``rows``."""
    begin, end = windows.prefix_begin[rows], windows.prefix_end[rows]
    row = np.repeat(np.arange(len(rows), dtype=np.int64), end - begin)
    return row, windows.track_items[ranges(begin, end)].astype(np.int64)


class Baseline:
    """A fitted baseline: ``fit`` on train, then ``score`` evaluation windows as dense ``[B, V]``
    matrices."""

    name = "baseline"

    def __init__(self):
        self.fp_aware = False
        self.num_items = 0

    @property
    def context(self) -> str:
        """The evaluation-window context this baseline reads (see :func:`context_of`)."""
        return context_of(self.fp_aware)

    def fit(self, data: ProtocolData, *, fp_aware: bool = False) -> Baseline:
        """Learns from ``data``'s train split (positives only when ``fp_aware``); returns
        ``self``."""
        self.fp_aware = fp_aware
        self.num_items = len(data.items)
        self._fit(data, *train_events(data, fp_aware))
        return self

    def _fit(self, data: ProtocolData, row_splits: np.ndarray, items: np.ndarray) -> None:
        """Fits on the train sessions ``(row_splits [n + 1], items [e])`` (positives only when
        FP-aware)."""
        raise NotImplementedError

    def score_rows(self, windows: Windows, rows: np.ndarray) -> np.ndarray:
        """float32 ``[len(rows), V]``: the score of every item for windows ``rows``."""
        raise NotImplementedError

    def score(
        self, windows: Windows, batch_size: int = DEFAULT_BATCH_SIZE
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yields ``(scores float32 [B, V], targets int32 [B])`` over ``windows`` in order.

        ``windows`` must have this baseline's :attr:`context` (the prefix it was fitted for).
        """
        for start in range(0, len(windows), batch_size):
            rows = np.arange(start, min(start + batch_size, len(windows)))
            yield self.score_rows(windows, rows), windows.targets[rows]


class POP(Baseline):
    """Global popularity: every window scores the items by :func:`popularity_order`."""

    name = "pop"

    def _fit(self, data, row_splits, items):
        self.popularity = popularity_order(data).astype(np.float32)

    def score_rows(self, windows, rows):
        return np.broadcast_to(self.popularity, (len(rows), self.num_items)).copy()


class SPOP(Baseline):
    """Session popularity: ``score[i]`` = count of ``i`` in the prefix + its
    :func:`popularity_order` score (below 1, so it only orders items of the same prefix count).

    With this order (PROTOCOL §5b) S-POP reproduces §6's MRR@20 on the Spotify sample: 7.79 with
    every event in the prefix, 6.06 with positives only. FP-awareness is in the prefix.
    """

    name = "spop"

    def _fit(self, data, row_splits, items):
        self.order = popularity_order(data)

    def score_rows(self, windows, rows):
        row, item = prefix_pairs(windows, rows)
        counts = np.bincount(row * self.num_items + item, minlength=len(rows) * self.num_items)
        return (counts.reshape(len(rows), self.num_items) + self.order[None, :]).astype(np.float32)


class SKNN(Baseline):
    """Session-based kNN over train sessions as item sets.

    For a prefix with item set ``P``: candidates are the ``sample_size`` most recent train sessions
    (train is chronological, so the highest indices) sharing an item with ``P``; their similarity is
    cosine ``|P ∩ S| / sqrt(|P| |S|)``; the ``k`` most similar (ties: the more recent) are the
    neighbours, and ``score[i]`` = sum of the similarities of the neighbours containing ``i``.
    Items no neighbour contains get ``pop[i] / (max pop + 1) - 1`` (< 0): ranked below every
    scored item, by popularity, rather than all tied at 0 (ties count in the target's favour).
    """

    name = "sknn"

    def __init__(self, k: int = 100, sample_size: int = 500):
        super().__init__()
        self.k = k
        self.sample_size = sample_size

    def _fit(self, data, row_splits, items):
        num_sessions = len(row_splits) - 1
        session_of = np.repeat(np.arange(num_sessions, dtype=np.int64), np.diff(row_splits))
        pairs = np.unique(
            session_of * self.num_items + items
        )  # each session's item set, by session then item
        self.num_sessions = num_sessions
        sessions, set_items = pairs // self.num_items, pairs % self.num_items
        self.session_size = np.bincount(sessions, minlength=num_sessions)
        self.session_splits = np.concatenate([[0], np.cumsum(self.session_size)])
        self.session_items = set_items
        # Inverted index item -> sessions holding it, sessions ascending (a stable sort keeps
        # their order).
        order = np.argsort(set_items, kind="stable")
        self.item_splits = np.concatenate(
            [[0], np.cumsum(np.bincount(set_items, minlength=self.num_items))]
        )
        self.item_sessions = sessions[order]
        self.fallback = popularity_tiebreak(items, self.num_items) - 1.0

    def neighbours(
        self, windows: Windows, rows: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(row, session, similarity)`` ``[n]``: each window's ``k`` nearest train sessions."""
        row, item = prefix_pairs(windows, rows)
        prefix_set = np.unique(row * self.num_items + item)
        row, item = prefix_set // self.num_items, prefix_set % self.num_items
        prefix_size = np.bincount(row, minlength=len(rows))
        postings = ranges(self.item_splits[item], self.item_splits[item + 1])
        row_of_posting = np.repeat(row, self.item_splits[item + 1] - self.item_splits[item])
        # Overlap |P ∩ S| = number of prefix items whose postings hold S; sorted by row, then
        # session.
        keys, overlap = np.unique(
            row_of_posting * self.num_sessions + self.item_sessions[postings], return_counts=True
        )
        row, session = keys // self.num_sessions, keys % self.num_sessions
        recent = (
            np.searchsorted(row, row, side="right") - 1 - np.arange(len(row)) < self.sample_size
        )
        row, session, overlap = row[recent], session[recent], overlap[recent]
        similarity = overlap / np.sqrt(prefix_size[row] * self.session_size[session])
        order = np.lexsort((-session, -similarity, row))
        row, session, similarity = row[order], session[order], similarity[order]
        nearest = np.arange(len(row)) - np.searchsorted(row, row, side="left") < self.k
        return row[nearest], session[nearest], similarity[nearest]

    def score_rows(self, windows, rows):
        row, session, similarity = self.neighbours(windows, rows)
        lengths = self.session_size[session]
        items = self.session_items[
            ranges(self.session_splits[session], self.session_splits[session + 1])
        ]
        scores = np.bincount(
            np.repeat(row, lengths) * self.num_items + items,
            weights=np.repeat(similarity, lengths),
            minlength=len(rows) * self.num_items,
        ).reshape(len(rows), self.num_items)
        return np.where(scores > 0, scores, self.fallback[None, :]).astype(np.float32)


BASELINES = {"pop": POP, "spop": SPOP, "sknn": SKNN}


def evaluate_scores(batches, ks=KS) -> dict[str, float]:
    """PROTOCOL §5 metrics (percent) over an iterable of ``(scores [B, V], targets [B])`` batches.

    Each batch is ranked by :func:`ranking_metrics_numpy`; batch means are combined weighted by
    batch size, which equals ranking all rows at once.
    """
    totals = dict.fromkeys(metric_keys(ks), 0.0)
    count = 0
    for scores, targets in batches:
        batch = ranking_metrics_numpy(scores, targets, ks)
        for key in totals:
            totals[key] += batch[key] * len(targets)
        count += len(targets)
    return {key: total / max(count, 1) for key, total in totals.items()}


def evaluate_baseline(
    name: str,
    data: ProtocolData,
    split: str = "test",
    fp_aware: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    *,
    skip_metrics: bool = False,
    **options,
) -> dict[str, float]:
    """Fits baseline ``name`` on train and returns its 15 metrics (percent) on ``split``'s windows;
    with ``skip_metrics`` also PROTOCOL §5b's over the split's skip windows.

    ``options`` go to the baseline's constructor (e.g. ``k`` / ``sample_size`` of SKNN).
    """
    baseline = BASELINES[name](**options).fit(data, fp_aware=fp_aware)
    windows = data.evaluation_windows(split, context=baseline.context)
    results = evaluate_scores(baseline.score(windows, batch_size))
    if skip_metrics:
        skips = data.skip_windows(split, context=baseline.context)
        results.update(
            metrics.skip_metrics(evaluate_scores(baseline.score(skips, batch_size)), results)
        )
    return results
