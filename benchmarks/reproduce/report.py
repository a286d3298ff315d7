"""The report: each dataset's section with its sentences, and the files written
(``<out>/<dataset>.json``, ``.md``, ``_mrr20.png`` and ``docs/REPRODUCTION.md``)."""

from __future__ import annotations

import os
from pathlib import Path

from benchmarks.reproduce import peers
from benchmarks.reproduce.findings import against_vanilla, agreement, gap_sources
from benchmarks.reproduce.grid import (
    DEFAULT_RULE,
    PAPER_FP_SIMPLE_MRR20,
    RECIPE_RULE,
    VARIANT_DATASETS,
    Recipe,
    recipe_cells,
)
from benchmarks.reproduce.statistics import RuleCheck, runs_at_cap, trained_cells
from benchmarks.reproduce.tables import (
    ablation_table,
    bar_chart,
    convergence_table,
    default_rule_table,
    paper_ablation_table,
    paper_table2,
    peer_table,
    recipe_table,
    skip_table,
    table2,
    variant_table,
)
from fpam_tf.atomic import write_json_atomic, write_text_atomic


def convergence(results: dict, cap: int) -> tuple[str, str]:
    """Per trained cell: best epochs, epochs trained, how the runs stopped, their cost; and a
    sentence counting the runs the epoch cap stopped before early stopping did (target: none)."""
    at_cap, total = runs_at_cap(results, cap)
    sentence = (
        f"{at_cap} of {total} runs reached the epoch cap of {cap} before early stopping ended them "
        "(target: none). The study's runs trained on the machines of several sessions (the CPU "
        "column): training minutes compare only between runs on the same CPU."
        if total
        else ""
    )
    return convergence_table(results), sentence


def recipe_section(summary: dict) -> str:
    """The candidates, the rule and its choice."""
    results = summary["cells"]
    candidates = recipe_cells(tuple(Recipe(**settings) for settings in summary["recipes"]))
    chosen = None if summary["recipe"] is None else Recipe(**summary["recipe"])
    outcome = (
        f"Chosen: **{chosen.label}**." if chosen else "Not chosen yet: a candidate is unfinished."
    )
    return (
        f"Rule, fixed before the candidates ran: {RECIPE_RULE}\n\n"
        + recipe_table(results, candidates, chosen)
        + f"\n{outcome}\n"
    )


def default_section(summary: dict) -> str:
    """The default rule, each NARM configuration's check, and the outcome."""
    checks = [RuleCheck(**c) for c in summary["default_checks"]]
    results = summary["cells"]
    default = summary["default"]
    outcome = (
        "No configuration passes: the CLI default is `vanilla`."
        if default == "vanilla"
        else f"`{results[default]['label']}` passes with the largest gain: it is the CLI default."
    )
    table = default_rule_table(checks, results) if checks else "(no NARM cells yet)\n"
    return f"Rule, fixed before the converged runs: {DEFAULT_RULE}\n\n{table}\n{outcome}\n"


def variants_section(results: dict) -> str:
    """The protocol variants' table and what it says about the paper's FP-Simple figure."""
    variants = {n: r for n, r in results.items() if r["group"] == "variants" and "0" in r["seeds"]}
    intro = (
        f"Can a variant of the protocol reproduce the paper's Spotify FP-Simple MRR@20 of "
        f"{PAPER_FP_SIMPLE_MRR20:.2f} (its Vanilla: 16.16)? NARM, seed 0, the chosen recipe; each "
        "variant trains and evaluates on its windows or splits "
        "(`fpam_tf/protocol_variants.py` says what each does).\n\n"
    )
    if not variants:
        return intro + "(not run yet)\n"
    closest = min(
        variants.values(), key=lambda r: abs(r["seeds"]["0"]["mrr@20"] - PAPER_FP_SIMPLE_MRR20)
    )
    value = closest["seeds"]["0"]["mrr@20"]
    verdict = (
        "reproduces it"
        if abs(value - PAPER_FP_SIMPLE_MRR20) <= 5
        else "does not reproduce it; none of the variants run does"
    )
    return (
        intro
        + variant_table(results)
        + f"\nClosest: {closest['label']}, MRR@20 {value:.2f}: it {verdict} (within 5 points "
        "counts as reproducing).\n"
    )


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
    converged, converged_sentence = convergence(results, summary["epoch_cap"])
    trained = [r for r in trained_cells(results) if r["group"] == "main"]
    ablation = [ablation_table(results)]
    if dataset == "spotify":
        ablation.append(paper_ablation_section(results))
    bullets = {
        "against": against_vanilla(results),
        "agreement": agreement(results),
        "gaps": gap_sources(results),
    }
    parts = [
        f"## {dataset}\n",
        f"Epoch cap {summary['epoch_cap']} with early stopping on validation MRR@20 (patience "
        f"{summary['patience']}); seeds {', '.join(map(str, summary['seeds']))} requested or on "
        f"disk ({len(trained)} main cells collected; the `seeds` column counts each cell's), "
        f"{summary['training_seconds'] / 3600:.1f} h of training in all cells (this invocation's "
        f"wall time: {summary['wall_seconds']:.0f} s). Test split, percent, mean ± std over seeds "
        "(PROTOCOL §5, and §5b for the skip columns); a difference between two cells below is "
        "paired over the seeds both ran.\n",
        "### Training recipe\n",
        recipe_section(summary),
        "### Table 2 shape\n",
        table2(results),
        f"![test MRR@20 per backbone and method]({figure})\n",
        "### Liked items and skipped items (PROTOCOL §5b)\n",
        "SkipHR@20: how often an item the user went on to skip is in the top 20 (lower is better); "
        "HR@20 - SkipHR@20: how well the ranking separates what is kept from what is skipped.\n",
        skip_table(results),
        "### Against Vanilla (test, paired; better or worse only beyond 2 standard errors)\n",
        "\n".join(f"- {s}" for s in bullets["against"]) or "- (no cells yet)",
        "",
        "### The CLI default\n",
        default_section(summary),
        "### Ablation (NARM, the paper's Table 3 shape)\n",
        *ablation,
        *(
            ["### Protocol variants\n", variants_section(results)]
            if dataset in VARIANT_DATASETS
            else []
        ),
        "### Convergence and cost\n",
        converged,
        converged_sentence + "\n",
        "### What agrees with the paper and what does not\n",
        "\n".join(f"- {s}" for s in bullets["agreement"]) or "- (no cells yet)",
        "",
        "### FP-Simple against Vanilla (test MRR@20)\n",
        "\n".join(f"- {s}" for s in bullets["gaps"]) or "- (no cells yet)",
        "",
    ]
    if dataset == "spotify":
        parts += ["### Beside the paper and a peer framework\n", peer_section(results)]
    if dataset == "yoochoose":
        parts.insert(
            2,
            "A side check on a second skip signal: Yoochoose clicks (session-rec's 100k sample), a "
            "click is an FP when the next click of its session follows within 30 s (dwell time; "
            "`fpam_tf/datasets/yoochoose.py` says why 30 s). A weak proxy for a skip: the paper "
            "has no figures for it.\n",
        )
    return "\n".join(parts) + "\n"


def write_dataset_outputs(dataset: str, summary: dict, out_dir: Path) -> None:
    """``<out>/<dataset>.json``, ``.md`` and ``_mrr20.png``."""
    write_json_atomic(out_dir / f"{dataset}.json", summary)
    title = (
        f"# {dataset}: test metrics (percent), early stopping (cap {summary['epoch_cap']}), "
        f"seeds {summary['seeds']}\n\n"
    )
    write_text_atomic(
        out_dir / f"{dataset}.md",
        title + table2(summary["cells"]) + "\n" + skip_table(summary["cells"]),
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
        "FP-AdaMetric (FP-Simple + the FP metric term, mean / adaptive); ours: FP-Unlikelihood "
        "(every event as input with a learned skip flag; FP targets pushed down by -log(1 - p) "
        "instead of dropped) and FP-SkipHead (Vanilla plus a skip head; items ranked by "
        "log P(item) + log P(not skipped | item)). `context all` = every event as input with a "
        "learned skip flag; w = cross-entropy weight of FP targets. Baselines: POP, S-POP, SKNN "
        "(k = 100, 500 most recent candidate sessions); FP-aware baselines use positives only.\n\n"
    )
    sections = [
        dataset_section(name, summary, out_dir, docs_path) for name, summary in summaries.items()
    ]
    write_text_atomic(docs_path, header + "\n".join(sections))
