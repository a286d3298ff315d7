"""Datasets: raw session logs -> prepared TFDS datasets -> train / validation / test
:class:`Sessions`.

Entry point: :func:`load`. Readers live in one module per format (``lastfm``, ``spotify``,
``ratings``, ``yoochoose``, ``events_table``, ``synthetic``); ``tfds_base`` holds the TFDS builder
base class and ``tfds_builders`` one builder per dataset, each found by name in ``DATASETS``.
Adding a dataset is one reader module, one builder class and one ``DATASETS.register`` line.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from pathlib import Path

from fpam_tf.datasets.badrows import BadRowReport, warn_bad_rows
from fpam_tf.events import SPLITS, Sessions
from fpam_tf.registry import Registry

# name -> its TFDS builder class in ``tfds_builders``, by class name: importing TensorFlow Datasets
# takes seconds, and the readers and command-line help do not need it.
DATASETS: Registry[str] = Registry("dataset")
DATASETS.register("lastfm", "LastfmBuilder", "Last.fm 1K; skip = play time < 30 s")
DATASETS.register("spotify", "SpotifyBuilder", "Spotify MSSD CSVs; skip = skip_2")
DATASETS.register(
    "amazon-movies",
    "AmazonMoviesBuilder",
    "Amazon Movies & TV or MovieLens ratings; FP = rating < 2",
)
DATASETS.register(
    "yoochoose",
    "YoochooseBuilder",
    "RecSys Challenge 2015 clicks (session-rec files); FP = dwell time < 30 s, the usual "
    "satisfied-click cut-off (Fox et al. 2005; Kim et al. 2014)",
)
DATASETS.register(
    "synthetic", "SyntheticBuilder", "generated listening logs with known skips, no download"
)
DATASETS.register(
    "events",
    "EventsBuilder",
    "your own table of events (CSV / TSV / Parquet, or a folder of them), columns mapped by "
    "--dataset-option: session= or user=, item=, time=, FP from skip=, play_seconds= or rating=",
)
DEFAULT_TFDS_DIR = "~/.cache/fpam_tf/tfds"


@dataclasses.dataclass(frozen=True)
class PreparedDataset:
    """A dataset read back from its prepared TFDS form.

    Attributes:
      name: a name of :data:`DATASETS`.
      splits: ``"train"``, ``"validation"``, ``"test"`` -> :class:`Sessions`, each in
        chronological order.
      config: the thresholds / generation options actually used (JSON-serialisable).
      has_users: whether sessions carry user ids (False for Spotify MSSD).
      bad_rows: the malformed rows skipped while reading the raw log.
      tfds_path: folder of the prepared TFDS dataset.
    """

    name: str
    splits: dict[str, Sessions]
    config: dict
    has_users: bool
    bad_rows: BadRowReport
    tfds_path: str


def default_tfds_dir() -> Path:
    """Where prepared datasets go: ``$FPAM_TFDS_DIR``, else ``~/.cache/fpam_tf/tfds``."""
    return Path(os.environ.get("FPAM_TFDS_DIR") or DEFAULT_TFDS_DIR).expanduser()


def builder_of(name: str):
    """The TFDS builder class of dataset ``name`` (a ConfigError listing the names if unknown)."""
    class_name = DATASETS.get(name)
    return getattr(importlib.import_module("fpam_tf.datasets.tfds_builders"), class_name)


def load(
    name: str,
    data_dir=None,
    *,
    tfds_dir=None,
    strict: bool = False,
    verbose: bool = False,
    **options,
) -> PreparedDataset:
    """Prepares dataset ``name`` from ``data_dir`` (unless already prepared) and reads back its
    three splits.

    Args:
      name: a name of :data:`DATASETS`.
      data_dir: the raw log (file or directory); optional for ``synthetic`` (where the generated
        log goes).
      tfds_dir: where prepared datasets live (default :func:`default_tfds_dir`).
      strict: raise :class:`~fpam_tf.errors.DataError` at the first malformed row instead of
        skipping it.
      verbose: show TFDS's own output (progress bars, absl messages) while preparing; otherwise a
        first preparation says one line when it starts and one when it ends (stderr).
      **options: thresholds of the dataset (``session_gap_minutes``, ``skip_seconds``,
        ``skip_field``, ``rating_threshold``, ``columns``, synthetic ``num_users`` /
        ``num_sessions`` / ``fp_rate`` / ``seed``, the ``events`` columns ``session`` / ``item`` /
        ``time`` ...).
    """
    builder_class = builder_of(name)
    from fpam_tf.datasets.tfds_base import preparation_lock, prepare, tfds_output
    from fpam_tf.datasets.tfds_builders import make_config

    tfds_dir = Path(tfds_dir).expanduser() if tfds_dir is not None else default_tfds_dir()
    config = make_config(name, data_dir, tfds_dir.resolve(), options)
    with tfds_output(verbose), preparation_lock(tfds_dir / builder_class.name):
        builder = builder_class(config=config, data_dir=str(tfds_dir), strict=strict)
        prepare(builder, verbose=verbose)
    bad_rows = builder.bad_row_report()
    if strict:
        bad_rows.raise_first()
    warn_bad_rows(name, bad_rows)
    with tfds_output(verbose):
        splits = {split: builder.read_split(split) for split in SPLITS}
    return PreparedDataset(
        name=name,
        splits=splits,
        config=dict(builder.info.metadata["thresholds"]),
        has_users=builder.HAS_USERS,
        bad_rows=bad_rows,
        tfds_path=str(builder.data_dir),
    )
