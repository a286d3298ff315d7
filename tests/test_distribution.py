"""Data parallelism: every global batch split over the replicas of ``MirroredStrategy`` (two
logical CPUs) and over the workers of ``MultiWorkerMirroredStrategy`` (two processes on
127.0.0.1), with the one-device losses, weights and metrics; and the pipeline Trainer's workers
each reading their own transformed shards, with the weights and metrics of one device trained on
the union of their batches. Each training runs in processes of its own
(tests/distributed_training.py)."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fpam_tf import datasets
from fpam_tf.training.run_dir import RunDir

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "distributed_training.py"
SMALL = {"num_sessions": 200, "num_users": 20, "num_items": 60}
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT))


@pytest.fixture(scope="module")
def tfds_dir(tmp_path_factory):
    """The small synthetic dataset, prepared once for every process."""
    tfds = tmp_path_factory.mktemp("tfds")
    datasets.load("synthetic", tfds_dir=tfds, **SMALL)
    return tfds


def script(*args) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), *map(str, args)],
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finished(process: subprocess.Popen, out: Path) -> dict:
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr[-3000:]
    return json.loads(out.read_text())


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def weights_of(path: Path) -> dict:
    """Every array of a ``.weights.h5`` file by its path in the file."""
    import h5py

    arrays = {}
    with h5py.File(path, "r") as file:
        file.visititems(
            lambda name, item: (
                arrays.update({name: item[()]}) if isinstance(item, h5py.Dataset) else None
            )
        )
    return arrays


def assert_metrics_close(one: dict, other: dict):
    assert one.keys() == other.keys()
    for name, value in one.items():
        assert other[name] == pytest.approx(value, abs=1e-4), name


# 110 s on 2 busy CPU cores: one process, one device then two replicas
@pytest.mark.slow
def test_mirrored_splits_each_batch_over_two_replicas_with_the_one_device_losses(
    tfds_dir, tmp_path
):
    out = tmp_path / "mirrored.json"
    results = finished(script("mirrored", tfds_dir, out), out)
    one, two = results["one_device"], results["two_replicas"]
    assert (one["replicas"], two["replicas"]) == (1, 2)
    # Batches of 32, 5 and 1: each replica trains on its slice (an empty one beside a single row).
    assert one["local_batch_sizes"] == [32, 32, 32, 32, 5, 1]
    assert two["local_batch_sizes"] == [16] * 8 + [3, 2, 1, 0]
    for step_one, step_two in zip(one["losses"], two["losses"], strict=True):
        for term, value in step_one.items():
            assert step_two[term] == pytest.approx(value, abs=1e-5), term
    weights_one = np.load(out.with_suffix(".one_device.npz"))
    weights_two = np.load(out.with_suffix(".two_replicas.npz"))
    for name in weights_one.files:
        np.testing.assert_allclose(weights_two[name], weights_one[name], atol=1e-5)
    # Full-ranking and skip metrics, and the evaluation losses, of the trained weights.
    assert_metrics_close(one["validation"], two["validation"])


# 240 s on 2 busy CPU cores: two worker processes, then one single-worker process
@pytest.mark.slow
def test_two_workers_train_on_halves_of_the_single_worker_batches_and_only_the_chief_writes(
    tfds_dir, tmp_path
):
    ports = ",".join(map(str, free_ports(2)))
    outs = [tmp_path / f"worker{index}.json" for index in (0, 1)]
    workers = [script("worker", index, ports, tfds_dir, out) for index, out in enumerate(outs)]
    chief, other = (finished(process, out) for process, out in zip(workers, outs, strict=True))
    single_out = tmp_path / "single.json"
    single = finished(script("single", tfds_dir, single_out), single_out)
    assert (chief["replicas"], chief["chief"], other["chief"]) == (2, True, False)
    # Worker w trains on slice w of every global batch: together, the single worker's batches.
    halves = zip(chief["local_batch_sizes"], other["local_batch_sizes"], strict=True)
    assert [a + b for a, b in halves] == single["local_batch_sizes"]
    assert chief["best_validation_mrr@20"] == pytest.approx(
        single["best_validation_mrr@20"], abs=1e-4
    )
    assert_metrics_close(single["test"], chief["test"])
    chief_dir, single_dir = RunDir(chief["model_dir"]), RunDir(single["model_dir"])
    (record,) = json.loads(chief_dir.progress.read_text())["history"]
    (single_record,) = json.loads(single_dir.progress.read_text())["history"]
    for name, value in single_record.items():
        if name != "seconds":
            assert record[name] == pytest.approx(value, abs=1e-4), name
    weights, single_weights = (
        weights_of(chief_dir.latest_weights),
        weights_of(single_dir.latest_weights),
    )
    assert weights.keys() == single_weights.keys()
    for name, value in single_weights.items():
        np.testing.assert_allclose(weights[name], value, atol=1e-5, err_msg=name)
    assert chief_dir.metrics_json.is_file()
    # The other worker trained into a temporary run directory, removed since.
    assert not Path(other["model_dir"]).exists()


@pytest.fixture(scope="module")
def three_shards(tmp_path_factory):
    """ExampleGen and Transform of a small synthetic log into 3 shards per split: two workers
    read 2 and 1 of them, so one runs out of batches before the other."""
    pytest.importorskip("tensorflow_transform", reason="install pipelines/requirements.txt")
    from pipelines.artifacts import PipelineRoot
    from pipelines.beam_options import pipeline_options
    from pipelines.run import Settings, default_run, run_example_gen, run_transform

    root_dir = str(tmp_path_factory.mktemp("pipeline") / "root")
    run = dataclasses.replace(
        default_run(), dataset="synthetic", dataset_options={**SMALL, "seed": 3}
    )
    root, options = PipelineRoot(root_dir), pipeline_options("DirectRunner", ())
    examples = run_example_gen(root, Settings(run=run, pipeline_root=root_dir), options)
    transformed = run_transform(root, examples["examples"], options, shards=3)
    return transformed["transform_graph"].path, transformed["transformed_examples"].path


# 150 s on 2 CPU cores: Transform, two worker processes, then one single-device process
@pytest.mark.slow
def test_trainer_workers_read_their_own_shards_and_train_as_one_device_on_their_union(
    three_shards, tmp_path
):
    graph, transformed = three_shards
    ports = ",".join(map(str, free_ports(2)))
    outs = [tmp_path / f"worker{index}.json" for index in (0, 1)]
    workers = [
        script("shards-worker", index, ports, graph, transformed, out)
        for index, out in enumerate(outs)
    ]
    chief, other = (finished(process, out) for process, out in zip(workers, outs, strict=True))
    assert (chief["replicas"], chief["chief"], other["chief"]) == (2, True, False)
    single_out = tmp_path / "single.json"
    single = finished(script("shards-single", graph, transformed, single_out, *outs), single_out)

    # Each worker trained on batches of its own shards (2 of 3 against 1 of 3): the same number
    # of steps, the one with less data on empty batches at the end; together, every window once.
    batches = [np.load(out.with_suffix(".batches.npz")) for out in outs]
    rows = [
        [len(b[f"{step}/targets"]) for step in range(worker["steps"])]
        for b, worker in zip(batches, (chief, other), strict=True)
    ]
    assert len(rows[0]) == len(rows[1])
    assert rows[0][-1] > 0 and rows[1][-1] == 0
    assert max(max(r) for r in rows) <= 16  # half of the global batch of 32

    # One device on the union of each step's batches: the same weights, losses and metrics.
    chief_dir = RunDir(chief["model_dir"])
    (record,) = json.loads(chief_dir.progress.read_text())["history"]
    assert record["train_loss"] == pytest.approx(single["losses"][-1]["loss"], abs=1e-5)
    weights, single_weights = (
        weights_of(chief_dir.latest_weights),
        weights_of(single_out.with_suffix(".weights.h5")),
    )
    assert weights.keys() == single_weights.keys()
    for name, value in single_weights.items():
        np.testing.assert_allclose(weights[name], value, atol=1e-5, err_msg=name)
    # Validation and test ranked each worker's part, summed: the whole splits' metrics.
    for name, value in single["validation"].items():
        if not name.endswith("loss"):  # means over steps, which the parts cut differently
            assert record[f"val_{name}"] == pytest.approx(value, abs=1e-3), name
    metrics = json.loads(chief_dir.metrics_json.read_text())
    assert metrics["windows"] == single["windows"]["test"]
    for name, value in metrics["metrics"].items():
        assert single["test"][name] == pytest.approx(value, abs=1e-3), name
    assert not Path(other["model_dir"]).exists()
