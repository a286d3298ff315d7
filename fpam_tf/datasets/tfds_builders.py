"""The TFDS builders of the registered datasets (``fpam_tf.datasets.DATASETS``), and how ``load``
options become their configs."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import ClassVar

from fpam_tf.datasets import (
    builder_of,
    events_table,
    lastfm,
    ratings,
    spotify,
    synthetic,
    yoochoose,
)
from fpam_tf.datasets.badrows import BadRows
from fpam_tf.datasets.tfds_base import SessionsBuilder, SessionsConfig, config_name, fingerprint
from fpam_tf.errors import ConfigError
from fpam_tf.events import Sessions


@dataclasses.dataclass(eq=False)
class LastfmConfig(SessionsConfig):
    """Last.fm 1K thresholds: inactivity gap that starts a new session, and the skip play time."""

    NAME_PARTS: ClassVar[dict[str, str]] = {"session_gap_minutes": "gap", "skip_seconds": "skip"}
    session_gap_minutes: float = 30
    skip_seconds: float = 30


class LastfmBuilder(SessionsBuilder, skip_registration=True):
    """Last.fm 1K: per-user sessions (30-min gap), FP = play time < 30 s."""

    name = "fpam_lastfm"
    BUILDER_CONFIG_CLASS = LastfmConfig

    @staticmethod
    def input_files(data_dir) -> list[Path]:
        return [lastfm.find_source(data_dir)]

    def read_sessions(self, bad_rows: BadRows) -> Sessions:
        config = self.builder_config
        return lastfm.read_sessions(
            lastfm.find_source(config.source),
            session_gap_minutes=config.session_gap_minutes,
            skip_seconds=config.skip_seconds,
            bad_rows=bad_rows,
        )


@dataclasses.dataclass(eq=False)
class SpotifyConfig(SessionsConfig):
    """Spotify MSSD threshold: which skip column marks a false positive."""

    NAME_PARTS: ClassVar[dict[str, str]] = {"skip_field": "fp"}
    skip_field: str = "skip_2"


class SpotifyBuilder(SessionsBuilder, skip_registration=True):
    """Spotify MSSD: sessions by session_id, FP = skip_2 (configurable), skip grades from
    skip_1 / skip_2 / skip_3."""

    name = "fpam_spotify"
    BUILDER_CONFIG_CLASS = SpotifyConfig
    HAS_USERS = False

    @staticmethod
    def input_files(data_dir) -> list[Path]:
        return spotify.find_sources(data_dir)

    def read_sessions(self, bad_rows: BadRows) -> Sessions:
        config = self.builder_config
        return Sessions.from_records(
            spotify.read_sessions(
                spotify.find_sources(config.source), skip_field=config.skip_field, bad_rows=bad_rows
            )
        )


@dataclasses.dataclass(eq=False)
class AmazonMoviesConfig(SessionsConfig):
    """Ratings-log thresholds: FP below this rating; column order of header-less CSVs."""

    NAME_PARTS: ClassVar[dict[str, str]] = {"rating_threshold": "below"}
    rating_threshold: float = 2
    columns: str = "user,item,rating,timestamp"


class AmazonMoviesBuilder(SessionsBuilder, skip_registration=True):
    """Amazon Movies & TV (or MovieLens) ratings: per-user daily sessions, FP = rating < 2."""

    name = "fpam_amazon_movies"
    BUILDER_CONFIG_CLASS = AmazonMoviesConfig

    @staticmethod
    def input_files(data_dir) -> list[Path]:
        return [ratings.find_source(data_dir)]

    def read_sessions(self, bad_rows: BadRows) -> Sessions:
        config = self.builder_config
        return Sessions.from_records(
            ratings.read_sessions(
                ratings.find_source(config.source),
                rating_threshold=config.rating_threshold,
                columns=config.columns,
                bad_rows=bad_rows,
            )
        )


@dataclasses.dataclass(eq=False)
class YoochooseConfig(SessionsConfig):
    """YOOCHOOSE clicks threshold: a click with a shorter dwell time (seconds until the next click
    of its session) is a false positive."""

    NAME_PARTS: ClassVar[dict[str, str]] = {"dwell_seconds": "dwell"}
    dwell_seconds: float = 30


class YoochooseBuilder(SessionsBuilder, skip_registration=True):
    """YOOCHOOSE (RSC15) clicks: sessions by SessionId, FP = dwell time < 30 s (configurable)."""

    name = "fpam_yoochoose"
    BUILDER_CONFIG_CLASS = YoochooseConfig
    HAS_USERS = False

    @staticmethod
    def input_files(data_dir) -> list[Path]:
        return yoochoose.find_sources(data_dir)

    def read_sessions(self, bad_rows: BadRows) -> Sessions:
        config = self.builder_config
        return Sessions.from_records(
            yoochoose.read_sessions(
                yoochoose.find_sources(config.source),
                dwell_seconds=config.dwell_seconds,
                bad_rows=bad_rows,
            )
        )


@dataclasses.dataclass(eq=False)
class EventsConfig(SessionsConfig):
    """A user's own events table: the column of each role (a header name, or a whole number: a
    1-based position; ``""`` unmapped) and the thresholds (see
    :mod:`fpam_tf.datasets.events_table`)."""

    session: str | int = ""
    user: str | int = ""
    item: str | int = ""
    time: str | int = ""
    session_gap_minutes: float = events_table.DEFAULT_GAP_MINUTES
    skip: str | int = ""
    play_seconds: str | int = ""
    skip_seconds: float = events_table.DEFAULT_SKIP_SECONDS
    rating: str | int = ""
    rating_threshold: float = events_table.DEFAULT_RATING_THRESHOLD


class EventsBuilder(SessionsBuilder, skip_registration=True):
    """A user's own events table (CSV / TSV / Parquet): sessions from a session column or from a
    user's gaps, FP from a skip flag, the play time or the rating."""

    name = "fpam_events"
    BUILDER_CONFIG_CLASS = EventsConfig

    # Per config, where the other builders have a class constant: users exist when user= maps a
    # column. ``load`` reads it from the builder instance.
    @property
    def HAS_USERS(self) -> bool:
        return self.builder_config.user != ""

    @staticmethod
    def input_files(data_dir) -> list[Path]:
        return events_table.find_sources(data_dir)

    def read_sessions(self, bad_rows: BadRows) -> Sessions:
        config = self.builder_config
        return Sessions.from_records(
            events_table.read_sessions(
                events_table.find_sources(config.source),
                events_table.events_mapping(**config.thresholds()),
                bad_rows=bad_rows,
            )
        )


@dataclasses.dataclass(eq=False)
class SyntheticConfig(SessionsConfig):
    """Synthetic generation options (see :func:`fpam_tf.datasets.synthetic.generate`)."""

    NAME_PARTS: ClassVar[dict[str, str]] = {"fp_rate": "fp", "seed": "seed"}
    num_users: int = 500
    num_items: int = 2000
    num_sessions: int = 12000
    fp_rate: float = 0.30
    seed: int = 0
    min_session_length: int = 5
    max_session_length: int = 30


class SyntheticBuilder(SessionsBuilder, skip_registration=True):
    """The embedded synthetic dataset: generated Last.fm-format log, read back by the Last.fm
    reader."""

    name = "fpam_synthetic"
    BUILDER_CONFIG_CLASS = SyntheticConfig

    def read_sessions(self, bad_rows: BadRows) -> Sessions:
        config = self.builder_config
        path = Path(config.source)
        if not path.is_file():
            synthetic.generate(path, **config.thresholds())
        # The generator's play times are built around the Last.fm reader's default 30 min / 30 s.
        return lastfm.read_sessions(path, bad_rows=bad_rows)


def make_config(name: str, data_dir, tfds_dir: Path, options: dict) -> SessionsConfig:
    """The builder config for ``load(name, data_dir, **options)``, named by the input and threshold
    fingerprint.

    Synthetic data has no input file: its fingerprint covers the generation options, and the
    generated log goes to ``data_dir`` (default ``tfds_dir/synthetic_raw``) in a folder named by
    that fingerprint.
    """
    builder_class = builder_of(name)
    config_class = builder_class.BUILDER_CONFIG_CLASS
    defaults = config_class(name="defaults").thresholds()
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise ConfigError(
            f"unknown option(s) {', '.join(unknown)} for dataset {name!r}; "
            f"valid options: {', '.join(defaults)}"
        )
    thresholds = {**defaults, **options}
    if name == "spotify":
        spotify.check_skip_field(thresholds["skip_field"])
    if name == "yoochoose":
        yoochoose.check_dwell_seconds(thresholds["dwell_seconds"])
    if name == "synthetic":
        digest = fingerprint([], {**thresholds, "generator_version": synthetic.GENERATOR_VERSION})
        folder = (
            Path(data_dir).expanduser().resolve()
            if data_dir is not None
            else tfds_dir / "synthetic_raw"
        )
        source = folder / f"synthetic-{digest}" / lastfm.TSV_NAME
    else:
        files = builder_class.input_files(data_dir)
        if name == "events":
            # Every file's columns checked against the mapping, before anything is prepared.
            mapping = events_table.events_mapping(**thresholds)
            for file in files:
                events_table.file_layout(file, mapping)
        digest = fingerprint(files, thresholds)
        source = Path(data_dir).expanduser().resolve()
    readable = {short: thresholds[field] for field, short in config_class.NAME_PARTS.items()}
    return config_class(name=config_name(readable, digest), source=str(source), **thresholds)
