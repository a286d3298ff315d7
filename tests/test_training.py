"""Training runs on a small synthetic log: every backbone x method, the run directory, TensorBoard,
resume after interruption, NaN stop, config conflicts, and re-evaluation."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from fpam_tf import datasets
from fpam_tf.backbones import BACKBONES
from fpam_tf.errors import ConfigError
from fpam_tf.methods import METHODS, MethodConfig
from fpam_tf.protocol import ProtocolData
from fpam_tf.training.experiment import Experiment
from fpam_tf.training.loop import NaNLossError, train
from fpam_tf.training.results import write_test_results
from fpam_tf.training.run_dir import RunConfig, RunDir

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"num_sessions": 600, "num_users": 60, "num_items": 300}


@pytest.fixture(scope="module")
def tfds_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("tfds")


@pytest.fixture(scope="module")
def small_data(tfds_dir):
    prepared = datasets.load("synthetic", tfds_dir=tfds_dir, **SMALL)
    return ProtocolData.from_sessions(prepared.splits)


def small_config(**overrides):
    values = dict(
        dataset="synthetic",
        model="gru4rec",
        method=MethodConfig.preset("fp-adametric"),
        batch_size=128,
        epochs=1,
        embedding_dim=16,
        hidden_units=16,
        dataset_options=SMALL,
    )
    values.update(overrides)
    return RunConfig(**values)


@pytest.mark.parametrize("method", METHODS)
def test_a_method_name_alone_means_exactly_its_preset(method):
    from fpam_tf.cli import add_dataset_arguments, add_run_arguments, run_config_from_args

    parser = __import__("argparse").ArgumentParser()
    add_dataset_arguments(parser)
    add_run_arguments(parser)
    config = run_config_from_args(parser.parse_args(["--method", method]))
    assert config.method == MethodConfig.preset(method)


def test_the_cli_default_method_is_vanilla():
    from fpam_tf.cli import add_dataset_arguments, add_run_arguments, run_config_from_args

    parser = __import__("argparse").ArgumentParser()
    add_dataset_arguments(parser)
    add_run_arguments(parser)
    assert run_config_from_args(parser.parse_args([])).method == MethodConfig.preset("vanilla")


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("backbone", list(BACKBONES))
def test_every_backbone_and_method_trains_an_epoch(backbone, method, small_data, tmp_path):
    config = small_config(model=backbone, method=MethodConfig.preset(method))
    experiment = Experiment.create(config, data=small_data)
    run_dir = RunDir(tmp_path / "run")
    run_dir.claim(config)
    progress = train(experiment, run_dir, verbose=0, max_steps_per_epoch=4)
    assert progress["epoch"] == 1 and progress["global_step"] == 4
    assert np.isfinite(progress["history"][0]["train_loss"])
    assert run_dir.best_weights.is_file() and run_dir.latest_weights.is_file()


def run_cli(args, **kwargs):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(
        [sys.executable, "-m", "fpam_tf.train", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        **kwargs,
    )


def cli_args(run_dir, tfds_dir, *extra):
    options = [f"--dataset-option={k}={v}" for k, v in SMALL.items()]
    return [
        "--dataset",
        "synthetic",
        "--model",
        "narm",
        "--method",
        "fp-adametric",
        "--batch-size",
        "128",
        "--embedding-dim",
        "16",
        "--hidden-units",
        "16",
        "--run-dir",
        str(run_dir),
        "--tfds-dir",
        str(tfds_dir),
        *options,
        *extra,
    ]


@pytest.fixture(scope="module")
def finished_run(tfds_dir, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "narm"
    export_base = run_dir.parent / "saved_models"
    result = run_cli(
        cli_args(
            run_dir,
            tfds_dir,
            "--epochs",
            "2",
            "--quiet",
            "--export",
            "--export-base",
            str(export_base),
        )
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return RunDir(run_dir), result


def test_train_cli_writes_config_checkpoints_and_test_metrics(finished_run):
    run_dir, result = finished_run
    assert "| MRR |" in result.stdout
    metrics = json.loads(run_dir.metrics_json.read_text())
    assert (
        metrics["model"] == "narm"
        and metrics["method"] == "fp-adametric"
        and metrics["units"] == "percent"
    )
    names = ("hr", "mrr", "ndcg", "skiphr", "skipmrr", "separation")
    keys = {f"{m}@{k}" for m in names for k in (5, 10, 20, 50, 100)}
    assert set(metrics["metrics"]) == keys and set(metrics["validation"]) == keys
    assert metrics["metrics"]["separation@20"] == pytest.approx(
        metrics["metrics"]["hr@20"] - metrics["metrics"]["skiphr@20"], abs=1e-3
    )
    assert metrics["skip_windows"] > 0
    assert metrics["validation"]["mrr@20"] == pytest.approx(
        metrics["best_validation_mrr@20"], abs=1e-3
    )
    table = run_dir.metrics_md.read_text()
    assert "| HR |" in table and "| SkipHR (lower is better) |" in table
    assert run_dir.read_config().model == "narm"
    assert len(run_dir.vocabulary.read_text().splitlines()) > 100
    progress = json.loads(run_dir.progress.read_text())
    assert progress["epoch"] == 2 and len(progress["history"]) == 2
    assert (
        run_dir.path.parent / "saved_models" / "narm" / "1" / "saved_model.pb"
    ).is_file()  # train --export


def test_tensorboard_logs_hold_loss_terms_learning_rate_validation_hparams_and_projector(
    finished_run,
):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir, _ = finished_run
    train_tags = EventAccumulator(str(run_dir.logs / "train")).Reload().Tags()["tensors"]
    assert {
        "loss/loss",
        "loss/ce_loss",
        "loss/fp_loss",
        "loss/skip_loss",
        "learning_rate",
    } <= set(train_tags)
    validation_tags = EventAccumulator(str(run_dir.logs / "validation")).Reload().Tags()["tensors"]
    assert "metrics/mrr@20" in validation_tags
    hparams = EventAccumulator(str(run_dir.logs / "hparams")).Reload()
    assert "_hparams_/session_start_info" in hparams.Tags()["tensors"]
    assert {"test/skiphr@20", "test/separation@20", "test/mrr@20"} <= set(hparams.Tags()["tensors"])
    projector = run_dir.logs / "projector"
    assert (projector / "projector_config.pbtxt").is_file()
    kinds = {
        line.split("\t")[0] for line in (projector / "metadata.tsv").read_text().splitlines()[1:]
    }
    assert kinds == {"session", "true positive", "false positive"}


def test_tensorboard_serves_the_projector_scalars_and_hparams_of_a_run(finished_run):
    """TensorBoard started as the CLI suggests (``--logdir <run>/logs``) on 127.0.0.1, asked over
    HTTP what its Projector, Scalars and HParams tabs show."""
    import urllib.request

    from tensorboard import program

    run_dir, _ = finished_run
    board = program.TensorBoard()
    board.configure(
        argv=[
            None,
            "--logdir",
            str(run_dir.logs),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--load_fast",
            "false",
        ]
    )
    url = board.launch()

    def get(path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            url + path, data=data, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    deadline, runs, listing = time.monotonic() + 120, [], {}
    while time.monotonic() < deadline:
        runs, listing = get("data/plugin/projector/runs"), get("data/plugins_listing")
        if runs and listing["projector"]["enabled"]:
            break
        time.sleep(0.5)
    assert runs == ["projector"]
    assert all(listing[name]["enabled"] for name in ("projector", "scalars", "hparams"))
    (embedding,) = get("data/plugin/projector/info?run=projector")["embeddings"]
    assert embedding["metadataPath"] == "metadata.tsv" and embedding["tensorShape"][0] > 0
    experiment = get("data/plugin/hparams/experiment", {"experimentName": ""})
    assert {"method", "model", "protocol_variant", "init_from"} <= {
        h["name"] for h in experiment["hparamInfos"]
    }
    assert {"test/mrr@20", "test/skiphr@20"} <= {
        m["name"]["tag"] for m in experiment["metricInfos"]
    }


def test_evaluate_rescores_the_best_checkpoint_identically(finished_run, tfds_dir):
    from fpam_tf import evaluate

    run_dir, _ = finished_run
    before = json.loads(run_dir.metrics_json.read_text())["metrics"]
    after = evaluate.main(["--run-dir", str(run_dir.path), "--tfds-dir", str(tfds_dir)])["metrics"]
    for key, value in before.items():
        assert after[key] == pytest.approx(value, abs=1e-3)


def test_a_run_dir_holding_another_config_is_refused_and_left_untouched(finished_run, tfds_dir):
    run_dir, _ = finished_run
    config_before = run_dir.config.read_text()
    weights_before = run_dir.best_weights.stat().st_mtime_ns
    result = run_cli(cli_args(run_dir.path, tfds_dir, "--method", "vanilla"))
    assert result.returncode == 2
    assert "holds a run with another config" in result.stderr and "Traceback" not in result.stderr
    assert run_dir.config.read_text() == config_before
    assert run_dir.best_weights.stat().st_mtime_ns == weights_before


def test_evaluate_without_a_trained_model_is_a_clear_error(tmp_path):
    from fpam_tf.training.run_dir import load_model

    with pytest.raises(ConfigError, match="no training run"):
        load_model(RunDir(tmp_path))


def test_a_killed_run_resumes_mid_epoch_from_its_last_checkpoint(tfds_dir, tmp_path):
    run_dir = RunDir(tmp_path / "run")
    # 60 of the epoch's 326 steps: room to kill it after its second checkpoint (step 10), before
    # the epoch ends.
    args = cli_args(
        run_dir.path,
        tfds_dir,
        "--epochs",
        "1",
        "--batch-size",
        "16",
        "--checkpoint-steps",
        "5",
        "--max-steps-per-epoch",
        "60",
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    process = subprocess.Popen(
        [sys.executable, "-m", "fpam_tf.train", *args, "--quiet"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 600
    while time.time() < deadline and process.poll() is None:
        if run_dir.progress.is_file() and json.loads(run_dir.progress.read_text())["step"] >= 10:
            break
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = json.loads(run_dir.progress.read_text())
    assert killed_at["epoch"] == 0 and killed_at["step"] >= 10, "the run should be killed mid-epoch"
    result = run_cli(args)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Resuming {run_dir.path} at epoch 1, step {killed_at['step']}" in result.stdout
    progress = json.loads(run_dir.progress.read_text())
    assert progress["epoch"] == 1 and progress["global_step"] == 60


def test_a_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(
    small_data, tmp_path, monkeypatch
):
    config = small_config()
    experiment = Experiment.create(config, data=small_data)
    run_dir = RunDir(tmp_path / "run")
    run_dir.claim(config)
    from fpam_tf.training import loop

    real_batch_logs = loop.batch_logs

    def poisoned_batch_logs(*args):
        for step, logs in enumerate(real_batch_logs(*args)):
            yield dict(logs, loss=float("nan")) if step >= 2 else logs

    monkeypatch.setattr(loop, "batch_logs", poisoned_batch_logs)
    with pytest.raises(NaNLossError, match="step 3.*last good checkpoint"):
        train(experiment, run_dir, verbose=0, checkpoint_steps=2)
    assert json.loads(run_dir.progress.read_text())["step"] == 2
    assert run_dir.latest_weights.is_file()


# three 3-epoch trainings (about a minute); the reproduction grid measures the same at scale
@pytest.mark.slow
def test_on_synthetic_data_fp_simple_and_fp_adametric_beat_vanilla(tmp_path, tfds_dir):
    """The generator's skipped plays are drawn from popularity alone: learning them as targets
    hurts."""
    options = {"num_sessions": 3000, "num_users": 150, "num_items": 600, "seed": 1}
    prepared = datasets.load("synthetic", tfds_dir=tfds_dir, **options)
    data = ProtocolData.from_sessions(prepared.splits)
    mrr = {}
    for method in ("vanilla", "fp-simple", "fp-adametric"):
        config = small_config(
            model="gru4rec",
            method=MethodConfig.preset(method),
            epochs=3,
            batch_size=256,
            embedding_dim=32,
            hidden_units=32,
            dataset_options=options,
            seed=0,
        )
        experiment = Experiment.create(config, data=data)
        run_dir = RunDir(tmp_path / method)
        run_dir.claim(config)
        train(experiment, run_dir, verbose=0, checkpoint_steps=0)
        mrr[method] = write_test_results(experiment, run_dir)["metrics"]["mrr@20"]
    assert mrr["fp-simple"] > mrr["vanilla"], mrr
    assert mrr["fp-adametric"] > mrr["vanilla"], mrr


def test_warm_start_carries_known_items_over_and_beats_a_cold_start(tfds_dir, tmp_path):
    """Retraining on a newer log of the same world (more sessions, a vocabulary that moved): the
    warm run starts from the earlier run's rows and, after a few steps, validates above a cold
    run with the same settings."""
    from fpam_tf.model import build_model
    from fpam_tf.training.run import run
    from fpam_tf.training.run_dir import load_model
    from fpam_tf.training.warm_start import warm_start

    earlier_dir = RunDir(tmp_path / "earlier")
    run(small_config(epochs=3), earlier_dir, tfds_dir=tfds_dir, verbose=0)
    newer = dict(SMALL, num_sessions=900)
    newer_data = ProtocolData.from_sessions(
        datasets.load("synthetic", tfds_dir=tfds_dir, **newer).splits
    )

    _, earlier, earlier_items, _ = load_model(earlier_dir)
    fresh = build_model(
        MethodConfig.preset("fp-adametric"),
        backbone="gru4rec",
        num_items=len(newer_data.items),
        num_users=len(newer_data.users),
        embedding_dim=16,
        hidden_units=16,
    )
    record = warm_start(fresh, earlier_dir, newer_data.items, newer_data.users)
    assert record["items"]["kept"] > 0 and record["items"]["new"] + record["items"]["dropped"] > 0
    assert record["fresh"] == []
    table, earlier_table = (np.asarray(m.item_embedding.embeddings) for m in (fresh, earlier))
    rows = earlier_items.lookup(newer_data.items.ids)
    known = np.flatnonzero(rows > 0)
    np.testing.assert_array_equal(table[known + 1], earlier_table[rows[known]])

    scores = {}
    for name, init_from in (("warm", str(earlier_dir.path)), ("cold", None)):
        config = small_config(dataset_options=newer, init_from=init_from)
        run_dir = RunDir(tmp_path / name)
        run(config, run_dir, tfds_dir=tfds_dir, verbose=0, max_steps_per_epoch=2, data=newer_data)
        progress = json.loads(run_dir.progress.read_text())
        scores[name] = progress["history"][0]["val_mrr@20"]
    assert scores["warm"] > scores["cold"], scores
    assert RunDir(tmp_path / "warm").read_config().init_from == str(earlier_dir.path)
    assert json.loads((tmp_path / "warm" / "warm_start.json").read_text())["from"] == str(
        earlier_dir.path
    )


def test_warm_start_from_another_backbone_is_a_clear_error(finished_run, tfds_dir, tmp_path):
    run_dir, _ = finished_run  # NARM, 16 / 16
    result = run_cli(
        cli_args(tmp_path / "warm", tfds_dir, "--epochs", "1", "--quiet")[: -0 or None]
        + ["--model", "gru4rec", "--init-from", str(run_dir.path)]
    )
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "Warm start needs the same backbone and sizes" in result.stderr
