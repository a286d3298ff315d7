"""Numbers computed from collected cells: means and stds over seeds, paired gaps between cells,
optimizer steps and convergence, and the two rules of the study (recipe, CLI default)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from benchmarks.reproduce.grid import (
    DEFAULT_RULE_SEEDS,
    RECIPE_MARGIN,
    Cell,
    Recipe,
)


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


def runs_at_cap(results: dict, cap: int) -> tuple[int, int]:
    """``(runs that trained ``cap`` epochs without early stopping, runs)`` of the trained cells:
    how many the epoch cap stopped instead of convergence. A run shown under two cells (the chosen
    recipe's) counts once."""
    at_cap = total = 0
    for r in trained_cells(results):
        runs = [t for t in r.get("training", {}).values() if not t.get("reused")]
        at_cap += sum(t["epochs"] >= cap and not t["early_stopped"] for t in runs)
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


def choose_recipe(results: dict, candidates: list[Cell]) -> Recipe | None:
    """The recipe :data:`~benchmarks.reproduce.grid.RECIPE_RULE` picks from the finished candidate
    cells (seed 0), or None while any candidate has not finished."""
    runs = {}
    for cell in candidates:
        result = results.get(cell.name, {})
        validation = result.get("best_validation_mrr@20", {}).get("0")
        training = result.get("training", {}).get("0")
        if validation is None or training is None:
            return None
        runs[cell] = (validation, training["best_epoch"])
    best = max(validation for validation, _ in runs.values())
    eligible = [
        cell for cell, (validation, _) in runs.items() if validation >= best - RECIPE_MARGIN
    ]
    return min(eligible, key=lambda cell: (runs[cell][1], cell.recipe.learning_rate)).recipe


class RuleCheck(NamedTuple):
    """One configuration judged by :data:`~benchmarks.reproduce.grid.DEFAULT_RULE` against
    Vanilla.

    ``gain``: mean paired validation MRR@20 gain over the common seeds; ``standard_error``: the
    sample std of the paired gains / sqrt(seeds) (None below two seeds); ``skip_gap``: mean paired
    validation SkipHR@20 difference (negative: fewer skipped items recommended); ``passes``.
    """

    name: str
    seeds: int
    gain: float
    standard_error: float | None
    skip_gap: float | None
    passes: bool


def paired_differences(a: dict, b: dict) -> np.ndarray:
    """float64 ``a[seed] - b[seed]`` over the seeds both have (``{seed: value}`` dicts), in seed
    order."""
    return np.array([a[seed] - b[seed] for seed in sorted(set(a) & set(b))], dtype=np.float64)


def standard_error(differences: np.ndarray) -> float | None:
    """The standard error of the mean of paired ``differences`` (sample std / sqrt(n)); None below
    two."""
    if len(differences) < 2:
        return None
    return float(differences.std(ddof=1) / np.sqrt(len(differences)))


def default_rule(results: dict, vanilla: str = "narm-vanilla") -> tuple[str, list[RuleCheck]]:
    """The CLI default the rule picks from NARM's main cells, and each candidate's check.

    A candidate is judged on the seeds it shares with Vanilla; with fewer than
    ``DEFAULT_RULE_SEEDS`` it cannot pass. Returns ``("vanilla", checks)`` when none passes, else
    the passing configuration's cell name with the largest gain.
    """
    reference = results.get(vanilla)
    checks = []
    if reference is None:
        return "vanilla", checks
    for name, r in results.items():
        if r["backbone"] != "narm" or r["group"] != "main" or name == vanilla:
            continue
        gains = paired_differences(r["best_validation_mrr@20"], reference["best_validation_mrr@20"])
        if not len(gains):
            continue
        error = standard_error(gains)
        seeds = set(r["best_validation_mrr@20"]) & set(reference["best_validation_mrr@20"])
        skips = paired_differences(
            {s: v["skiphr@20"] for s, v in r.get("validation", {}).items() if s in seeds},
            {s: v["skiphr@20"] for s, v in reference.get("validation", {}).items() if s in seeds},
        )
        skip_gap = float(skips.mean()) if len(skips) == len(gains) else None
        # bool(): numpy's comparisons give numpy booleans, which the JSON report cannot hold.
        passes = bool(
            len(gains) >= DEFAULT_RULE_SEEDS
            and error is not None
            and gains.mean() > 2 * error
            and skip_gap is not None
            and skip_gap < 0
        )
        checks.append(RuleCheck(name, len(gains), float(gains.mean()), error, skip_gap, passes))
    passing = [c for c in checks if c.passes]
    return (max(passing, key=lambda c: c.gain).name if passing else "vanilla"), checks
