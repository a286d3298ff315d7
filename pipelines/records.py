"""Sessions as ``tf.train.SequenceExample`` records, and reading TFRecord shards back.

A session's context holds ``session_id``, ``user_id`` (bytes) and ``start_time`` (int64); its
feature lists hold one step per event: ``item`` (bytes), ``is_fp`` (int64 0/1) and ``grade`` (int64,
the skip grade 0-3 of ``fpam_tf.events``).
"""

from __future__ import annotations

from pathlib import Path

from fpam_tf.events import SessionRecord

SHARD_SUFFIX = ".tfrecord.gz"


def split_dir(artifact: Path, split: str) -> Path:
    """The folder of one split inside an examples artifact (TFX names it ``Split-<split>``)."""
    return Path(artifact) / f"Split-{split}"


def shard_pattern(artifact: Path, split: str) -> str:
    """Glob of a split's shards."""
    return str(split_dir(artifact, split) / f"*{SHARD_SUFFIX}")


def shard_prefix(artifact: Path, split: str) -> str:
    """Prefix Beam's TFRecord sink writes a split's shards under."""
    return str(split_dir(artifact, split) / "data")


def shards(artifact: Path, split: str) -> list[str]:
    """The shard files of a split, in name order."""
    return sorted(str(p) for p in split_dir(artifact, split).glob(f"*{SHARD_SUFFIX}"))


def encode_session(record: SessionRecord) -> bytes:
    """A session as a serialised ``tf.train.SequenceExample``."""
    import tensorflow as tf

    example = tf.train.SequenceExample()
    context = example.context.feature
    context["session_id"].bytes_list.value.append(record.session_id.encode())
    context["user_id"].bytes_list.value.append(record.user_id.encode())
    context["start_time"].int64_list.value.append(int(record.start_time))
    items = example.feature_lists.feature_list["item"]
    flags = example.feature_lists.feature_list["is_fp"]
    grades = example.feature_lists.feature_list["grade"]
    for item, flag, grade in zip(record.items, record.is_fp, record.event_grades().tolist()):
        items.feature.add().bytes_list.value.append(item.encode())
        flags.feature.add().int64_list.value.append(int(flag))
        grades.feature.add().int64_list.value.append(grade)
    return example.SerializeToString()


def decode_session(serialized: bytes) -> SessionRecord:
    """The session of a serialised ``tf.train.SequenceExample`` (inverse of
    :func:`encode_session`)."""
    import tensorflow as tf

    example = tf.train.SequenceExample.FromString(serialized)
    context = example.context.feature
    lists = example.feature_lists.feature_list
    return SessionRecord(
        context["session_id"].bytes_list.value[0].decode(),
        context["user_id"].bytes_list.value[0].decode(),
        int(context["start_time"].int64_list.value[0]),
        [step.bytes_list.value[0].decode() for step in lists["item"].feature],
        [bool(step.int64_list.value[0]) for step in lists["is_fp"].feature],
        [step.int64_list.value[0] for step in lists["grade"].feature],
    )


def to_instance(serialized: bytes) -> dict:
    """A serialised session as a tensorflow-transform instance dict (see
    :func:`raw_feature_spec`)."""
    record = decode_session(serialized)
    return {
        "session_id": record.session_id.encode(),
        "user_id": record.user_id.encode(),
        "start_time": record.start_time,
        "items": [item.encode() for item in record.items],
        "is_fp": [int(flag) for flag in record.is_fp],
        "grades": list(record.grades),
    }


def raw_feature_spec() -> dict:
    """Feature spec of :func:`to_instance`'s dicts."""
    import tensorflow as tf

    return {
        "session_id": tf.io.FixedLenFeature([], tf.string),
        "user_id": tf.io.FixedLenFeature([], tf.string),
        "start_time": tf.io.FixedLenFeature([], tf.int64),
        "items": tf.io.VarLenFeature(tf.string),
        "is_fp": tf.io.VarLenFeature(tf.int64),
        "grades": tf.io.VarLenFeature(tf.int64),
    }


def read_sessions(artifact: Path, split: str) -> list[SessionRecord]:
    """All sessions of one split of an examples artifact (for statistics and tests; small data)."""
    import tensorflow as tf

    files = shards(artifact, split)
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP")
    return [decode_session(serialized) for serialized in dataset.as_numpy_iterator()]
