"""Numeric precision of a run: the Keras dtype policies a run may ask for, found by name, and what
``auto`` resolves to on this machine."""

from __future__ import annotations

from pathlib import Path

from fpam_tf.registry import Registry

PRECISIONS: Registry[None] = Registry("precision")
PRECISIONS.register(
    "auto",
    None,
    "mixed_float16 on a GPU; mixed_bfloat16 on a CPU with AMX or AVX-512 BF16; float32 otherwise",
)
PRECISIONS.register("float32", None, "")
PRECISIONS.register("mixed_float16", None, "GPUs")
PRECISIONS.register("mixed_bfloat16", None, "CPUs with AMX or AVX-512 BF16")

# CPU flags (Linux /proc/cpuinfo) of hardware bfloat16 matrix products. Without them bfloat16 is
# emulated and slower than float32: measured 17% slower per NARM epoch on an AVX2-only AMD EPYC,
# 1.4x faster on an Intel Xeon with AMX (BUILD.md, "Performance").
BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


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
    precision: str, *, gpu: bool | None = None, flags: set[str] | None = None
) -> str:
    """The Keras dtype policy of ``precision``.

    ``auto``: mixed_float16 on a GPU; on a CPU, mixed_bfloat16 where it has hardware bfloat16
    products (:data:`BF16_CPU_FLAGS`), float32 otherwise. ``gpu`` and ``flags`` default to this
    machine's.
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
    return "mixed_bfloat16" if flags & set(BF16_CPU_FLAGS) else "float32"
