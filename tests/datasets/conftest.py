"""Fixtures for dataset tests: the shared real-data folder, skipped cleanly when absent."""

from pathlib import Path

import pytest

SHARED_DATASETS = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"


@pytest.fixture(scope="session")
def shared_datasets():
    """Returns a function name -> path of ``../shared/datasets/<name>``, skipping the test when it is absent."""

    def locate(name: str) -> Path:
        path = SHARED_DATASETS / name
        if not path.exists():
            pytest.skip(f"real data {path} is absent (put the shared datasets next to the repository to run this)")
        return path

    return locate

