"""Session encoders (backbones) behind one interface, :class:`SessionEncoder`.

Adding a backbone = one file defining a ``SessionEncoder`` subclass + one line in ``BACKBONES``.
"""

from __future__ import annotations

import inspect

from fpam_tf.backbones.base import SessionEncoder
from fpam_tf.backbones.gru4rec import GRU4Rec
from fpam_tf.backbones.narm import NARM
from fpam_tf.backbones.srgnn import SRGNN
from fpam_tf.backbones.stamp import STAMP
from fpam_tf.errors import ConfigError

BACKBONES: dict[str, type[SessionEncoder]] = {
    "narm": NARM,
    "srgnn": SRGNN,
    "stamp": STAMP,
    "gru4rec": GRU4Rec,
}


def get(name: str, **kwargs) -> SessionEncoder:
    """A new backbone ``name`` (case-insensitive), constructed with ``kwargs``.

    Shared options a backbone does not take are ignored (``hidden_units`` for STAMP, whose sizes
    all follow the embedding dimension), so callers can pass one set of options to any backbone.

    Raises:
      ConfigError: unknown name (the message lists the valid ones).
    """
    key = str(name).strip().lower()
    if key not in BACKBONES:
        raise ConfigError(
            f"unknown backbone {name!r}; valid backbones: {', '.join(sorted(BACKBONES))}")
    cls = BACKBONES[key]
    accepted = inspect.signature(cls.__init__).parameters
    return cls(**{k: v for k, v in kwargs.items() if k in accepted or k in ("name", "dtype")})


__all__ = ["BACKBONES", "GRU4Rec", "NARM", "SRGNN", "STAMP", "SessionEncoder", "get"]
