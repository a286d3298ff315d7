"""``python -m benchmarks.reproduce --quick`` end to end into a temporary folder, and its resumability."""

import json

from benchmarks import reproduce
from fpam_tf.model import METHODS


def test_grid_cells_are_unique_and_the_sweep_reuses_the_default_cell():
    cells = reproduce.grid(reproduce.BACKBONES, METHODS)
    names = [c.name for c in cells]
    assert len(names) == len(set(names))
    assert {"narm-fp-simple-all", "narm-fp-adametric-all-w0.5", "sknn-fp", "pop", "pop-fp"} <= set(names)
    sweep = {c.name: c.method for c in reproduce.sweep_grid()}
    assert len(sweep) == len(reproduce.SWEEP_LAMBDAS) * len(reproduce.SWEEP_MARGINS)
    default = next(c for c in cells if c.name == "narm-fp-adametric")
    assert sweep["narm-fp-adametric"] == default.method
    assert sweep["narm-fp-adametric-l1-m0.5"].fp_lambda == 1.0 and sweep["narm-fp-adametric-l1-m0.5"].margin == 0.5


def test_quick_run_writes_results_and_resumes_without_retraining(tmp_path, capsys):
    out, runs, docs = tmp_path / "results", tmp_path / "runs", tmp_path / "REPRODUCTION.md"
    argv = ["--quick", "--methods", "vanilla,fp-adametric", "--out", str(out), "--runs-dir", str(runs),
            "--docs", str(docs), "--tfds-dir", str(tmp_path / "tfds")]
    reproduce.main(argv)
    summary = json.loads((out / "synthetic.json").read_text())
    cells = summary["cells"]
    assert {"narm-vanilla", "narm-fp-adametric", "narm-fp-adametric-all", "narm-fp-adametric-all-w1",
            "gru4rec-vanilla", "pop", "spop-fp", "sknn"} <= set(cells)
    assert set(cells["narm-vanilla"]["seeds"]) == {"0"} and len(cells["narm-vanilla"]["mean"]) == 15
    table = (out / "synthetic.md").read_text()
    assert "| NARM | Vanilla |" in table and "MRR@20" in table
    assert (out / "synthetic_mrr20.png").read_bytes()[:4] == b"\x89PNG"
    report = docs.read_text()
    assert "- NARM: " in report and "the best of Vanilla and FP-Simple" in report  # generated sentences
    assert "## synthetic" in report and "results/synthetic_mrr20.png" in report and "Epoch cap 1" in report

    finished = sorted(runs.glob("synthetic/*/metrics.json"))
    assert len(finished) == len(cells)
    mtimes = [p.stat().st_mtime_ns for p in finished]
    capsys.readouterr()
    reproduce.main(argv)
    assert [p.stat().st_mtime_ns for p in finished] == mtimes
    assert capsys.readouterr().out.count("done already, skipped") == len(cells)
