"""Numeric precision of a run: the Keras dtype policies a run may ask for, found by name."""

from __future__ import annotations

from fpam_tf.registry import Registry

PRECISIONS: Registry[None] = Registry("precision")
PRECISIONS.register("auto", None, "mixed_float16 on a GPU, float32 on CPU")
PRECISIONS.register("float32", None, "")
PRECISIONS.register("mixed_float16", None, "GPUs")
PRECISIONS.register("mixed_bfloat16", None, "CPUs with AMX / AVX-512 BF16, TPUs")


def resolve_precision(precision: str) -> str:
    """The Keras dtype policy of ``precision``; ``auto``: mixed_float16 on a GPU, float32 on CPU."""
    precision = PRECISIONS.canonical(precision)
    if precision != "auto":
        return precision
    import tensorflow as tf

    return "mixed_float16" if tf.config.list_physical_devices("GPU") else "float32"
