"""``python -m benchmarks.reproduce``: the reproduction grid of the paper's Tables 2-3, resumable.

For each dataset: every backbone x method cell (Vanilla, FP-Simple, FP-Metric, FP-AdaMetric with the
paper's positives-only context; FP-Simple / FP-Metric / FP-AdaMetric with ``--context all``; for
NARM a sweep of the FP target weight w with context all + FP-AdaMetric, and its no-FP-term control)
over seeds, plus the baselines (POP, S-POP, SKNN, FP-aware S-POP / SKNN). ``--sweep`` instead
trains the λ x m grid of NARM / FP-AdaMetric, judged on validation MRR@20. Runs go seed by seed
(every cell at the first seed, then at the next), each cell x seed in a run directory
``<runs-dir>/<dataset>/<cell>-s<seed>``; one holding ``metrics.json`` is not retrained (one that
reached a lower ``--epochs`` trains on to this cap).

Every invocation then collects all finished cells from disk, whatever it selected to train, and
writes ``<out>/<dataset>.json``, ``<out>/<dataset>.md``, ``<out>/<dataset>_mrr20.png`` and the
report ``docs/REPRODUCTION.md``. A finished run is reused only if it was trained with the settings
this invocation would use; ``--quick`` writes under ``runs/reproduce-quick/`` unless told otherwise.

Examples::

    python -m benchmarks.reproduce --quick                # minutes: synthetic smoke grid
    python -m benchmarks.reproduce --datasets spotify      # the real grid, seed by seed
    python -m benchmarks.reproduce --datasets spotify --seeds 0 --sweep
    python -m benchmarks.reproduce --datasets spotify --seeds 1 \\
        --cells narm-vanilla,narm-fp-simple
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from benchmarks.reproduce import ROOT
from benchmarks.reproduce.findings import agreement
from benchmarks.reproduce.grid import (
    BACKBONES,
    DATASETS,
    EPOCH_CAP,
    FP_TARGET_WEIGHTS,
    QUICK_BACKBONES,
    QUICK_DATASET_OPTIONS,
    QUICK_FP_TARGET_WEIGHTS,
    QUICK_MAX_STEPS,
    QUICK_MODEL,
    SWEEP_LAMBDAS,
    SWEEP_MARGINS,
    grid,
    sweep_grid,
)
from benchmarks.reproduce.report import write_dataset_outputs, write_report
from benchmarks.reproduce.runs import (
    DatasetPlan,
    collect,
    epoch_caps,
    finished_runs,
    make_data_loader,
    run_cell,
    run_order,
)
from fpam_tf.methods import METHODS

# Where the grid writes. --quick has its own defaults: its small runs share cell names with the
# real grid's, and the committed results/ and docs/REPRODUCTION.md are the real grid's report.
RUNS_DIR, OUT_DIR, DOCS_PATH = "runs/reproduce", "results", "docs/REPRODUCTION.md"
QUICK_DIR = "runs/reproduce-quick"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.reproduce",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--datasets",
        default="spotify,synthetic",
        help="comma-separated, of: " + ", ".join(DATASETS),
    )
    p.add_argument(
        "--spotify-dir", default=str(ROOT.parent / "shared" / "datasets" / "spotify_mssd_sample")
    )
    p.add_argument(
        "--backbones",
        default=None,
        help=f"comma-separated (default: {','.join(BACKBONES)}; with --quick "
        f"{','.join(QUICK_BACKBONES)})",
    )
    p.add_argument(
        "--methods",
        default=",".join(METHODS),
        help="methods of the grid (the baselines always run)",
    )
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument(
        "--epochs",
        type=int,
        default=EPOCH_CAP,
        help=f"epoch cap (default {EPOCH_CAP}; early stopping on validation MRR@20 may "
        "stop sooner)",
    )
    p.add_argument(
        "--out",
        default=None,
        help=f"tables, JSON and figures (default {OUT_DIR}; with --quick {QUICK_DIR}/{OUT_DIR})",
    )
    p.add_argument(
        "--runs-dir",
        default=None,
        help=f"run directories (default {RUNS_DIR}; with --quick {QUICK_DIR})",
    )
    p.add_argument(
        "--docs",
        default=None,
        help=f"where the report goes (default {DOCS_PATH}; with --quick "
        f"{QUICK_DIR}/REPRODUCTION.md)",
    )
    p.add_argument("--tfds-dir", default=None)
    p.add_argument(
        "--fp-target-weights",
        default=None,
        help="NARM's FP-target-weight sweep, comma-separated (default: 0.25,0.5,1)",
    )
    p.add_argument(
        "--sweep-lambdas", default=None, help="with --sweep: the λ values (default: 0.01,0.1,1)"
    )
    p.add_argument(
        "--sweep-margins", default=None, help="with --sweep: the m values (default: 0.5,1,2)"
    )
    p.add_argument(
        "--cells",
        default=None,
        help="train only these cells (comma-separated names, e.g. "
        "narm-vanilla,narm-fp-simple-all-w1); the tables still collect every "
        "finished cell",
    )
    p.add_argument(
        "--report-only",
        action="store_true",
        help="train nothing: collect the finished cells and write the tables, figure and report",
    )
    p.add_argument(
        "--sweep",
        action="store_true",
        help="train the λ x m sweep (NARM, FP-AdaMetric) instead of the grid",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="minutes: synthetic only, small data and model, 1 seed, 1 epoch of a few "
        "steps, 2 backbones (unless --backbones says otherwise)",
    )
    return p


def output_paths(args) -> tuple[Path, Path, Path]:
    """``(runs dir, out dir, report path)``: the flags, else the defaults of the real grid or of
    ``--quick``."""
    if args.quick:
        return (
            Path(args.runs_dir or QUICK_DIR),
            Path(args.out or f"{QUICK_DIR}/{OUT_DIR}"),
            Path(args.docs or f"{QUICK_DIR}/REPRODUCTION.md"),
        )
    return Path(args.runs_dir or RUNS_DIR), Path(args.out or OUT_DIR), Path(args.docs or DOCS_PATH)


def split_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def dataset_plans(args) -> list[DatasetPlan]:
    """The datasets to run; Spotify is skipped with a message when its folder is absent."""
    plans = []
    model_settings = QUICK_MODEL if args.quick else {}
    max_steps = QUICK_MAX_STEPS if args.quick else None
    for name in ["synthetic"] if args.quick else split_list(args.datasets):
        if name not in DATASETS:
            raise SystemExit(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
        if name == "spotify":
            if not Path(args.spotify_dir).exists():
                print(
                    f"Skipping spotify: {args.spotify_dir} not found (pass --spotify-dir).",
                    flush=True,
                )
                continue
            plans.append(
                DatasetPlan(
                    name,
                    str(Path(args.spotify_dir).resolve()),
                    {},
                    model_settings,
                    args.epochs,
                    max_steps,
                )
            )
        else:
            options = QUICK_DATASET_OPTIONS if args.quick else {}
            plans.append(
                DatasetPlan(
                    name, None, options, model_settings, 1 if args.quick else args.epochs, max_steps
                )
            )
    return plans


def floats(text: str | None, default: tuple[float, ...]) -> tuple[float, ...]:
    """The comma-separated numbers of a flag, or ``default`` when it is not given."""
    return tuple(float(v) for v in split_list(text)) if text else default


def main(argv=None) -> dict:
    args = parser().parse_args(argv)
    started = time.perf_counter()
    backbones = (
        split_list(args.backbones)
        if args.backbones
        else list(QUICK_BACKBONES if args.quick else BACKBONES)
    )
    unknown = sorted(set(backbones) - set(BACKBONES)) + sorted(
        set(split_list(args.methods)) - set(METHODS)
    )
    if unknown:
        raise SystemExit(f"unknown backbone(s) or method(s): {', '.join(unknown)}")
    seeds = [0] if args.quick else [int(s) for s in split_list(args.seeds)]
    weights = QUICK_FP_TARGET_WEIGHTS if args.quick else FP_TARGET_WEIGHTS
    weights = floats(args.fp_target_weights, weights)
    main_cells = grid(backbones, split_list(args.methods), weights)
    sweep_points = {
        "lambdas": floats(args.sweep_lambdas, SWEEP_LAMBDAS),
        "margins": floats(args.sweep_margins, SWEEP_MARGINS),
    }
    # The sweep holds the default point too.
    to_run = sweep_grid(**sweep_points) if args.sweep else main_cells
    if args.cells:
        wanted = split_list(args.cells)
        if missing := sorted(set(wanted) - {c.name for c in to_run}):
            raise SystemExit(
                f"--cells: {', '.join(missing)} not in the "
                f"{'sweep' if args.sweep else 'grid'} selected by --backbones / "
                f"--methods / --fp-target-weights; cells there: "
                f"{', '.join(c.name for c in to_run)}"
            )
        to_run = [c for c in to_run if c.name in wanted]
    if args.report_only:
        to_run = []
    runs_dir, out_dir, docs_path = output_paths(args)
    summaries = {}
    for plan in dataset_plans(args):
        loader = make_data_loader(plan, args.tfds_dir)
        dataset_started = time.perf_counter()
        for cell, seed in run_order(to_run, seeds):
            run_cell(plan, cell, seed, runs_dir, loader, args.tfds_dir)
        # The tables hold every finished run of the dataset, whatever this invocation selected to
        # train.
        found = finished_runs(runs_dir, plan.name)
        report_seeds = sorted(set(seeds) | found.seeds)
        report_weights = tuple(sorted(set(weights) | found.weights))
        sweep_cells = sweep_grid(
            lambdas=sorted(set(sweep_points["lambdas"]) | found.lambdas),
            margins=sorted(set(sweep_points["margins"]) | found.margins),
        )
        cells = collect(
            plan.name,
            grid(BACKBONES, METHODS, report_weights)
            + [c for c in sweep_cells if c.name != "narm-fp-adametric"],
            report_seeds,
            runs_dir,
        )
        summary = {
            "dataset": plan.name,
            "epochs": epoch_caps(cells),
            "seeds": report_seeds,
            "fp_target_weights": list(report_weights),
            "max_steps_per_epoch": plan.max_steps_per_epoch,
            "dataset_options": plan.dataset_options,
            "wall_seconds": round(time.perf_counter() - dataset_started, 1),
            "training_seconds": round(sum(r["training_seconds"] for r in cells.values()), 1),
            "cells": cells,
        }
        write_dataset_outputs(plan.name, summary, out_dir)
        summaries[plan.name] = summary
        print(
            f"[{plan.name}] {len(cells)} cells collected -> {out_dir / (plan.name + '.md')}",
            flush=True,
        )
        for sentence in agreement(cells):
            print(f"  {sentence}")
    if summaries:
        flags = sys.argv[1:] if argv is None else argv
        command = "python -m benchmarks.reproduce " + " ".join(flags)
        write_report(summaries, out_dir, docs_path, command)
        print(f"Report: {docs_path}  ({time.perf_counter() - started:.0f} s)")
    return summaries


if __name__ == "__main__":
    main()
