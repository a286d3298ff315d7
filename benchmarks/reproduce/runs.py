"""Running the grid's cells: run configs and directories, resuming, and collecting finished runs."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import NamedTuple

from benchmarks.reproduce.grid import (
    BACKBONES,
    SWEEP_LAMBDAS,
    SWEEP_MARGINS,
    Cell,
    grid,
    sweep_grid,
)
from benchmarks.reproduce.statistics import mean_std
from fpam_tf.atomic import write_json_atomic
from fpam_tf.errors import ConfigError
from fpam_tf.methods import METHODS
from fpam_tf.metrics import SELECTION_METRIC
from fpam_tf.training.run_dir import RunConfig, RunDir, differences


@dataclasses.dataclass
class DatasetPlan:
    """What is needed to train one dataset's cells: its name, raw data, options and model
    settings."""

    name: str
    data_dir: str | None
    dataset_options: dict
    model_settings: dict
    epochs: int
    max_steps_per_epoch: int | None


def run_config(plan: DatasetPlan, cell: Cell, seed: int) -> RunConfig:
    """The :class:`RunConfig` of ``cell`` at ``seed``."""
    return RunConfig(
        dataset=plan.name,
        data_dir=plan.data_dir,
        model=cell.backbone,
        method=cell.method,
        epochs=plan.epochs,
        seed=seed,
        dataset_options=plan.dataset_options,
        **plan.model_settings,
    )


def cell_dir(runs_dir: Path, dataset: str, cell: Cell, seed: int | None) -> RunDir:
    """Run directory of a cell (``<cell>-s<seed>``; baselines, which have no seed: ``<cell>``)."""
    return RunDir(runs_dir / dataset / (cell.name if seed is None else f"{cell.name}-s{seed}"))


class FinishedRuns(NamedTuple):
    """What the finished runs of one dataset span: seeds, FP target weights, and λ / m of sweep
    points."""

    seeds: set[int]
    weights: set[float]
    lambdas: set[float]
    margins: set[float]


def finished_runs(runs_dir: Path, dataset: str) -> FinishedRuns:
    """Reads the settings of every finished trained run under ``<runs_dir>/<dataset>`` from its
    ``metrics.json``.

    So that an invocation which trains a few cells (``--seeds 2 --cells ...``) still reports all of
    them, including seeds, weights and sweep points outside its own flags. Read from each run's
    config, not its directory name: the weight sweep is NARM / FP-AdaMetric with context all and FP
    targets kept, a sweep point is NARM / FP-AdaMetric with positives context
    (:func:`~benchmarks.reproduce.grid.grid`, :func:`~benchmarks.reproduce.grid.sweep_grid`).
    """
    found = FinishedRuns(set(), set(), set(), set())
    for metrics in (runs_dir / dataset).glob("*/metrics.json"):
        config = json.loads(metrics.read_text())["config"]
        if "seed" not in config:
            continue  # a baseline: no seed
        found.seeds.add(config["seed"])
        method = config["method"]
        if config["model"] != "narm" or method["method"] != "fp-adametric":
            continue
        if method["context"] == "all" and method["fp_target_weight"] > 0:
            found.weights.add(method["fp_target_weight"])
        elif method["context"] == "positives":
            found.lambdas.add(method["fp_lambda"])
            found.margins.add(method["margin"])
    return found


def run_order(cells: list[Cell], seeds) -> list[tuple[Cell, int | None]]:
    """The (cell, seed) runs to do, seed by seed: the baselines (no seed), then every cell at the
    first seed, then every cell at the next, so a grid cut short still has every cell at its first
    seeds."""
    return [(cell, None) for cell in cells if cell.baseline] + [
        (cell, seed) for seed in seeds for cell in cells if not cell.baseline
    ]


def baseline_config(plan: DatasetPlan, cell: Cell) -> dict:
    """What a baseline's ``metrics.json`` records as its config, and what a reused one must
    match."""
    name, fp_aware = cell.baseline
    return {
        "baseline": name,
        "fp_aware": fp_aware,
        "dataset": plan.name,
        "dataset_options": plan.dataset_options,
    }


REFIT_HOW_TO = "pass another --runs-dir, or delete that directory to train the cell again"


def finished_as_asked(plan: DatasetPlan, cell: Cell, seed: int | None, run_dir: RunDir) -> bool:
    """Whether the finished run in ``run_dir`` stands for ``cell`` as this invocation would train
    it.

    True when it was trained with the same settings and reached the epoch cap (or stopped early);
    False when it stopped at a lower cap, so training resumes from its last epoch to this one.
    Raises :class:`ConfigError` when it was trained with other settings (say a ``--quick`` run): it
    must not stand in for the cell, and nothing there is touched.
    """
    if cell.baseline:
        recorded = json.loads(run_dir.metrics_json.read_text())["config"]
        if details := differences(recorded, baseline_config(plan, cell)):
            raise ConfigError(
                f"{run_dir.path} holds a baseline fitted with another config "
                f"({details}). Nothing was changed; {REFIT_HOW_TO}."
            )
        return True
    run_dir.check_same_run(run_config(plan, cell, seed), how_to_fix=REFIT_HOW_TO)
    if not run_dir.progress.is_file():
        return True  # nothing to resume from
    progress = json.loads(run_dir.progress.read_text())
    return progress["epoch"] >= plan.epochs or progress["stopped"] is not None


def run_cell(
    plan: DatasetPlan, cell: Cell, seed: int | None, runs_dir: Path, data_loader, tfds_dir
) -> None:
    """Trains (or fits) ``cell`` at ``seed`` unless it has finished already, printing one line.

    A finished cell trained to a lower epoch cap than ``plan.epochs`` trains on from its last epoch
    (its test results are replaced when it finishes).
    """
    from fpam_tf.baselines import evaluate_baseline
    from fpam_tf.training.run import run

    run_dir = cell_dir(runs_dir, plan.name, cell, seed)
    tag = f"[{plan.name}] {cell.name}" + ("" if seed is None else f" seed {seed}")
    if run_dir.metrics_json.is_file():
        try:
            if finished_as_asked(plan, cell, seed, run_dir):
                print(f"{tag}: done already, skipped", flush=True)
                return
        except ConfigError as error:
            raise SystemExit(f"{tag}: {error}") from None
        print(f"{tag}: finished below epoch cap {plan.epochs}, training on", flush=True)
    started = time.perf_counter()
    if cell.baseline:
        name, fp_aware = cell.baseline
        metrics = evaluate_baseline(name, data_loader(), "test", fp_aware)
        write_json_atomic(
            run_dir.metrics_json,
            {
                "dataset": plan.name,
                "model": name,
                "method": cell.name,
                "split": "test",
                "units": "percent",
                "metrics": {k: round(v, 4) for k, v in metrics.items()},
                "config": baseline_config(plan, cell),
            },
        )
    else:
        metrics = run(
            run_config(plan, cell, seed),
            run_dir,
            tfds_dir=tfds_dir,
            verbose=0,
            max_steps_per_epoch=plan.max_steps_per_epoch,
            data=data_loader(),
        )["metrics"]
    print(
        f"{tag}: MRR@20 {metrics['mrr@20']:.2f}  HR@20 {metrics['hr@20']:.2f}  "
        f"({time.perf_counter() - started:.0f} s)",
        flush=True,
    )


def make_data_loader(plan: DatasetPlan, tfds_dir):
    """A function returning the dataset's :class:`ProtocolData`, prepared on first call and then
    reused."""
    from fpam_tf.training.experiment import load_protocol_data

    cache = []

    def load():
        if not cache:
            config = RunConfig(
                dataset=plan.name, data_dir=plan.data_dir, dataset_options=plan.dataset_options
            )
            cache.append(load_protocol_data(config, tfds_dir=tfds_dir))
        return cache[0]

    return load


def training_record(run_dir: RunDir) -> dict | None:
    """How a run trained, from its progress record (``None`` when it has none, e.g. a baseline).

    ``seconds`` spent in training epochs, optimizer ``steps``, ``epochs`` trained, ``best_epoch``,
    and ``last_epoch_gain``: the validation MRR@20 gain of the last epoch over the one before (a run
    still improving at the epoch cap has a positive gain; ``None`` after a single epoch).
    """
    if not run_dir.progress.is_file():
        return None
    progress = json.loads(run_dir.progress.read_text())
    history = progress["history"]
    scores = [r[f"val_{SELECTION_METRIC}"] for r in history]
    return {
        "seconds": round(sum(r.get("seconds", 0.0) for r in history), 1),
        "steps": progress["global_step"],
        "epochs": len(history),
        "best_epoch": progress["best_epoch"],
        "last_epoch_gain": round(scores[-1] - scores[-2], 4) if len(scores) > 1 else None,
    }


def epoch_caps(results: dict) -> str:
    """The epoch caps the collected runs were trained with, per backbone (runs may differ)."""
    caps: dict = {}
    for result in results.values():
        if result["backbone"] != "baselines" and result["config"]:
            caps.setdefault(result["config"]["epochs"], []).append(result["backbone"])
    return (
        "; ".join(
            f"{cap} ({', '.join(sorted(set(backbones)))})"
            for cap, backbones in sorted(caps.items())
        )
        or "-"
    )


def collect(dataset: str, cells: list[Cell], seeds, runs_dir: Path) -> dict:
    """The finished runs of every cell:
    ``{cell name: {label, config, seeds: {seed: metrics}, mean, std, ...}}``.

    Cells with no finished run are left out.
    """
    results = {}
    for cell in cells:
        per_seed, validation, training, config = {}, {}, {}, None
        for seed in [None] if cell.baseline else seeds:
            run_dir = cell_dir(runs_dir, dataset, cell, seed)
            if not run_dir.metrics_json.is_file():
                continue
            record = json.loads(run_dir.metrics_json.read_text())
            key = "-" if seed is None else str(seed)
            per_seed[key] = record["metrics"]
            config = record["config"]
            if record.get("best_validation_mrr@20") is not None:
                validation[key] = record["best_validation_mrr@20"]
            if (how := training_record(run_dir)) is not None:
                training[key] = how
        if not per_seed:
            continue
        mean, std = mean_std(list(per_seed.values()))
        results[cell.name] = {
            "label": cell.label,
            "backbone": cell.backbone,
            "group": cell.group,
            "config": config,
            "seeds": per_seed,
            "mean": mean,
            "std": std,
            "best_validation_mrr@20": validation,
            "training": training,
            "training_seconds": round(sum(t["seconds"] for t in training.values()), 1),
        }
    return results


def by_seed(values: dict) -> dict:
    """``{seed: ...}`` in seed order (``"-"``, a baseline's, first), as :func:`collect` keys it."""
    return {seed: values[seed] for seed in sorted(values, key=lambda s: int(s) if s != "-" else -1)}


def read_summary(path: Path) -> dict:
    """A dataset's summary as written to ``<out>/<dataset>.json``, its cells (and their seeds) back
    in the order :func:`collect` gave them.

    The JSON's keys are sorted; the report's rows and sentences follow the cells' order, so the
    report can be written again from the summary alone.
    """
    summary = json.loads(Path(path).read_text())
    cells = summary["cells"]
    sweep = [r["config"]["method"] for r in cells.values() if r["group"] == "sweep"]
    order = grid(BACKBONES, METHODS, summary["fp_target_weights"]) + sweep_grid(
        lambdas=sorted(set(SWEEP_LAMBDAS) | {method["fp_lambda"] for method in sweep}),
        margins=sorted(set(SWEEP_MARGINS) | {method["margin"] for method in sweep}),
    )
    ordered = {cell.name: cells[cell.name] for cell in order if cell.name in cells}
    if unknown := sorted(set(cells) - set(ordered)):
        raise ValueError(f"{path}: cells outside the grid: {', '.join(unknown)}")
    for result in ordered.values():
        for key in ("seeds", "best_validation_mrr@20", "training"):
            result[key] = by_seed(result[key])
    summary["cells"] = ordered
    return summary
