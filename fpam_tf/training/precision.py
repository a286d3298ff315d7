"""Numeric precision of a run: the Keras dtype policies a run may ask for, found by name, and what
``auto`` resolves to on this machine."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from pathlib import Path

from fpam_tf.atomic import write_json_atomic
from fpam_tf.registry import Registry

PRECISIONS: Registry[None] = Registry("precision")
PRECISIONS.register(
    "auto",
    None,
    "mixed_float16 on a GPU; mixed_bfloat16 on a CPU with AMX or AVX-512 BF16 where it measured "
    "faster there; float32 otherwise",
)
PRECISIONS.register("float32", None, "")
PRECISIONS.register("mixed_float16", None, "GPUs")
PRECISIONS.register("mixed_bfloat16", None, "CPUs with AMX or AVX-512 BF16")

# CPU flags (Linux /proc/cpuinfo) of hardware bfloat16 matrix products. Without them bfloat16 is
# emulated and slower than float32: measured 17% slower per NARM epoch on an AVX2-only AMD EPYC,
# 1.4x faster on an Intel Xeon with AMX (BUILD.md, "Performance").
BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")
# A flag says the instructions exist, not that TensorFlow's kernels use them well, so ``auto``
# also times the output layer's products (most of a step's arithmetic) in both precisions on this
# machine, once, and takes bfloat16 only when they run at least this much faster: a margin for
# the rest of the step (casts, the recurrent loop), which bfloat16 does not speed up.
MIN_BF16_SPEEDUP = 1.25
# The shape timed: a training step's output layer on the Spotify sample (batch 512, embedding
# 100 + bias, 17,102 items).
TIMED_SHAPE = (512, 101, 17_102)


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    """The flags of the first CPU in ``/proc/cpuinfo`` (empty where there is none)."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags") and ":" in line:
            return set(line.split(":", 1)[1].split())
    return set()


def resolve_precision(
    precision: str,
    *,
    gpu: bool | None = None,
    flags: set[str] | None = None,
    bf16_speedup: float | None = None,
) -> str:
    """The Keras dtype policy of ``precision``.

    ``auto``: mixed_float16 on a GPU; on a CPU, mixed_bfloat16 where it has hardware bfloat16
    products (:data:`BF16_CPU_FLAGS`) and they run at least :data:`MIN_BF16_SPEEDUP` times as fast
    as float32 here (:func:`measured_bf16_speedup`), float32 otherwise. ``gpu``, ``flags`` and
    ``bf16_speedup`` default to this machine's.
    """
    precision = PRECISIONS.canonical(precision)
    if precision != "auto":
        return precision
    if gpu is None:
        import tensorflow as tf

        gpu = bool(tf.config.list_physical_devices("GPU"))
    if gpu:
        return "mixed_float16"
    flags = cpu_flags() if flags is None else flags
    if not flags & set(BF16_CPU_FLAGS):
        return "float32"
    speedup = measured_bf16_speedup(flags) if bf16_speedup is None else bf16_speedup
    return "mixed_bfloat16" if speedup >= MIN_BF16_SPEEDUP else "float32"


def output_products_ms(dtype: str, batch: int, dim: int, num_items: int, repeat: int = 20) -> float:
    """Milliseconds of the output layer's three products for one step: logits [B, V] =
    [B, D] x [D, V], and the gradients [B, D] and [V, D] of the two factors."""
    import tensorflow as tf

    session = tf.random.stateless_normal([batch, dim], [1, 2], dtype=tf.float32)
    table = tf.random.stateless_normal([num_items, dim], [3, 4], dtype=tf.float32)
    session, table = tf.cast(session, dtype), tf.cast(table, dtype)

    @tf.function
    def products():
        logits = tf.matmul(session, table, transpose_b=True)
        return tf.reduce_sum(tf.matmul(logits, table)[:, 0]) + tf.reduce_sum(
            tf.matmul(logits, session, transpose_a=True)[:, 0]
        )

    for _ in range(3):
        float(products())
    started = time.perf_counter()
    for _ in range(repeat):
        result = products()
    float(result)
    return 1000 * (time.perf_counter() - started) / repeat


def speedup_cache_path(flags: set[str]) -> Path:
    """Where this machine's measured bfloat16 speed-up is kept: one file per CPU model, flags,
    core count and TensorFlow version (``$FPAM_CACHE_DIR``, else ``~/.cache/fpam_tf``)."""
    import tensorflow as tf

    machine = "|".join([cpu_model(), " ".join(sorted(flags)), str(os.cpu_count()), tf.__version__])
    digest = hashlib.sha256(machine.encode()).hexdigest()[:16]
    root = Path(os.environ.get("FPAM_CACHE_DIR") or "~/.cache/fpam_tf").expanduser()
    return root / "precision" / f"bf16_speedup-{digest}.json"


def measured_bf16_speedup(flags: set[str]) -> float:
    """float32 time / bfloat16 time of :data:`TIMED_SHAPE`'s output products on this machine,
    measured on first use (a few seconds) and then read from :func:`speedup_cache_path`."""
    path = speedup_cache_path(flags)
    try:
        return float(json.loads(path.read_text())["speedup"])
    except (OSError, ValueError, KeyError):
        pass
    float32_ms = min(output_products_ms("float32", *TIMED_SHAPE, repeat=5) for _ in range(3))
    bfloat16_ms = min(output_products_ms("bfloat16", *TIMED_SHAPE, repeat=5) for _ in range(3))
    speedup = float32_ms / bfloat16_ms
    record = {
        "speedup": round(speedup, 3),
        "float32_ms": round(float32_ms, 2),
        "bfloat16_ms": round(bfloat16_ms, 2),
        "shape": TIMED_SHAPE,
        "cpu_model": cpu_model(),
        "measured": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    try:
        write_json_atomic(path, record)
    except OSError:
        pass  # a read-only home: measured again next time, never a failed run
    return speedup


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what ``platform`` says."""
    try:
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name") and ":" in line:
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
