"""A dataset under PROTOCOL: its vocabularies, encoded splits, windows and §6 figures."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

from fpam_tf.vocabulary import MIN_ITEM_COUNT, EncodedSessions, Vocabulary
from fpam_tf.windows import Windows, build_windows, user_fp_items


@dataclasses.dataclass(frozen=True)
class ProtocolData:
    """A dataset under PROTOCOL: vocabularies and the encoded train / validation / test splits."""

    items: Vocabulary
    users: Vocabulary
    splits: dict

    @classmethod
    def from_sessions(cls, splits: dict, min_count: int = MIN_ITEM_COUNT) -> ProtocolData:
        """PROTOCOL §3: the vocabulary from train; users are those with a non-empty id in train."""
        train = splits["train"]
        items = Vocabulary.from_counts(train.items, min_count)
        users = Vocabulary.from_counts(train.user_ids[train.user_ids != ""], 1)
        return cls(
            items,
            users,
            {name: EncodedSessions.encode(s, items, users) for name, s in splits.items()},
        )

    @property
    def has_users(self) -> bool:
        return len(self.users) > 1

    def training_windows(
        self, *, context: str, fp_targets: bool, fp_scope: str = "session"
    ) -> Windows:
        """Training windows. The paper's families: Vanilla = (all, fp_targets=True);
        FP-Simple / FP-Metric / FP-AdaMetric = (positives, False); full context = (all, False)."""
        user_fp = (
            user_fp_items(self.splits["train"], len(self.users)) if fp_scope == "user" else None
        )
        return training_windows(
            self.splits["train"],
            context=context,
            fp_targets=fp_targets,
            fp_scope=fp_scope,
            user_fp=user_fp,
        )

    def evaluation_windows(self, split: str, *, context: str, fp_targets: bool = False) -> Windows:
        """:func:`evaluation_windows` of a split."""
        return evaluation_windows(self.splits[split], context=context, fp_targets=fp_targets)

    def skip_windows(self, split: str, *, context: str) -> Windows:
        """:func:`skip_windows` of a split."""
        return skip_windows(self.splits[split], context=context)

    def stats(self, raw_splits: dict) -> dict:
        """The figures of PROTOCOL §6 (and ``python -m fpam_tf.data stats``)."""
        events = sum(s.num_events for s in raw_splits.values())
        fps = sum(int(s.is_fp.sum()) for s in raw_splits.values())
        return {
            "sessions": {name: len(s) for name, s in raw_splits.items()},
            "events": events,
            "fp_ratio": round(fps / max(events, 1), 4),
            "users": len(self.users) - 1,
            "vocab_size": len(self.items) - 1,
            "events_in_vocabulary": {name: s.num_events for name, s in self.splits.items()},
            "train_windows_vanilla": len(self.training_windows(context="all", fp_targets=True)),
            "train_windows_fp": len(self.training_windows(context="positives", fp_targets=False)),
            "train_windows_fp_all": len(self.training_windows(context="all", fp_targets=False)),
            "valid_windows": len(self.evaluation_windows("validation", context="all")),
            "test_windows": len(self.evaluation_windows("test", context="all")),
            "valid_skip_windows": len(self.skip_windows("validation", context="all")),
            "test_skip_windows": len(self.skip_windows("test", context="all")),
        }


def training_windows(
    sessions: EncodedSessions,
    *,
    context: str,
    fp_targets: bool,
    fp_scope: str = "session",
    user_fp: tuple | None = None,
) -> Windows:
    """PROTOCOL §4's training windows of ``sessions`` (see :meth:`ProtocolData.training_windows`);
    ``user_fp`` for the ``user`` FP scope."""
    return build_windows(
        sessions,
        context=context,
        fp_targets=fp_targets,
        require_positive_before=context == "positives",
        fp_scope=fp_scope,
        user_fp=user_fp,
    )


def evaluation_windows(
    sessions: EncodedSessions, *, context: str, fp_targets: bool = False
) -> Windows:
    """Validation or test windows: the same targets for every method (positives); only the
    prefix differs by context. ``fp_targets`` keeps FP targets too (a protocol variant, never
    PROTOCOL's figures)."""
    return build_windows(
        sessions, context=context, fp_targets=fp_targets, require_positive_before=True
    )


def skip_windows(sessions: EncodedSessions, *, context: str) -> Windows:
    """Validation or test skip windows (PROTOCOL §5b): every FP event with a positive before it,
    as target; the prefix as in :func:`evaluation_windows`."""
    return build_windows(
        sessions,
        context=context,
        fp_targets=True,
        skip_targets=True,
        require_positive_before=True,
    )


@dataclasses.dataclass(frozen=True)
class DataPart:
    """Part ``index`` of ``count`` disjoint parts of every split (one per worker of a multi-worker
    strategy); ``count`` 1 is the whole split."""

    index: int = 0
    count: int = 1

    def __post_init__(self):
        if not 0 <= self.index < self.count:
            raise ValueError(f"part {self.index} of {self.count}: the index must be in [0, count)")

    @property
    def whole(self) -> bool:
        return self.count == 1


@dataclasses.dataclass(frozen=True)
class StreamedProtocolData:
    """A dataset under PROTOCOL whose splits are read in blocks of sessions, never whole: the
    pipeline's Trainer on its transformed shards (``pipelines/trainer.py``).

    ``blocks(split, order_seed)`` yields a split's sessions as :class:`EncodedSessions` blocks of
    a fixed composition; ``order_seed`` (an int) reorders the blocks (a new order per training
    epoch), ``None`` keeps their stored order. Windows never cross sessions, so each block's
    windows are its own (PROTOCOL §4), and the union over the blocks is the split's. What needs a
    split whole is refused: the ``user`` FP scope (each user's train FPs in time order) and the
    protocol variants that re-cut windows or splits.

    ``part``: which part of every split the blocks are. A worker of a multi-worker strategy reads
    its own shards only (part ``index`` of ``count``), and the workers' parts together are the
    split; ``DataPart()`` is the whole split.
    """

    items: Vocabulary
    users: Vocabulary
    blocks: Callable[[str, int | None], Iterator[EncodedSessions]]
    part: DataPart = DataPart()

    @property
    def has_users(self) -> bool:
        return len(self.users) > 1
