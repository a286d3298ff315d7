"""Running the grid's cells: run configs and directories, resuming, and collecting finished runs."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

from benchmarks.reproduce.grid import QUICK_RECIPES, RECIPES, Cell, study
from benchmarks.reproduce.records import machine_of, record_path, write_record
from benchmarks.reproduce.statistics import mean_std
from fpam_tf.atomic import write_json_atomic
from fpam_tf.errors import ConfigError
from fpam_tf.metrics import SELECTION_METRIC
from fpam_tf.protocol_variants import SPLIT_VARIANTS
from fpam_tf.training.run_dir import RunConfig, RunDir, differences


@dataclasses.dataclass
class DatasetPlan:
    """What is needed to train one dataset's cells: its name, raw data, options and the run
    settings every cell shares (model size, patience); the recipe comes from each cell."""

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
        protocol_variant=cell.variant,
        **plan.model_settings,
        **cell.recipe.settings,
    )


def cell_dir(runs_dir: Path, dataset: str, cell: Cell, seed: int | None) -> RunDir:
    """Run directory of a cell (``<cell>-s<seed>``; baselines, which have no seed: ``<cell>``)."""
    return RunDir(runs_dir / dataset / (cell.name if seed is None else f"{cell.name}-s{seed}"))


def finished_seeds(runs_dir: Path, dataset: str) -> set[int]:
    """The seeds of every finished trained run under ``<runs_dir>/<dataset>``, from each run's
    ``metrics.json``: an invocation that trains a few cells (``--seeds 2 --cells ...``) still
    reports every seed on disk."""
    seeds = set()
    for metrics in (runs_dir / dataset).glob("*/metrics.json"):
        config = json.loads(metrics.read_text())["config"]
        if "seed" in config:  # a baseline has none
            seeds.add(config["seed"])
    return seeds


def run_order(cells: list[Cell], seeds) -> list[tuple[Cell, int | None]]:
    """The (cell, seed) runs to do: the baselines (no seed), the recipe candidates (seed 0), then
    backbone by backbone, seed by seed, every main cell of the backbone, each at its first
    ``cell.max_seeds`` seeds, followed by the backbone's protocol variants (first seed); so a study
    cut short has whole backbones at their first seeds."""
    order = [(cell, None) for cell in cells if cell.baseline]
    trained = [cell for cell in cells if not cell.baseline]
    order += [(cell, 0) for cell in trained if cell.group == "recipe"]
    for backbone in dict.fromkeys(cell.backbone for cell in trained):
        members = [c for c in trained if c.backbone == backbone and c.group == "main"]
        for index, seed in enumerate(seeds):
            order += [(cell, seed) for cell in members if index < cell.max_seeds]
        order += [
            (cell, seeds[0])
            for cell in trained
            if cell.backbone == backbone and cell.group == "variants"
        ]
    return order


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
    wanted = run_config(plan, cell, seed)
    run_dir.check_same_run(wanted, how_to_fix=REFIT_HOW_TO)
    # The precision is resumable for a user's run, but the study compares runs of every machine,
    # so each must have trained under the one it pins.
    if (trained_under := run_dir.read_config().resolved_precision) not in (None, wanted.precision):
        raise ConfigError(
            f"{run_dir.path} trained under {trained_under}; the study trains every run under "
            f"{wanted.precision}. Nothing was changed; {REFIT_HOW_TO}."
        )
    if not run_dir.progress.is_file():
        return True  # nothing to resume from
    progress = json.loads(run_dir.progress.read_text())
    return progress["epoch"] >= plan.epochs or progress["stopped"] is not None


def run_cell(
    plan: DatasetPlan,
    cell: Cell,
    seed: int | None,
    runs_dir: Path,
    data_loader,
    tfds_dir,
    records_dir: Path | None = None,
) -> None:
    """Trains (or fits) ``cell`` at ``seed`` unless it has finished already, printing one line,
    and records the finished run under ``records_dir`` (``records.py``) when given.

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
                if cell.baseline or "validation" in json.loads(run_dir.metrics_json.read_text()):
                    print(f"{tag}: done already, skipped", flush=True)
                else:
                    rescore(plan, cell, seed, run_dir, data_loader, tfds_dir)
                    print(f"{tag}: done already, rescored for PROTOCOL §5b", flush=True)
                record_finished(run_dir, records_dir, overwrite=False)
                return
        except ConfigError as error:
            raise SystemExit(f"{tag}: {error}") from None
        print(f"{tag}: finished below epoch cap {plan.epochs}, training on", flush=True)
    started = time.perf_counter()
    if cell.baseline:
        name, fp_aware = cell.baseline
        metrics = evaluate_baseline(name, data_loader(), "test", fp_aware, skip_metrics=True)
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
            data=data_loader(cell.variant),
        )["metrics"]
    record_finished(run_dir, records_dir, overwrite=True)
    print(
        f"{tag}: MRR@20 {metrics['mrr@20']:.2f}  HR@20 {metrics['hr@20']:.2f}  "
        f"({time.perf_counter() - started:.0f} s)",
        flush=True,
    )


def record_finished(run_dir: RunDir, records_dir: Path | None, overwrite: bool) -> None:
    """Records a finished run (``records.py``) unless ``records_dir`` is None, or the run is the
    chosen recipe's run linked as NARM / Vanilla seed 0 (recorded once, under its recipe cell), or
    (``overwrite`` False) a record is there already."""
    if records_dir is None or run_dir.path.is_symlink():
        return
    if overwrite or not record_path(records_dir, run_dir).is_file():
        write_record(run_dir, records_dir)


def rescore(plan: DatasetPlan, cell: Cell, seed: int, run_dir: RunDir, data_loader, tfds_dir):
    """Rewrites the test results of a run finished before PROTOCOL §5b (no skip metrics, no
    validation figures) from its best checkpoint; nothing is trained."""
    from fpam_tf.training.experiment import Experiment
    from fpam_tf.training.results import write_test_results

    config = run_dir.read_config()
    experiment = Experiment.create(config, tfds_dir=tfds_dir, data=data_loader(cell.variant))
    write_test_results(experiment, run_dir)


def link_recipe_run(runs_dir: Path, dataset: str, chosen: Cell, vanilla: Cell) -> None:
    """Makes the chosen recipe's run (NARM / Vanilla, seed 0) also the main grid's NARM / Vanilla
    seed 0: the same config, trained once. A directory already there is left alone."""
    target = cell_dir(runs_dir, dataset, chosen, 0).path
    link = cell_dir(runs_dir, dataset, vanilla, 0).path
    if target.is_dir() and not link.exists() and not link.is_symlink():
        link.symlink_to(target.name, target_is_directory=True)


def make_data_loader(plan: DatasetPlan, tfds_dir):
    """A function ``load(variant="standard")`` returning the dataset's :class:`ProtocolData`
    (under a protocol variant's splits), prepared on first call and then reused."""
    from fpam_tf.training.experiment import load_protocol_data

    cache = {}

    def load(variant: str = "standard"):
        # Window variants share the standard splits; only a split variant needs its own data.
        key = variant if variant in SPLIT_VARIANTS else "standard"
        if key not in cache:
            config = RunConfig(
                dataset=plan.name,
                data_dir=plan.data_dir,
                dataset_options=plan.dataset_options,
                protocol_variant=key,
            )
            cache[key] = load_protocol_data(config, tfds_dir=tfds_dir)
        return cache[key]

    return load


def training_record(run_dir: RunDir) -> dict | None:
    """How a run trained, from its progress record (``None`` when it has none, e.g. a baseline).

    ``seconds`` spent in training epochs, optimizer ``steps``, ``epochs`` trained, ``best_epoch``,
    ``early_stopped`` (patience ran out before the cap), ``last_epoch_gain``: the validation
    MRR@20 gain of the last epoch over the one before (``None`` after a single epoch), and
    ``cpu_model``: the CPU it trained on (``None`` when unknown: not recorded yet).
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
        "early_stopped": progress["stopped"] is not None,
        "last_epoch_gain": round(scores[-1] - scores[-2], 4) if len(scores) > 1 else None,
        "cpu_model": (machine_of(run_dir) or {}).get("cpu_model"),
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
        per_seed, validation, at_best, training, config = {}, {}, {}, {}, None
        for seed in [None] if cell.baseline else ([0] if cell.group == "recipe" else seeds):
            run_dir = cell_dir(runs_dir, dataset, cell, seed)
            if not run_dir.metrics_json.is_file():
                continue
            record = json.loads(run_dir.metrics_json.read_text())
            key = "-" if seed is None else str(seed)
            per_seed[key] = record["metrics"]
            config = record["config"]
            if record.get("best_validation_mrr@20") is not None:
                validation[key] = record["best_validation_mrr@20"]
            if "validation" in record:
                at_best[key] = record["validation"]
            if (how := training_record(run_dir)) is not None:
                # The chosen recipe's run stands in for NARM / Vanilla at seed 0 (a link): it is
                # shown there too but counted once, under its recipe cell.
                training[key] = dict(how, reused=run_dir.path.is_symlink())
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
            "validation": at_best,
            "training": training,
            "training_seconds": round(
                sum(t["seconds"] for t in training.values() if not t["reused"]), 1
            ),
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
    order = study(recipes=RECIPES + QUICK_RECIPES)
    ordered = {cell.name: cells[cell.name] for cell in order if cell.name in cells}
    if unknown := sorted(set(cells) - set(ordered)):
        raise ValueError(f"{path}: cells outside the study: {', '.join(unknown)}")
    for result in ordered.values():
        for key in ("seeds", "best_validation_mrr@20", "validation", "training"):
            result[key] = by_seed(result[key])
    summary["cells"] = ordered
    return summary
