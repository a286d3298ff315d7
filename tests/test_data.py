"""``python -m fpam_tf.data stats``: the PROTOCOL §6 figures, and clear errors for bad names."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_stats(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """``python -m fpam_tf.data stats ARGS`` in the repository, TensorFlow's start-up logs off."""
    return subprocess.run(
        [sys.executable, "-m", "fpam_tf.data", "stats", *args],
        cwd=ROOT,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_spotify_sample_reproduces_the_protocol_counts(spotify_sample, spotify_protocol):
    stats = spotify_protocol.stats(spotify_sample.splits)
    assert stats["vocab_size"] == 17101
    assert stats["train_windows_vanilla"] == 343959
    assert stats["train_windows_fp"] == 153938
    assert stats["train_windows_fp_all"] == 164692
    assert stats["valid_windows"] == 16861
    assert stats["test_windows"] == 15941
    assert stats["valid_skip_windows"] == 15955  # PROTOCOL v2, §5b
    assert stats["test_skip_windows"] == 15441
    assert stats["sessions"] == {"train": 32034, "validation": 4004, "test": 4005}
    assert stats["events"] == 664570 and abs(stats["fp_ratio"] - 0.5103) < 1e-4


def test_stats_cli_prints_one_json_object(spotify_sample):
    tfds_dir = spotify_sample.tfds_path.split("/fpam_spotify/")[0]
    result = run_stats(
        "--dataset",
        "spotify",
        "--data-dir",
        str(ROOT.parent / "shared" / "datasets" / "spotify_mssd_sample"),
        "--tfds-dir",
        tfds_dir,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    stats = json.loads(result.stdout)
    assert (stats["vocab_size"], stats["train_windows_vanilla"], stats["test_windows"]) == (
        17101,
        343959,
        15941,
    )
    assert stats["bad_rows"] == 0


def test_unknown_dataset_name_is_a_clear_error_without_traceback():
    result = run_stats("--dataset", "spotfy", timeout=300)
    assert result.returncode == 2
    assert "unknown dataset 'spotfy'" in result.stderr and "spotify" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("verbose", [False, True])
def test_stats_stdout_is_one_json_object_on_a_first_preparation_too(tmp_path, verbose):
    """TFDS announces a preparation on stdout; none of it reaches stdout, so ``stats | jq`` works
    the first time a user runs it. Its progress bars and absl messages show only with --verbose;
    otherwise one line says what is prepared and one how long it took."""
    result = run_stats(
        "--dataset",
        "synthetic",
        "--dataset-option",
        "num_sessions=200",
        "--tfds-dir",
        str(tmp_path / "fresh"),
        *(["--verbose"] if verbose else []),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["sessions"]["train"] == 160
    tfds_messages = ("Using custom data configuration", "Shuffling", "downloaded and prepared")
    if verbose:
        assert all(message in result.stderr for message in tfds_messages)
    else:
        assert not any(message in result.stderr for message in tfds_messages)
        assert "Preparing fpam_synthetic" in result.stderr and "Prepared fpam_synthetic in" in (
            result.stderr
        )
