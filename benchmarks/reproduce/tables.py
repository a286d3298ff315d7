"""Markdown tables of collected cells, ours beside the paper's and the peer's figures, and the bar
chart."""

from __future__ import annotations

from pathlib import Path

from benchmarks.reproduce.grid import BACKBONE_LABELS, Recipe
from benchmarks.reproduce.statistics import RuleCheck, mean_steps
from fpam_tf.metrics import KS, METRIC_NAMES

TABLE_KEYS = [f"{name}@{k}" for name in METRIC_NAMES for k in KS]
# The paper's Table 3 shape for NARM: (row label, cell name).
ABLATION_ROWS = (
    ("FP-AdaMetric", "narm-fp-adametric"),
    ("w/o adaptive module (= FP-Metric)", "narm-fp-metric"),
    ("w/o metric term (= FP-Simple)", "narm-fp-simple"),
    ("Vanilla", "narm-vanilla"),
)
# PROTOCOL §5 beside §5b at K = 20: liked items found, skipped items recommended, the separation.
SKIP_KEYS = ("hr@20", "mrr@20", "skiphr@20", "skipmrr@20", "separation@20")
SKIP_HEADERS = ("HR@20", "MRR@20", "SkipHR@20 ↓", "SkipMRR@20 ↓", "HR@20 - SkipHR@20")


def cell_value(result: dict, key: str) -> str:
    """``"mean ± std"`` of one metric (just the mean for a single run; ``-`` where the runs lack
    it, e.g. results written before PROTOCOL §5b)."""
    if key not in result["mean"]:
        return "-"
    mean, std = result["mean"][key], result["std"][key]
    return f"{mean:.2f}" if len(result["seeds"]) == 1 else f"{mean:.2f} ± {std:.2f}"


def cells_table(results: dict, keys, headers, groups=("main", "baselines")) -> str:
    """One row per cell of ``groups`` (backbone, method, seeds), one column per metric ``keys``
    headed ``headers``: ``mean ± std`` over seeds."""
    lines = [
        "| backbone | method | seeds | " + " | ".join(headers) + " |",
        "| --- | --- | ---: | " + " | ".join("---:" for _ in keys) + " |",
    ]
    for r in results.values():
        if r["group"] in groups:
            seeds = "-" if r["backbone"] == "baselines" else len(r["seeds"])
            lines.append(
                f"| {BACKBONE_LABELS.get(r['backbone'], r['backbone'])} | {r['label']} | {seeds} | "
                + " | ".join(cell_value(r, k) for k in keys)
                + " |"
            )
    return "\n".join(lines) + "\n"


def table2(results: dict) -> str:
    """The paper's Table 2 shape: rows backbone x method, columns HR / MRR / NDCG @ 5, 10, 20, 50,
    100."""
    return cells_table(results, TABLE_KEYS, [k.upper() for k in TABLE_KEYS])


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


def skip_table(results: dict) -> str:
    """Per backbone x method (and baseline): HR@20 and MRR@20 (§5) beside SkipHR@20, SkipMRR@20
    and the separation (§5b)."""
    return cells_table(results, SKIP_KEYS, SKIP_HEADERS)


def recipe_table(results: dict, candidates: list, chosen: Recipe | None) -> str:
    """The recipe candidates: best validation MRR@20, its epoch, epochs trained, how the run
    stopped, training time; the chosen one marked."""
    lines = [
        "| recipe | best validation MRR@20 | best epoch | epochs trained | stopped by | "
        "training min | chosen |",
        "| --- | ---: | ---: | ---: | --- | ---: | --- |",
    ]
    for cell in candidates:
        r = results.get(cell.name)
        run = (r or {}).get("training", {}).get("0")
        if run is None:
            lines.append(f"| {cell.label} | - | - | - | not finished | - | |")
            continue
        lines.append(
            f"| {cell.label} | {r['best_validation_mrr@20']['0']:.2f} | {run['best_epoch']} | "
            f"{run['epochs']} | {'patience' if run['early_stopped'] else 'epoch cap'} | "
            f"{run['seconds'] / 60:.0f} | {'yes' if cell.recipe == chosen else ''} |"
        )
    return "\n".join(lines) + "\n"


def default_rule_table(checks: list[RuleCheck], results: dict) -> str:
    """Each NARM configuration against Vanilla under the default rule."""
    lines = [
        "| configuration | seeds | Δ validation MRR@20 | 2 SE | Δ validation SkipHR@20 | passes |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for c in checks:
        error = "-" if c.standard_error is None else f"{2 * c.standard_error:.2f}"
        skip = "-" if c.skip_gap is None else f"{c.skip_gap:+.2f}"
        lines.append(
            f"| {results[c.name]['label']} | {c.seeds} | {c.gain:+.2f} | {error} | {skip} | "
            f"{'yes' if c.passes else 'no'} |"
        )
    return "\n".join(lines) + "\n"


def variant_table(results: dict) -> str:
    """NARM under each protocol variant (seed 0) beside the same method under PROTOCOL v2 (seed
    0), test HR@20 and MRR@20."""
    lines = [
        "| method | variant | HR@20 | MRR@20 | MRR@20 under PROTOCOL v2 |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for r in results.values():
        if r["group"] != "variants":
            continue
        method = r["config"]["method"]["method"]
        variant = r["config"]["protocol_variant"]
        standard = results.get(f"narm-{method}", {}).get("seeds", {}).get("0")
        lines.append(
            f"| {method} | {variant} | {r['seeds']['0']['hr@20']:.2f} | "
            f"{r['seeds']['0']['mrr@20']:.2f} | "
            f"{'-' if standard is None else format(standard['mrr@20'], '.2f')} |"
        )
    return "\n".join(lines) + "\n"


def convergence_table(results: dict) -> str:
    """Per trained main cell: best epoch, epochs trained, training minutes and CPU of each seed,
    how many runs early stopping ended, and optimizer steps per run (the cell's cost)."""
    lines = [
        "| backbone | method | best epoch (per seed) | epochs trained (per seed) | "
        "stopped by patience | steps per run | training min (per seed) | CPU (per seed) |",
        "| --- | --- | --- | --- | ---: | ---: | --- | --- |",
    ]
    for r in results.values():
        runs = list(r.get("training", {}).values())
        if not runs or r["group"] != "main":
            continue
        stopped = sum(t["early_stopped"] for t in runs)
        minutes = ", ".join(f"{t['seconds'] / 60:.0f}" for t in runs)
        lines.append(
            f"| {BACKBONE_LABELS.get(r['backbone'], r['backbone'])} | {r['label']} | "
            f"{', '.join(str(t['best_epoch']) for t in runs)} | "
            f"{', '.join(str(t['epochs']) for t in runs)} | {stopped} of {len(runs)} | "
            f"{mean_steps(r):,.0f} | {minutes} | "
            f"{', '.join(short_cpu(t.get('cpu_model')) for t in runs)} |"
        )
    return "\n".join(lines) + "\n"


def short_cpu(cpu_model: str | None) -> str:
    """A CPU model name without its trademarks and clock (``Intel Xeon``, ``AMD EPYC``); ``?``
    when the run's machine was not recorded."""
    if not cpu_model:
        return "?"
    words = cpu_model.split("@")[0].replace("(R)", "").replace("(TM)", "").split()
    return " ".join(w for w in words if w not in ("Processor", "CPU")) or "?"


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

    main = {n: r for n, r in results.items() if r["group"] in ("main", "baselines")}
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
