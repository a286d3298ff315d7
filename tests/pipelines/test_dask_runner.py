"""The pipeline's one command on a distributed Beam runner: the DaskRunner (Beam's, with the fixes
of pipelines/dask_runner.py) against a dask.distributed LocalCluster of 2 worker processes on
127.0.0.1. ExampleGen alone and the whole command, Transform included, run their Beam work in
both workers, and their outputs equal the DirectRunner's (both slow: each worker process imports
TensorFlow). The default suite checks the runner's fixes on a threaded in-process cluster (~4 s)
and the command-line checks of the runner name and the scheduler address."""

from __future__ import annotations

import pytest

# The pipeline extras (pipelines/requirements.txt) are not part of the core environment.
pytest.importorskip(
    "tensorflow_transform", reason="install pipelines/requirements.txt to test the pipelines"
)
pytest.importorskip(
    "dask.distributed", reason="install pipelines/requirements.txt (apache-beam[dask])"
)

import json
import os
from pathlib import Path

import numpy as np
from pipeline_inputs import TINY_SYNTHETIC

from fpam_tf.errors import ConfigError
from pipelines import records, statistics_gen, trainer
from pipelines.artifacts import PipelineRoot
from pipelines.beam_options import check_runner, pipeline_options
from pipelines.run import main, run_example_gen, run_transform, settings_from_args

WORKERS = 2
# A tiny run of the command: 200 synthetic sessions, Vanilla (no baseline to train), 3 steps.
TINY_ARGV = [
    *(f"--dataset-option={key}={value}" for key, value in TINY_SYNTHETIC.items()),
    *("--epochs=1", "--batch-size=64", "--embedding-dim=8", "--hidden-units=8"),
    *("--max-steps-per-epoch=3", "--k=10", "--blessing-margin=-100"),
]


@pytest.fixture(scope="module")
def cluster():
    """A scheduler and 2 worker processes (one thread each) on 127.0.0.1, and a client of it."""
    from dask.distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=WORKERS,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=":0",
        ) as local,
        Client(local) as client,
    ):
        yield local, client


def tasks_done(client) -> dict:
    """Worker address -> tasks that worker has executed so far."""
    return client.run(lambda dask_worker: dask_worker.state.executed_count)


def sessions(examples: str, split: str) -> list:
    return sorted(records.read_sessions(Path(examples), split))


def dask_options(local) -> list[str]:
    return ["--runner=DaskRunner", f"--dask_client_address={local.scheduler_address}"]


def assert_worker_processes_ran(client, before: dict) -> None:
    """Every one of the 2 worker processes (not this one) executed tasks since ``before``."""
    pids = client.run(os.getpid)
    assert len(set(pids.values())) == WORKERS and os.getpid() not in pids.values()
    after = tasks_done(client)
    executed = {address: after[address] - before[address] for address in after}
    assert len(executed) == WORKERS and all(count > 0 for count in executed.values()), executed


def assert_same_examples(dask_examples: str, direct_examples: str) -> None:
    for name in ("split_counts.json", "bad_rows.json"):
        assert json.loads((Path(dask_examples) / name).read_text()) == json.loads(
            (Path(direct_examples) / name).read_text()
        )
    for split in ("train", "validation", "test"):
        assert sessions(dask_examples, split) == sessions(direct_examples, split)


@pytest.mark.slow  # 45-85 s on 2 busy CPU cores, most of it each worker importing TensorFlow
def test_examplegen_on_two_dask_worker_processes_equals_the_direct_runner(cluster, tmp_path):
    local, client = cluster
    before = tasks_done(client)
    on_dask = settings_from_args([*TINY_ARGV, f"--pipeline-root={tmp_path / 'dask'}"])
    options = pipeline_options("DaskRunner", dask_options(local)[1:])
    dask_examples = run_example_gen(PipelineRoot(on_dask.pipeline_root), on_dask, options)
    assert_worker_processes_ran(client, before)
    direct = settings_from_args([*TINY_ARGV, f"--pipeline-root={tmp_path / 'direct'}"])
    examples = run_example_gen(PipelineRoot(direct.pipeline_root), direct, pipeline_options())
    assert_same_examples(dask_examples["examples"].path, examples["examples"].path)


@pytest.mark.slow  # 2-3 min on 2 busy CPU cores: Transform ~40 s per runner, a Trainer, a push
def test_the_command_runs_examplegen_and_transform_on_dask_workers(cluster, tmp_path):
    local, client = cluster
    before = tasks_done(client)
    done = main(
        [
            *TINY_ARGV,
            f"--pipeline-root={tmp_path / 'dask'}",
            f"--export-base={tmp_path / 'saved_models'}",
            *dask_options(local),
        ]
    )
    assert_worker_processes_ran(client, before)
    assert (Path(done["Pusher"]["pushed_model"].path) / "pushed.json").is_file()

    # The same components on the DirectRunner give the same examples, statistics and vocabulary.
    settings = settings_from_args([*TINY_ARGV, f"--pipeline-root={tmp_path / 'direct'}"])
    root, options = PipelineRoot(settings.pipeline_root), pipeline_options()
    examples = run_example_gen(root, settings, options)["examples"]
    transform = run_transform(root, examples, options)
    assert_same_examples(done["ExampleGen"]["examples"].path, examples.path)
    # StatisticsGen is not a Beam pipeline (numpy in the launching process) but reads the examples.
    statistics = tmp_path / "statistics"
    statistics.mkdir()
    statistics_gen.run(Path(examples.path), statistics)
    assert (Path(done["StatisticsGen"]["statistics"].path) / "statistics.json").read_text() == (
        statistics / "statistics.json"
    ).read_text()

    dask_graph = Path(done["Transform"]["transform_graph"].path)
    graph = Path(transform["transform_graph"].path)
    vocabulary = Path("transform_fn", "assets", "items")
    assert (dask_graph / vocabulary).read_bytes() == (graph / vocabulary).read_bytes()
    dask_transformed = Path(done["Transform"]["transformed_examples"].path)
    on_dask = trainer.protocol_data(dask_graph, dask_transformed)
    direct = trainer.protocol_data(graph, Path(transform["transformed_examples"].path))
    np.testing.assert_array_equal(on_dask.items.ids, direct.items.ids)
    for split in ("train", "validation", "test"):
        for field in ("session_ids", "items", "is_fp", "grades"):
            np.testing.assert_array_equal(
                getattr(on_dask.splits[split], field), getattr(direct.splits[split], field)
            )


def test_the_fixes_to_beams_dask_translation(tmp_path):
    # Fast, in one process (a threaded dask cluster): each step below went wrong with Beam 2.77's
    # DaskRunner as shipped (see pipelines/dask_runner.py): a source read as nothing, a Partition
    # giving every element to each branch, a side input recomputed per read, the file sinks'
    # finish_bundle output lost (empty shards), and only the last of several sinks computed.
    import apache_beam as beam
    from dask.distributed import LocalCluster

    source = tmp_path / "numbers.txt"
    source.write_text("".join(f"{n}\n" for n in range(20)))
    with LocalCluster(n_workers=1, processes=False, dashboard_address=":0") as local:
        options = pipeline_options(
            "DaskRunner", [f"--dask_client_address={local.scheduler_address}"]
        )
        with beam.Pipeline(options=options) as pipeline:
            numbers = pipeline | beam.io.ReadFromText(str(source)) | beam.Map(int)
            total = numbers | beam.CombineGlobally(sum)
            for name, part in zip(("even", "odd"), numbers | beam.Partition(lambda n, _: n % 2, 2)):
                (
                    part
                    | f"Share[{name}]"
                    >> beam.Map(lambda n, t: f"{n}/{t}", beam.pvalue.AsSingleton(total))
                    | f"Write[{name}]" >> beam.io.WriteToText(str(tmp_path / name))
                )
    for name, parity in (("even", 0), ("odd", 1)):
        (shard,) = tmp_path.glob(f"{name}-*")  # One shard per sink, no beam-temp-* folder left.
        assert sorted(shard.read_text().split()) == sorted(
            f"{n}/190" for n in range(20) if n % 2 == parity
        )
    assert sorted(path.name for path in tmp_path.iterdir() if path.is_dir()) == []


def test_dask_without_a_scheduler_address_is_a_one_line_error(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_status:
        main([f"--pipeline-root={tmp_path}", "--runner", "DaskRunner"])
    assert exit_status.value.code == 2
    stderr = capsys.readouterr().err
    assert stderr.startswith("error: --runner DaskRunner needs the scheduler")
    assert "--dask_client_address=HOST:PORT" in stderr and "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())  # Refused before any component ran.


def test_runner_names_are_checked_and_dask_maps_to_the_fixed_runner():
    assert check_runner("DaskRunner", ["--dask_client_address", "127.0.0.1:8786"]) == (
        "pipelines.dask_runner.DaskRunner"
    )
    assert check_runner("DaskRunner", ["--dask_scheduler_file=/shared/scheduler.json"])
    assert check_runner("FlinkRunner") == "FlinkRunner"
    assert check_runner("PrismRunner") == "PrismRunner"  # Any runner Beam knows by name.
    with pytest.raises(ConfigError, match="unknown Beam runner 'DaskRuner'"):
        check_runner("DaskRuner")
