"""Latency of the exported model's ``serving_default`` against the floor of a NumPy top-k
(target: <= 1.5x at batch 64).

    python -m benchmarks.serving_latency [--run-dir runs/spotify-narm-fpam]
        [--out results/serving_latency.json]

Two catalogues, k = 100: (a) the Spotify sample's (a trained run's, or an untrained NARM with its
17,101-row table: weights do not change latency), (b) a synthetic 1,000,000-item table. Each is
exported with :func:`fpam_tf.export.export`, reloaded with ``tf.saved_model.load`` and called with
sessions of 10 real item ids. The floor is retrieval alone over the same table and the same query
embeddings (from the ``session_embedding`` signature): a float32 matrix product plus
``np.argpartition`` and a sort of the k winners. ``session_embedding`` alone is timed too, so the
index's share is ``serving_default - session_embedding``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

import fpam_tf  # noqa: F401
from benchmarks.common import print_table, write_json
from fpam_tf.export import export
from fpam_tf.training.run_dir import RunConfig, RunDir, save_weights_atomic
from fpam_tf.vocabulary import Vocabulary

SPOTIFY_VOCABULARY_SIZE = 17_101  # rows of the Spotify sample's item table, padding included
LARGE_CATALOGUE = 1_000_000
SESSION_LENGTH = 10
K = 100
TARGET_RATIO = 1.5


def untrained_run_dir(path: Path, num_items: int) -> RunDir:
    """A run directory holding an untrained NARM (FP-AdaMetric config) over
    ``num_items - 1`` items."""
    import keras

    from fpam_tf.methods import MethodConfig
    from fpam_tf.model import build_model

    run_dir = RunDir(path)
    config = RunConfig(model="narm", method=MethodConfig.preset("fp-adametric"))
    run_dir.claim(config)
    Vocabulary([f"item-{i}" for i in range(num_items - 1)]).save(run_dir.vocabulary)
    Vocabulary([]).save(run_dir.users)
    model = build_model(
        config.method,
        backbone="narm",
        num_items=num_items,
        num_users=1,
        embedding_dim=config.embedding_dim,
        hidden_units=config.hidden_units,
    )
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate))
    model({"items": np.array([[1, 2]], np.int32)})
    model.optimizer.build(model.trainable_variables)
    save_weights_atomic(model, run_dir.best_weights)
    return run_dir


def latencies_ms(call, repeats: int) -> np.ndarray:
    """Wall-clock milliseconds of ``repeats`` calls of ``call`` after 3 warm-up calls."""
    for _ in range(3):
        call()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return np.array(times) * 1e3


def numpy_top_k(queries: np.ndarray, table: np.ndarray, k: int) -> np.ndarray:
    """Indices [B, k] of the best rows of ``table`` [N, D] for ``queries`` [B, D], best first."""
    scores = queries @ table.T
    best = np.argpartition(-scores, k, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, best, axis=1), axis=1)
    return np.take_along_axis(best, order, axis=1)


def measure(
    name: str, run_dir: RunDir, export_base: Path, batch_sizes: list[int], repeats: int
) -> list[dict]:
    """Rows of p50 / p99 latencies of one exported catalogue, one row per batch size."""
    import tensorflow as tf

    path = export(run_dir, k=K, export_base=export_base)
    loaded = tf.saved_model.load(str(path))
    serve, embed = loaded.signatures["serving_default"], loaded.signatures["session_embedding"]
    item_ids = np.array(Vocabulary.load(run_dir.vocabulary).ids, dtype=object)
    table = np.asarray(
        loaded.index._candidates.numpy(), dtype=np.float32
    )  # the index's own rows (no padding)
    rng = np.random.default_rng(0)
    rows = []
    for batch in batch_sizes:
        sessions = tf.constant(rng.choice(item_ids, (batch, SESSION_LENGTH)))
        nothing = tf.constant(np.full((batch, 1), "", dtype=object))
        queries = embed(item_ids=sessions, skipped_ids=nothing)["e_seq"].numpy()
        served = serve(item_ids=sessions, skipped_ids=nothing)
        floor_ids = item_ids[numpy_top_k(queries, table, K)]
        agreement = float(np.mean(served["item_ids"].numpy().astype(str) == floor_ids.astype(str)))
        times = {
            "serving_default": latencies_ms(
                lambda: serve(item_ids=sessions, skipped_ids=nothing), repeats
            ),
            "session_embedding": latencies_ms(
                lambda: embed(item_ids=sessions, skipped_ids=nothing), repeats
            ),
            "numpy_floor": latencies_ms(lambda: numpy_top_k(queries, table, K), repeats),
        }
        row = {"catalogue": name, "items": len(table), "batch": batch, "same_top_k": agreement}
        for key, values in times.items():
            row[f"{key}_p50_ms"] = float(np.percentile(values, 50))
            row[f"{key}_p99_ms"] = float(np.percentile(values, 99))
        row["ratio_p50"] = row["serving_default_p50_ms"] / row["numpy_floor_p50_ms"]
        row["index_only_ratio_p50"] = (
            row["serving_default_p50_ms"] - row["session_embedding_p50_ms"]
        ) / row["numpy_floor_p50_ms"]
        rows.append(row)
        print(row, flush=True)
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--run-dir",
        default=None,
        help="a trained Spotify run (default: untrained NARM of the same size)",
    )
    p.add_argument(
        "--large-items", type=int, default=LARGE_CATALOGUE, help="size of the synthetic catalogue"
    )
    p.add_argument("--repeats", type=int, default=50, help="timed calls per measurement")
    p.add_argument("--batch-sizes", default="1,64")
    p.add_argument("--out", default="results/serving_latency.json")
    args = p.parse_args(argv)
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]

    rows = []
    with tempfile.TemporaryDirectory(prefix="serving-latency-") as tmp:
        tmp = Path(tmp)
        spotify = (
            RunDir(args.run_dir)
            if args.run_dir
            else untrained_run_dir(tmp / "spotify-size", SPOTIFY_VOCABULARY_SIZE)
        )
        rows += measure("spotify sample", spotify, tmp / "models", batch_sizes, args.repeats)
        large = untrained_run_dir(tmp / "large", args.large_items + 1)
        rows += measure(
            f"synthetic {args.large_items:,}", large, tmp / "models", batch_sizes, args.repeats
        )

    print(
        f"\nserving_default latency vs NumPy matmul + argpartition floor, k = {K}, "
        f"sessions of {SESSION_LENGTH} "
        f"(target at batch 64: <= {TARGET_RATIO}x)\n"
    )
    print_table(
        rows,
        [
            "catalogue",
            "items",
            "batch",
            "serving_default_p50_ms",
            "serving_default_p99_ms",
            "session_embedding_p50_ms",
            "numpy_floor_p50_ms",
            "numpy_floor_p99_ms",
            "ratio_p50",
            "index_only_ratio_p50",
            "same_top_k",
        ],
    )
    write_json(
        args.out,
        {
            "benchmark": "serving_latency",
            "k": K,
            "session_length": SESSION_LENGTH,
            "target_ratio_batch_64": TARGET_RATIO,
            "trained_run": args.run_dir,
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()
