"""``python -m benchmarks.data_scaling``: memory and time of the data path as the log grows.

For each scale ``k`` (default 1, 4, 16, 64) it writes a Last.fm-1K-format log of ``k`` replicas of
the synthetic generator's log (replica ``r``: seed ``r``, user ids prefixed ``r<r>_``, so replicas
are distinct users with their own sessions; a track MBID drawn by one replica is its own item, so
the item table grows with the log as a real one does). The base is 19,000 sessions (about 332,000
plays): 64x is about 21M plays, more than Last.fm 1K's 19.15M. Then, each in a fresh process:

- ``prepare``: ``python -m fpam_tf.data stats`` on a new TFDS folder (read, sessionise, split,
  write TFDS, read back, vocabulary, every window family's count: PROTOCOL §6);
- ``train``: the prepared dataset read back, encoded, NARM / Vanilla's training windows,
  ``--train-steps`` steps of the training loop's batches, then as many validation batches ranked
  over every item (0 = a whole epoch and the whole validation split).

Per step it records wall seconds, CPU seconds (user + system: what the step costs, also when other
processes share the machine) and the process's peak RSS; per million plays, CPU seconds and the
RSS above the interpreter's with TensorFlow loaded. Targets (issue 19): peak RSS at most 4 GB for
``prepare`` and 6 GB for ``train`` at the largest scale, preparation within 5 minutes, and cost per
play that does not grow with the log. Writes a table, JSON and a PNG of both against size.

    python -m benchmarks.data_scaling                      # 1x .. 64x, hours on 2 cores
    python -m benchmarks.data_scaling --scales 1,4 --train-steps 50
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import ROOT, machine, print_table, write_json

BASE_SESSIONS = 19_000
BASE_USERS = 100
BASE_ITEMS = 20_000
TSV_NAME = "userid-timestamp-artid-artname-traid-traname.tsv"


def write_log(folder: Path, scale: int) -> int:
    """Writes ``scale`` replicas of the base log into ``folder/TSV_NAME``; returns the plays.

    A log already there (from an earlier run with the same ``--work-dir``) is kept and counted:
    64x takes minutes to generate. The file appears under its name only once complete.
    """
    from fpam_tf.datasets import synthetic

    folder.mkdir(parents=True, exist_ok=True)
    target = folder / TSV_NAME
    if target.exists():
        with open(target, "rb") as rows:
            return sum(block.count(b"\n") for block in iter(lambda: rows.read(1 << 24), b""))
    partial = target.with_name(TSV_NAME + ".partial")
    plays = 0
    with open(partial, "w", encoding="utf-8", newline="") as out:
        for replica in range(scale):
            with tempfile.TemporaryDirectory() as scratch:
                part = synthetic.generate(
                    Path(scratch) / TSV_NAME,
                    num_users=BASE_USERS,
                    num_items=BASE_ITEMS,
                    num_sessions=BASE_SESSIONS,
                    seed=replica,
                )
                with open(part, encoding="utf-8", newline="") as rows:
                    for row in rows:
                        out.write(f"r{replica}_{row}")
                        plays += 1
    partial.rename(target)
    return plays


def measured(command: list[str]) -> dict:
    """Runs ``command`` in a fresh process: wall and CPU seconds, peak RSS (MB); stdout kept."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT, text=True
    )
    stdout = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise SystemExit(f"{' '.join(command)} failed (status {status})")
    return {
        "wall_s": round(time.perf_counter() - started, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024),
        "stdout": stdout,
    }


def train_steps(data_dir: str, tfds_dir: str, steps: int) -> None:
    """The ``train`` step, in this process: read back, encode, Vanilla windows, ``steps`` NARM
    training steps (0: one epoch), then as many validation batches (full ranking over every
    item, as each epoch ends with; 0: the whole split). Prints the windows, steps and validation
    batches as JSON."""
    from fpam_tf.methods import MethodConfig
    from fpam_tf.training.experiment import Experiment
    from fpam_tf.training.run_dir import RunConfig

    config = RunConfig(
        dataset="lastfm",
        data_dir=data_dir,
        model="narm",
        method=MethodConfig.preset("vanilla"),
        precision="float32",
    )
    experiment = Experiment.create(config, tfds_dir=tfds_dir)
    model = experiment.model
    done = _run_batches(model.train_on_batch, experiment.training_dataset(epoch=0), steps)
    validation = experiment.evaluation_dataset("validation")
    validated = _run_batches(model.test_on_batch, validation, steps)
    print(
        json.dumps(
            {
                "windows": experiment.training_window_count(),
                "steps": done,
                "validation_batches": validated,
            }
        )
    )


def _run_batches(step, batches, limit: int) -> int:
    """Calls ``step(features, targets, weights)`` on the first ``limit`` (0: all) ``batches``;
    returns how many it ran."""
    if limit:
        batches = batches.take(limit)
    count = 0
    for features, targets, weights in batches:
        step(features, targets, weights)
        count += 1
    return count


def baseline_rss_mb() -> int:
    """Peak RSS of a process that only imports TensorFlow and fpam_tf (what no data costs)."""
    return measured([sys.executable, "-c", "import fpam_tf.training.experiment"])["peak_rss_mb"]


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (rss, cpu) = plt.subplots(1, 2, figsize=(10, 4))
    for step, marker in (("prepare", "o"), ("train", "s")):
        points = [r for r in rows if r["step"] == step]
        plays = [r["plays"] / 1e6 for r in points]
        rss.plot(plays, [r["peak_rss_mb"] / 1024 for r in points], marker=marker, label=step)
        cpu.plot(plays, [r["cpu_s_per_m_plays"] for r in points], marker=marker, label=step)
    rss.axhline(4, color="grey", linestyle=":", label="prepare target")
    rss.axhline(6, color="grey", linestyle="--", label="train target")
    rss.set(xlabel="plays (millions)", ylabel="peak RSS (GB)", title="Peak memory")
    cpu.set(xlabel="plays (millions)", ylabel="CPU s per million plays", title="Cost per play")
    for axis in (rss, cpu):
        axis.set_xscale("log")
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--scales", default="1,4,16,64")
    p.add_argument("--train-steps", type=int, default=0, help="NARM steps (0: one epoch)")
    p.add_argument("--work-dir", default=None, help="logs and TFDS folders (default: a temp dir)")
    p.add_argument("--out", default="results/data_scaling.json")
    p.add_argument("--train-worker", nargs=3, metavar=("DATA_DIR", "TFDS_DIR", "STEPS"))
    args = p.parse_args(argv)
    if args.train_worker:
        data_dir, tfds_dir, steps = args.train_worker
        train_steps(data_dir, tfds_dir, int(steps))
        return []

    work = Path(args.work_dir or tempfile.mkdtemp(prefix="data_scaling-"))
    baseline = baseline_rss_mb()
    rows = []
    for scale in [int(s) for s in args.scales.split(",")]:
        data_dir, tfds_dir = work / f"x{scale}", work / f"x{scale}-tfds"
        plays = write_log(data_dir, scale)
        shutil.rmtree(tfds_dir, ignore_errors=True)  # prepare from the raw log, every time
        stats = measured(
            [sys.executable, "-m", "fpam_tf.data", "stats", "--dataset", "lastfm"]
            + ["--data-dir", str(data_dir), "--tfds-dir", str(tfds_dir)]
        )
        figures = json.loads(stats.pop("stdout"))
        train = measured(
            [sys.executable, "-m", "benchmarks.data_scaling", "--train-worker"]
            + [str(data_dir), str(tfds_dir), str(args.train_steps)]
        )
        trained = json.loads(train.pop("stdout"))
        for step, figures_of_step in (("prepare", stats), ("train", train)):
            rows.append(
                {
                    "scale": scale,
                    "plays": plays,
                    "sessions": sum(figures["sessions"].values()),
                    "items": figures["vocab_size"],
                    "step": step,
                    **figures_of_step,
                    "cpu_s_per_m_plays": round(figures_of_step["cpu_s"] / (plays / 1e6), 1),
                    "rss_mb_per_m_plays": round(
                        (figures_of_step["peak_rss_mb"] - baseline) / (plays / 1e6), 1
                    ),
                    **(trained if step == "train" else {}),
                }
            )
        print_table(rows[-2:], list(rows[-1]))
    columns = [
        "scale",
        "plays",
        "step",
        "wall_s",
        "cpu_s",
        "peak_rss_mb",
        "cpu_s_per_m_plays",
        "rss_mb_per_m_plays",
    ]
    print(f"\nLast.fm-format logs, baseline RSS (TensorFlow + fpam_tf imported) {baseline} MB\n")
    print_table(rows, columns)
    out = Path(args.out)
    write_json(
        out,
        {
            "benchmark": "data_scaling",
            "machine": machine(),
            "baseline_rss_mb": baseline,
            "train_steps": args.train_steps,
            "rows": rows,
        },
    )
    plot(rows, out.with_suffix(".png"))
    print(f"\nwrote {out} and {out.with_suffix('.png')}")
    return rows


if __name__ == "__main__":
    main()
