"""``python -m benchmarks.pipeline_scaling``: ExampleGen + Transform wall time as the input grows.

Inputs are 1x, 4x and 16x replicas of the Spotify MSSD sample (replica ``r`` is a copy of the log
with ``-r<r>`` appended to every session id, one file per replica). Beam's DirectRunner runs in
multi-process mode (``direct_num_workers``, ``direct_running_mode=multi_processing``). Prints a
table (sessions, seconds, µs per session) and writes JSON.

    python -m benchmarks.pipeline_scaling --replicas 1 4 16
"""

from __future__ import annotations

import argparse
import csv
import gzip
import tempfile
import time
from pathlib import Path

import pipelines  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)
from benchmarks.common import SPOTIFY_SAMPLE, print_table, require_spotify, write_json
from fpam_tf.datasets import spotify
from fpam_tf.datasets.sources import open_text
from pipelines import example_gen, raw_sources, transform
from pipelines.beam_options import pipeline_options


def write_replicas(source: Path, count: int, folder: Path) -> None:
    """Writes ``count`` copies of ``source`` into ``folder``, session ids suffixed ``-r<i>``
    (gzip CSV)."""
    with open_text(source) as stream:
        rows = list(csv.reader(stream))
    session_at = rows[0].index("session_id")
    for replica in range(count):
        with gzip.open(
            folder / f"log_r{replica:03d}.csv.gz", "wt", newline="", compresslevel=1
        ) as out:
            writer = csv.writer(out)
            writer.writerow(rows[0])
            for row in rows[1:]:
                writer.writerow(
                    [*row[:session_at], f"{row[session_at]}-r{replica}", *row[session_at + 1 :]]
                )


def measure(data_dir: Path, work: Path, options) -> dict:
    """Wall seconds of ExampleGen and of Transform on the logs of ``data_dir``."""
    raw = raw_sources.resolve_input("spotify", data_dir, {}, work / "raw")
    examples, graph, transformed = work / "examples", work / "transform_graph", work / "transformed"
    for folder in (examples, graph, transformed):
        folder.mkdir(parents=True)
    started = time.perf_counter()
    summary = example_gen.run(raw, examples, options=options)
    example_gen_seconds = time.perf_counter() - started
    started = time.perf_counter()
    transform.run(examples, graph, transformed, options=options, temp_dir=work / "tft_tmp")
    transform_seconds = time.perf_counter() - started
    sessions = sum(summary["sessions"].values())
    total = example_gen_seconds + transform_seconds
    return {
        "sessions": sessions,
        "example_gen_s": round(example_gen_seconds, 1),
        "transform_s": round(transform_seconds, 1),
        "seconds": round(total, 1),
        "us_per_session": round(1e6 * total / sessions, 1),
    }


def main(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--spotify-dir", default=str(SPOTIFY_SAMPLE))
    p.add_argument("--replicas", type=int, nargs="+", default=[1, 4, 16])
    p.add_argument("--workers", type=int, default=2, help="direct_num_workers")
    p.add_argument("--out", default="results/pipeline_scaling.json")
    args = p.parse_args(argv)
    source = spotify.find_sources(require_spotify(Path(args.spotify_dir)))[0]
    options = pipeline_options(
        "DirectRunner",
        [f"--direct_num_workers={args.workers}", "--direct_running_mode=multi_processing"],
    )
    rows = []
    for count in args.replicas:
        with tempfile.TemporaryDirectory(prefix="pipeline-scaling-") as tmp:
            logs = Path(tmp) / "logs"
            logs.mkdir()
            write_replicas(source, count, logs)
            row = {"replicas": count, **measure(logs, Path(tmp) / "work", options)}
        rows.append(row)
        print_table([row], list(row))
    print()
    print_table(
        rows, ["replicas", "sessions", "example_gen_s", "transform_s", "seconds", "us_per_session"]
    )
    write_json(
        args.out,
        {
            "benchmark": "pipeline_scaling",
            "runner": "DirectRunner multi_processing",
            "workers": args.workers,
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()
