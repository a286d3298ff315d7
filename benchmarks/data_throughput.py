"""Windows per second of the training input pipeline on the Spotify sample
(target: >= 50,000 on 2 cores).

    python -m benchmarks.data_throughput [--spotify-dir ../shared/datasets/spotify_mssd_sample]

Measures one full epoch of :func:`fpam_tf.windows.make_dataset` (shuffle, length bucketing,
ragged gather, padding, prefetch) for each window family, at batch 512, after one warm-up epoch.
"""

from __future__ import annotations

import argparse
import time

import fpam_tf  # noqa: F401
from benchmarks.common import SPOTIFY_SAMPLE, print_table, require_spotify, write_json
from fpam_tf import datasets
from fpam_tf.backbones import SRGNN
from fpam_tf.input_pipeline import BatchOptions, make_dataset
from fpam_tf.protocol import ProtocolData

TARGET_WINDOWS_PER_SECOND = 50_000

FAMILIES = {
    # name: (context, fp_targets, batch options)
    "vanilla": ("all", True, BatchOptions()),
    "fp-adametric (positives, FP side sequences)": (
        "positives",
        False,
        BatchOptions(fp_items=True),
    ),
    "fp-adametric (all, flags, FP side sequences)": (
        "all",
        False,
        BatchOptions(flags=True, fp_items=True),
    ),
    "srgnn vanilla (session graphs)": (
        "all",
        True,
        BatchOptions(prefix_features=SRGNN.prefix_features),
    ),
}


def epoch_seconds(dataset) -> tuple[float, int]:
    started, windows = time.perf_counter(), 0
    for features, _, _ in dataset:
        windows += int(features["lengths"].shape[0])
    return time.perf_counter() - started, windows


def main(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--spotify-dir", default=str(SPOTIFY_SAMPLE))
    p.add_argument("--tfds-dir", default=None)
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--out", default="results/data_throughput.json")
    args = p.parse_args(argv)

    prepared = datasets.load("spotify", require_spotify(args.spotify_dir), tfds_dir=args.tfds_dir)
    data = ProtocolData.from_sessions(prepared.splits)
    rows = []
    for name, (context, fp_targets, options) in FAMILIES.items():
        windows = data.training_windows(context=context, fp_targets=fp_targets)
        dataset = make_dataset(windows, batch_size=args.batch_size, options=options, shuffle=True)
        epoch_seconds(dataset)  # warm-up: traces the map function
        seconds, count = epoch_seconds(dataset)
        rows.append(
            {
                "family": name,
                "windows": count,
                "seconds": round(seconds, 3),
                "windows_per_s": round(count / seconds),
                "meets_target": count / seconds >= TARGET_WINDOWS_PER_SECOND,
            }
        )
    print(
        f"Training input pipeline, Spotify sample, batch {args.batch_size} "
        f"(target >= {TARGET_WINDOWS_PER_SECOND:,} windows/s)\n"
    )
    print_table(rows, ["family", "windows", "seconds", "windows_per_s", "meets_target"])
    write_json(
        args.out,
        {
            "benchmark": "data_throughput",
            "batch_size": args.batch_size,
            "target_windows_per_s": TARGET_WINDOWS_PER_SECOND,
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()
