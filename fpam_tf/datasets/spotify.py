"""Spotify MSSD reader: session logs -> sessions with skip flags (PROTOCOL §1).

Input: one log CSV (optionally gzipped, header row, booleans ``true``/``false``) or a directory of
``*.csv`` / ``*.csv.gz`` logs, read in name order. Rows of one session may be spread over files and
out of order: they are grouped by ``session_id`` and sorted by ``session_position``.
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
from pathlib import Path

from fpam_tf.datasets.badrows import BadRows
from fpam_tf.datasets.sources import existing_path, open_text, require_nonempty
from fpam_tf.errors import ConfigError, DataError
from fpam_tf.events import SessionRecord

URL = "https://www.aicrowd.com/challenges/spotify-sequential-skip-prediction-challenge"
FIX = (
    f"MSSD is behind a login: sign in at {URL}, accept the dataset terms, "
    "download the training logs "
    "(training_set/log_*.csv, or a sample such as log_mini.csv), "
    "put them (*.csv or *.csv.gz) in one "
    "directory and pass it as --data-dir / data_dir"
)
# FP flag for each allowed skip_field: (column, whether FP is the column's negation).
SKIP_FIELDS = {
    "skip_1": ("skip_1", False),
    "skip_2": ("skip_2", False),
    "skip_3": ("skip_3", False),
    "not_skipped": ("not_skipped", True),
}
BOOLEANS = {"true": True, "false": False, "1": True, "0": False}
SECONDS_PER_HOUR = 3600


def find_sources(data_dir) -> list[Path]:
    """The log files of ``data_dir``: the file itself, or the directory's ``*.csv`` /
    ``*.csv.gz`` in name order."""
    path = existing_path(data_dir, what="Spotify MSSD logs", fix=FIX)
    files = sorted([*path.glob("*.csv"), *path.glob("*.csv.gz")]) if path.is_dir() else [path]
    if not files:
        raise DataError("no *.csv or *.csv.gz files in this directory", path=path, fix=FIX)
    return [require_nonempty(file, what="Spotify log file", fix=FIX) for file in files]


def check_skip_field(skip_field: str) -> tuple[str, bool]:
    """(column, negate) for ``skip_field``; :class:`ConfigError` listing the allowed values
    otherwise."""
    if skip_field not in SKIP_FIELDS:
        raise ConfigError(
            f"unknown Spotify skip_field {skip_field!r}; choose one of {', '.join(SKIP_FIELDS)}"
        )
    return SKIP_FIELDS[skip_field]


def _day_start(text: str, cache: dict[str, int]) -> int:
    """Epoch seconds of 00:00 UTC on a ``YYYY-MM-DD`` date (memoised: a log has few distinct
    dates)."""
    seconds = cache.get(text)
    if seconds is None:
        seconds = calendar.timegm(dt.date.fromisoformat(text).timetuple())
        cache[text] = seconds
    return seconds


def read_rows(
    source: Path,
    skip_field: str,
    bad_rows: BadRows,
    rows: dict[str, list[tuple[int, str, bool, int]]],
) -> None:
    """Adds ``source``'s rows to ``rows``: session id -> [(position, track, is_fp, hour start
    time)]."""
    column, negate = check_skip_field(skip_field)
    with open_text(source) as stream:
        reader = csv.reader(stream)
        header = next(reader, None) or []
        needed = ["session_id", "session_position", "track_id_clean", column, "date", "hour_of_day"]
        missing = [name for name in needed if name not in header]
        if missing:
            raise DataError(
                f"header lacks column(s) {', '.join(missing)}",
                path=source,
                line=1,
                fix="give MSSD session logs (log_*.csv), whose header names the 21 MSSD columns",
            )
        session_at, position_at, track_at, skip_at, date_at, hour_at = (
            header.index(name) for name in needed
        )
        width = len(header)
        day_cache: dict[str, int] = {}
        for row in reader:
            if len(row) != width:
                bad_rows.add(
                    source,
                    reader.line_num,
                    "wrong column count",
                    f"expected {width} comma-separated fields, found {len(row)}",
                    "each row needs one value per header column",
                )
                continue
            flag = BOOLEANS.get(row[skip_at].lower())
            if flag is None:
                bad_rows.add(
                    source,
                    reader.line_num,
                    "bad boolean",
                    f"{column} is {row[skip_at]!r}, not true/false",
                    f"write {column} as true or false",
                )
                continue
            try:
                position = int(row[position_at])
                hour = int(row[hour_at])
                start = _day_start(row[date_at], day_cache) + hour * SECONDS_PER_HOUR
            except ValueError:
                bad_rows.add(
                    source,
                    reader.line_num,
                    "bad number or date",
                    f"unparsable session_position {row[position_at]!r}, hour_of_day "
                    f"{row[hour_at]!r} or date {row[date_at]!r}",
                    "session_position and hour_of_day are integers, date is YYYY-MM-DD",
                )
                continue
            rows.setdefault(row[session_at], []).append(
                (position, row[track_at], flag != negate, start)
            )


def read_sessions(
    sources: list[Path], *, skip_field: str = "skip_2", bad_rows: BadRows | None = None
) -> list[SessionRecord]:
    """All sessions of the logs, in order of first appearance.

    start_time is the ``date`` + ``hour_of_day`` of the session's first position (position 1 in a
    whole session).
    """
    bad_rows = bad_rows if bad_rows is not None else BadRows()
    rows: dict[str, list[tuple[int, str, bool, int]]] = {}
    for source in sources:
        read_rows(source, skip_field, bad_rows, rows)
    if not rows:
        raise DataError("no valid rows", path=sources[0], fix=FIX)
    sessions = []
    for session_id, events in rows.items():
        events.sort(key=lambda event: event[0])
        sessions.append(
            SessionRecord(
                session_id, "", events[0][3], [e[1] for e in events], [e[2] for e in events]
            )
        )
    return sessions
