"""What the benchmarks share: locating ../shared data, printing a table, writing JSON with the
machine."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATASETS = ROOT.parent / "shared" / "datasets"
SPOTIFY_SAMPLE = SHARED_DATASETS / "spotify_mssd_sample"


def machine() -> dict:
    """The machine a figure was measured on."""
    import tensorflow as tf

    return {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "gpus": len(tf.config.list_physical_devices("GPU")),
    }


def print_table(rows: list[dict], columns: list[str]) -> None:
    """A Markdown table of ``rows`` (one dict each) restricted to ``columns``."""
    print("| " + " | ".join(columns) + " |")
    print("| " + " | ".join("---" for _ in columns) + " |")
    for row in rows:
        print("| " + " | ".join(_cell(row.get(c)) for c in columns) + " |")


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 100 else f"{value:.3g}"
    if isinstance(value, int):
        return f"{value:,}"
    return "" if value is None else str(value)


def write_json(path, payload: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"machine": machine(), **payload}, indent=2) + "\n")
    print(f"\nwrote {path}")
    return path


def require_spotify(path: Path) -> Path:
    """The Spotify sample folder, or exit with a clear message when it is absent."""
    if not Path(path).exists():
        raise SystemExit(
            f"the Spotify MSSD sample is not at {path}; "
            "pass --spotify-dir (see ../shared/README.md)"
        )
    return Path(path)
