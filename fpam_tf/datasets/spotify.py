"""Spotify MSSD reader: session logs -> sessions with skip flags and skip grades (PROTOCOL §1).

Input: one log CSV (optionally gzipped, header row, booleans ``true``/``false``) or a directory of
``*.csv`` / ``*.csv.gz`` logs, read in name order. Rows of one session may be spread over files and
out of order: they are grouped by ``session_id`` and sorted by ``session_position``.

The FP flag is the ``skip_field`` column; the skip grade (:mod:`fpam_tf.events`) comes from the
nested ``skip_1`` / ``skip_2`` / ``skip_3`` columns: 3 if skip_1, else 2 if skip_2, else 1 if
skip_3, else 0. A log whose header lacks one of them gets grades from its FP flags instead
(``SessionRecord.grades`` None), and so does a session with rows in such a log.
"""

from __future__ import annotations

import calendar
import datetime as dt
from pathlib import Path

from fpam_tf.datasets.badrows import BadRows
from fpam_tf.datasets.sources import csv_rows, existing_path, open_text, require_nonempty
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
# The nested columns of the skip grade (see the module docstring).
GRADE_COLUMNS = ("skip_1", "skip_2", "skip_3")
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
    rows: dict[str, list[tuple[int, str, bool, int | None, int]]],
) -> None:
    """Adds ``source``'s rows to ``rows``: session id -> [(position, track, is_fp, skip grade,
    hour start time)]; the grade is None when the header lacks a column of ``GRADE_COLUMNS``.

    A row whose ``skip_field`` or grade column is not a boolean is a bad row."""
    column, negate = check_skip_field(skip_field)
    with open_text(source) as stream:
        lines = csv_rows(stream, source)
        header = next(lines, (1, []))[1]
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
        has_grades = all(name in header for name in GRADE_COLUMNS)
        grade_at = [header.index(name) for name in GRADE_COLUMNS] if has_grades else []
        boolean_at = [skip_at, *grade_at]  # Every boolean column read, for the bad-row report.
        # Read one by one below (a loop over the columns took a third of the reader's time);
        # without grades they are never read.
        skip_1_at, skip_2_at, skip_3_at = grade_at or (skip_at,) * len(GRADE_COLUMNS)
        get = BOOLEANS.get
        width = len(header)
        day_cache: dict[str, int] = {}
        for line_number, row in lines:
            if len(row) != width:
                bad_rows.add(
                    source,
                    line_number,
                    "wrong column count",
                    f"expected {width} comma-separated fields, found {len(row)}",
                    "each row needs one value per header column",
                )
                continue
            flag = get(row[skip_at].lower())
            skips = (
                (
                    get(row[skip_1_at].lower()),
                    get(row[skip_2_at].lower()),
                    get(row[skip_3_at].lower()),
                )
                if has_grades
                else ()
            )
            if flag is None or None in skips:
                at = next(at for at in boolean_at if row[at].lower() not in BOOLEANS)
                name = header[at]
                bad_rows.add(
                    source,
                    line_number,
                    "bad boolean",
                    f"{name} is {row[at]!r}, not true/false",
                    f"write {name} as true or false",
                )
                continue
            if has_grades:
                skip_1, skip_2, skip_3 = skips
                grade = 3 if skip_1 else 2 if skip_2 else 1 if skip_3 else 0
            else:
                grade = None
            try:
                position = int(row[position_at])
                hour = int(row[hour_at])
                start = _day_start(row[date_at], day_cache) + hour * SECONDS_PER_HOUR
            except ValueError:
                bad_rows.add(
                    source,
                    line_number,
                    "bad number or date",
                    f"unparsable session_position {row[position_at]!r}, hour_of_day "
                    f"{row[hour_at]!r} or date {row[date_at]!r}",
                    "session_position and hour_of_day are integers, date is YYYY-MM-DD",
                )
                continue
            rows.setdefault(row[session_at], []).append(
                (position, row[track_at], flag != negate, grade, start)
            )


def read_sessions(
    sources: list[Path], *, skip_field: str = "skip_2", bad_rows: BadRows | None = None
) -> list[SessionRecord]:
    """All sessions of the logs, in order of first appearance.

    start_time is the ``date`` + ``hour_of_day`` of the session's first position (position 1 in a
    whole session).
    """
    bad_rows = bad_rows if bad_rows is not None else BadRows()
    rows: dict[str, list[tuple[int, str, bool, int | None, int]]] = {}
    for source in sources:
        read_rows(source, skip_field, bad_rows, rows)
    if not rows:
        raise bad_rows.no_valid_rows(sources[0], FIX)
    sessions = []
    for session_id, events in rows.items():
        events.sort(key=lambda event: event[0])
        grades = [e[3] for e in events]
        sessions.append(
            SessionRecord(
                session_id,
                "",
                events[0][4],
                [e[1] for e in events],
                [e[2] for e in events],
                None if None in grades else grades,
            )
        )
    return sessions
