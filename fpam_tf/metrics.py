"""Full-ranking metrics of PROTOCOL §5: HR@K, MRR@K, NDCG@K for K in KS, in percent; and §5b's
skip metrics.

rank = 1 + number of items (column 0, the padding index, excluded) whose score is strictly
greater than the target's score. HR@K = mean(rank <= K), MRR@K = mean(1/rank if rank <= K),
NDCG@K = mean(1/log2(rank + 1) if rank <= K).

§5b ranks the same way over skip windows (target = an item the user skipped): SkipHR@K and
SkipMRR@K, lower is better, and the separation HR@K - SkipHR@K, higher is better. They are the
same streaming code run on other windows; :func:`skip_metrics` names its results.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import keras
import numpy as np
from keras import ops

from fpam_tf.scoring import chunk_entries

KS = (5, 10, 20, 50, 100)
METRIC_NAMES = ("hr", "mrr", "ndcg")
SELECTION_METRIC = "mrr@20"  # PROTOCOL §5: model selection on validation MRR@20.
# PROTOCOL §5b: HR / MRR over skip windows, and HR@K - SkipHR@K. Reported, never selected on.
SKIP_METRIC_NAMES = ("skiphr", "skipmrr")
SEPARATION = "separation"
_ROW_LABELS = {
    "hr": "HR",
    "mrr": "MRR",
    "ndcg": "NDCG",
    "skiphr": "SkipHR (lower is better)",
    "skipmrr": "SkipMRR (lower is better)",
    SEPARATION: "HR - SkipHR",
}


def metric_keys(ks: Sequence[int] = KS) -> list[str]:
    """``["hr@5", "mrr@5", "ndcg@5", "hr@10", ...]``: the result keys, in order."""
    return [f"{name}@{k}" for k in ks for name in METRIC_NAMES]


def target_ranks(logits, targets):
    """int32 [B]: 1 + the number of items (column 0 excluded) scored strictly above the target.

    logits [B, V] (any float dtype, compared in float32), targets int [B] (in 1..V-1).
    """
    logits = ops.cast(logits, "float32")
    targets = ops.reshape(ops.cast(targets, "int32"), (-1, 1))
    target_score = ops.take_along_axis(logits, targets, axis=1)[:, 0]
    return 1 + _count_above(logits, target_score, 0)


def chunked_target_ranks(score_block, bounds, targets):
    """:func:`target_ranks` of scores given a block of items at a time, never all at once.

    ``score_block(start, stop, dependency)`` returns the float32 scores [B, stop - start] of the
    items ``start..stop - 1``, computed once ``dependency`` is (None: any time; see
    :func:`fpam_tf.scoring.ordered_block`); ``bounds`` are the blocks
    (:func:`fpam_tf.scoring.chunk_bounds`). One block is scored once; several are scored twice,
    one after the other: first for each target's score (taken from the same product as the items
    it is compared with, so a target never outranks itself), then to count the items above it.
    """
    if len(bounds) == 1:
        return target_ranks(score_block(*bounds[0], None), targets)
    targets = ops.reshape(ops.cast(targets, "int32"), (-1,))
    target_score = ops.zeros(ops.shape(targets), "float32")
    for start, stop in bounds:
        scores = score_block(start, stop, target_score)
        target_score = chunk_entries(scores, targets, start, stop, target_score)
    ranks = ops.ones(ops.shape(targets), "int32")
    for start, stop in bounds:
        ranks = ranks + _count_above(score_block(start, stop, ranks), target_score, start)
    return ranks


def _count_above(scores, target_score, start: int):
    """int32 [B]: how many of the items ``start..`` of ``scores`` [B, R] score strictly above
    ``target_score`` [B]; item 0 (padding) never counts."""
    if start == 0:
        scores = scores[:, 1:]
    return ops.sum(ops.cast(ops.greater(scores, target_score[:, None]), "int32"), axis=1)


def skip_metrics(
    skip_ranking: Mapping[str, object], ranking: Mapping[str, object], ks: Sequence[int] = KS
) -> dict[str, float]:
    """PROTOCOL §5b from two results of the §5 code: ``skip_ranking`` over skip windows,
    ``ranking`` over the evaluation windows of the same split.

    Returns ``{"skiphr@K", "skipmrr@K", "separation@K"}`` (percent) for K in ``ks``: HR@K and
    MRR@K of the skip windows, and ``ranking``'s HR@K minus SkipHR@K.
    """
    out = {}
    for k in ks:
        skip_hr = float(np.asarray(skip_ranking[f"hr@{k}"]))
        out[f"skiphr@{k}"] = skip_hr
        out[f"skipmrr@{k}"] = float(np.asarray(skip_ranking[f"mrr@{k}"]))
        out[f"{SEPARATION}@{k}"] = float(np.asarray(ranking[f"hr@{k}"])) - skip_hr
    return out


@keras.saving.register_keras_serializable(package="fpam_tf")
class RankingMetrics(keras.metrics.Metric):
    """Streaming HR@K / MRR@K / NDCG@K (PROTOCOL §5) over batches, in percent.

    ``update_state(y_true int [B], y_pred logits [B, V], sample_weight [B] or None)``: ranks every
    row's target over the whole vocabulary (column 0 excluded, see :func:`target_ranks`; a model
    that scores its table in blocks ranks with :func:`chunked_target_ranks` and calls
    ``update_ranks``) and
    accumulates a weighted count and weighted sums of hit, 1/rank and 1/log2(rank+1) (cut at K)
    in float32 variables, whatever the dtype policy. A sample weight of 0 excludes a row
    (e.g. batch padding). ``result()`` -> dict ``{"hr@5", "mrr@5", "ndcg@5", ..., "ndcg@100"}``
    of float32 scalars in percent (0 before any weighted row).
    """

    def __init__(self, ks: Sequence[int] = KS, name: str = "ranking", **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(name=name, **kwargs)
        self.ks = tuple(int(k) for k in ks)
        self.count = self.add_variable(shape=(), initializer="zeros", dtype="float32", name="count")
        self.sums = self.add_variable(
            shape=(len(METRIC_NAMES) * len(self.ks),),
            initializer="zeros",
            dtype="float32",
            name="sums",
        )

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.update_ranks(target_ranks(y_pred, y_true), sample_weight)

    def update_ranks(self, ranks, sample_weight=None):
        """Accumulates rows whose target ranks (int [B], 1 = top) are already known."""
        rank_f = ops.cast(ranks, "float32")
        if sample_weight is None:
            weight = ops.ones_like(rank_f)
        else:
            weight = ops.reshape(ops.cast(sample_weight, "float32"), (-1,))
        recip = 1.0 / rank_f
        gain = 1.0 / (ops.log(rank_f + 1.0) / np.log(2.0))
        parts = []
        for k in self.ks:
            hit = ops.cast(ops.less_equal(ranks, k), "float32") * weight
            parts += [ops.sum(hit), ops.sum(hit * recip), ops.sum(hit * gain)]
        self.sums.assign_add(ops.stack(parts))
        self.count.assign_add(ops.sum(weight))

    def result(self):
        sums = ops.cast(self.sums, "float32")
        count = ops.cast(self.count, "float32")
        values = ops.where(count > 0, 100.0 * sums / ops.maximum(count, 1e-12), 0.0)
        return {key: values[i] for i, key in enumerate(metric_keys(self.ks))}

    def reset_state(self):
        self.count.assign(ops.zeros((), "float32"))
        self.sums.assign(ops.zeros((len(METRIC_NAMES) * len(self.ks),), "float32"))

    def get_config(self):
        config = super().get_config()
        config.update(ks=list(self.ks))
        return config


def ranking_metrics_numpy(
    scores: np.ndarray,
    targets: np.ndarray,
    ks: Sequence[int] = KS,
    sample_weight: np.ndarray | None = None,
) -> dict[str, float]:
    """NumPy reference of :class:`RankingMetrics` (float64): ``{"hr@5": ..., ...}`` in percent.

    scores [B, V] (column 0 = padding, excluded), targets int [B]; sample_weight [B] or None.
    """
    scores = np.asarray(scores, dtype=np.float64)
    targets = np.asarray(targets).reshape(-1).astype(np.int64)
    weight = (
        np.ones(len(targets))
        if sample_weight is None
        else np.asarray(sample_weight, dtype=np.float64).reshape(-1)
    )
    target_score = scores[np.arange(len(targets)), targets][:, None]
    ranks = 1 + (scores[:, 1:] > target_score).sum(axis=1)
    total = weight.sum()
    out = {}
    for k in ks:
        hit = (ranks <= k).astype(np.float64)
        values = {"hr": hit, "mrr": hit / ranks, "ndcg": hit / np.log2(ranks + 1.0)}
        for name in METRIC_NAMES:
            out[f"{name}@{k}"] = (
                float(100.0 * (weight * values[name]).sum() / total) if total > 0 else 0.0
            )
    return out


def format_markdown_table(
    results: Mapping[str, object],
    ks: Sequence[int] = KS,
    title: str | None = None,
    decimals: int = 2,
) -> str:
    """PROTOCOL §5's table as Markdown: rows HR / MRR / NDCG, columns @5 ... @100 (percent).

    ``results`` maps ``"hr@5"``-style keys to numbers (floats, NumPy or backend scalars); a
    missing key renders as ``-``. When ``results`` has §5b's keys (``"skiphr@5"``, ...), their
    rows follow. ``title`` (optional) becomes a ``### title`` line above.
    """
    lines = []
    if title:
        lines += [f"### {title}", ""]
    lines.append("| metric (%) | " + " | ".join(f"@{k}" for k in ks) + " |")
    lines.append("| --- | " + " | ".join("---:" for _ in ks) + " |")
    names = list(METRIC_NAMES)
    if any(key.startswith(SKIP_METRIC_NAMES) for key in results):
        names += [*SKIP_METRIC_NAMES, SEPARATION]
    for name in names:
        cells = []
        for k in ks:
            value = results.get(f"{name}@{k}")
            cells.append("-" if value is None else f"{float(np.asarray(value)):.{decimals}f}")
        lines.append(f"| {_ROW_LABELS[name]} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
