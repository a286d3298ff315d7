"""``python -m benchmarks.reproduce``: the reproduction study of the paper's Tables 2-3, converged,
with PROTOCOL §5b's skip metrics; resumable.

For each dataset, in order: the baselines (POP, S-POP, SKNN, and their FP-aware versions); the
recipe candidates (NARM / Vanilla at seed 0, one per learning rate and batch size), from which the
fixed rule of ``grid.RECIPE_RULE`` picks the training recipe; then with that recipe every backbone
x method cell (Vanilla, FP-Simple, FP-AdaMetric, FP-Unlikelihood, FP-SkipHead; for NARM also
FP-Metric and the former CLI default), backbone by backbone and seed by seed, each until early
stopping on validation MRR@20 (patience 3, cap 40). NARM and SR-GNN run three seeds, STAMP and
GRU4Rec one. Every run trains in float32 (``grid.STUDY_PRECISION``), whatever the machine. Each
cell x seed has a run directory ``<runs-dir>/<dataset>/<cell>-s<seed>``; one holding
``metrics.json`` is not retrained, and a killed one resumes from its last checkpoint. A finished run
is also recorded in ``<out>/study/<dataset>/<cell>-s<seed>.json`` (``records.py``): committed, the
records carry the study across sessions and machines, whose run directories do not survive; a fresh
clone restores them into run directories and trains only what is missing.

Every invocation then collects all finished cells from disk, whatever it selected to train, and
writes ``<out>/<dataset>.json``, ``<out>/<dataset>.md``, ``<out>/<dataset>_mrr20.png`` and the
report ``docs/REPRODUCTION.md``. A finished run is reused only if it was trained with the settings
this invocation would use; ``--quick`` writes under ``runs/reproduce-quick/`` unless told otherwise.

Examples::

    python -m benchmarks.reproduce --quick                # minutes: synthetic smoke study
    python -m benchmarks.reproduce --datasets spotify      # the real study, resumable
    python -m benchmarks.reproduce --datasets yoochoose --backbones narm  # the side check
    python -m benchmarks.reproduce --datasets spotify --backbones narm --seeds 1 \\
        --cells narm-vanilla,narm-fp-skiphead
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
    GRID_METHODS,
    PATIENCE,
    QUICK_BACKBONES,
    QUICK_DATASET_OPTIONS,
    QUICK_MAX_STEPS,
    QUICK_MODEL,
    QUICK_RECIPES,
    RECIPES,
    STUDY_PRECISION,
    VARIANT_DATASETS,
    method_cell,
    study,
)
from benchmarks.reproduce.records import restore_records
from benchmarks.reproduce.report import write_dataset_outputs, write_report
from benchmarks.reproduce.runs import (
    DatasetPlan,
    collect,
    epoch_caps,
    finished_seeds,
    link_recipe_run,
    make_data_loader,
    read_summary,
    run_cell,
    run_order,
)
from benchmarks.reproduce.statistics import choose_recipe, default_rule

# Where the grid writes. --quick has its own defaults: its small runs share cell names with the
# real grid's, and the committed results/ and docs/REPRODUCTION.md are the real grid's report.
RUNS_DIR, OUT_DIR, DOCS_PATH = "runs/reproduce", "results", "docs/REPRODUCTION.md"
# The real datasets and their folders under ../shared/datasets: Spotify is the paper's; Yoochoose
# (FP = dwell time below 30 s) is the side check on a second skip signal.
REAL_DATA = {"spotify": "spotify_mssd_sample", "yoochoose": "yoochoose_clicks_100k"}
QUICK_DIR = "runs/reproduce-quick"
# Under --out: one record per finished run (records.py), committed with the results so the study
# accumulates across sessions whose run directories do not survive.
RECORDS_SUBDIR = "study"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.reproduce",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--datasets",
        default="spotify",
        help="comma-separated, of: " + ", ".join(DATASETS),
    )
    for name, folder in REAL_DATA.items():
        p.add_argument(
            f"--{name}-dir",
            default=str(ROOT.parent / "shared" / "datasets" / folder),
            help=f"the {name} data (default: ../shared/datasets/{folder})",
        )
    p.add_argument(
        "--backbones",
        default=None,
        help=f"comma-separated (default: {','.join(BACKBONES)}; with --quick "
        f"{','.join(QUICK_BACKBONES)})",
    )
    p.add_argument(
        "--methods",
        default=",".join(GRID_METHODS),
        help="methods of the main cells (the baselines and recipe candidates always run)",
    )
    p.add_argument(
        "--seeds",
        default="0,1,2",
        help="seeds; each backbone runs its first ones (NARM, SR-GNN 3; STAMP, GRU4Rec 1)",
    )
    p.add_argument(
        "--epochs",
        type=int,
        default=EPOCH_CAP,
        help=f"epoch cap (default {EPOCH_CAP}, a guard: every run is meant to stop earlier, "
        f"by early stopping on validation MRR@20 with patience {PATIENCE})",
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
        "--cells",
        default=None,
        help="train only these cells (comma-separated names, e.g. "
        "narm-vanilla,narm-fp-skiphead); the tables still collect every finished cell",
    )
    p.add_argument(
        "--report-only",
        action="store_true",
        help="train nothing: collect the finished cells and write the tables, figure and report",
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
    """The datasets to run; a real one is skipped with a message when its folder is absent."""
    plans = []
    model_settings = {
        **(QUICK_MODEL if args.quick else {}),
        "patience": PATIENCE,
        "precision": STUDY_PRECISION,
    }
    max_steps = QUICK_MAX_STEPS if args.quick else None
    for name in ["synthetic"] if args.quick else split_list(args.datasets):
        if name not in DATASETS:
            raise SystemExit(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
        if name in REAL_DATA:
            data_dir = Path(getattr(args, f"{name}_dir"))
            if not data_dir.exists():
                print(f"Skipping {name}: {data_dir} not found (pass --{name}-dir).", flush=True)
                continue
            plans.append(
                DatasetPlan(
                    name, str(data_dir.resolve()), {}, model_settings, args.epochs, max_steps
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


def main(argv=None) -> dict:
    args = parser().parse_args(argv)
    started = time.perf_counter()
    backbones = (
        split_list(args.backbones)
        if args.backbones
        else list(QUICK_BACKBONES if args.quick else BACKBONES)
    )
    methods = split_list(args.methods)
    unknown = sorted(set(backbones) - set(BACKBONES)) + sorted(set(methods) - set(GRID_METHODS))
    if unknown:
        raise SystemExit(
            f"unknown backbone(s) or method(s): {', '.join(unknown)}; backbones: "
            f"{', '.join(BACKBONES)}; methods: {', '.join(GRID_METHODS)}"
        )
    seeds = [0] if args.quick else [int(s) for s in split_list(args.seeds)]
    recipes = QUICK_RECIPES if args.quick else RECIPES
    selected = study(backbones, methods, recipes)
    wanted = split_list(args.cells) if args.cells else None
    if wanted and (missing := sorted(set(wanted) - {c.name for c in selected})):
        raise SystemExit(
            f"--cells: {', '.join(missing)} not in the study selected by --backbones / --methods; "
            f"cells there: {', '.join(c.name for c in selected)}"
        )

    def chosen(cell) -> bool:
        return not args.report_only and (wanted is None or cell.name in wanted)

    runs_dir, out_dir, docs_path = output_paths(args)
    records_dir = out_dir / RECORDS_SUBDIR
    summaries = {}
    for plan in dataset_plans(args):
        loader = make_data_loader(plan, args.tfds_dir)
        dataset_started = time.perf_counter()
        if restored := restore_records(records_dir, runs_dir, plan.name):
            print(
                f"[{plan.name}] {len(restored)} recorded run(s) restored from {records_dir}",
                flush=True,
            )
        first = [c for c in selected if c.group in ("recipe", "baselines") and chosen(c)]
        for cell, seed in run_order(first, seeds):
            run_cell(plan, cell, seed, runs_dir, loader, args.tfds_dir, records_dir)
        candidates = [c for c in selected if c.group == "recipe"]
        recipe = choose_recipe(collect(plan.name, candidates, [0], runs_dir), candidates)
        if recipe is None:
            if any(chosen(c) for c in selected if c.group in ("main", "variants")):
                print(
                    f"[{plan.name}] the main cells wait for the recipe: every candidate "
                    f"({', '.join(c.name for c in candidates)}) must finish first.",
                    flush=True,
                )
        else:
            cells = [
                c
                for c in study(backbones, methods, recipes, recipe)
                if c.group == "main" or (c.group == "variants" and plan.name in VARIANT_DATASETS)
            ]
            # Whatever backbones this invocation trains: the report collects NARM's cells too.
            vanilla = method_cell("narm", "vanilla", recipe=recipe)
            picked = next(c for c in candidates if c.recipe == recipe)
            link_recipe_run(runs_dir, plan.name, picked, vanilla)
            for cell, seed in run_order([c for c in cells if chosen(c)], seeds):
                run_cell(plan, cell, seed, runs_dir, loader, args.tfds_dir, records_dir)
        # The tables hold every finished run of the dataset, whatever this invocation selected to
        # train.
        report_seeds = sorted(set(seeds) | finished_seeds(runs_dir, plan.name))
        cells = collect(plan.name, study(recipes=recipes), report_seeds, runs_dir)
        default, checks = default_rule(cells)
        summary = {
            "dataset": plan.name,
            "epochs": epoch_caps(cells),
            "epoch_cap": plan.epochs,
            "patience": PATIENCE,
            "seeds": report_seeds,
            "recipes": [candidate.settings for candidate in recipes],
            "recipe": None if recipe is None else recipe.settings,
            "default": default,
            "default_checks": [check._asdict() for check in checks],
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
        # The report holds every dataset with a summary in --out, not only this invocation's
        # (make reproduce runs Spotify and the Yoochoose side check as separate invocations).
        summaries = {
            name: summaries[name] if name in summaries else read_summary(out_dir / f"{name}.json")
            for name in DATASETS
            if name in summaries or (out_dir / f"{name}.json").is_file()
        }
        flags = sys.argv[1:] if argv is None else argv
        command = "python -m benchmarks.reproduce " + " ".join(flags)
        write_report(summaries, out_dir, docs_path, command)
        print(f"Report: {docs_path}  ({time.perf_counter() - started:.0f} s)")
    return summaries


if __name__ == "__main__":
    main()
