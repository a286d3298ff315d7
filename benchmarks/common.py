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
    """The machine a figure was measured on: CPU model and its bfloat16 / AVX flags too, since
    speed figures compare only within one machine."""
    import tensorflow as tf

    from fpam_tf.training.precision import (
        BF16_CPU_FLAGS,
        cpu_flags,
        cpu_model,
        measured_bf16_speedup,
        resolve_precision,
    )

    flags = cpu_flags()
    return {
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "cpu_flags": sorted(flags & {"amx_bf16", "amx_tile", "avx512_bf16", "avx512f", "avx2"}),
        # What `--precision auto` weighs on a CPU with bfloat16 products (None without them).
        "bf16_output_speedup": (
            round(measured_bf16_speedup(flags), 2) if flags & set(BF16_CPU_FLAGS) else None
        ),
        "auto_precision": resolve_precision("auto"),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "gpus": len(tf.config.list_physical_devices("GPU")),
    }


def spotify_vanilla_experiment(backbone: str, precision: str, spotify_dir, tfds_dir=None):
    """The :class:`~fpam_tf.training.experiment.Experiment` the speed benchmarks time: ``backbone``
    on the Spotify sample's Vanilla windows, batch 512, embedding and hidden 100, ``precision``."""
    from fpam_tf.methods import MethodConfig
    from fpam_tf.training.experiment import Experiment
    from fpam_tf.training.run_dir import RunConfig

    config = RunConfig(
        dataset="spotify",
        data_dir=str(spotify_dir),
        model=backbone,
        method=MethodConfig.preset("vanilla"),
        precision=precision,
    )
    return Experiment.create(config, tfds_dir=tfds_dir)


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
