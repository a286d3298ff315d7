"""Variants of PROTOCOL v2's windows, to test explanations of figures the paper reports and this
project does not reproduce (its Spotify FP-Simple MRR@20 of 79.60 against its own Vanilla's
16.16). They are never the protocol: a run under a variant is reported under the variant's name
(docs/REPRODUCTION.md, "Protocol variants"), beside the standard figures.

- ``standard``: PROTOCOL v2 itself.
- ``index-shift``: positives-only prefixes cut at the target's position in the *full* session. If
  the FPs are removed from a session but the cut is computed on the original positions, the prefix
  of a target with ``k`` skipped plays before it holds the target itself and the ``k - 1`` plays
  after it. Only the positives context changes (nothing is removed from an all-events prefix).
- ``target-in-prefix``: every prefix ends with its own target (a plain leak).
- ``own-targets``: each method is scored on the targets it trains on; Vanilla also on the skipped
  plays (its evaluation windows keep FP targets, see :class:`~fpam_tf.protocol.ProtocolData`).
- ``random-split``: the sessions cut 80/10/10 in a random order (seed 0) instead of PROTOCOL §2's
  chronological one, so later sessions train the model (:func:`variant_splits`).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from fpam_tf.events import SPLITS, Sessions, split_sessions
from fpam_tf.registry import Registry
from fpam_tf.vocabulary import EncodedSessions
from fpam_tf.windows import MAX_PREFIX, Windows

PROTOCOL_VARIANTS: Registry[None] = Registry("protocol variant")
PROTOCOL_VARIANTS.register("standard", None, "PROTOCOL v2")
PROTOCOL_VARIANTS.register(
    "index-shift",
    None,
    "positives-only prefixes cut at the target's position in the full session (after k skipped "
    "plays the prefix holds the target and k - 1 later plays)",
)
PROTOCOL_VARIANTS.register(
    "target-in-prefix", None, "every prefix ends with its own target (a leak)"
)
PROTOCOL_VARIANTS.register(
    "own-targets", None, "each method scored on its own training targets (Vanilla: FPs too)"
)
PROTOCOL_VARIANTS.register(
    "random-split", None, "sessions split 80/10/10 in a random order instead of by time"
)
RANDOM_SPLIT_SEED = 0
# The variants that change the splits (the others change only the windows cut from them).
SPLIT_VARIANTS = ("random-split",)


def variant_splits(variant: str, splits: dict[str, Sessions]) -> dict[str, Sessions]:
    """The train / validation / test sessions under ``variant``: PROTOCOL §2's (``splits``
    itself) but for ``random-split``, which pools them and cuts them in a seeded random order."""
    PROTOCOL_VARIANTS.get(variant)
    if variant not in SPLIT_VARIANTS:
        return splits
    pooled = Sessions.concatenate([splits[split] for split in SPLITS])
    return split_sessions(pooled, shuffle_seed=RANDOM_SPLIT_SEED)


def shifted_windows(
    variant: str,
    sessions: EncodedSessions,
    windows: Windows,
    *,
    context: str,
    max_prefix: int = MAX_PREFIX,
) -> Windows:
    """``windows`` of ``sessions`` (built with ``context``) with their prefixes cut as ``variant``
    cuts them; targets, FP side sequences and everything else unchanged.

    ``index-shift`` and ``target-in-prefix`` move each prefix's end (and its begin, keeping at
    most ``max_prefix`` events within the session); the other variants leave prefixes as they
    are. Windows whose target is an FP keep their prefix under ``target-in-prefix`` when the
    context holds no FPs.
    """
    PROTOCOL_VARIANTS.get(variant)
    if variant not in ("index-shift", "target-in-prefix"):
        return windows
    first_event = sessions.row_splits[windows.session_index]
    last_event = sessions.row_splits[windows.session_index + 1]
    # Where the target sits in the track: right after the prefix (a positive target of a
    # positives-only track is the next positive).
    target_position = windows.prefix_end
    if context == "all":
        session_start, session_end = first_event, last_event
    else:
        positives_upto = np.concatenate([[0], np.cumsum(~sessions.is_fp, dtype=np.int64)])
        session_start, session_end = positives_upto[first_event], positives_upto[last_event]
    if variant == "target-in-prefix":
        in_track = ~windows.target_is_fp if context != "all" else np.ones(len(windows), bool)
        end = np.where(in_track, target_position + 1, windows.prefix_end)
    elif context == "all":
        return windows
    else:
        target_event = np.flatnonzero(~sessions.is_fp)[target_position]
        end = np.minimum(session_start + (target_event - first_event), session_end)
    return dataclasses.replace(
        windows,
        prefix_begin=np.maximum(session_start, end - max_prefix).astype(np.int64),
        prefix_end=end.astype(np.int64),
    )
