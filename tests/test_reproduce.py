"""``python -m benchmarks.reproduce --quick`` end to end into a temporary folder, and its
resumability; the committed report against its generator."""

import dataclasses
import json

import pytest

from benchmarks.reproduce import ROOT, findings, grid, peers, report, runs, statistics, tables
from benchmarks.reproduce import __main__ as cli
from fpam_tf.methods import METHODS


def test_grid_cells_are_unique_and_the_sweep_reuses_the_default_cell():
    cells = grid.grid(grid.BACKBONES, METHODS)
    names = [c.name for c in cells]
    assert len(names) == len(set(names))
    assert {
        "narm-fp-simple-all",
        "narm-fp-adametric-all-w0.5",
        "narm-fp-simple-all-w1",
        "sknn-fp",
        "pop",
        "pop-fp",
    } <= set(names)
    control = next(c.method for c in cells if c.name == "narm-fp-simple-all-w1")
    assert control.flags and control.fp_target_weight == 1.0 and control.fp_lambda == 0.0
    sweep = {c.name: c.method for c in grid.sweep_grid()}
    assert len(sweep) == len(grid.SWEEP_LAMBDAS) * len(grid.SWEEP_MARGINS)
    default = next(c for c in cells if c.name == "narm-fp-adametric")
    assert sweep["narm-fp-adametric"] == default.method
    assert (
        sweep["narm-fp-adametric-l1-m0.5"].fp_lambda == 1.0
        and sweep["narm-fp-adametric-l1-m0.5"].margin == 0.5
    )


def test_runs_go_seed_by_seed_so_a_grid_cut_short_has_every_cell_at_its_first_seeds():
    cells = grid.grid(["narm"], ["vanilla", "fp-simple"])
    order = [(cell.name, seed) for cell, seed in runs.run_order(cells, [0, 1])]
    baselines = [name for name, seed in order if seed is None]
    assert order[: len(baselines)] == [(name, None) for name in baselines] and "sknn" in baselines
    trained = [name for name, seed in order if seed is not None]
    assert order[len(baselines) :] == [(name, 0) for name in trained[: len(trained) // 2]] + [
        (name, 1) for name in trained[: len(trained) // 2]
    ]


def test_quick_run_writes_results_and_resumes_without_retraining(tmp_path, capsys):
    out, runs, docs = tmp_path / "results", tmp_path / "runs", tmp_path / "REPRODUCTION.md"
    argv = [
        "--quick",
        "--backbones",
        "narm",
        "--methods",
        "vanilla,fp-adametric",
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
        "narm-vanilla",
        "narm-fp-adametric",
        "narm-fp-adametric-all",
        "narm-fp-adametric-all-w1",
        "pop",
        "spop-fp",
        "sknn",
    } <= set(cells)
    assert not any(
        name.startswith(("gru4rec", "srgnn", "stamp")) for name in cells
    )  # --backbones narm
    assert set(cells["narm-vanilla"]["seeds"]) == {"0"} and len(cells["narm-vanilla"]["mean"]) == 15
    table = (out / "synthetic.md").read_text()
    assert "| NARM | Vanilla |" in table and "MRR@20" in table
    assert (out / "synthetic_mrr20.png").read_bytes()[:4] == b"\x89PNG"
    report = docs.read_text()
    assert (
        "- NARM: " in report and "the best of Vanilla and FP-Simple" in report
    )  # generated sentences
    assert (
        "## synthetic" in report
        and "results/synthetic_mrr20.png" in report
        and "Epoch cap 1" in report
    )
    trained = sum(cell["backbone"] != "baselines" for cell in cells.values())
    assert (
        f"seeds 0 (requested or on disk; {trained} of {trained} grid cells have all of them;"
        in report
    )
    assert (
        "### Convergence at the epoch cap" in report
        and "runs had their best validation epoch" in report
    )
    assert cells["narm-vanilla"]["training"]["0"]["steps"] == grid.QUICK_MAX_STEPS

    finished = sorted(runs.glob("synthetic/*/metrics.json"))
    assert len(finished) == len(cells)
    mtimes = [p.stat().st_mtime_ns for p in finished]
    capsys.readouterr()
    cli.main(argv)
    assert [p.stat().st_mtime_ns for p in finished] == mtimes
    assert capsys.readouterr().out.count("done already, skipped") == len(cells)


def _result(backbone, label, mrr, steps, group="main"):
    return {
        "backbone": backbone,
        "label": label,
        "group": group,
        "seeds": {"0": {"mrr@20": mrr}},
        "mean": {"mrr@20": mrr},
        "std": {"mrr@20": 0.0},
        "training": {"0": {"steps": steps}},
    }


def test_gap_sources_split_the_fp_simple_gap_into_context_targets_and_the_fp_term():
    results = {
        "narm-vanilla": _result("narm", "Vanilla", 14.0, 1000),
        "narm-fp-simple": _result("narm", "FP-Simple", 12.0, 450),
        "narm-fp-simple-all": _result("narm", "FP-Simple (context all)", 13.0, 450),
        "narm-fp-metric-all": _result("narm", "FP-Metric (context all)", 12.75, 450),
        "narm-fp-adametric-all": _result("narm", "FP-AdaMetric (context all)", 13.25, 450),
        "narm-fp-simple-all-w1": _result("narm", "control", 14.1, 1000, "weight"),
        "narm-fp-adametric-all-w1": _result("narm", "w=1", 14.5, 1000, "weight"),
    }
    (sentence,) = findings.gap_sources(results)
    assert (
        "FP-Simple - Vanilla is -2.00" in sentence
        and "45% of Vanilla's optimizer steps" in sentence
    )
    assert "move FP-Simple +1.00, closing 50% of the gap" in sentence
    assert (
        "on that context the FP term on top adds -0.25 as FP-Metric (12.75, ahead in 0 of 1 "
        "seeds), +0.25 as FP-AdaMetric (13.25, ahead in 1 of 1 seeds)"
    ) in sentence
    assert "+0.10 against Vanilla" in sentence and "adds +0.40, ahead in 1 of 1 seeds" in sentence


def _seeded(label, by_seed):
    """A collected NARM cell whose MRR@20 and HR@20 per seed are ``by_seed``."""
    mean = sum(by_seed.values()) / len(by_seed)
    return {
        "backbone": "narm",
        "label": label,
        "group": "main",
        "seeds": {seed: {"mrr@20": v, "hr@20": v} for seed, v in by_seed.items()},
        "mean": {"mrr@20": mean, "hr@20": mean},
        "std": {"mrr@20": 0.0, "hr@20": 0.0},
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
        "narm-fp-adametric-all-w1": _seeded("w=1", {"0": 14.5}) | {"group": "weight"},
        "narm-fp-adametric-all-w0.5": _seeded("w=0.5", {"3": 15.0}) | {"group": "weight"},
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
        "narm-fp-adametric-all-w1": _seeded("w=1", {"0": 14.5, "1": 12.5}) | {"group": "weight"},
        "narm-fp-adametric-all-w0.5": _seeded("w=0.5", {"0": 14.2}) | {"group": "weight"},
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


def test_sweep_compares_the_points_on_the_seeds_every_point_ran():
    def point(fp_lambda, margin, by_seed):
        return {
            "backbone": "narm",
            "group": "sweep",
            "best_validation_mrr@20": by_seed,
            "config": {"method": {"fp_lambda": fp_lambda, "margin": margin}},
        }

    results = {
        "narm-fp-adametric": point(
            0.1, 1.0, {"0": 12.0, "1": 13.0, "2": 13.0}
        ),  # the default, at every seed
        "narm-fp-adametric-l1-m1": point(1.0, 1.0, {"0": 12.1}),
    }
    table, sentence = report.sweep_table(results)
    # Over all its seeds the default would read 12.67 and win; on seed 0, the one both ran, λ = 1
    # leads.
    assert "| 0.1 | - | 12.00 | - |" in table and "| 1 | - | 12.10 | - |" in table
    assert sentence.startswith(
        "The best validation MRR@20 of the 2 points run is λ = 1, m = 1 (12.10)"
    )
    assert sentence.endswith(
        "(seeds 0). For scale, the default alone moves 12.00 to 13.00 over seeds 0, 1, 2."
    )


def test_cells_flag_rejects_a_cell_outside_the_selected_grid(tmp_path):
    with pytest.raises(SystemExit, match="narm-nope not in the grid"):
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
            "config": config.to_json(),
            "best_validation_mrr@20": mrr,
        },
    )


def _plan(quick):
    args = cli.parser().parse_args(["--datasets", "synthetic"] + (["--quick"] if quick else []))
    (plan,) = cli.dataset_plans(args)
    return plan


def test_a_finished_run_of_other_settings_is_refused_not_reused(tmp_path, capsys):
    cell = grid.method_cell("narm", "vanilla")
    _finished_run(tmp_path, "synthetic", cell, 0, runs.run_config(_plan(quick=True), cell, 0))
    with pytest.raises(
        SystemExit,
        match=r"narm-vanilla seed 0: .*another config \(batch_size: 128 there, 512 now; "
        r".*embedding_dim: 16 there, 100 now.*\. Nothing was changed; pass another --runs-dir, "
        r"or delete that directory",
    ):
        runs.run_cell(_plan(quick=False), cell, 0, tmp_path, data_loader=None, tfds_dir=None)
    runs.run_cell(_plan(quick=True), cell, 0, tmp_path, data_loader=None, tfds_dir=None)
    assert "narm-vanilla seed 0: done already, skipped" in capsys.readouterr().out


def test_a_narrow_invocation_still_reports_every_finished_run_on_disk(tmp_path):
    plan = _plan(quick=False)
    cells = {
        "narm-vanilla": (grid.method_cell("narm", "vanilla"), 0),
        "srgnn-vanilla": (grid.method_cell("srgnn", "vanilla"), 2),
        "narm-fp-adametric-all-w0.75": (
            grid.method_cell("narm", "fp-adametric", context="all", weight=0.75, group="weight"),
            0,
        ),
        "narm-fp-adametric-l0.5-m1": (
            grid.method_cell("narm", "fp-adametric", fp_lambda=0.5, margin=1.0, group="sweep"),
            0,
        ),
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
            "--fp-target-weights",
            "1",
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
    assert summary["seeds"] == [0, 2] and summary["fp_target_weights"] == [0.75, 1.0]
    report = (tmp_path / "R.md").read_text()
    assert (
        "seeds 0, 2 (requested or on disk; 0 of 3 grid cells have all of them, and 1 off-default "
        "λ x m point(s) have the seeds --sweep ran;"
    ) in report
    assert "| 0.5 | - | 10.00 | - |" in report  # the λ = 0.5 sweep point, which no flag asked for


def test_a_baseline_fitted_with_other_settings_is_refused_not_reused(tmp_path, capsys):
    from fpam_tf.atomic import write_json_atomic

    cell = next(c for c in grid.grid([], []) if c.name == "sknn-fp")
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
    cell = grid.method_cell("gru4rec", "fp-simple")
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


COMMITTED = ("spotify", "synthetic")  # the datasets of the committed report, in its order


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
