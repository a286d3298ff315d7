"""Session encoders (backbones) behind one interface, :class:`SessionEncoder`, found by name in
``BACKBONES``.

Adding a backbone is one file defining a ``SessionEncoder`` subclass (with its own batch features,
if it needs any: ``FEATURES``, ``prefix_features`` and ``feature_inputs``) and one
``BACKBONES.register`` line here.
"""

from __future__ import annotations

import inspect

from fpam_tf.backbones.base import SessionEncoder
from fpam_tf.backbones.gru4rec import GRU4Rec
from fpam_tf.backbones.narm import NARM
from fpam_tf.backbones.srgnn import SRGNN
from fpam_tf.backbones.stamp import STAMP
from fpam_tf.registry import Registry

BACKBONES: Registry[type[SessionEncoder]] = Registry("backbone", normalize=str.lower)
BACKBONES.register("narm", NARM, "Li et al. 2017: GRU with attention")
BACKBONES.register("srgnn", SRGNN, "Wu et al. 2019: gated GNN over the session graph")
BACKBONES.register("stamp", STAMP, "Liu et al. 2018: short-term attention/memory priority")
BACKBONES.register("gru4rec", GRU4Rec, "Hidasi et al. 2016: GRU")


def create(name: str, **kwargs) -> SessionEncoder:
    """A new backbone ``name`` (case-insensitive), constructed with ``kwargs``.

    Shared options a backbone does not take are ignored (``hidden_units`` for STAMP, whose sizes
    all follow the embedding dimension), so callers can pass one set of options to any backbone.

    Raises:
      ConfigError: unknown name (the message lists the valid ones).
    """
    cls = BACKBONES.get(name)
    accepted = inspect.signature(cls.__init__).parameters
    return cls(**{k: v for k, v in kwargs.items() if k in accepted or k in ("name", "dtype")})


__all__ = ["BACKBONES", "GRU4Rec", "NARM", "SRGNN", "STAMP", "SessionEncoder", "create"]
