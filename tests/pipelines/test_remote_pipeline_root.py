"""A pipeline root on a non-local file system: the artifact store, the Evaluator's blessing and the
Pusher's records on TensorFlow's in-memory ``ram://`` scheme (offline), and the errors of roots the
pipeline cannot use."""

from __future__ import annotations

import pytest

# The pipeline extras (pipelines/requirements.txt) are not part of the core environment.
pytest.importorskip(
    "tensorflow_transform", reason="install pipelines/requirements.txt to test the pipelines"
)

import uuid

from pipeline_inputs import tiny_settings

from fpam_tf.errors import ConfigError
from pipelines import evaluator, filesystem, pusher
from pipelines.artifacts import RECORDS, STAGING, PipelineRoot
from pipelines.beam_options import pipeline_options
from pipelines.errors import PipelineError
from pipelines.run import main, run_example_gen


@pytest.fixture
def ram_root():
    """A pipeline root URI in TensorFlow's in-memory file system, removed afterwards."""
    root = f"ram://{uuid.uuid4().hex}/root"
    yield root
    filesystem.remove_tree(root)


def write_things(text: str):
    """An ``execute`` that writes ``text`` into its ``things`` output."""

    def execute(out):
        filesystem.write_text(filesystem.join(out["things"], "thing.txt"), text)
        return {"written": text}

    return execute


def run_demo(root: PipelineRoot, execute, x=1):
    return root.run_component(
        "Demo", inputs={"x": x}, config={}, outputs=["things"], execute=execute
    )


def test_the_store_on_ram_scheme_publishes_then_reuses_a_finished_execution(ram_root):
    root = PipelineRoot(ram_root)
    assert root.path == ram_root
    first = run_demo(root, write_things("one"))
    assert not first.skipped and first.execution_id == 1
    assert first["things"].path == f"{ram_root}/Demo/things/1"
    assert filesystem.read_text(f"{ram_root}/Demo/things/1/thing.txt") == "one"
    [record] = root.records("Demo")
    assert record["artifacts"]["things"]["path"] == "Demo/things/1"
    assert record["summary"] == {"written": "one"}
    assert not filesystem.exists(f"{ram_root}/Demo/{STAGING}")
    # Same fingerprint: skipped, the recorded artifact reused.
    again = run_demo(root, write_things("never written"))
    assert again.skipped and again["things"] == first["things"]
    # A changed input: a new execution beside the first.
    changed = run_demo(root, write_things("two"), x=2)
    assert not changed.skipped and changed.execution_id == 2
    assert filesystem.listdir(f"{ram_root}/Demo/{RECORDS}") == ["1.json", "2.json"]


def test_the_store_on_ram_scheme_removes_the_folder_of_a_failing_component(ram_root):
    root = PipelineRoot(ram_root)

    def fail(out):
        filesystem.write_text(filesystem.join(out["things"], "half-written"), "partial")
        raise RuntimeError("disk full")

    with pytest.raises(PipelineError, match="Demo: failed: RuntimeError: disk full"):
        run_demo(root, fail)
    assert not filesystem.exists(f"{ram_root}/Demo/things/1")
    assert root.records("Demo") == []


def test_the_store_on_ram_scheme_treats_a_folder_without_marker_as_incomplete(
    ram_root, monkeypatch
):
    root = PipelineRoot(ram_root)
    write_json = filesystem.write_json

    def killed_before_the_record(path, data):
        if f"/{RECORDS}/" in path:
            raise KeyboardInterrupt  # the process dies between the outputs and the record
        write_json(path, data)

    monkeypatch.setattr(filesystem, "write_json", killed_before_the_record)
    with pytest.raises(KeyboardInterrupt):
        run_demo(root, write_things("complete but unrecorded"))
    monkeypatch.undo()
    # ram:// cannot rename folders, so the outputs were written in place: the folder is there...
    assert filesystem.exists(f"{ram_root}/Demo/things/1/thing.txt")
    # ...but without its record nothing counts it as an artifact: the rerun executes again under
    # a fresh id instead of reusing it.
    assert root.records("Demo") == []
    rerun = run_demo(root, write_things("recorded"))
    assert not rerun.skipped and rerun.execution_id == 2
    assert filesystem.read_text(filesystem.join(rerun["things"].path, "thing.txt")) == "recorded"


def write_run(folder: str, validation_mrr: float) -> str:
    """A trained run directory as the Evaluator and the Pusher read it: its ``metrics.json``."""
    filesystem.write_json(
        filesystem.join(folder, "metrics.json"),
        {
            evaluator.SELECTION: validation_mrr,
            "metrics": {"mrr@20": validation_mrr},
            "method": "fp-adametric",
            "model": "narm",
        },
    )
    return folder


def evaluate(root: PipelineRoot, model: str, baseline: str, margin: float):
    """The Evaluator component as ``pipelines.run.run_evaluator`` runs it (no pushed model)."""
    return root.run_component(
        evaluator.COMPONENT,
        inputs={"model": model, "baseline": baseline},
        config={"margin": margin},
        outputs=["evaluation", "blessing"],
        execute=lambda out: evaluator.run(model, baseline, None, out, margin=margin),
    )


def test_the_evaluator_writes_its_blessing_on_ram_scheme(ram_root):
    root = PipelineRoot(ram_root)
    model = write_run(f"{ram_root}/runs/candidate", 0.30)
    baseline = write_run(f"{ram_root}/runs/baseline", 0.20)
    blessed = evaluate(root, model, baseline, margin=0.05)
    assert evaluator.is_blessed(blessed["blessing"].path)
    report = filesystem.read_json(filesystem.join(blessed["evaluation"].path, "evaluation.json"))
    assert report["blessed"] and report["baseline"]["validation_mrr@20"] == 0.20
    refused = evaluate(root, model, baseline, margin=0.5)
    assert not evaluator.is_blessed(refused["blessing"].path)
    assert filesystem.exists(filesystem.join(refused["blessing"].path, "NOT_BLESSED"))


def test_the_pusher_records_an_unblessed_model_on_ram_scheme(ram_root):
    root = PipelineRoot(ram_root)
    model = write_run(f"{ram_root}/runs/candidate", 0.10)
    baseline = write_run(f"{ram_root}/runs/baseline", 0.20)
    report = evaluate(root, model, baseline, margin=0.0)["evaluation"]
    pushed = root.run_component(
        pusher.COMPONENT,
        inputs={"model": model, "evaluation": report},
        config={},
        outputs=["pushed_model"],
        execute=lambda out: pusher.run(
            model,
            report.path,
            False,
            f"{ram_root}/no-graph",
            out["pushed_model"],
            export_base=f"{ram_root}/saved_models",
            name="demo",
            k=10,
        ),
    )
    record = filesystem.read_json(filesystem.join(pushed["pushed_model"].path, "not_pushed.json"))
    assert not record["pushed"] and "does not beat" in record["reason"]
    assert record["model_dir"] == model
    assert pusher.current_push(root) is None


def test_current_push_reads_push_records_on_ram_scheme(ram_root):
    # fpam_tf.export cannot write to ram:// (next test), so the version folder and the push record
    # are written here as the Pusher writes them after an export.
    root = PipelineRoot(ram_root)
    model, version = f"{ram_root}/runs/candidate", f"{ram_root}/saved_models/demo/1"
    filesystem.makedirs(version)
    record = {"pushed": True, "version_dir": version, "model_dir": model, "metrics": {}}
    root.run_component(
        pusher.COMPONENT,
        inputs={"model": model},
        config={},
        outputs=["pushed_model"],
        execute=lambda out: filesystem.write_json(
            filesystem.join(out["pushed_model"], pusher.PUSHED), record
        ),
    )
    assert pusher.current_push(root) == record
    assert pusher.current_push(root, exclude_model=model) is None
    filesystem.remove_tree(version)
    assert pusher.current_push(root) is None


def test_the_pusher_cannot_export_a_model_of_a_ram_root(ram_root):
    model = write_run(f"{ram_root}/runs/candidate", 0.30)
    filesystem.write_json(f"{ram_root}/evaluation/evaluation.json", {"reason": "beats all"})
    with pytest.raises(ConfigError, match=r"ram://.*is not a local path.*local file APIs"):
        pusher.run(
            model,
            f"{ram_root}/evaluation",
            True,
            f"{ram_root}/graph",
            f"{ram_root}/pushed",
            export_base=f"{ram_root}/saved_models",
            name="demo",
            k=10,
        )


def test_examplegen_refuses_a_ram_root_before_any_work(ram_root, tmp_path):
    # Beam's file sinks do not serve ram:// ("Unable to get filesystem from specified path").
    with pytest.raises(ConfigError, match=r"ram://.*/raw is not a local path"):
        run_example_gen(PipelineRoot(ram_root), tiny_settings(tmp_path), pipeline_options())
    assert not filesystem.exists(ram_root)


def test_a_missing_file_on_ram_scheme_is_a_config_error_naming_it(ram_root):
    with pytest.raises(ConfigError, match=r"cannot read ram://.*/missing\.json"):
        filesystem.read_json(f"{ram_root}/missing.json")


def test_local_pipeline_roots_are_resolved_to_absolute_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert PipelineRoot("relative/root").path == str(tmp_path / "relative" / "root")
    assert PipelineRoot(f"file://{tmp_path}/root").path == str(tmp_path / "root")
    assert PipelineRoot("gs://bucket/root").path == "gs://bucket/root"


def test_a_pipeline_root_of_an_unknown_scheme_is_a_config_error():
    with pytest.raises(ConfigError) as error:
        PipelineRoot("s4://bucket/root")
    message = str(error.value)
    assert message.startswith("s4://bucket/root: the scheme s4:// is not served")
    assert "gs://" in message and "ram://" in message and "fix: pass a local folder" in message


def test_the_command_line_reports_an_unknown_scheme_without_a_traceback(capsys):
    with pytest.raises(SystemExit) as exit_status:
        main(["--pipeline-root", "s4://bucket/root"])
    assert exit_status.value.code == 2
    stderr = capsys.readouterr().err
    assert stderr.startswith("error: s4://bucket/root: the scheme s4://")
    assert "Traceback" not in stderr
