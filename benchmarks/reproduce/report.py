"""The report: each dataset's section with its sentences, and the files written
(``<out>/<dataset>.json``, ``.md``, ``_mrr20.png`` and ``docs/REPRODUCTION.md``)."""

from __future__ import annotations

import os
from pathlib import Path

from benchmarks.reproduce import peers
from benchmarks.reproduce.findings import agreement, gap_sources
from benchmarks.reproduce.grid import GRID_GROUPS
from benchmarks.reproduce.statistics import runs_at_cap, sweep_points, trained_cells
from benchmarks.reproduce.tables import (
    ablation_table,
    bar_chart,
    convergence_table,
    paper_ablation_table,
    paper_table2,
    peer_table,
    sweep_points_table,
    table2,
    weight_table,
)
from fpam_tf.atomic import write_json_atomic, write_text_atomic
from fpam_tf.methods import DEFAULT_LAMBDA, DEFAULT_MARGIN


def convergence(results: dict) -> tuple[str, str]:
    """Per trained cell: optimizer steps, best epoch of each seed and the last epoch's validation
    MRR@20 gain; and a sentence counting the runs whose best epoch was the last one trained (still
    improving at the cap)."""
    at_cap, total = runs_at_cap(results)
    sentence = (
        (
            f"{at_cap} of {total} runs had their best validation epoch at the last epoch "
            "trained (still improving when the epoch cap stopped them)."
        )
        if total
        else ""
    )
    return convergence_table(results), sentence


def sweep_table(results: dict) -> tuple[str, str]:
    """Validation MRR@20 of the λ x m grid, and a sentence on where the default stands.

    Each point is the mean over the seeds every point ran, so the default (trained at every seed of
    the main grid) is not set against points that ran at one seed only.
    """
    points = sweep_points(results)
    table, by_point, common = sweep_points_table(points), points.by_point, points.common
    default = by_point.get((DEFAULT_LAMBDA, DEFAULT_MARGIN))
    if len(by_point) < 2 or default is None:
        return table, (
            "The sweep has not been run yet (`--sweep`); the defaults are not justified by it."
        )
    (best_lam, best_m), best = max(by_point.items(), key=lambda item: item[1])
    spread = (
        f" All {len(by_point)} lie within {best - min(by_point.values()):.2f} of each other "
        f"(seeds {', '.join(sorted(common))})."
    )
    default_by_seed = points.per_seed[(DEFAULT_LAMBDA, DEFAULT_MARGIN)]
    if len(default_by_seed) > len(common):
        # the seed-to-seed noise the differences between points compete with
        spread += (
            f" For scale, the default alone moves {min(default_by_seed.values()):.2f} to "
            f"{max(default_by_seed.values()):.2f} over seeds "
            f"{', '.join(sorted(default_by_seed))}."
        )
    if (best_lam, best_m) == (DEFAULT_LAMBDA, DEFAULT_MARGIN):
        sentence = (
            f"The default λ = {DEFAULT_LAMBDA:g}, m = {DEFAULT_MARGIN:g} has the best "
            f"validation MRR@20 ({default:.2f}) of the {len(by_point)} points run." + spread
        )
    else:
        sentence = (
            f"The best validation MRR@20 of the {len(by_point)} points run is "
            f"λ = {best_lam:g}, m = {best_m:g} ({best:.2f}); the default "
            f"λ = {DEFAULT_LAMBDA:g}, m = {DEFAULT_MARGIN:g} reaches {default:.2f} "
            f"({default - best:+.2f})." + spread
        )
    return table, sentence


def not_found(table: str) -> str:
    """The sentence the report prints where the paper's ``table`` file is absent."""
    path = peers.shown_path(peers.PAPER_DIR / table)
    return f"The paper's figures are not shown here: `{path}` was not found.\n"


def paper_ablation_section(results: dict) -> str:
    """The paper's Table 3 (Spotify) beside our ablation cells, @100."""
    paper = peers.paper_table3("Spotify")
    if paper is None:
        return not_found("table3.tsv")
    return "The paper's Table 3 (Spotify) beside ours, @100:\n\n" + paper_ablation_table(
        results, paper
    )


def peer_section(results: dict) -> str:
    """Ours beside the paper's Table 2 and the peer framework's figures, Spotify only."""
    peer = peers.peer_spotify()
    text = (
        "Peer framework on the same windows ("
        + peer.note
        + ")\n\n"
        + peer_table(results, peer.cells)
        + "\n"
    )
    paper = peers.paper_table2("Spotify")
    if paper is None:
        return text + not_found("table2.tsv")
    return (
        text
        + "The paper's Table 2 (Spotify) beside ours:\n\n"
        + paper_table2(results, paper)
        + "\nThe paper's Spotify data is the full MSSD under its own preprocessing, not this "
        "40k-session sample, so absolute figures are not expected to match; the orderings are "
        "what can be compared.\n"
    )


def dataset_section(dataset: str, summary: dict, out_dir: Path, docs_path: Path) -> str:
    """The report's section of one dataset."""
    results = summary["cells"]
    figure = os.path.relpath(out_dir / f"{dataset}_mrr20.png", docs_path.parent)
    sweep, sweep_sentence = sweep_table(results)
    converged, converged_sentence = convergence(results)
    trained = trained_cells(results)
    # The sweep's points apart: `make reproduce` runs them at seed 0 only.
    grid_cells = [r for r in trained if r["group"] in GRID_GROUPS]
    complete = sum(len(r["seeds"]) == len(summary["seeds"]) for r in grid_cells)
    off_default = len(trained) - len(grid_cells)
    ablation = [ablation_table(results)]
    if dataset == "spotify":
        ablation.append(paper_ablation_section(results))
    parts = [
        f"## {dataset}\n",
        f"Epoch cap {summary['epochs']}, seeds {', '.join(map(str, summary['seeds']))} (requested "
        f"or on disk; {complete} of {len(grid_cells)} grid cells have all of them"
        + (
            f", and {off_default} off-default λ x m point(s) have the seeds --sweep ran"
            if off_default
            else ""
        )
        + "; the `seeds` column counts each cell's), "
        f"{summary['training_seconds']:.0f} s of training in all cells (this invocation's wall "
        f"time: {summary['wall_seconds']:.0f} s). Test split, percent, mean ± std over seeds "
        "(PROTOCOL §5); a difference between two cells in the sentences below is the mean over the "
        "seeds both ran.\n",
        "### Table 2 shape\n",
        table2(results, groups=("main",)),
        f"![test MRR@20 per backbone and method]({figure})\n",
        "### Ablation (NARM, the paper's Table 3 shape)\n",
        *ablation,
        "### FP target weight (NARM, FP-AdaMetric, context all), and the same without the FP "
        "term\n",
        weight_table(results, summary["fp_target_weights"]),
        "### λ and m (NARM, FP-AdaMetric, validation MRR@20, mean over the seeds every point "
        "ran)\n",
        sweep,
        sweep_sentence + "\n",
        "### Convergence at the epoch cap\n",
        converged,
        converged_sentence + "\n",
        "### What agrees and what does not\n",
        "\n".join(f"- {s}" for s in agreement(results)) or "- (no cells yet)",
        "",
        "### Where the gap between FP-Simple and Vanilla comes from (test MRR@20)\n",
        "\n".join(f"- {s}" for s in gap_sources(results)) or "- (no cells yet)",
        "",
    ]
    if dataset == "spotify":
        parts += ["### Beside the paper and a peer framework\n", peer_section(results)]
    return "\n".join(parts) + "\n"


def write_dataset_outputs(dataset: str, summary: dict, out_dir: Path) -> None:
    """``<out>/<dataset>.json``, ``.md`` and ``_mrr20.png``."""
    write_json_atomic(out_dir / f"{dataset}.json", summary)
    title = (
        f"# {dataset}: test metrics (percent), epoch cap {summary['epochs']}, "
        f"seeds {summary['seeds']}\n\n"
    )
    write_text_atomic(
        out_dir / f"{dataset}.md", title + table2(summary["cells"], groups=(*GRID_GROUPS, "sweep"))
    )
    bar_chart(summary["cells"], out_dir / f"{dataset}_mrr20.png", f"{dataset}: test MRR@20")


def write_report(summaries: dict, out_dir: Path, docs_path: Path, command: str) -> None:
    """``docs/REPRODUCTION.md`` from the per-dataset summaries."""
    header = (
        "# Reproduction of FPAdaMetric (Jeong et al., AAAI 2022)\n\n"
        "Generated by `python -m benchmarks.reproduce`; do not edit by hand. Every figure below is "
        "read from the run directories, and every sentence of the *what agrees* sections is "
        "computed from them.\n\n"
        f"Last written by `{command}`; every invocation rewrites it from every finished run on "
        "disk, and `--report-only` does so without training.\n\n"
        "Methods: Vanilla (all events, FP targets kept), FP-Simple (positives only), FP-Metric / "
        "FP-AdaMetric (FP-Simple + the FP metric term, mean / adaptive), `context all` = every "
        "event as input with a learned skip flag and positives-only targets; w = cross-entropy "
        "weight of FP targets. Baselines: POP, S-POP, SKNN (k = 100, 500 most recent candidate "
        "sessions); FP-aware baselines use positives only.\n\n"
    )
    sections = [
        dataset_section(name, summary, out_dir, docs_path) for name, summary in summaries.items()
    ]
    write_text_atomic(docs_path, header + "\n".join(sections))
