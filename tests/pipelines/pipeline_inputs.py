"""Small inputs the pipeline tests share: settings of a tiny synthetic run, a tiny Spotify-format
log."""

from __future__ import annotations

import dataclasses
import gzip
from pathlib import Path

from fpam_tf.methods import MethodConfig
from pipelines.run import Settings, default_run

SHARED_DATASETS = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"
TINY_SYNTHETIC = {"num_sessions": 200, "num_users": 20, "num_items": 60, "seed": 3}
SPOTIFY_HEADER = (
    "session_id,session_position,session_length,track_id_clean,skip_1,skip_2,skip_3,not_skipped,"
    "hour_of_day,date"
)


def tiny_settings(tmp_path: Path, **changes) -> Settings:
    """Settings of a pipeline run on a tiny synthetic log that trains for a few steps: FP-AdaMetric,
    so the Evaluator has a Vanilla baseline to compare it with."""
    run = dataclasses.replace(
        default_run(),
        method=MethodConfig.preset("fp-adametric"),
        dataset="synthetic",
        dataset_options=dict(TINY_SYNTHETIC),
        epochs=1,
        batch_size=64,
        embedding_dim=8,
        hidden_units=8,
    )
    fields = dict(
        run=run,
        pipeline_root=str(tmp_path / "root"),
        export_base=str(tmp_path / "saved_models"),
        max_steps_per_epoch=3,
        k=10,
    )
    fields.update(changes)
    return Settings(**fields)


def spotify_rows(
    num_sessions: int, *, length: int = 6, num_tracks: int = 8, skip_every: int = 3
) -> list[str]:
    """CSV rows (no header) of ``num_sessions`` sessions in the columns of
    :data:`SPOTIFY_HEADER`."""
    rows = []
    for s in range(num_sessions):
        for position in range(1, length + 1):
            skipped = "true" if (s + position) % skip_every == 0 else "false"
            rows.append(
                f"s{s:04d},{position},{length},t{(s + position) % num_tracks},"
                f"false,{skipped},false,"
                f"{'false' if skipped == 'true' else 'true'},{s % 24},2018-07-{1 + s // 24:02d}"
            )
    return rows


def write_spotify_log(path: Path, rows: list[str], header: str = SPOTIFY_HEADER) -> Path:
    """Writes a gzipped Spotify-format log."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as stream:
        stream.write(header + "\n" + "\n".join(rows) + "\n")
    return path
