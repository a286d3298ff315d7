"""The pipeline end to end on a tiny synthetic log, its caching, failures, bad input and
distribution."""

from __future__ import annotations

import pytest

# The pipeline extras (pipelines/requirements.txt) are not part of the core environment.
pytest.importorskip(
    "tensorflow_transform", reason="install pipelines/requirements.txt to test the pipelines"
)

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

from pipeline_inputs import spotify_rows, tiny_settings, write_spotify_log

from fpam_tf.training.run_dir import RunConfig
from pipelines.artifacts import RECORDS, STAGING, PipelineRoot
from pipelines.beam_options import pipeline_options
from pipelines.errors import PipelineError
from pipelines.run import Settings, run_example_gen, run_pipeline

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    """One full pipeline run (blessing margin -100: the tiny run must be blessed whatever it
    learnt)."""
    tmp = tmp_path_factory.mktemp("pipeline")
    settings = tiny_settings(tmp, blessing_margin=-100.0)
    return settings, run_pipeline(settings)


def test_end_to_end_run_pushes_a_blessed_model(first_run):
    settings, done = first_run
    assert not any(execution.skipped for execution in done.values())
    root = Path(settings.pipeline_root)
    for component, execution in done.items():
        for artifact in execution.artifacts.values():
            # TFX layout: <root>/<Component>/<artifact>/<execution id>
            folder = root / component / artifact.name / str(execution.execution_id)
            assert artifact.path == str(folder)
    assert (Path(done["Evaluator"]["blessing"].path) / "BLESSED").is_file()
    evaluation = json.loads(
        (Path(done["Evaluator"]["evaluation"].path) / "evaluation.json").read_text()
    )
    assert set(evaluation["candidate"]["test"]) >= {"hr@20", "mrr@20", "ndcg@20"}
    assert evaluation["baseline"] is not None and evaluation["pushed"] is None
    pushed = json.loads((Path(done["Pusher"]["pushed_model"].path) / "pushed.json").read_text())
    version = Path(pushed["version_dir"])
    assert version == Path(settings.export_base).resolve() / "synthetic-narm-fp-adametric" / "1"
    assert (version / "saved_model.pb").is_file()
    graph_vocabulary = (
        Path(done["Transform"]["transform_graph"].path) / "transform_fn" / "assets" / "items"
    )
    assert (version / "assets" / "vocabulary.txt").read_bytes() == graph_vocabulary.read_bytes()
    statistics = json.loads(
        (Path(done["StatisticsGen"]["statistics"].path) / "statistics.json").read_text()
    )
    assert sum(statistics[split]["sessions"] for split in statistics) == 200
    assert (Path(done["StatisticsGen"]["statistics"].path) / "statistics.png").stat().st_size > 0


def test_second_run_skips_every_component(first_run):
    settings, done = first_run
    again = run_pipeline(settings)
    assert all(execution.skipped for execution in again.values())
    assert {c: e.execution_id for c, e in again.items()} == {
        c: e.execution_id for c, e in done.items()
    }


def test_unblessed_model_is_kept_with_its_reason(first_run, tmp_path):
    settings, done = first_run
    # Same data and models (all cached) but an unreachable margin: only Evaluator and Pusher run.
    strict = dataclasses.replace(settings, blessing_margin=100.0)
    again = run_pipeline(strict)
    assert [c for c, e in again.items() if not e.skipped] == ["Evaluator", "Pusher"]
    assert (Path(again["Evaluator"]["blessing"].path) / "NOT_BLESSED").is_file()
    record = json.loads(
        (Path(again["Pusher"]["pushed_model"].path) / "not_pushed.json").read_text()
    )
    assert not record["pushed"] and "does not beat" in record["reason"]
    assert sorted(
        p.name for p in (Path(settings.export_base) / "synthetic-narm-fp-adametric").iterdir()
    ) == ["1"]


def test_failing_component_leaves_no_artifact(tmp_path):
    root = PipelineRoot(tmp_path)

    def fail(out):
        (Path(out["things"]) / "half-written").write_text("partial")
        raise RuntimeError("disk full")

    with pytest.raises(PipelineError, match="Demo: failed: RuntimeError: disk full"):
        root.run_component("Demo", inputs={"x": 1}, config={}, outputs=["things"], execute=fail)
    assert (
        not (tmp_path / "Demo" / "things").exists()
        and not (tmp_path / "Demo" / STAGING / "1").exists()
    )
    assert root.records("Demo") == []

    def succeed(out):
        (Path(out["things"]) / "done").write_text("complete")

    execution = root.run_component(
        "Demo", inputs={"x": 1}, config={}, outputs=["things"], execute=succeed
    )
    assert not execution.skipped and (Path(execution["things"].path) / "done").is_file()
    assert root.run_component(
        "Demo", inputs={"x": 1}, config={}, outputs=["things"], execute=fail
    ).skipped
    # Changed input or config: a new execution with a new id.
    assert (
        root.run_component(
            "Demo", inputs={"x": 2}, config={}, outputs=["things"], execute=succeed
        ).execution_id
        == 2
    )
    assert len(list((tmp_path / "Demo" / RECORDS).glob("*.json"))) == 2


def spotify_settings(tmp_path: Path, data_dir: Path, **changes) -> Settings:
    return Settings(
        run=RunConfig(dataset="spotify", data_dir=str(data_dir)),
        pipeline_root=str(tmp_path / "root"),
        **changes,
    )


def test_malformed_row_names_component_and_file(tmp_path):
    rows = spotify_rows(20)
    rows[7] = ",".join(
        field if i != 5 else "maybe" for i, field in enumerate(rows[7].split(","))
    )  # skip_2
    log = write_spotify_log(tmp_path / "logs" / "log_0.csv.gz", rows)
    with pytest.raises(PipelineError) as error:
        run_example_gen(
            PipelineRoot(tmp_path / "root"),
            spotify_settings(tmp_path, log.parent, strict=True),
            pipeline_options(),
        )
    message = str(error.value)
    assert message.startswith("ExampleGen") and f"{log}:9" in message and "skip_2" in message
    assert not (tmp_path / "root" / "ExampleGen" / "examples").exists()


def test_missing_column_names_component_and_file(tmp_path):
    log = write_spotify_log(
        tmp_path / "logs" / "log_0.csv.gz", ["s1,1"], header="session_id,session_position"
    )
    with pytest.raises(PipelineError, match=r"ExampleGen.*log_0\.csv\.gz:1: header lacks column"):
        run_example_gen(
            PipelineRoot(tmp_path / "root"),
            spotify_settings(tmp_path, log.parent),
            pipeline_options(),
        )


def test_empty_split_is_an_error(tmp_path):
    log = write_spotify_log(tmp_path / "logs" / "log_0.csv.gz", spotify_rows(5))
    with pytest.raises(
        PipelineError, match=r"ExampleGen \(.*log_0\.csv\.gz\): split\(s\) validation are empty"
    ):
        run_example_gen(
            PipelineRoot(tmp_path / "root"),
            spotify_settings(tmp_path, log.parent),
            pipeline_options(),
        )


def test_schema_change_between_runs_is_an_error(tmp_path):
    log = write_spotify_log(tmp_path / "logs" / "log_0.csv.gz", spotify_rows(30))
    root, settings = PipelineRoot(tmp_path / "root"), spotify_settings(tmp_path, log.parent)
    assert not run_example_gen(root, settings, pipeline_options()).skipped
    rows = [row + ",x" for row in spotify_rows(30)]
    write_spotify_log(
        log,
        rows,
        header="session_id,session_position,session_length,track_id_clean,skip_1,skip_2,"
        "skip_3,not_skipped,hour_of_day,date,premium",
    )
    os.utime(log, ns=(1, 1))  # A different modification time even on a coarse clock.
    with pytest.raises(
        PipelineError,
        match=r"ExampleGen \(.*log_0\.csv\.gz\): the input schema changed.*"
        r"columns added \['premium'\]",
    ):
        run_example_gen(root, settings, pipeline_options())
    accepted = run_example_gen(
        root, dataclasses.replace(settings, update_schema=True), pipeline_options()
    )
    assert not accepted.skipped


MIRRORED_SCRIPT = """
import sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from pathlib import Path
from pipelines import trainer
from dataclasses import replace
from pipelines.run import default_run
graph, transformed, model_dir = map(Path, sys.argv[1:4])
config = replace(default_run(), epochs=1, batch_size=64, embedding_dim=8, hidden_units=8)
summary = trainer.run(
    config, graph, transformed, model_dir, distribution="mirrored", max_steps_per_epoch=2
)
print("REPLICAS", summary["replicas"], "MRR", summary["best_validation_mrr@20"])
"""


def test_mirrored_strategy_over_two_logical_cpus(first_run, tmp_path):
    _, done = first_run
    graph, transformed = (
        done["Transform"]["transform_graph"].path,
        done["Transform"]["transformed_examples"].path,
    )
    script = (
        "import pipelines\n" + MIRRORED_SCRIPT
    )  # pipelines first: TF_USE_LEGACY_KERAS before TensorFlow
    result = subprocess.run(
        [sys.executable, "-c", script, str(graph), str(transformed), str(tmp_path / "model")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "REPLICAS 2" in result.stdout
    assert (tmp_path / "model" / "metrics.json").is_file()


def test_the_trainer_streams_the_shards_in_blocks_that_together_are_each_split(first_run):
    from collections import Counter

    from pipelines import trainer

    _, done = first_run
    graph = Path(done["Transform"]["transform_graph"].path)
    transformed = Path(done["Transform"]["transformed_examples"].path)
    whole = trainer.protocol_data(graph, transformed)
    streamed = trainer.streamed_data(graph, transformed, block_sessions=7)
    assert list(streamed.items.ids) == list(whole.items.ids)
    assert list(streamed.users.ids) == list(whole.users.ids)
    for split, sessions in whole.splits.items():
        for order_seed in (None, 3):
            blocks = list(streamed.blocks(split, order_seed))
            assert max(len(block) for block in blocks) <= 7
            assert Counter(
                (session_id, tuple(block.items[b:e]), tuple(block.is_fp[b:e]), int(user))
                for block in blocks
                for session_id, b, e, user in zip(
                    block.session_ids, block.row_splits[:-1], block.row_splits[1:], block.users
                )
            ) == Counter(
                (session_id, tuple(sessions.items[b:e]), tuple(sessions.is_fp[b:e]), int(user))
                for session_id, b, e, user in zip(
                    sessions.session_ids,
                    sessions.row_splits[:-1],
                    sessions.row_splits[1:],
                    sessions.users,
                )
            )


@pytest.mark.parametrize(
    "tf_config, part",
    [
        (None, (0, 1)),
        ({"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 1}}, (1, 2)),
        (
            {"cluster": {"chief": ["c:1"], "worker": ["a:1", "b:1"]}, "task": {"type": "chief"}},
            (0, 3),
        ),
        (
            {
                "cluster": {"chief": ["c:1"], "worker": ["a:1", "b:1"]},
                "task": {"type": "worker", "index": 1},
            },
            (2, 3),
        ),
    ],
)
def test_each_multiworker_task_reads_a_part_of_its_own_and_part_0_is_the_chief(
    monkeypatch, tf_config, part
):
    from pipelines import trainer

    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", json.dumps(tf_config))
    got = trainer.worker_part("multiworker")
    assert (got.index, got.count) == part
    assert trainer.is_chief("multiworker") == (part[0] == 0)
    assert trainer.worker_part("none").whole


def test_a_task_that_is_not_a_chief_or_worker_is_refused(monkeypatch):
    from pipelines import trainer

    cluster = {"chief": ["c:1"], "worker": ["a:1"], "evaluator": ["e:1"]}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "evaluator"}}))
    with pytest.raises(PipelineError, match="task evaluator 0 is not a chief or worker"):
        trainer.worker_part("multiworker")


def test_workers_need_at_least_one_shard_each(first_run):
    from fpam_tf.protocol import DataPart
    from pipelines import trainer

    _, done = first_run
    graph = Path(done["Transform"]["transform_graph"].path)
    transformed = Path(done["Transform"]["transformed_examples"].path)
    with pytest.raises(PipelineError, match=r"(?s)1 shard\(s\) for 4 workers.*--shards 4"):
        trainer.streamed_data(graph, transformed, part=DataPart(3, 4))


def test_workers_compare_their_shards_by_names_and_sizes(first_run, tmp_path):
    import shutil

    from pipelines import records, trainer

    _, done = first_run
    transformed = Path(done["Transform"]["transformed_examples"].path)
    copy = tmp_path / "copy"
    shutil.copytree(transformed, copy)
    assert trainer.shards_fingerprint(copy) == trainer.shards_fingerprint(transformed)
    (shard,) = records.shards(copy, "test")
    with open(shard, "ab") as stream:
        stream.write(b"\0")  # another Transform run: the same names, other contents
    assert trainer.shards_fingerprint(copy) != trainer.shards_fingerprint(transformed)
