"""Training speed side by side, in one invocation on one machine: our epoch per backbone and
precision, the output layer's own roofline, evaluation, and (when built) RecBole's NARM.

    python -m benchmarks.train_throughput [--backbones narm,srgnn,stamp,gru4rec]
        [--precisions float32,mixed_bfloat16] [--steps 60] [--jax] [--no-peer]

On the Spotify sample's 343,959 Vanilla training windows (batch 512, embedding and hidden 100,
full softmax over the 17,101 items), each (backbone, precision) in its own process:

- ``epoch_s``: one warm-up pass over ``--steps`` shuffled, length-bucketed batches (tracing), then
  the same batches timed, extrapolated to the epoch's steps; validation not included;
- ``roofline_s``: the output layer's three [B, D+1] x [D+1, V] products of each of those steps
  timed alone, times the epoch's steps: what the step cannot go below without changing the model;
  ``x_roofline`` = epoch_s / roofline_s;
- ``eval_windows_per_s`` and ``eval_share``: one full-ranking validation pass (16,861 windows) and
  its time as a share of the epoch's;
- ``x_recbole`` = epoch_s / RecBole's NARM training epoch on the same windows, measured in this
  invocation when ``make bench-peer`` has built ``.venv-peer`` (``benchmarks/peer/``).

``--jax`` adds NARM under ``KERAS_BACKEND=jax`` (same batches, converted to NumPy; XLA compiles
each distinct batch shape once, reported as ``compile_s``). Targets (BUILD.md, "Performance"):
NARM at most 0.33x RecBole's epoch and 1.5x its roofline, SR-GNN at most 2x NARM, evaluation at
most 10% of an epoch. The machine (CPU model, AMX / AVX-512 BF16) is recorded with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import fpam_tf  # noqa: F401
from benchmarks.common import (
    ROOT,
    SPOTIFY_SAMPLE,
    print_table,
    require_spotify,
    spotify_vanilla_experiment,
    write_json,
)
from fpam_tf.training.precision import output_products_ms

PEER_PYTHON = ROOT / ".venv-peer" / "bin" / "python"
PEER_DATA = ROOT / "runs" / "peer" / "spotify_vanilla"
TARGETS = {
    "narm_max_x_recbole": 0.33,
    "narm_max_x_roofline": 1.5,
    "srgnn_max_x_narm": 2.0,
    "max_eval_share": 0.10,
}


def measure(backbone: str, precision: str, steps: int, spotify_dir: str, tfds_dir) -> dict:
    """Times ``steps`` training steps, their roofline and one validation pass in this process."""
    import keras

    experiment = spotify_vanilla_experiment(backbone, precision, spotify_dir, tfds_dir)
    config = experiment.config
    model = experiment.model
    iterator = iter(experiment.training_dataset(epoch=0))
    batches = [next(iterator) for _ in range(steps)]
    if keras.backend.backend() != "tensorflow":
        batches = [tuple(_numpy(part) for part in batch) for batch in batches]
    started = time.perf_counter()
    for batch in batches:  # traces (or, under JAX, compiles) every batch shape once
        model.train_on_batch(*batch)
    compile_s = time.perf_counter() - started
    started = time.perf_counter()
    for batch in batches:
        logs = model.train_on_batch(*batch, return_dict=True)
    float(logs["loss"])  # waits for the last step
    step_ms = 1000 * (time.perf_counter() - started) / steps
    epoch_steps = experiment.training_steps()
    row = {
        "backbone": backbone,
        "precision": precision,
        "backend": keras.backend.backend(),
        "steps": steps,
        "compile_s": round(compile_s, 1),
        "windows_per_s": round(config.batch_size * 1000 / step_ms),
        "epoch_s": round(step_ms * epoch_steps / 1000, 1),
    }
    if keras.backend.backend() == "tensorflow":
        dtype = keras.mixed_precision.global_policy().compute_dtype
        roofline_ms = output_products_ms(
            dtype, config.batch_size, config.embedding_dim + 1, len(experiment.data.items)
        )
        row["roofline_s"] = round(roofline_ms * epoch_steps / 1000, 1)
        row["x_roofline"] = round(row["epoch_s"] / row["roofline_s"], 2)
        experiment.evaluate("validation")  # traces the evaluation step
        started = time.perf_counter()
        experiment.evaluate("validation")
        eval_s = time.perf_counter() - started
        eval_windows = len(experiment.evaluation_windows("validation"))
        row["eval_windows_per_s"] = round(eval_windows / eval_s)
        row["eval_share"] = round(eval_s / row["epoch_s"], 3)
    row["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return row


def _numpy(value):
    if isinstance(value, dict):
        return {key: _numpy(item) for key, item in value.items()}
    return value.numpy()


def run_single(backbone: str, precision: str, args, backend: str = "tensorflow") -> dict:
    """``measure`` in a fresh process (its own peak memory, its own Keras backend)."""
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
    env = dict(os.environ, KERAS_BACKEND=backend)
    if backend == "jax":
        env["JAX_PLATFORMS"] = "cpu"
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    if result.returncode:
        raise SystemExit(f"{backbone}/{precision}/{backend} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def recbole_epoch(args) -> dict | None:
    """RecBole's NARM training epoch on our windows, when ``make bench-peer`` built its venv."""
    if not (PEER_PYTHON.parent.parent / ".installed").is_file():
        print("  (no peer column: run `make bench-peer` to time RecBole's NARM beside ours)")
        return None
    if not (PEER_DATA / "export.json").is_file():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.peer.export_windows",
                "--spotify-dir",
                args.spotify_dir,
            ],
            check=True,
            cwd=ROOT,
        )
    result = subprocess.run(
        [str(PEER_PYTHON), "benchmarks/peer/recbole_narm_epoch.py", "--data", str(PEER_DATA)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if result.returncode:
        raise SystemExit(f"RecBole's NARM epoch failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--backbones", default="narm,srgnn,stamp,gru4rec")
    p.add_argument("--precisions", default="float32,mixed_bfloat16")
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--jax", action="store_true", help="also NARM under the JAX backend")
    p.add_argument("--no-peer", action="store_true", help="skip RecBole even when it is built")
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
            rows.append(run_single(backbone, precision, args))
            print(f"  {backbone:8s} {precision:15s} {rows[-1]['epoch_s']:>6} s/epoch", flush=True)
    if args.jax:
        rows.append(run_single("narm", "float32", args, backend="jax"))
        print(f"  narm     float32 (JAX)       {rows[-1]['epoch_s']:>6} s/epoch", flush=True)
    peer = None if args.no_peer else recbole_epoch(args)
    for row in rows:
        same = [
            r
            for r in rows
            if r["precision"] == row["precision"]
            and r["backend"] == row["backend"]
            and r["backbone"] == "narm"
        ]
        if same:
            row["x_narm"] = round(row["epoch_s"] / same[0]["epoch_s"], 2)
        if peer:
            row["x_recbole"] = round(row["epoch_s"] / peer["epoch_train_s"], 2)
    print(
        "\nTraining epoch, Spotify sample Vanilla windows, batch 512, emb/hidden 100, full softmax"
        + (f"; RecBole 1.2.1 NARM: {peer['epoch_train_s']:.1f} s/epoch" if peer else "")
        + "\n"
    )
    print_table(
        rows,
        [
            "backbone",
            "precision",
            "backend",
            "epoch_s",
            "x_recbole",
            "roofline_s",
            "x_roofline",
            "x_narm",
            "eval_windows_per_s",
            "eval_share",
            "peak_rss_mb",
        ],
    )
    write_json(
        args.out,
        {"benchmark": "train_throughput", "targets": TARGETS, "recbole_narm": peer, "rows": rows},
    )


if __name__ == "__main__":
    main()
