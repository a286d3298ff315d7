"""Fixtures shared by the whole suite: the real data in ../shared (skipped cleanly when absent),
the Spotify sample prepared once per test session (its TFDS preparation is the slow part), and the
JAX-backend checks run once in one subprocess."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SHARED_DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


@pytest.fixture(scope="session")
def shared_datasets():
    """Returns a function name -> path of ``../shared/datasets/<name>``, skipping the test when it
    is absent."""

    def locate(name: str) -> Path:
        path = SHARED_DATASETS / name
        if not path.exists():
            pytest.skip(
                f"real data {path} is absent "
                "(put the shared datasets next to the repository to run this)"
            )
        return path

    return locate


@pytest.fixture(scope="session")
def spotify_sample(shared_datasets, tmp_path_factory):
    """The Spotify MSSD sample as a :class:`fpam_tf.datasets.PreparedDataset`, prepared once."""
    from fpam_tf import datasets

    return datasets.load(
        "spotify", shared_datasets("spotify_mssd_sample"), tfds_dir=tmp_path_factory.mktemp("tfds")
    )


@pytest.fixture(scope="session")
def spotify_protocol(spotify_sample):
    """The Spotify sample under PROTOCOL (vocabulary and encoded splits)."""
    from fpam_tf.protocol import ProtocolData

    return ProtocolData.from_sessions(spotify_sample.splits)


@pytest.fixture(scope="session")
def jax_backend_checks():
    """The result of ``tests/jax_backend_checks.py`` run once under ``KERAS_BACKEND=jax`` (a dict,
    see there)."""
    script = Path(__file__).with_name("jax_backend_checks.py")
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, str(script)],
        env=env,
        cwd=script.parents[1],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    line = [line for line in result.stdout.splitlines() if line.startswith("RESULT")][-1]
    return json.loads(line[len("RESULT") :])
