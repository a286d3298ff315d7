"""Ratings-log reader (dataset ``amazon-movies``): (user, item, rating, timestamp) -> daily sessions
(PROTOCOL §1).

Accepted files, detected from the first line (not from the file name): fields separated by ``::``,
a tab or a comma; a header when the first line names the four columns, else none.
- Amazon ratings-only CSV, no header: ``user,item,rating,timestamp`` (``columns`` reorders, e.g.
  ``item,user,rating,timestamp``);
- MovieLens ``ratings.csv`` (header ``userId,movieId,rating,timestamp``) or any CSV / TSV whose
  header names the four columns (``user``/``userId``/``user_id``/``reviewerID``,
  ``item``/``movieId``/``asin``/...), in any order, among other columns;
- MovieLens 100K ``u.data`` (tab-separated, no header, ``user item rating timestamp``);
- MovieLens ``ratings.dat`` (``UserID::MovieID::Rating::Timestamp``);
- RecBole atomic files (``*.inter``: tab-separated, typed header ``user_id:token
  item_id:token rating:float timestamp:float``).
A session is one user's ratings on one UTC calendar day, ordered by timestamp (ties keep file
order); an event is FP when its rating is below ``rating_threshold``. Millisecond timestamps are
recognised.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fpam_tf.datasets.badrows import BadRows
from fpam_tf.datasets.sources import (
    MILLISECONDS_ABOVE,
    csv_rows,
    existing_path,
    open_text,
    require_nonempty,
)
from fpam_tf.errors import ConfigError, DataError
from fpam_tf.events import SessionRecord

# The 2014 ratings-only file is user-first (``user,item,rating,timestamp``), the default column
# order.
URL = "http://snap.stanford.edu/data/amazon/productGraph/categoryFiles/ratings_Movies_and_TV.csv"
FILE_NAMES = (
    "ratings_Movies_and_TV.csv",
    "Movies_and_TV.csv",
    "ratings.csv",
    "ratings.dat",
    "u.data",
)
FIX = (
    f"download the Amazon Movies & TV ratings-only file {URL} "
    "(or a MovieLens ratings.csv / ratings.dat), "
    f"put it in a directory as one of {', '.join(FILE_NAMES)} (or a RecBole *.inter file) "
    "and pass that directory (or the file) as "
    "--data-dir / data_dir"
)
FIELDS = ("user", "item", "rating", "timestamp")
HEADER_NAMES = {
    "user": {"user", "userid", "user_id", "reviewerid"},
    "item": {"item", "itemid", "item_id", "movieid", "asin", "parent_asin"},
    "rating": {"rating", "overall", "score"},
    "timestamp": {"timestamp", "time", "unixreviewtime"},
}
SECONDS_PER_DAY = 86400


def find_source(data_dir) -> Path:
    """The ratings file of ``data_dir``: the file itself, or the first of :data:`FILE_NAMES` in the
    directory."""
    path = existing_path(data_dir, what="ratings file", fix=FIX)
    if path.is_dir():
        found = [path / name for name in FILE_NAMES if (path / name).is_file()]
        found += sorted(path.glob("*.inter"))
        if not found:
            raise DataError(
                f"none of {', '.join(FILE_NAMES)} in this directory", path=path, fix=FIX
            )
        path = found[0]
    return require_nonempty(path, what="ratings file", fix=FIX)


def column_positions(columns: str) -> tuple[int, int, int, int]:
    """Positions of (user, item, rating, timestamp) in a header-less row, from e.g.
    ``"user,item,rating,timestamp"``."""
    names = [name.strip() for name in columns.split(",")]
    if sorted(names) != sorted(FIELDS):
        raise ConfigError(
            f"columns {columns!r} must name each of {', '.join(FIELDS)} once, comma-separated"
        )
    return tuple(names.index(field) for field in FIELDS)


def _header_positions(header: list[str]) -> tuple[int, int, int, int] | None:
    """Positions of (user, item, rating, timestamp) named by a header row, or None when it is not a
    header."""
    # RecBole's atomic files type their columns: ``user_id:token``.
    lowered = [name.strip().lower().split(":")[0] for name in header]
    positions = []
    for field in FIELDS:
        matches = [i for i, name in enumerate(lowered) if name in HEADER_NAMES[field]]
        if not matches:
            return None
        positions.append(matches[0])
    return tuple(positions)


def _rows(source: Path, columns: str):
    """Yields (line number, fields, positions, width) of the data rows, after detecting the format
    from the first line; ``width`` is the number of fields a row must have."""
    with open_text(source) as stream:
        first = stream.readline()
        stream.seek(0)
        if "::" in first:
            positions = column_positions("user,item,rating,timestamp")
            for line_number, line in enumerate(stream, start=1):
                yield line_number, line.rstrip("\r\n").split("::"), positions, len(FIELDS)
            return
        rows = csv_rows(stream, source, "\t" if "\t" in first else ",")
        line_number, header = next(rows, (1, []))
        positions = _header_positions(header)
        width = len(header)
        if positions is None:
            positions, width = column_positions(columns), len(FIELDS)
            yield line_number, header, positions, width
        for line_number, row in rows:
            yield line_number, row, positions, width


def read_ratings(
    source: Path, columns: str, bad_rows: BadRows
) -> dict[str, tuple[list[int], list[str], list[float]]]:
    """Per user, (timestamps in seconds, items, ratings) in file order; malformed rows go to
    ``bad_rows``."""
    ratings: dict[str, tuple[list[int], list[str], list[float]]] = {}
    for line_number, row, positions, width in _rows(source, columns):
        user_at, item_at, rating_at, time_at = positions
        if not row or row == [""]:
            continue
        if len(row) != width:
            bad_rows.add(
                source,
                line_number,
                "wrong column count",
                f"expected {width} fields, found {len(row)}",
                "each row must be user, item, rating, timestamp (or one value per header column)",
            )
            continue
        try:
            rating = float(row[rating_at])
        except ValueError:
            bad_rows.add(
                source,
                line_number,
                "bad number",
                f"unparsable rating {row[rating_at]!r}",
                "ratings are numbers, e.g. 4.0",
            )
            continue
        try:
            stamp = int(float(row[time_at]))
        except ValueError:
            bad_rows.add(
                source,
                line_number,
                "bad timestamp",
                f"unparsable timestamp {row[time_at]!r}",
                "timestamps are Unix seconds (or milliseconds), e.g. 1362960000",
            )
            continue
        if stamp > MILLISECONDS_ABOVE:
            stamp //= 1000
        times, items, values = ratings.setdefault(row[user_at], ([], [], []))
        times.append(stamp)
        items.append(row[item_at])
        values.append(rating)
    return ratings


def user_sessions(
    user: str, times: list[int], items: list[str], ratings: list[float], *, rating_threshold: float
) -> list[SessionRecord]:
    """One user's sessions: one per UTC calendar day, events by timestamp (stable), FP = rating <
    threshold."""
    stamps = np.asarray(times, dtype=np.int64)
    order = np.argsort(stamps, kind="stable")
    stamps = stamps[order]
    days = stamps // SECONDS_PER_DAY
    is_fp = (np.asarray(ratings)[order] < rating_threshold).tolist()
    keys = [items[i] for i in order]
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(days)) + 1, [len(stamps)]])
    sessions = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        day = np.datetime_as_string(np.datetime64(int(days[lo]), "D"))
        sessions.append(
            SessionRecord(f"{user}:{day}", user, int(stamps[lo]), keys[lo:hi], is_fp[lo:hi])
        )
    return sessions


def read_sessions(
    source: Path,
    *,
    rating_threshold: float = 2,
    columns: str = "user,item,rating,timestamp",
    bad_rows: BadRows | None = None,
) -> list[SessionRecord]:
    """All daily sessions of a ratings file (see the module docstring), users in order of first
    appearance."""
    bad_rows = bad_rows if bad_rows is not None else BadRows()
    ratings = read_ratings(source, columns, bad_rows)
    if not ratings:
        raise bad_rows.no_valid_rows(source, FIX)
    sessions: list[SessionRecord] = []
    for user, (times, items, values) in ratings.items():
        sessions.extend(
            user_sessions(user, times, items, values, rating_threshold=rating_threshold)
        )
    return sessions
