"""Fixtures shared by the whole suite: the real data in ../shared (skipped cleanly when absent),
and the Spotify sample prepared once per test session (its TFDS preparation is the slow part)."""

from pathlib import Path

import pytest

SHARED_DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


@pytest.fixture(scope="session")
def shared_datasets():
    """Returns a function name -> path of ``../shared/datasets/<name>``, skipping the test when it is absent."""

    def locate(name: str) -> Path:
        path = SHARED_DATASETS / name
        if not path.exists():
            pytest.skip(f"real data {path} is absent (put the shared datasets next to the repository to run this)")
        return path

    return locate


@pytest.fixture(scope="session")
def spotify_sample(shared_datasets, tmp_path_factory):
    """The Spotify MSSD sample as a :class:`fpam_tf.datasets.PreparedDataset`, prepared once."""
    from fpam_tf import datasets

    return datasets.load("spotify", shared_datasets("spotify_mssd_sample"), tfds_dir=tmp_path_factory.mktemp("tfds"))


@pytest.fixture(scope="session")
def spotify_protocol(spotify_sample):
    """The Spotify sample under PROTOCOL (vocabulary and encoded splits)."""
    from fpam_tf.windows import ProtocolData

    return ProtocolData.from_sessions(spotify_sample.splits)
