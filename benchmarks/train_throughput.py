"""Training windows/s and peak memory per backbone on the Spotify sample
(Vanilla windows, batch 512).

    python -m benchmarks.train_throughput [--backbones narm,srgnn,stamp,gru4rec]
        [--precisions float32,mixed_bfloat16] [--steps 60]

Each (backbone, precision) runs in its own process (so peak RSS is its own): a warm-up of 5 steps
(tracing), then ``--steps`` timed training steps on shuffled, length-bucketed batches of the
343,959 Vanilla training windows. The epoch time is extrapolated from the timed steps.

Anchor: RecBole 1.2.1's NARM with the same settings (embedding and hidden 100, batch 512, full
softmax, CPU) spends about 126 s per epoch on these windows on this machine (1,013 s for 8 epochs,
validation included). Targets: NARM at least 2x faster per epoch; SR-GNN at most 3x slower
than NARM.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import fpam_tf  # noqa: F401
from benchmarks.common import SPOTIFY_SAMPLE, print_table, require_spotify, write_json

RECBOLE_NARM_EPOCH_SECONDS = 1013 / 8
WARMUP_STEPS = 5


def measure(backbone: str, precision: str, steps: int, spotify_dir: str, tfds_dir) -> dict:
    """Times ``steps`` training steps of one backbone in this process."""
    from fpam_tf.methods import MethodConfig
    from fpam_tf.training.experiment import Experiment
    from fpam_tf.training.run_dir import RunConfig

    config = RunConfig(
        dataset="spotify",
        data_dir=spotify_dir,
        model=backbone,
        method=MethodConfig.preset("vanilla"),
        precision=precision,
    )
    experiment = Experiment.create(config, tfds_dir=tfds_dir)
    windows = experiment.training_windows()
    batches = iter(experiment.training_dataset(windows, epoch=0))
    model = experiment.model
    for _ in range(WARMUP_STEPS):
        model.train_on_batch(*next(batches))
    timed_windows, started = 0, time.perf_counter()
    for _ in range(steps):
        features, targets, weights = next(batches)
        logs = model.train_on_batch(features, targets, weights, return_dict=True)
        timed_windows += int(targets.shape[0])
    float(logs["loss"])  # waits for the last step
    seconds = time.perf_counter() - started
    windows_per_s = timed_windows / seconds
    return {
        "backbone": backbone,
        "precision": precision,
        "steps": steps,
        "windows_per_s": round(windows_per_s),
        "epoch_s": round(len(windows) / windows_per_s, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--backbones", default="narm,srgnn,stamp,gru4rec")
    p.add_argument("--precisions", default="float32,mixed_bfloat16")
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--spotify-dir", default=str(SPOTIFY_SAMPLE))
    p.add_argument("--tfds-dir", default=None)
    p.add_argument("--out", default="results/train_throughput.json")
    p.add_argument("--single", nargs=2, metavar=("BACKBONE", "PRECISION"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    require_spotify(args.spotify_dir)
    if args.single:
        print(json.dumps(measure(*args.single, args.steps, args.spotify_dir, args.tfds_dir)))
        return

    rows = []
    for precision in args.precisions.split(","):
        for backbone in args.backbones.split(","):
            command = [
                sys.executable,
                "-m",
                "benchmarks.train_throughput",
                "--single",
                backbone,
                precision,
                "--steps",
                str(args.steps),
                "--spotify-dir",
                args.spotify_dir,
            ]
            if args.tfds_dir:
                command += ["--tfds-dir", args.tfds_dir]
            result = subprocess.run(command, capture_output=True, text=True)
            if result.returncode:
                raise SystemExit(f"{backbone}/{precision} failed:\n{result.stderr[-3000:]}")
            row = json.loads(result.stdout.strip().splitlines()[-1])
            row["speedup_vs_recbole_narm"] = round(RECBOLE_NARM_EPOCH_SECONDS / row["epoch_s"], 2)
            rows.append(row)
            print(
                f"  {backbone:8s} {precision:15s} {row['windows_per_s']:>7,} windows/s", flush=True
            )
    for precision in {r["precision"] for r in rows}:
        narm = next(
            (r for r in rows if r["backbone"] == "narm" and r["precision"] == precision), None
        )
        for row in rows:
            if narm and row["precision"] == precision:
                row["x_narm_epoch"] = round(row["epoch_s"] / narm["epoch_s"], 2)
    print(
        f"\nTraining throughput, Spotify sample Vanilla windows, batch 512, emb/hidden 100, "
        "full softmax "
        f"(RecBole NARM anchor: {RECBOLE_NARM_EPOCH_SECONDS:.0f} s/epoch)\n"
    )
    print_table(
        rows,
        [
            "backbone",
            "precision",
            "windows_per_s",
            "epoch_s",
            "speedup_vs_recbole_narm",
            "x_narm_epoch",
            "peak_rss_mb",
        ],
    )
    write_json(
        args.out,
        {
            "benchmark": "train_throughput",
            "recbole_narm_epoch_s": RECBOLE_NARM_EPOCH_SECONDS,
            "targets": {"narm_speedup_vs_recbole": 2.0, "srgnn_max_x_narm": 3.0},
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()
