"""``python -m benchmarks.reproduce --quick`` end to end into a temporary folder, and its
resumability; the committed report against its generator."""

import dataclasses
import json
import shutil

import pytest

from benchmarks.reproduce import ROOT, findings, grid, peers, report, runs, statistics, tables
from benchmarks.reproduce import __main__ as cli
from benchmarks.reproduce.tables import short_cpu
from fpam_tf.methods import MethodConfig
from fpam_tf.training.precision import cpu_model


def test_study_cells_are_unique_and_hold_the_recipes_our_methods_and_the_former_default():
    cells = grid.study()
    names = [c.name for c in cells]
    assert len(names) == len(set(names))
    assert {
        "recipe-narm-vanilla-lr0.001-b512",
        "recipe-narm-vanilla-lr0.003-b512",
        "narm-fp-simple-index-shift",
        "narm-fp-unlikelihood",
        "srgnn-fp-skiphead",
        "narm-fp-metric",
        "narm-fp-adametric-all-w1",
        "sknn-fp",
        "pop",
    } <= set(names)
    former = next(c.method for c in cells if c.name == "narm-fp-adametric-all-w1")
    assert former == MethodConfig.preset("fp-adametric", context="all", fp_target_weight=1.0)
    assert "srgnn-fp-metric" not in names  # the Table 3 ablation is NARM's
    by_name = {c.name: c for c in cells}
    assert [by_name[n].max_seeds for n in ("narm-vanilla", "srgnn-vanilla", "stamp-vanilla")] == [
        3,
        3,
        1,
    ]
    assert by_name["recipe-narm-vanilla-lr0.003-b512"].max_seeds == 1


def test_runs_go_backbone_by_backbone_and_seed_by_seed_each_to_its_seed_count():
    recipe, methods = grid.RECIPES[0], ["vanilla", "fp-simple"]
    cells = grid.recipe_cells() + grid.main_cells(["narm", "stamp"], methods, recipe)
    cells += grid.variant_cells(methods, recipe) + grid.baseline_cells()
    order = [(cell.name, seed) for cell, seed in runs.run_order(cells, [0, 1, 2])]
    baselines = [name for name, seed in order if seed is None]
    assert order[: len(baselines)] == [(name, None) for name in baselines] and "sknn" in baselines
    rest = order[len(baselines) :]
    assert rest[:2] == [
        ("recipe-narm-vanilla-lr0.001-b512", 0),
        ("recipe-narm-vanilla-lr0.003-b512", 0),
    ]
    narm_main = ["narm-vanilla", "narm-fp-simple"]
    variants = [c.name for c in cells if c.group == "variants"]
    assert len(variants) == 6
    assert rest[2:] == [(name, seed) for seed in (0, 1, 2) for name in narm_main] + [
        (name, 0) for name in variants
    ] + [("stamp-vanilla", 0), ("stamp-fp-simple", 0)]


def test_quick_run_writes_results_and_resumes_without_retraining(tmp_path, capsys):
    out, runs, docs = tmp_path / "results", tmp_path / "runs", tmp_path / "REPRODUCTION.md"
    argv = [
        "--quick",
        "--backbones",
        "narm",
        "--methods",
        "vanilla,fp-adametric,fp-skiphead",
        "--out",
        str(out),
        "--runs-dir",
        str(runs),
        "--docs",
        str(docs),
        "--tfds-dir",
        str(tmp_path / "tfds"),
    ]
    cli.main(argv)
    summary = json.loads((out / "synthetic.json").read_text())
    cells = summary["cells"]
    assert {
        "recipe-narm-vanilla-lr0.001-b128",
        "narm-vanilla",
        "narm-fp-adametric",
        "narm-fp-skiphead",
        "narm-fp-metric",
        "narm-fp-adametric-all-w1",
        "narm-vanilla-target-in-prefix",
        "narm-vanilla-own-targets",
        "narm-vanilla-random-split",
        "pop",
        "spop-fp",
        "sknn",
    } <= set(cells)
    assert cells["narm-vanilla-own-targets"]["config"]["protocol_variant"] == "own-targets"
    assert not any(
        name.startswith(("gru4rec", "srgnn", "stamp")) for name in cells
    )  # --backbones narm
    # the chosen recipe's run is the grid's NARM / Vanilla at seed 0, trained once
    chosen = grid.Recipe(**summary["recipe"])
    vanilla_run = runs / "synthetic" / "narm-vanilla-s0"
    assert vanilla_run.is_symlink() and vanilla_run.resolve().name == (
        f"recipe-narm-vanilla-lr{chosen.learning_rate:g}-b{chosen.batch_size}-s0"
    )
    assert set(cells["narm-vanilla"]["seeds"]) == {"0"} and len(cells["narm-vanilla"]["mean"]) == 30
    assert cells["narm-vanilla"]["validation"]["0"]["skiphr@20"] >= 0
    assert summary["default"] == "vanilla"  # one seed cannot pass the rule
    table = (out / "synthetic.md").read_text()
    assert "| NARM | Vanilla |" in table and "SkipHR@20" in table
    assert (out / "synthetic_mrr20.png").read_bytes()[:4] == b"\x89PNG"
    report = docs.read_text()
    assert "- NARM: " in report and "the best of Vanilla and FP-Simple" in report
    assert "NARM, FP-SkipHead (ours) - Vanilla: MRR@20 " in report  # generated sentences
    assert "## synthetic" in report and "results/synthetic_mrr20.png" in report
    assert "Epoch cap 1 with early stopping" in report and grid.RECIPE_RULE in report
    assert grid.DEFAULT_RULE in report and "the CLI default is `vanilla`" in report
    assert "### Convergence and cost" in report and "runs reached the epoch cap of 1" in report
    assert "| vanilla | target-in-prefix |" in report and "Closest: " in report
    assert cells["narm-vanilla"]["training"]["0"]["steps"] == grid.QUICK_MAX_STEPS
    # training times compare only on one CPU: the report says which CPU each run trained on
    assert cells["narm-vanilla"]["training"]["0"]["cpu_model"] == cpu_model()
    assert "CPU (per seed) |" in report and "compare only between runs on the same CPU" in report

    finished = sorted(runs.glob("synthetic/*/metrics.json"))
    assert len(finished) == len(cells)
    mtimes = [p.stat().st_mtime_ns for p in finished]
    capsys.readouterr()
    cli.main(argv)
    assert [p.stat().st_mtime_ns for p in finished] == mtimes
    assert capsys.readouterr().out.count("done already, skipped") == len(cells)

    # A fresh machine has the committed records and no run directories: nothing is trained again,
    # and the summary is the same. The linked NARM / Vanilla seed 0 is recorded once, as its recipe.
    records = sorted((out / "study" / "synthetic").glob("*.json"))
    assert (
        len(records) == len(cells) - 1 and not (records[0].parent / "narm-vanilla-s0.json").exists()
    )
    assert all(json.loads(r.read_text())["machine"]["cpu_model"] for r in records)
    shutil.rmtree(runs)
    cli.main(argv)
    output = capsys.readouterr().out
    assert f"{len(records)} recorded run(s) restored" in output
    assert output.count("done already, skipped") == len(cells) and "seed 0: MRR@20" not in output
    again = json.loads((out / "synthetic.json").read_text())
    assert {**again, "wall_seconds": 0} == {**summary, "wall_seconds": 0}


def test_cpu_names_are_shortened_for_the_convergence_table():
    assert short_cpu("Intel(R) Xeon(R) Processor @ 2.00GHz") == "Intel Xeon"
    assert short_cpu("AMD EPYC 7B13 64-Core Processor") == "AMD EPYC 7B13 64-Core"
    assert short_cpu(None) == "?"


def test_gap_sources_say_how_much_training_fp_simple_got_against_vanilla():
    def cell(label, mrr, steps, best_epoch):
        return _seeded(label, {"0": mrr}) | {
            "training": {"0": {"steps": steps, "best_epoch": best_epoch}}
        }

    results = {
        "narm-vanilla": cell("Vanilla", 14.0, 1000, 10),
        "narm-fp-simple": cell("FP-Simple", 12.0, 450, 12),
    }
    (sentence,) = findings.gap_sources(results)
    assert sentence == (
        "NARM: FP-Simple - Vanilla is -2.00 MRR@20 (ahead in 0 of 1 seeds); converged, FP-Simple "
        "trained 45% of Vanilla's optimizer steps (best epoch 12.0 against 10.0)."
    )


def _seeded(label, by_seed):
    """A collected NARM cell whose MRR@20 and HR@20 per seed are ``by_seed``."""
    mean = sum(by_seed.values()) / len(by_seed)
    return {
        "backbone": "narm",
        "label": label,
        "group": "main",
        "seeds": {seed: {"mrr@20": v, "hr@20": v, "skiphr@20": v} for seed, v in by_seed.items()},
        "mean": {"mrr@20": mean, "hr@20": mean, "skiphr@20": mean},
        "std": {"mrr@20": 0.0, "hr@20": 0.0, "skiphr@20": 0.0},
        "best_validation_mrr@20": dict(by_seed),
        "validation": {seed: {"skiphr@20": v} for seed, v in by_seed.items()},
    }


def test_paired_gap_compares_cells_only_on_the_seeds_both_ran():
    three_seeds = _seeded("Vanilla", {"0": 14.0, "1": 13.0, "2": 12.0})
    one_seed = _seeded("FP-AdaMetric (context all)", {"0": 14.5})
    # Against the three-seed mean (13.0) the one-seed cell would look 1.5 ahead; paired on seed 0
    # it is 0.5.
    assert statistics.paired_gap(one_seed, three_seeds, "mrr@20") == (0.5, 1, 1)
    assert statistics.paired_gap(one_seed, three_seeds, "mrr@20").ahead_in == "1 of 1 seeds"
    assert statistics.paired_gap(_seeded("late", {"3": 15.0}), three_seeds, "mrr@20") is None


def test_a_cell_sharing_no_seed_is_reported_as_not_compared_and_the_report_goes_on():
    results = {
        "narm-vanilla": _seeded("Vanilla", {"0": 14.0, "1": 12.0}),
        "narm-fp-simple": _seeded("FP-Simple", {"3": 11.0}),
        "narm-fp-adametric": _seeded("FP-AdaMetric", {"0": 11.5}),
        "narm-fp-skiphead": _seeded("w=1", {"0": 14.5}),
        "narm-fp-unlikelihood": _seeded("w=0.5", {"3": 15.0}),
    }
    ordering_mrr, ordering_hr, winners = findings.agreement(results)
    assert ordering_mrr == (
        "NARM, MRR@20: FP-AdaMetric > FP-Simple > Vanilla is not judged: FP-AdaMetric (seeds 0) "
        "and FP-Simple (seeds 3) share no seed, so they are not compared; run both at a common "
        "--seeds value."
    )
    assert ordering_hr.startswith("NARM, HR@20") and "not judged" in ordering_hr
    assert winners.endswith(
        "best first: w=1 (14.50, +0.50, ahead in 1 of 1 seeds). Not compared: w=0.5 (seeds 3) "
        "and Vanilla (seeds 0, 1) share no seed, so they are not compared; run both at a common "
        "--seeds value."
    )
    (gaps,) = findings.gap_sources(results)
    assert gaps.startswith("NARM: FP-Simple (seeds 3) and Vanilla (seeds 0, 1) share no seed")


def test_agreement_lists_the_winners_by_paired_gap_with_the_seeds_behind_each():
    results = {
        "narm-vanilla": _seeded("Vanilla", {"0": 14.0, "1": 12.0}),
        "narm-fp-simple": _seeded("FP-Simple", {"0": 11.0, "1": 11.0}),
        "narm-fp-adametric": _seeded("FP-AdaMetric", {"0": 11.5, "1": 10.9}),
        "narm-fp-skiphead": _seeded("w=1", {"0": 14.5, "1": 12.5}),
        "narm-fp-unlikelihood": _seeded("w=0.5", {"0": 14.2}),
    }
    sentences = findings.agreement(results)
    ordering, winners = sentences[0], sentences[-1]
    assert (
        "does not hold" in ordering
        and "FP-AdaMetric - FP-Simple +0.20, ahead in 1 of 2 seeds" in ordering
    )
    # w=0.5's one seed puts it 1.2 above the two-seed Vanilla mean, but only 0.2 above Vanilla's
    # seed 0.
    assert winners.endswith(
        "best first: w=1 (13.50 ± 0.00, +0.50, ahead in 2 of 2 seeds); "
        "w=0.5 (14.20, +0.20, ahead in 1 of 1 seeds)."
    )


def test_the_recipe_rule_takes_the_fastest_candidate_within_the_margin_of_the_best():
    candidates = grid.recipe_cells()
    slow, fast = candidates

    def finished(validation, best_epoch):
        return {
            "best_validation_mrr@20": {"0": validation},
            "training": {"0": {"best_epoch": best_epoch}},
        }

    results = {slow.name: finished(18.70, 30), fast.name: finished(18.50, 12)}
    assert statistics.choose_recipe(results, candidates) == fast.recipe
    results[fast.name] = finished(18.40, 12)  # 0.30 below the best: out of the margin
    assert statistics.choose_recipe(results, candidates) == slow.recipe
    results[fast.name] = finished(18.70, 30)  # a tie on both: the lower learning rate
    assert statistics.choose_recipe(results, candidates) == slow.recipe
    del results[fast.name]
    assert statistics.choose_recipe(results, candidates) is None  # a candidate unfinished


def test_the_default_rule_needs_a_gain_beyond_two_standard_errors_and_fewer_skips():
    vanilla = _seeded("Vanilla", {"0": 18.0, "1": 18.2, "2": 17.9})

    def candidate(gains, skip_gaps):
        cell = _seeded("c", {s: vanilla["best_validation_mrr@20"][s] + g for s, g in gains.items()})
        cell["validation"] = {
            s: {"skiphr@20": vanilla["validation"][s]["skiphr@20"] + g}
            for s, g in skip_gaps.items()
        }
        return cell

    steady = {"0": 0.30, "1": 0.35, "2": 0.25}
    fewer_skips = {"0": -1.0, "1": -0.5, "2": -0.8}
    results = {"narm-vanilla": vanilla, "narm-fp-skiphead": candidate(steady, fewer_skips)}
    default, (check,) = statistics.default_rule(results)
    assert default == "narm-fp-skiphead" and check.passes and check.seeds == 3
    assert check.gain == pytest.approx(0.30) and check.standard_error == pytest.approx(0.0289, 1e-2)
    noisy = {"0": 0.9, "1": -0.5, "2": 0.5}  # mean +0.30, 2 SE 0.82: inside seed noise
    results["narm-fp-skiphead"] = candidate(noisy, fewer_skips)
    default, (check,) = statistics.default_rule(results)
    assert default == "vanilla"
    assert json.loads(json.dumps(check._asdict()))["passes"] is False  # the report's JSON holds it
    results["narm-fp-skiphead"] = candidate(steady, {"0": 0.5, "1": -0.1, "2": 0.0})
    assert statistics.default_rule(results)[0] == "vanilla"  # more skipped items recommended
    two_seeds = {"0": 0.3, "1": 0.35}
    results["narm-fp-skiphead"] = candidate(two_seeds, {"0": -1.0, "1": -1.0})
    assert statistics.default_rule(results)[0] == "vanilla"  # fewer than 3 seeds


def test_a_difference_inside_seed_noise_is_a_tie():
    vanilla = _seeded("Vanilla", {"0": 18.0, "1": 18.2, "2": 17.9})
    steady = _seeded("a", {"0": 18.3, "1": 18.5, "2": 18.2})
    noisy = _seeded("b", {"0": 19.0, "1": 17.7, "2": 18.3})
    assert findings.paired_verdict(steady, vanilla, "mrr@20").endswith(", better")
    assert findings.paired_verdict(noisy, vanilla, "mrr@20").endswith("a tie within seed noise")
    assert findings.paired_verdict(steady, vanilla, "skiphr@20", lower_is_better=True).endswith(
        ", worse"
    )
    one = _seeded("c", {"0": 19.0})
    assert findings.paired_verdict(one, vanilla, "mrr@20") == "+1.00 (one seed, not judged)"


def test_cells_flag_rejects_a_cell_outside_the_selected_grid(tmp_path):
    with pytest.raises(SystemExit, match="narm-nope not in the study"):
        cli.main(
            [
                "--quick",
                "--cells",
                "narm-vanilla,narm-nope",
                "--out",
                str(tmp_path),
                "--runs-dir",
                str(tmp_path / "runs"),
                "--docs",
                str(tmp_path / "R.md"),
            ]
        )


def test_quick_writes_under_its_own_folder_unless_told_otherwise():
    # Its small runs share cell names with the real grid's: in the real runs dir they would pass
    # for finished cells.
    quick = cli.output_paths(cli.parser().parse_args(["--quick"]))
    assert [str(p) for p in quick] == [
        "runs/reproduce-quick",
        "runs/reproduce-quick/results",
        "runs/reproduce-quick/REPRODUCTION.md",
    ]
    real = cli.output_paths(cli.parser().parse_args([]))
    assert [str(p) for p in real] == ["runs/reproduce", "results", "docs/REPRODUCTION.md"]
    told = cli.output_paths(
        cli.parser().parse_args(["--quick", "--out", "x", "--runs-dir", "y", "--docs", "z"])
    )
    assert [str(p) for p in told] == ["y", "x", "z"]


def _finished_run(runs_dir, dataset, cell, seed, config, mrr=10.0):
    """A run directory of ``cell`` at ``seed`` as the grid leaves it: config.json and
    metrics.json."""
    from fpam_tf.atomic import write_json_atomic

    run_dir = runs.cell_dir(runs_dir, dataset, cell, seed)
    write_json_atomic(run_dir.config, config.to_json())
    write_json_atomic(
        run_dir.metrics_json,
        {
            "metrics": {k: mrr for k in tables.TABLE_KEYS},
            "validation": {"skiphr@20": mrr},
            "config": config.to_json(),
            "best_validation_mrr@20": mrr,
        },
    )


def _plan(quick):
    args = cli.parser().parse_args(["--datasets", "synthetic"] + (["--quick"] if quick else []))
    (plan,) = cli.dataset_plans(args)
    return plan


def test_a_finished_run_of_other_settings_is_refused_not_reused(tmp_path, capsys):
    quick = grid.method_cell("narm", "vanilla", recipe=grid.QUICK_RECIPES[0])
    cell = grid.method_cell("narm", "vanilla", recipe=grid.RECIPES[0])
    _finished_run(tmp_path, "synthetic", quick, 0, runs.run_config(_plan(quick=True), quick, 0))
    with pytest.raises(
        SystemExit,
        match=r"narm-vanilla seed 0: .*another config \(batch_size: 128 there, 512 now; "
        r".*embedding_dim: 16 there, 100 now.*\. Nothing was changed; pass another --runs-dir, "
        r"or delete that directory",
    ):
        runs.run_cell(_plan(quick=False), cell, 0, tmp_path, data_loader=None, tfds_dir=None)
    runs.run_cell(_plan(quick=True), quick, 0, tmp_path, data_loader=None, tfds_dir=None)
    assert "narm-vanilla seed 0: done already, skipped" in capsys.readouterr().out


def test_a_run_trained_under_another_precision_is_refused_not_reused(tmp_path):
    cell = grid.method_cell("narm", "vanilla", recipe=grid.RECIPES[0])
    plan = _plan(quick=False)
    config = runs.run_config(plan, cell, 0)
    assert config.precision == grid.STUDY_PRECISION == "float32"
    bf16 = dataclasses.replace(config, precision="auto", resolved_precision="mixed_bfloat16")
    _finished_run(tmp_path, "synthetic", cell, 0, bf16)
    with pytest.raises(
        SystemExit,
        match=r"narm-vanilla seed 0: .* trained under mixed_bfloat16; the study trains every run "
        r"under float32\. Nothing was changed",
    ):
        runs.run_cell(plan, cell, 0, tmp_path, data_loader=None, tfds_dir=None)


def test_a_narrow_invocation_still_reports_every_finished_run_on_disk(tmp_path):
    plan = _plan(quick=False)
    recipe = grid.RECIPES[1]
    cells = {
        "narm-vanilla": (grid.method_cell("narm", "vanilla", recipe=recipe), 0),
        "srgnn-vanilla": (grid.method_cell("srgnn", "vanilla", recipe=recipe), 2),
        "narm-fp-adametric-all-w1": (grid.former_default_cell(recipe), 0),
    }
    for cell, seed in cells.values():
        _finished_run(tmp_path / "runs", "synthetic", cell, seed, runs.run_config(plan, cell, seed))
    summaries = cli.main(
        [
            "--report-only",
            "--datasets",
            "synthetic",
            "--backbones",
            "narm",
            "--seeds",
            "0",
            "--runs-dir",
            str(tmp_path / "runs"),
            "--out",
            str(tmp_path / "results"),
            "--docs",
            str(tmp_path / "R.md"),
        ]
    )
    summary = summaries["synthetic"]
    assert set(summary["cells"]) == set(cells)
    assert summary["seeds"] == [0, 2] and summary["recipe"] is None
    report = (tmp_path / "R.md").read_text()
    assert "seeds 0, 2 requested or on disk (3 main cells collected;" in report
    assert "| SR-GNN | Vanilla | 1 |" in report  # a backbone no flag asked for
    assert "Not chosen yet: a candidate is unfinished." in report


def test_a_baseline_fitted_with_other_settings_is_refused_not_reused(tmp_path, capsys):
    from fpam_tf.atomic import write_json_atomic

    cell = next(c for c in grid.baseline_cells() if c.name == "sknn-fp")
    quick, real = _plan(quick=True), _plan(quick=False)
    run_dir = runs.cell_dir(tmp_path, "synthetic", cell, None)
    write_json_atomic(
        run_dir.metrics_json, {"metrics": {}, "config": runs.baseline_config(quick, cell)}
    )
    with pytest.raises(
        SystemExit,
        match=r"sknn-fp: .*baseline fitted with another config \(dataset_options: "
        r"\{.*'num_sessions': 600.*\} there, \{\} now\)\. Nothing was changed",
    ):
        runs.run_cell(real, cell, None, tmp_path, data_loader=None, tfds_dir=None)
    runs.run_cell(quick, cell, None, tmp_path, data_loader=None, tfds_dir=None)
    assert "sknn-fp: done already, skipped" in capsys.readouterr().out


def test_a_finished_cell_of_a_lower_epoch_cap_trains_on_to_the_new_cap(tmp_path, capsys):
    cell = grid.method_cell("gru4rec", "fp-simple", recipe=grid.QUICK_RECIPES[0])
    plan = _plan(quick=True)
    loader = runs.make_data_loader(plan, tmp_path / "tfds")
    runs.run_cell(plan, cell, 0, tmp_path, loader, tmp_path / "tfds")
    run_dir = runs.cell_dir(tmp_path, "synthetic", cell, 0)
    longer = dataclasses.replace(plan, epochs=plan.epochs + 1)
    capsys.readouterr()
    runs.run_cell(longer, cell, 0, tmp_path, loader, tmp_path / "tfds")
    assert f"finished below epoch cap {longer.epochs}, training on" in capsys.readouterr().out
    progress = json.loads(run_dir.progress.read_text())
    assert progress["epoch"] == longer.epochs and len(progress["history"]) == longer.epochs
    assert json.loads(run_dir.metrics_json.read_text())["config"]["epochs"] == longer.epochs
    runs.run_cell(longer, cell, 0, tmp_path, loader, tmp_path / "tfds")
    runs.run_cell(
        plan, cell, 0, tmp_path, loader, tmp_path / "tfds"
    )  # a higher cap is kept, not cut back
    assert capsys.readouterr().out.count("done already, skipped") == 2
    # A run finished before PROTOCOL §5b is rescored from its best checkpoint, not retrained.
    record = json.loads(run_dir.metrics_json.read_text())
    record["metrics"] = {k: v for k, v in record["metrics"].items() if "skip" not in k}
    del record["validation"]
    run_dir.metrics_json.write_text(json.dumps(record))
    runs.run_cell(longer, cell, 0, tmp_path, loader, tmp_path / "tfds")
    assert "done already, rescored for PROTOCOL §5b" in capsys.readouterr().out
    assert json.loads(run_dir.progress.read_text())["epoch"] == longer.epochs
    rescored = json.loads(run_dir.metrics_json.read_text())
    assert "skiphr@20" in rescored["metrics"] and "skiphr@20" in rescored["validation"]


COMMITTED = ("spotify", "yoochoose")  # the datasets of the committed report, in its order


def test_the_committed_report_is_what_the_generator_writes_from_the_committed_results(tmp_path):
    # Pins docs/REPRODUCTION.md and results/*.md to their generator: results/<dataset>.json hold
    # the summaries the report was written from. Its Spotify section sets the paper's figures beside
    # ours, read from ../shared/paper.
    if not all((peers.PAPER_DIR / table).is_file() for table in ("table2.tsv", "table3.tsv")):
        pytest.skip(f"{peers.PAPER_DIR} is absent: the committed report prints the paper's figures")
    committed = (ROOT / "docs" / "REPRODUCTION.md").read_text(encoding="utf-8")
    command = committed.split("Last written by `", 1)[1].split("`", 1)[0]
    summaries = {name: runs.read_summary(ROOT / "results" / f"{name}.json") for name in COMMITTED}
    docs = tmp_path / "docs" / "REPRODUCTION.md"  # the figure paths relative to it as in the repo
    report.write_report(summaries, tmp_path / "results", docs, command)
    assert docs.read_text(encoding="utf-8") == committed
    for name, summary in summaries.items():
        report.write_dataset_outputs(name, summary, tmp_path / "results")
        for suffix in (".md", ".json"):
            assert (tmp_path / "results" / f"{name}{suffix}").read_text(encoding="utf-8") == (
                ROOT / "results" / f"{name}{suffix}"
            ).read_text(encoding="utf-8")


def test_the_paper_figures_are_read_in_our_names_and_their_absence_is_one_sentence(
    tmp_path, monkeypatch
):
    (tmp_path / "table2.tsv").write_text(
        "dataset\tbackbone\tmethod\tHR@20\tMRR@20\n"
        "Spotify\tSRGNN\tFP-AdaMetric\t83.37\t79.53\nLastFM\tNARM\tVanilla\t42.05\t29.74\n"
    )
    (tmp_path / "table3.tsv").write_text(
        "dataset\tmethod\tHR@100\tMRR@100\nSpotify\tw/o Adaptive\t84.84\t79.95\n"
    )
    assert peers.paper_table2("Spotify", tmp_path) == {
        ("srgnn", "fp-adametric"): {"hr@20": 83.37, "mrr@20": 79.53}
    }
    paper = peers.paper_table3("Spotify", tmp_path)
    assert paper == {"fp-metric": {"hr@100": 84.84, "mrr@100": 79.95}}
    ours = {
        "narm-fp-metric": _seeded("FP-Metric", {"0": 50.0})
        | {"mean": {"hr@100": 50.0, "mrr@100": 20.0}, "std": {"hr@100": 0.0, "mrr@100": 0.0}}
    }
    assert (
        "| w/o adaptive module (= FP-Metric) | 84.84 | 79.95 | 50.00 | 20.00 |"
        in tables.paper_ablation_table(ours, paper)
    )
    monkeypatch.setattr(peers, "PAPER_DIR", tmp_path / "absent")
    assert report.peer_section({}).endswith(
        "The paper's figures are not shown here: `"
        + peers.shown_path(tmp_path / "absent")
        + "/table2.tsv` was not found.\n"
    )
    assert report.paper_ablation_section({}).count("\n") == 1


def test_the_cli_default_is_the_rule_choice_of_the_committed_study():
    from fpam_tf.cli import add_run_arguments

    summary = runs.read_summary(ROOT / "results" / "spotify.json")
    default = summary["default"]
    method = (
        "vanilla"
        if default == "vanilla"
        else summary["cells"][default]["config"]["method"]["method"]
    )
    parser = __import__("argparse").ArgumentParser()
    add_run_arguments(parser)
    assert parser.parse_args([]).method == method


def test_the_chosen_recipe_run_is_narm_vanillas_seed_0_whatever_backbones_are_asked_for(tmp_path):
    plan = _plan(quick=False)
    candidates = grid.recipe_cells()
    for candidate, best_epoch in zip(candidates, (20, 12)):
        config = runs.run_config(plan, candidate, 0)
        _finished_run(tmp_path / "runs", "synthetic", candidate, 0, config)
        run_dir = runs.cell_dir(tmp_path / "runs", "synthetic", candidate, 0)
        history = [{"epoch": e, "val_mrr@20": 10.0} for e in range(1, best_epoch + 4)]
        progress = {"history": history, "global_step": 1, "best_epoch": best_epoch, "stopped": 1}
        run_dir.progress.parent.mkdir(parents=True, exist_ok=True)
        run_dir.progress.write_text(json.dumps(progress))
    summaries = cli.main(
        ["--report-only", "--datasets", "synthetic", "--backbones", "srgnn"]
        + ["--runs-dir", str(tmp_path / "runs"), "--out", str(tmp_path / "results")]
        + ["--docs", str(tmp_path / "R.md")]
    )
    summary = summaries["synthetic"]
    assert summary["recipe"] == grid.RECIPES[1].settings  # equal MRR@20: the fewer epochs
    assert "narm-vanilla" in summary["cells"]  # the chosen candidate's run, seed 0
