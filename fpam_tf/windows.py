"""Vocabulary, training and evaluation windows (PROTOCOL §3-4), and their tf.data input pipeline.

Data flows one way: :class:`fpam_tf.events.Sessions` (raw ids) -> :class:`Vocabulary` and
:class:`EncodedSessions` (integer ids, out-of-vocabulary events removed) -> :class:`Windows`
(one per training or evaluation example) -> :func:`make_dataset` (shuffled, length-bucketed,
padded batches).

A window's prefix is always a contiguous run of a flat *track* of events: the session's events
(context ``all``) or its positives only (context ``positives``). A window therefore stores only
``[begin, end)`` into the track; the input pipeline gathers the ragged prefixes of a batch with
``tf.gather(track, tf.ragged.range(begin, end))`` and pads them densely. The FP side sequence of a
window is stored the same way over a track of FP events.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from fpam_tf.errors import ConfigError, DataError
from fpam_tf.events import Sessions

MAX_PREFIX = 50  # PROTOCOL §4: L, the most recent events of a prefix.
MAX_FP_ITEMS = 50  # Cap of an FP side sequence (most recent FPs); sessions are far shorter in practice.
MIN_ITEM_COUNT = 5  # PROTOCOL §3.
PADDING = 0
BUCKET_BATCHES = 16  # Training batches sorted together by prefix length (see make_dataset).

CONTEXTS = ("all", "positives")
FP_SCOPES = ("session", "prefix", "user")


class Vocabulary:
    """Item (or user) ids <-> integer indices; index 0 is padding / out-of-vocabulary.

    PROTOCOL §3: items occurring at least ``min_count`` times in the train split, indexed by
    descending train frequency, ties broken by id. Saved as plain text, one id per line, line ``k``
    (0-based) holding index ``k + 1``, so a serving graph can embed it as an asset.
    """

    def __init__(self, ids):
        self.ids = np.asarray(ids, dtype=object).astype(str)
        self._index = {item: i + 1 for i, item in enumerate(self.ids.tolist())}

    @classmethod
    def from_counts(cls, ids: np.ndarray, min_count: int = MIN_ITEM_COUNT) -> "Vocabulary":
        """Vocabulary of the ids occurring at least ``min_count`` times in ``ids``."""
        unique, counts = np.unique(ids, return_counts=True)
        keep = counts >= min_count
        unique, counts = unique[keep], counts[keep]
        order = np.lexsort((unique, -counts))  # Descending count, ties by id.
        return cls(unique[order])

    def __len__(self) -> int:
        """Number of indices including padding (the size of an embedding table)."""
        return len(self.ids) + 1

    def lookup(self, ids) -> np.ndarray:
        """int32 indices of ``ids``; 0 for an id outside the vocabulary."""
        index = self._index
        return np.fromiter((index.get(i, PADDING) for i in ids), dtype=np.int32, count=len(ids))

    def save(self, path) -> Path:
        path = Path(path)
        bad = [i for i in self.ids.tolist() if "\n" in i or "\r" in i]
        if bad:
            raise DataError(f"item id {bad[0]!r} contains a line break", path=path,
                            fix="line breaks cannot be stored in a one-id-per-line vocabulary; clean the ids in the raw log")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text("".join(i + "\n" for i in self.ids.tolist()), encoding="utf-8")
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path) -> "Vocabulary":
        path = Path(path)
        if not path.is_file():
            raise DataError("vocabulary file not found", path=path, fix="pass the run directory of a finished training run")
        return cls(path.read_text(encoding="utf-8").splitlines())


@dataclasses.dataclass(frozen=True)
class EncodedSessions:
    """Sessions with integer item and user indices; out-of-vocabulary events removed (PROTOCOL §3).

    Attributes:
      row_splits: int64 ``[n + 1]``.
      items: int32 ``[e]`` item indices (never 0).
      is_fp: bool ``[e]``.
      users: int32 ``[n]`` user indices (0 = no user / unknown user).
      session_ids: str ``[n]``.
    """

    row_splits: np.ndarray
    items: np.ndarray
    is_fp: np.ndarray
    users: np.ndarray
    session_ids: np.ndarray

    @classmethod
    def encode(cls, sessions: Sessions, items: Vocabulary, users: Vocabulary) -> "EncodedSessions":
        indices = items.lookup(sessions.items)
        kept = sessions.keep_events(indices != PADDING)
        return cls(
            row_splits=kept.row_splits,
            items=indices[indices != PADDING],
            is_fp=kept.is_fp,
            users=users.lookup(kept.user_ids),
            session_ids=kept.session_ids,
        )

    def __len__(self) -> int:
        return len(self.users)

    @property
    def num_events(self) -> int:
        return int(self.row_splits[-1])


@dataclasses.dataclass(frozen=True)
class Windows:
    """``w`` windows (prefix -> target), stored as ranges over flat tracks.

    Attributes:
      track_items: int32 ``[c]``: the events prefixes are cut from (all events, or positives only).
      track_flags: int32 ``[c]``: 1 where the track's event is an FP (skipped), else 0.
      prefix_begin, prefix_end: int64 ``[w]``: window ``k``'s prefix is ``track_items[begin:end]``, at most L long.
      targets: int32 ``[w]`` target item indices.
      target_is_fp: bool ``[w]``.
      users: int32 ``[w]`` user index of the window's session.
      session_index: int64 ``[w]`` index of the window's session in its split.
      fp_track: int32 ``[f]`` FP items the side sequences are cut from.
      fp_begin, fp_end: int64 ``[w]``: window ``k``'s FP side sequence is ``fp_track[begin:end]``.
    """

    track_items: np.ndarray
    track_flags: np.ndarray
    prefix_begin: np.ndarray
    prefix_end: np.ndarray
    targets: np.ndarray
    target_is_fp: np.ndarray
    users: np.ndarray
    session_index: np.ndarray
    fp_track: np.ndarray
    fp_begin: np.ndarray
    fp_end: np.ndarray

    def __len__(self) -> int:
        return len(self.targets)

    @property
    def prefix_lengths(self) -> np.ndarray:
        return self.prefix_end - self.prefix_begin

    def prefixes(self) -> list[np.ndarray]:
        """The prefixes as NumPy arrays (for inspection and tests; the pipeline never materialises them)."""
        return [self.track_items[b:e] for b, e in zip(self.prefix_begin, self.prefix_end)]

    def prefix_flags(self) -> list[np.ndarray]:
        return [self.track_flags[b:e] for b, e in zip(self.prefix_begin, self.prefix_end)]

    def fp_sequences(self) -> list[np.ndarray]:
        return [self.fp_track[b:e] for b, e in zip(self.fp_begin, self.fp_end)]


def _cumulative(flags: np.ndarray) -> np.ndarray:
    """``[e + 1]``: element ``j`` counts the flags before event ``j`` (so ``[e]`` is the total)."""
    return np.concatenate([[0], np.cumsum(flags, dtype=np.int64)])


def build_windows(
    sessions: EncodedSessions,
    *,
    context: str,
    fp_targets: bool,
    require_positive_before: bool,
    fp_scope: str = "session",
    user_fp: tuple[np.ndarray, np.ndarray] | None = None,
    max_prefix: int = MAX_PREFIX,
    max_fp: int = MAX_FP_ITEMS,
) -> Windows:
    """Builds the windows of ``sessions`` (PROTOCOL §4).

    A window ends at every event ``t >= 1`` of a session whose target is kept (positives only
    unless ``fp_targets``) and, when ``require_positive_before``, that has a positive before it.
    Its prefix is the last ``max_prefix`` events before ``t`` of the ``context`` track.

    Args:
      context: ``"all"`` (every event before t, each with its FP flag) or ``"positives"``.
      fp_targets: keep windows whose target is an FP.
      require_positive_before: drop windows without a positive before the target
        (evaluation windows, and every window of the positives-only context).
      fp_scope: the FP side sequence: the session's FPs (``session``), those before t
        (``prefix``), or the user's FPs in train (``user``, needs ``user_fp``).
      user_fp: ``(row_splits, items)`` of each user's train FP items, from :func:`user_fp_items`.
    """
    if context not in CONTEXTS:
        raise ConfigError(f"unknown context {context!r}; choose one of {', '.join(CONTEXTS)}")
    if fp_scope not in FP_SCOPES:
        raise ConfigError(f"unknown FP scope {fp_scope!r}; choose one of {', '.join(FP_SCOPES)}")
    lengths = np.diff(sessions.row_splits)
    session_of = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    event = np.arange(sessions.num_events, dtype=np.int64)
    positive = ~sessions.is_fp

    positives_upto = _cumulative(positive)
    fps_upto = _cumulative(sessions.is_fp)
    positives_before, fps_before = positives_upto[:-1], fps_upto[:-1]  # per event: count before it, dataset-wide
    first_event, end_event = sessions.row_splits[:-1][session_of], sessions.row_splits[1:][session_of]
    session_positives_start = positives_upto[first_event]
    session_fp_start, session_fp_end = fps_upto[first_event], fps_upto[end_event]

    keep = event > first_event  # t >= 1
    if not fp_targets:
        keep &= positive
    if require_positive_before or context == "positives":
        keep &= positives_before > session_positives_start
    ends = event[keep]

    if context == "all":
        track_items, track_flags = sessions.items, sessions.is_fp.astype(np.int32)
        prefix_end, prefix_start = ends, first_event[keep]
    else:
        track_items = sessions.items[positive]
        track_flags = np.zeros(len(track_items), np.int32)
        prefix_end, prefix_start = positives_before[keep], session_positives_start[keep]
    prefix_begin = np.maximum(prefix_start, prefix_end - max_prefix)

    users = sessions.users[session_of[keep]]
    if fp_scope == "user":
        if user_fp is None:
            raise ConfigError("the 'user' FP scope needs the users' train FP items (user_fp)")
        user_splits, fp_track = user_fp
        fp_end = user_splits[users + 1]
        fp_start = user_splits[users]
    else:
        fp_track = sessions.items[sessions.is_fp]
        fp_start = session_fp_start[keep]
        fp_end = fps_before[keep] if fp_scope == "prefix" else session_fp_end[keep]
    fp_begin = np.maximum(fp_start, fp_end - max_fp)

    return Windows(
        track_items=track_items.astype(np.int32),
        track_flags=track_flags,
        prefix_begin=prefix_begin.astype(np.int64),
        prefix_end=prefix_end.astype(np.int64),
        targets=sessions.items[keep].astype(np.int32),
        target_is_fp=sessions.is_fp[keep],
        users=users.astype(np.int32),
        session_index=session_of[keep],
        fp_track=fp_track.astype(np.int32),
        fp_begin=fp_begin.astype(np.int64),
        fp_end=fp_end.astype(np.int64),
    )


def user_fp_items(train: EncodedSessions, num_users: int) -> tuple[np.ndarray, np.ndarray]:
    """Each user's FP items in train, in time order: ``(row_splits [num_users + 1], items)``.

    Sessions of a split are in chronological order, so a stable sort by user keeps time order.
    User 0 (no user) gets none: an anonymous session has no user history.
    """
    session_of = np.repeat(np.arange(len(train), dtype=np.int64), np.diff(train.row_splits))
    event_users = train.users[session_of]
    chosen = train.is_fp & (event_users != PADDING)
    order = np.argsort(event_users[chosen], kind="stable")
    counts = np.bincount(event_users[chosen], minlength=num_users)[:num_users]
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64), train.items[chosen][order]


@dataclasses.dataclass(frozen=True)
class ProtocolData:
    """A dataset under PROTOCOL: vocabularies and the encoded train / validation / test splits."""

    items: Vocabulary
    users: Vocabulary
    splits: dict

    @classmethod
    def from_sessions(cls, splits: dict, min_count: int = MIN_ITEM_COUNT) -> "ProtocolData":
        """PROTOCOL §3: the vocabulary from train; users are those with a non-empty id in train."""
        train = splits["train"]
        items = Vocabulary.from_counts(train.items, min_count)
        users = Vocabulary.from_counts(train.user_ids[train.user_ids != ""], 1)
        return cls(items, users, {name: EncodedSessions.encode(s, items, users) for name, s in splits.items()})

    @property
    def has_users(self) -> bool:
        return len(self.users) > 1

    def training_windows(self, *, context: str, fp_targets: bool, fp_scope: str = "session") -> Windows:
        """Training windows. The paper's families: Vanilla = (all, fp_targets=True);
        FP-Simple / FP-Metric / FP-AdaMetric = (positives, False); full context = (all, False)."""
        user_fp = user_fp_items(self.splits["train"], len(self.users)) if fp_scope == "user" else None
        return build_windows(self.splits["train"], context=context, fp_targets=fp_targets,
                             require_positive_before=context == "positives", fp_scope=fp_scope, user_fp=user_fp)

    def evaluation_windows(self, split: str, *, context: str) -> Windows:
        """Validation or test windows: the same targets for every method; only the prefix differs by context."""
        return build_windows(self.splits[split], context=context, fp_targets=False, require_positive_before=True)

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
        }


# ----------------------------------------------------------------------------------------------
# tf.data


def session_graph(items, mask):
    """SR-GNN's per-session graph of a padded batch (Wu et al. 2019), in TensorFlow ops.

    Args:
      items: int32 ``[B, T]`` prefixes, right-padded with 0.
      mask: bool ``[B, T]``.

    Returns:
      dict with ``nodes`` int32 ``[B, N]`` (unique items in order of first occurrence, 0-padded),
      ``alias`` int32 ``[B, T]`` (node of each position, 0 on padding), and ``adj_in`` /
      ``adj_out`` float32 ``[B, N, N]`` normalised as the reference code: ``adj_in[b,i,j] =
      A[j,i] / max(indegree(i), 1)`` and ``adj_out[b,i,j] = A[i,j] / max(outdegree(i), 1)``,
      ``A[u,v] = 1`` when the prefix has a transition ``u -> v``.
    """
    import tensorflow as tf

    length = tf.shape(items)[1]
    positions = tf.range(length)
    same = tf.equal(items[:, :, None], items[:, None, :])
    first = tf.argmax(tf.cast(same, tf.int32), axis=2, output_type=tf.int32)  # first position holding the same item
    is_first = tf.logical_and(tf.equal(first, positions[None, :]), mask)
    node_of_first = tf.cumsum(tf.cast(is_first, tf.int32), axis=1) - 1
    alias = tf.where(mask, tf.gather(node_of_first, first, batch_dims=1), 0)
    nodes = tf.ragged.boolean_mask(items, is_first).to_tensor()
    num_nodes = tf.shape(nodes)[1]
    transition = tf.cast(tf.logical_and(mask[:, 1:], mask[:, :-1]), tf.float32)
    source = tf.one_hot(alias[:, :-1], num_nodes) * transition[:, :, None]
    target = tf.one_hot(alias[:, 1:], num_nodes)
    adjacency = tf.minimum(tf.einsum("bpu,bpv->buv", source, target), 1.0)
    indegree = tf.maximum(tf.reduce_sum(adjacency, axis=1), 1.0)
    outdegree = tf.maximum(tf.reduce_sum(adjacency, axis=2), 1.0)
    return {
        "nodes": nodes,
        "alias": alias,
        "adj_in": tf.transpose(adjacency, [0, 2, 1]) / indegree[:, :, None],
        "adj_out": adjacency / outdegree[:, :, None],
    }


@dataclasses.dataclass(frozen=True)
class BatchOptions:
    """What a batch carries besides the prefix (decided by the model, not by the data).

    Attributes:
      flags: include ``flags`` (FP flag per prefix event): models with a learned skip-flag embedding.
      fp_items: include ``fp_items`` / ``target_is_fp``: models with an FP metric term.
      graph: include SR-GNN's session graph (see :func:`session_graph`).
      fp_target_weight: cross-entropy weight of windows whose target is an FP (1 for others).
    """

    flags: bool = False
    fp_items: bool = False
    graph: bool = False
    fp_target_weight: float = 1.0


def num_batches(num_windows: int, batch_size: int, bucket_batches: int = BUCKET_BATCHES) -> int:
    """Batches per epoch of :func:`make_dataset` with ``shuffle=True``: each chunk of
    ``batch_size * bucket_batches`` windows is cut into batches separately."""
    full, rest = divmod(num_windows, batch_size * bucket_batches)
    return full * bucket_batches + -(-rest // batch_size)


def make_dataset(
    windows: Windows,
    *,
    batch_size: int,
    options: BatchOptions = BatchOptions(),
    shuffle: bool = False,
    seed: int = 0,
    bucket_batches: int = BUCKET_BATCHES,
):
    """A ``tf.data.Dataset`` of padded batches ``(features, targets, sample_weight)``.

    Features: ``items`` int32 ``[B, T]`` (T = longest prefix of the batch), ``lengths`` int32
    ``[B]``, ``users`` int32 ``[B]``, and per ``options``: ``flags`` int32 ``[B, T]``,
    ``fp_items`` int32 ``[B, F]`` with ``target_is_fp`` bool ``[B]``, the graph tensors.
    ``sample_weight`` is float32 ``[B]`` (``fp_target_weight`` on FP targets, else 1).

    Training (``shuffle=True``) reshuffles every epoch, then buckets by length: chunks of
    ``bucket_batches`` batches are sorted by prefix length and cut into batches, whose order is
    shuffled again, so padding stays small without ordering the epoch by length. Evaluation keeps
    the windows' order.
    """
    import tensorflow as tf

    num_windows = len(windows)
    if num_windows == 0:
        raise DataError("no windows to batch: the split is empty after the vocabulary filter",
                        fix="use a larger dataset or lower the vocabulary's minimum count")
    track_items = tf.constant(windows.track_items)
    track_flags = tf.constant(windows.track_flags)
    fp_track = tf.constant(windows.fp_track)
    prefix_begin = tf.constant(windows.prefix_begin)
    prefix_end = tf.constant(windows.prefix_end)
    prefix_lengths = tf.constant(windows.prefix_lengths.astype(np.int32))
    fp_begin = tf.constant(windows.fp_begin)
    fp_end = tf.constant(windows.fp_end)
    targets = tf.constant(windows.targets)
    target_is_fp = tf.constant(windows.target_is_fp)
    users = tf.constant(windows.users)

    def gather_batch(index):
        begin, end = tf.gather(prefix_begin, index), tf.gather(prefix_end, index)
        prefix = tf.ragged.range(begin, end)  # ragged [B, (length)] positions in the track
        items = tf.gather(track_items, prefix).to_tensor()
        features = {
            "items": items,
            "lengths": tf.cast(end - begin, tf.int32),
            "users": tf.gather(users, index),
        }
        if options.flags:
            features["flags"] = tf.gather(track_flags, prefix).to_tensor()
        is_fp_target = tf.gather(target_is_fp, index)
        if options.fp_items:
            fp_positions = tf.ragged.range(tf.gather(fp_begin, index), tf.gather(fp_end, index))
            features["fp_items"] = tf.gather(fp_track, fp_positions).to_tensor()
            features["target_is_fp"] = is_fp_target
        if options.graph:
            features.update(session_graph(items, items != PADDING))
        weight = tf.where(is_fp_target, tf.constant(options.fp_target_weight, tf.float32), 1.0)
        return features, tf.gather(targets, index), weight

    if shuffle:
        chunk = batch_size * bucket_batches
        num_chunks = -(-num_windows // chunk)

        def epoch_chunks(random_seed):
            # One vectorised permutation per epoch (a fresh seed each iteration over the dataset),
            # cut into chunks: no per-window element ever passes through tf.data.
            order = tf.random.experimental.stateless_shuffle(
                tf.range(num_windows, dtype=tf.int64), seed=tf.stack([random_seed, tf.constant(seed, tf.int64)]))
            return tf.data.Dataset.range(num_chunks).map(lambda c: order[c * chunk:(c + 1) * chunk])

        def bucketed(chunk_index):
            by_length = tf.gather(chunk_index, tf.argsort(tf.gather(prefix_lengths, chunk_index), stable=True))
            return tf.data.Dataset.range(-(-tf.size(by_length, tf.int64) // batch_size)).map(
                lambda b: by_length[b * batch_size:(b + 1) * batch_size])

        dataset = (
            tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(1)
            .flat_map(epoch_chunks)
            .flat_map(bucketed)
            .shuffle(bucket_batches, seed=seed + 1, reshuffle_each_iteration=True)
        )
    else:
        dataset = tf.data.Dataset.range(num_windows).batch(batch_size)
    dataset = dataset.map(gather_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.prefetch(tf.data.AUTOTUNE)
