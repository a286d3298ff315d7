"""Shared TFDS machinery: a session builder base class, config fingerprints, and fast read-back.

Each dataset builder reads its raw log into :class:`Sessions` columns, splits them with
:func:`fpam_tf.events.split_sessions` (PROTOCOL §2) and writes blocks of consecutive sessions.
TFDS writes into an ``.incomplete`` folder and renames it when done, so an interrupted preparation
leaves nothing that a later load treats as complete.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import io
import json
import logging
import sys
import time
from pathlib import Path
from typing import ClassVar

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from fpam_tf.datasets.badrows import BadRowReport, BadRows
from fpam_tf.errors import DataError
from fpam_tf.events import Sessions, item_column, split_sessions

# Fewer sessions leave a split empty (floor(0.8 n) < floor(0.9 n) < n needs n >= 10); TFDS cannot
# write those.
MIN_SESSIONS = 10
# Consecutive sessions of a split stored per example, as ragged columns. TFDS encodes and
# serializes an example feature by feature in Python (~150 us an example): with one example per
# session that was most of a preparation at scale (3 minutes for Last.fm 1K's million sessions).
SESSIONS_PER_EXAMPLE = 1024
# The example features of SessionsBuilder._info as TFDS stores them (tf.train.Example: flat lists,
# booleans and int8 as int64), to parse stored blocks a batch at a time.
SERIALIZED_FEATURES = {
    "session_id": tf.io.RaggedFeature(tf.string),
    "user_id": tf.io.RaggedFeature(tf.string),
    "start_time": tf.io.RaggedFeature(tf.int64),
    "session_length": tf.io.RaggedFeature(tf.int64),
    "items": tf.io.RaggedFeature(tf.string),
    "is_fp": tf.io.RaggedFeature(tf.int64),
    "grades": tf.io.RaggedFeature(tf.int64),
}
# Examples parsed at a time on read-back: 8,192 sessions.
READ_BATCH = 8


@dataclasses.dataclass(eq=False)
class SessionsConfig(tfds.core.BuilderConfig):
    """A builder config: the raw input plus the thresholds declared by subclasses as fields.

    Attributes:
      source: the resolved raw input (file or directory), as given to the reader.
      NAME_PARTS: (class attribute) threshold field -> short label used in the config name.
    """

    NAME_PARTS: ClassVar[dict[str, str]] = {}
    source: str = ""

    def thresholds(self) -> dict:
        """The dataset-specific fields (thresholds / generation options), JSON-serialisable."""
        base = {field.name for field in dataclasses.fields(SessionsConfig)}
        return {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in base
        }


def fingerprint(files: list[Path], thresholds: dict) -> str:
    """Short hash of the input files (resolved path, size, mtime) and thresholds: names a prepared
    dataset."""
    stats = [[str(path.resolve()), path.stat().st_size, path.stat().st_mtime_ns] for path in files]
    text = json.dumps({"files": stats, "thresholds": thresholds}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def config_name(readable: dict, digest: str) -> str:
    """Config name: short threshold labels, then the fingerprint (e.g.
    ``gap30-skip30-1a2b3c4d5e6f``)."""
    parts = [
        f"{key}{value:g}" if isinstance(value, (int, float)) else f"{key}{value}"
        for key, value in readable.items()
    ]
    return "-".join([part.replace("_", "") for part in parts] + [digest])


class SessionsBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Base builder: splits by :func:`split_sessions`, each split stored in blocks of
    :data:`SESSIONS_PER_EXAMPLE` consecutive sessions per example (the last block shorter).

    An example's features are the block's columns: ``session_id``, ``user_id``, ``start_time`` and
    ``session_length`` (one per session), ``items``, ``is_fp`` and ``grades`` (one per event, the
    sessions' events one after the other). :meth:`read_split` reads a split back as
    :class:`Sessions`.

    Subclasses set ``name`` and ``BUILDER_CONFIG_CLASS`` and implement :meth:`read_sessions`.
    The prepared dataset's metadata holds the thresholds and the bad-row report.
    """

    # A new version for every change of the stored features: a dataset prepared by older code sits
    # in its own version folder and is prepared again, not read back wrongly.
    VERSION = tfds.core.Version("2.0.0")
    RELEASE_NOTES = {
        "1.0.0": "Sessions with FP flags (PROTOCOL v1 §1-2).",
        "1.1.0": "A skip grade per event (fpam_tf.events), beside its FP flag.",
        "1.2.0": "The same examples, byte for byte, declared as 1-D tensors (5x faster to write).",
        "2.0.0": "Blocks of 1,024 consecutive sessions per example, as ragged columns (TFDS's "
        "per-example cost was most of a preparation at scale).",
    }
    HAS_USERS = True
    # No download checksums: inputs are local. Setting this also skips TFDS's lookup of a checksums
    # file next to the module, which imports the optional package importlib_resources.
    url_infos = None

    def __init__(self, *, strict: bool = False, **kwargs):
        self.strict = strict
        super().__init__(**kwargs)

    def read_sessions(self, bad_rows: BadRows) -> Sessions:
        """Reads the raw input named by ``self.builder_config`` into sessions."""
        raise NotImplementedError

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description=self.__doc__,
            features=tfds.features.FeaturesDict(
                {
                    "session_id": tfds.features.Tensor(shape=(None,), dtype=np.str_),
                    "user_id": tfds.features.Tensor(shape=(None,), dtype=np.str_),
                    "start_time": tfds.features.Tensor(shape=(None,), dtype=np.int64),
                    "session_length": tfds.features.Tensor(shape=(None,), dtype=np.int64),
                    # 1-D tensors, not Sequences: TFDS encodes and serializes a Sequence
                    # element by element.
                    "items": tfds.features.Tensor(shape=(None,), dtype=np.str_),
                    "is_fp": tfds.features.Tensor(shape=(None,), dtype=np.bool_),
                    "grades": tfds.features.Tensor(shape=(None,), dtype=np.int8),
                }
            ),
            metadata=tfds.core.MetadataDict(),
            # Keep examples in split order (chronological), so read-back needs no sort.
            disable_shuffling=True,
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # Inputs are local files: nothing is downloaded.
        bad_rows = BadRows(strict=self.strict)
        sessions = self.read_sessions(bad_rows)
        if len(sessions) < MIN_SESSIONS:
            raise DataError(
                f"only {len(sessions)} session(s); the train/validation/test split needs at least "
                f"{MIN_SESSIONS}",
                path=self.builder_config.source,
                fix="give a longer log",
            )
        self.info.metadata.update(
            thresholds=self.builder_config.thresholds(),
            source=self.builder_config.source,
            bad_rows=bad_rows.report().to_json(),
        )
        return {
            split: self._generate_examples(part) for split, part in split_sessions(sessions).items()
        }

    def _generate_examples(self, sessions: Sessions):
        for block, start in enumerate(range(0, len(sessions), SESSIONS_PER_EXAMPLE)):
            part = sessions.take(np.arange(start, min(start + SESSIONS_PER_EXAMPLE, len(sessions))))
            columns = {
                # TFDS takes string tensors as object arrays only.
                "session_id": part.session_ids.astype(object),
                "user_id": part.user_ids.astype(object),
                "start_time": part.start_times,
                "session_length": part.lengths,
                "items": part.items,
                "is_fp": part.is_fp,
                "grades": part.grades,
            }
            yield block, columns

    def bad_row_report(self) -> BadRowReport:
        """The bad-row report stored with the prepared dataset."""
        return BadRowReport.from_json(self.info.metadata["bad_rows"])

    def read_split(self, split: str) -> Sessions:
        """One prepared split as :class:`Sessions`, in stored (chronological) order.

        The split's TFRecord files are parsed :data:`READ_BATCH` examples at a time by one
        ``tf.io.parse_example`` each (no per-session Python, no per-session graph step), and each
        batch becomes NumPy columns at once, so memory holds the columns plus one batch.
        """
        files = [str(path) for path in self.info.splits[split].filepaths]
        batches = (
            tf.data.TFRecordDataset(files)
            .batch(READ_BATCH)
            .map(lambda serialized: tf.io.parse_example(serialized, SERIALIZED_FEATURES))
        )
        columns: dict[str, list[np.ndarray]] = {key: [] for key in SERIALIZED_FEATURES}
        distinct_items: dict = {}
        for batch in batches:
            for key in ("session_id", "user_id", "start_time", "session_length", "is_fp", "grades"):
                columns[key].append(batch[key].flat_values.numpy())
            item_bytes = batch["items"].flat_values.numpy().astype(bytes)
            columns["items"].append(item_column(item_bytes, distinct_items))

        def joined(key, dtype):
            parts = columns[key]
            return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)

        return Sessions(
            session_ids=_strings(joined("session_id", bytes)),
            user_ids=_strings(joined("user_id", bytes)),
            start_times=joined("start_time", np.int64),
            row_splits=np.concatenate([[0], np.cumsum(joined("session_length", np.int64))]),
            items=joined("items", object),
            is_fp=joined("is_fp", bool),
            grades=joined("grades", np.int8),
        )


def _strings(values: np.ndarray) -> np.ndarray:
    """UTF-8 bytes array -> str array (session and user ids: one per session)."""
    return np.char.decode(values.astype(bytes), "utf-8") if len(values) else np.zeros(0, dtype=str)


@contextlib.contextmanager
def preparation_lock(folder: Path):
    """Holds an exclusive lock on ``folder/.prepare.lock`` (created if missing) while in the block.

    Two processes that prepare the same dataset at once (say two runs started together on a fresh
    cache) would both write it, and the second to finish cannot rename its copy into place. Under
    the lock the second waits, then finds the dataset complete and reads it back.
    """
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".prepare.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextlib.contextmanager
def tfds_output(verbose: bool):
    """While in the block, TFDS's progress bars and absl messages (``Using custom data
    configuration``, ``Shuffling ...``) reach the terminal only when ``verbose``; errors always
    do."""
    if verbose:
        yield
        return
    absl_logger = logging.getLogger("absl")
    level = absl_logger.level
    tfds.disable_progress_bar()
    absl_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        absl_logger.setLevel(level)
        tfds.enable_progress_bar()


def prepare(builder: SessionsBuilder, *, verbose: bool = False) -> None:
    """Prepares ``builder``'s dataset unless a complete one exists; offline only (no GCS, no
    downloads). Call it under :func:`preparation_lock`, with a builder made under the lock (a
    builder reads what exists on disk when it is made).

    TFDS prints its progress ("Downloading and preparing dataset ...") to stdout; it goes to stderr
    here, so a command whose stdout is its result (``python -m fpam_tf.data stats | jq``) stays
    parsable on a dataset's first preparation too. Unless ``verbose``, that is one line saying what
    is prepared and one saying how long it took, instead of TFDS's own output.
    """
    first_time = not builder.is_prepared()
    if first_time and not verbose:
        print(
            f"Preparing {builder.name} (first use of this data and options) ...",
            file=sys.stderr,
            flush=True,
        )
    started = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr if verbose else io.StringIO()):
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(try_download_gcs=False),
        )
    if first_time and not verbose:
        print(
            f"Prepared {builder.name} in {time.perf_counter() - started:.0f} s: {builder.data_dir}",
            file=sys.stderr,
            flush=True,
        )
