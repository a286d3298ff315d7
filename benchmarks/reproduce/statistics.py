"""Numbers computed from collected cells: means and stds over seeds, paired gaps between cells,
optimizer steps, and the λ x m points compared on their common seeds."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from benchmarks.reproduce.grid import GRID_GROUPS


def mean_std(values: list[dict]) -> tuple[dict, dict]:
    """Per-key mean and sample std (0 for a single value) of a list of metric dicts."""
    keys = values[0].keys()
    stacked = {k: np.array([v[k] for v in values], dtype=np.float64) for k in keys}
    return (
        {k: round(float(a.mean()), 4) for k, a in stacked.items()},
        {k: round(float(a.std(ddof=1)) if len(a) > 1 else 0.0, 4) for k, a in stacked.items()},
    )


def mean_steps(result: dict) -> float | None:
    """Mean optimizer steps per run of a cell (``None`` without a training record)."""
    runs = list(result.get("training", {}).values())
    return float(np.mean([t["steps"] for t in runs])) if runs else None


def runs_at_cap(results: dict) -> tuple[int, int]:
    """``(runs whose best validation epoch was the last one trained, runs)`` of the grid's trained
    cells: how many were still improving when the epoch cap stopped them."""
    at_cap = total = 0
    for r in results.values():
        runs = list(r.get("training", {}).values())
        if not runs or r["group"] not in GRID_GROUPS:
            continue
        at_cap += sum(t["best_epoch"] == t["epochs"] for t in runs)
        total += len(runs)
    return at_cap, total


def trained_cells(results: dict) -> list[dict]:
    """The collected cells of trained models, in table order (everything but the baselines)."""
    return [r for r in results.values() if r["backbone"] != "baselines"]


def trained_backbones(results: dict) -> list[str]:
    """The backbones with a collected cell, in table order."""
    return list(dict.fromkeys(r["backbone"] for r in trained_cells(results)))


class PairedGap(NamedTuple):
    """``a - b`` averaged over the seeds both cells ran, and in how many of those seeds ``a`` was
    ahead.

    Paired, so that a cell with one seed is not set against another's mean over three while seeds
    are partial. "ahead in 1 of 1 seeds" is no evidence of a difference; "3 of 3" is the most three
    seeds can show.
    """

    gap: float
    ahead: int
    seeds: int

    @property
    def ahead_in(self) -> str:
        return f"{self.ahead} of {self.seeds} seeds"


def paired_gap(a: dict, b: dict, key: str) -> PairedGap | None:
    """The :class:`PairedGap` of collected cell ``a`` over ``b`` on metric ``key``; None if they
    share no seed.

    A hand-run ``--seeds 3 --cells x`` leaves ``x`` with nothing to pair against; the report then
    says so (:func:`no_seed_in_common`) for that comparison and goes on with the rest.
    """
    common = sorted(set(a["seeds"]) & set(b["seeds"]))
    if not common:
        return None
    gaps = [a["seeds"][s][key] - b["seeds"][s][key] for s in common]
    return PairedGap(sum(gaps) / len(gaps), sum(g > 0 for g in gaps), len(gaps))


def no_seed_in_common(a: dict, b: dict) -> str:
    """Why ``a`` and ``b`` are not compared, and how to make them comparable."""
    return (
        f"{a['label']} (seeds {', '.join(sorted(a['seeds']))}) and {b['label']} "
        f"(seeds {', '.join(sorted(b['seeds']))}) share no seed, so they are not compared; "
        "run both at a common --seeds value"
    )


def compared(a: dict, b: dict, key: str, describe) -> str:
    """``describe(gap)`` of the :class:`PairedGap` of ``a`` over ``b`` on ``key``, or why they are
    not compared."""
    gap = paired_gap(a, b, key)
    return no_seed_in_common(a, b) if gap is None else describe(gap)


class SweepPoints(NamedTuple):
    """The λ x m points' best validation MRR@20: ``per_seed`` ``{(λ, m): {seed: value}}``, the
    seeds ``common`` to every point, and ``by_point`` ``{(λ, m): mean over the common seeds}``."""

    per_seed: dict
    common: set
    by_point: dict


def sweep_points(results: dict) -> SweepPoints:
    """The :class:`SweepPoints` of the collected sweep cells and the main grid's default cell.

    Each point is the mean over the seeds every point ran, so the default (trained at every seed of
    the main grid) is not set against points that ran at one seed only.
    """
    per_seed = {}
    for name, r in results.items():
        in_sweep = r["group"] == "sweep" or name == "narm-fp-adametric"
        if in_sweep and r.get("best_validation_mrr@20"):
            method = r["config"]["method"]
            per_seed[(method["fp_lambda"], method["margin"])] = r["best_validation_mrr@20"]
    common = set.intersection(*(set(v) for v in per_seed.values())) if per_seed else set()
    by_point = {
        point: float(np.mean([v[seed] for seed in common]))
        for point, v in per_seed.items()
        if common
    }
    return SweepPoints(per_seed, common, by_point)
