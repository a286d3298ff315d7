"""Markdown tables of collected cells, ours beside the paper's and the peer's figures, and the bar
chart."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.reproduce.grid import (
    BACKBONE_LABELS,
    FP_TARGET_WEIGHTS,
    FP_TERM_CONTROL_WEIGHT,
    GRID_GROUPS,
    SWEEP_LAMBDAS,
    SWEEP_MARGINS,
    method_cell,
)
from benchmarks.reproduce.statistics import SweepPoints, mean_steps
from fpam_tf.metrics import KS, METRIC_NAMES

TABLE_KEYS = [f"{name}@{k}" for name in METRIC_NAMES for k in KS]
# The paper's Table 3 shape for NARM: (row label, cell name).
ABLATION_ROWS = (
    ("FP-AdaMetric", "narm-fp-adametric"),
    ("w/o adaptive module (= FP-Metric)", "narm-fp-metric"),
    ("w/o metric term (= FP-Simple)", "narm-fp-simple"),
    ("Vanilla", "narm-vanilla"),
)


def cell_value(result: dict, key: str) -> str:
    """``"mean ± std"`` of one metric (just the mean for a single run)."""
    mean, std = result["mean"][key], result["std"][key]
    return f"{mean:.2f}" if len(result["seeds"]) == 1 else f"{mean:.2f} ± {std:.2f}"


def table2(results: dict, groups=("main",)) -> str:
    """The paper's Table 2 shape: rows backbone x method, columns HR / MRR / NDCG @ 5, 10, 20, 50,
    100."""
    head = "| backbone | method | seeds | " + " | ".join(k.upper() for k in TABLE_KEYS) + " |"
    lines = [head, "| --- | --- | ---: | " + " | ".join("---:" for _ in TABLE_KEYS) + " |"]
    for r in results.values():
        if r["group"] in groups:
            backbone = BACKBONE_LABELS.get(r["backbone"], r["backbone"])
            seeds = "-" if r["backbone"] == "baselines" else len(r["seeds"])
            lines.append(
                f"| {backbone} | {r['label']} | {seeds} | "
                + " | ".join(cell_value(r, k) for k in TABLE_KEYS)
                + " |"
            )
    return "\n".join(lines) + "\n"


def small_table(
    rows: list[tuple[str, str]], results: dict, keys=("hr@20", "mrr@20", "ndcg@20")
) -> str:
    """Rows ``(label, cell name)`` x ``keys``; a cell without results shows ``-``."""
    lines = [
        "| | " + " | ".join(k.upper() for k in keys) + " |",
        "| --- | " + " | ".join("---:" for _ in keys) + " |",
    ]
    for label, name in rows:
        values = [cell_value(results[name], k) if name in results else "-" for k in keys]
        lines.append(f"| {label} | " + " | ".join(values) + " |")
    return "\n".join(lines) + "\n"


def ablation_table(results: dict) -> str:
    """The paper's Table 3 shape for NARM, from the main grid's cells."""
    return small_table(list(ABLATION_ROWS), results)


def weight_table(results: dict, weights=FP_TARGET_WEIGHTS) -> str:
    """NARM, FP-AdaMetric with context all, by FP target weight w (w = 0 is the plain context-all
    cell), and the no-FP-term control at the CLI default w."""
    rows = [("w = 0", "narm-fp-adametric-all")]
    rows += [
        (f"w = {w:g}", method_cell("narm", "fp-adametric", context="all", weight=w).name)
        for w in weights
    ]
    control = method_cell("narm", "fp-simple", context="all", weight=FP_TERM_CONTROL_WEIGHT)
    rows.append(
        (
            f"w = {FP_TERM_CONTROL_WEIGHT:g} without the FP term (FP-Simple, context all)",
            control.name,
        )
    )
    return small_table(rows, results)


def convergence_table(results: dict) -> str:
    """Per trained cell of the grid: optimizer steps, best epoch of each seed and the last epoch's
    validation MRR@20 gain."""
    lines = [
        "| backbone | method | steps per run | best epoch (per seed) | "
        "last epoch's validation MRR@20 gain |",
        "| --- | --- | ---: | --- | ---: |",
    ]
    for r in results.values():
        runs = list(r.get("training", {}).values())
        if not runs or r["group"] not in GRID_GROUPS:
            continue
        gains = [t["last_epoch_gain"] for t in runs if t["last_epoch_gain"] is not None]
        lines.append(
            f"| {BACKBONE_LABELS.get(r['backbone'], r['backbone'])} | {r['label']} | "
            f"{mean_steps(r):,.0f} | {', '.join(str(t['best_epoch']) for t in runs)} | "
            f"{f'{np.mean(gains):+.2f}' if gains else '-'} |"
        )
    return "\n".join(lines) + "\n"


def sweep_points_table(points: SweepPoints) -> str:
    """Validation MRR@20 of the λ x m points (rows λ, columns m), ``-`` where a point is
    missing."""
    lambdas = sorted(set(SWEEP_LAMBDAS) | {lam for lam, _ in points.per_seed})
    margins = sorted(set(SWEEP_MARGINS) | {m for _, m in points.per_seed})
    lines = [
        "| λ \\ m | " + " | ".join(f"{m:g}" for m in margins) + " |",
        "| --- | " + " | ".join("---:" for _ in margins) + " |",
    ]
    for lam in lambdas:
        values = [
            f"{points.by_point[(lam, m)]:.2f}" if (lam, m) in points.by_point else "-"
            for m in margins
        ]
        lines.append(f"| {lam:g} | " + " | ".join(values) + " |")
    return "\n".join(lines) + "\n"


def peer_table(results: dict, peer: dict) -> str:
    """Ours beside the peer framework's ``{cell name: (HR@20 or None, MRR@20)}``."""
    lines = [
        "| cell | ours HR@20 | ours MRR@20 | peer HR@20 | peer MRR@20 | Δ MRR@20 (ours - peer) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, (hr, mrr) in peer.items():
        r = results.get(name)
        ours_hr = cell_value(r, "hr@20") if r else "-"
        ours_mrr = cell_value(r, "mrr@20") if r else "-"
        delta = f"{r['mean']['mrr@20'] - mrr:+.2f}" if r else "-"
        lines.append(
            f"| {name} | {ours_hr} | {ours_mrr} | {'-' if hr is None else f'{hr:.2f}'} | "
            f"{mrr:.2f} | {delta} |"
        )
    return "\n".join(lines) + "\n"


def paper_table2(results: dict, paper: dict) -> str:
    """Ours beside the paper's Table 2 ``{(backbone, method): {"hr@20": ..., "mrr@20": ...}}``."""
    rows = [
        "| backbone | method | paper HR@20 | paper MRR@20 | ours HR@20 | ours MRR@20 |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for (backbone, method), figures in paper.items():
        r = results.get(f"{backbone}-{method}")
        rows.append(
            f"| {backbone} | {method} | {figures['hr@20']:.2f} | {figures['mrr@20']:.2f} | "
            f"{cell_value(r, 'hr@20') if r else '-'} | "
            f"{cell_value(r, 'mrr@20') if r else '-'} |"
        )
    return "\n".join(rows) + "\n"


def paper_ablation_table(results: dict, paper: dict) -> str:
    """The rows of :func:`ablation_table` @100: the paper's Table 3 ``{method: {"hr@100": ...,
    "mrr@100": ...}}`` beside ours; ``-`` where either has no figure."""
    keys = ("hr@100", "mrr@100")
    lines = [
        "| | "
        + " | ".join(f"paper {k.upper()}" for k in keys)
        + " | "
        + " | ".join(f"ours {k.upper()}" for k in keys)
        + " |",
        "| --- | " + " | ".join("---:" for _ in keys * 2) + " |",
    ]
    for label, name in ABLATION_ROWS:
        figures = paper.get(name.removeprefix("narm-"))
        values = [f"{figures[k]:.2f}" if figures else "-" for k in keys]
        values += [cell_value(results[name], k) if name in results else "-" for k in keys]
        lines.append(f"| {label} | " + " | ".join(values) + " |")
    return "\n".join(lines) + "\n"


def bar_chart(results: dict, path: Path, title: str) -> None:
    """Grouped bars of test MRR@20 (mean, std as error bars): one group per backbone (and the
    baselines)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    main = {n: r for n, r in results.items() if r["group"] == "main"}
    groups = list(dict.fromkeys(r["backbone"] for r in main.values()))
    width = (
        max(len([r for r in main.values() if r["backbone"] == g]) for g in groups) if groups else 1
    )
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(groups) * width / 3), 4.5))
    bar = 0.8 / width
    labels = list(dict.fromkeys(r["label"] for r in main.values()))
    colours = {label: plt.cm.tab20(i % 20) for i, label in enumerate(labels)}
    for g, group in enumerate(groups):
        members = [r for r in main.values() if r["backbone"] == group]
        for i, r in enumerate(members):
            ax.bar(
                g + (i - (len(members) - 1) / 2) * bar,
                r["mean"]["mrr@20"],
                bar,
                yerr=r["std"]["mrr@20"],
                color=colours[r["label"]],
                label=r["label"],
                capsize=2,
            )
    handles, names = ax.get_legend_handles_labels()
    unique = dict(zip(names, handles))
    ax.legend(unique.values(), unique.keys(), fontsize=7, ncol=2)
    ax.set_xticks(range(len(groups)), [BACKBONE_LABELS.get(g, g) for g in groups])
    ax.set_ylabel("test MRR@20 (%)")
    ax.set_title(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
