"""A user's own events table (dataset ``events``): one row per event -> sessions with FP flags
(PROTOCOL §1).

Input: a CSV / TSV file (optionally gzipped) or a Parquet file, or a folder of them (``*.csv``,
``*.tsv``, ``*.txt``, each optionally ``.gz``, and ``*.parquet``), read in name order. Options map
the columns (each a header name, or a whole number: a 1-based position):

- sessions: ``session=COLUMN`` (a session id per row; ``user=COLUMN`` beside it gives the session's
  user, that of its first event), or ``user=COLUMN`` alone: a user's events split into sessions
  wherever more than ``session_gap_minutes`` (default 30) pass between two of them;
- ``item=COLUMN`` and ``time=COLUMN``: epoch seconds (milliseconds when above 1e11) or ISO-8601
  times (UTC when they have no zone);
- the FP signal, at most one of: ``skip=COLUMN`` (true/false, yes/no, 1/0, any case; FP when
  true), ``play_seconds=COLUMN`` (FP when played less than ``skip_seconds``, default 30) or
  ``rating=COLUMN`` (FP when below ``rating_threshold``, default 2). Without one every event is a
  positive (no FP).

Text files: the delimiter (comma, tab or semicolon) is whichever the first line holds most often.
Mapped by name, the first line is the header that names the columns; mapped by position, the first
line is a header (and skipped) when its time field is not a time. Parquet columns are mapped by
name or by position in the file's schema.

A session's events are ordered by time (equal times keep file order, files in name order); its
start time is its first event's (whole seconds). Session ids are the session column's values, or
``USER:N`` for a user's N-th session by gap. A mapping that does not fit a file is a
:class:`ConfigError` before any row is read; malformed rows go to :class:`BadRows` (for Parquet,
the line is the 1-based row number).
"""

from __future__ import annotations

import csv
import dataclasses
import math
import numbers
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from fpam_tf.datasets.badrows import BadRows
from fpam_tf.datasets.sources import (
    csv_rows,
    detect_delimiter,
    epoch_milliseconds,
    existing_path,
    open_text,
    parse_boolean,
    require_nonempty,
)
from fpam_tf.errors import ConfigError, DataError
from fpam_tf.events import SessionRecord

FIX = (
    "give a table with one row per event (CSV / TSV, optionally .gz, or Parquet; or a folder of "
    "them) as --data-dir / data_dir, and map its columns with --dataset-option: session=COLUMN "
    "(or user=COLUMN), item=COLUMN, time=COLUMN, optionally skip=, play_seconds= or rating=COLUMN"
)
PATTERNS = ("*.csv", "*.tsv", "*.txt", "*.csv.gz", "*.tsv.gz", "*.txt.gz", "*.parquet")
PARQUET_SUFFIX = ".parquet"
DEFAULT_GAP_MINUTES = 30
DEFAULT_SKIP_SECONDS = 30
DEFAULT_RATING_THRESHOLD = 2
# Roles a column can play, in the order a row's values are parsed (its first bad value is named).
ROLES = ("session", "user", "item", "time", "skip", "play_seconds", "rating")
# FP signal -> the threshold option it reads (None: the column is the FP flag itself).
FP_SIGNALS = {"skip": None, "play_seconds": "skip_seconds", "rating": "rating_threshold"}
DEFAULTS = {
    "session_gap_minutes": DEFAULT_GAP_MINUTES,
    "skip_seconds": DEFAULT_SKIP_SECONDS,
    "rating_threshold": DEFAULT_RATING_THRESHOLD,
}
MILLISECONDS_PER_SECOND = 1000
MILLISECONDS_PER_MINUTE = 60 * MILLISECONDS_PER_SECOND


@dataclasses.dataclass(frozen=True)
class EventsMapping:
    """The validated options of ``--dataset events``: which column plays which role, and the FP
    rule.

    Attributes:
      columns: role (of :data:`ROLES`) -> header name or 1-based position, for the mapped roles.
      fp_signal: ``"skip"``, ``"play_seconds"``, ``"rating"``, or None (every event a positive).
      fp_threshold: ``skip_seconds`` or ``rating_threshold`` for those two signals.
      gap_millis: the gap that starts a user's next session, or None: sessions come from the
        session column.
    """

    columns: dict[str, str | int]
    fp_signal: str | None
    fp_threshold: float | None
    gap_millis: int | None


def _check_column(option: str, column) -> None:
    """Raises :class:`ConfigError` unless ``column`` is a header name or a 1-based position."""
    is_position = isinstance(column, int) and not isinstance(column, bool)
    if (is_position and column < 1) or not (is_position or isinstance(column, str)):
        raise ConfigError(
            f"{option}={column!r}: a column is a header name or a 1-based position "
            f"(e.g. --dataset-option {option}=track or {option}=2)"
        )


def _check_number(option: str, value, *, minimum: float | None) -> None:
    """Raises :class:`ConfigError` unless ``value`` is a finite number (>= ``minimum``)."""
    is_number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not (is_number and math.isfinite(value) and (minimum is None or value >= minimum)):
        bound = "" if minimum is None else f" >= {minimum:g}"
        raise ConfigError(f"{option} must be a finite number{bound}, not {value!r}")


def events_mapping(
    *,
    session: str | int = "",
    user: str | int = "",
    item: str | int = "",
    time: str | int = "",
    session_gap_minutes: float = DEFAULT_GAP_MINUTES,
    skip: str | int = "",
    play_seconds: str | int = "",
    skip_seconds: float = DEFAULT_SKIP_SECONDS,
    rating: str | int = "",
    rating_threshold: float = DEFAULT_RATING_THRESHOLD,
) -> EventsMapping:
    """The mapping of the ``--dataset events`` options (see the module docstring; ``""`` leaves a
    role unmapped); :class:`ConfigError` saying what is allowed when they do not make one."""
    given = {
        "session": session,
        "user": user,
        "item": item,
        "time": time,
        "skip": skip,
        "play_seconds": play_seconds,
        "rating": rating,
    }
    columns = {role: given[role] for role in ROLES if given[role] != ""}
    for role, column in columns.items():
        _check_column(role, column)
    missing = [role for role in ("item", "time") if role not in columns]
    if missing:
        raise ConfigError(
            f"no {' or '.join(missing)} column: --dataset events needs "
            + " and ".join(f"--dataset-option {role}=COLUMN" for role in missing)
        )
    if "session" not in columns and "user" not in columns:
        raise ConfigError(
            "no sessions: give --dataset-option session=COLUMN (a session id per row), or "
            "user=COLUMN to split each user's events at gaps of session_gap_minutes"
        )
    if len({isinstance(column, int) for column in columns.values()}) > 1:
        raise ConfigError(
            "map every column by header name or every column by 1-based position, not both "
            f"(got {', '.join(f'{role}={column!r}' for role, column in columns.items())})"
        )
    signals = [signal for signal in FP_SIGNALS if signal in columns]
    if len(signals) > 1:
        raise ConfigError(
            f"two FP signals at once ({', '.join(f'{s}={columns[s]!r}' for s in signals)}); give "
            "at most one of skip=COLUMN (true/false), play_seconds=COLUMN (with skip_seconds=S) "
            "or rating=COLUMN (with rating_threshold=T)"
        )
    fp_signal = signals[0] if signals else None
    thresholds = {
        "session_gap_minutes": session_gap_minutes,
        "skip_seconds": skip_seconds,
        "rating_threshold": rating_threshold,
    }
    _check_number("session_gap_minutes", session_gap_minutes, minimum=0)
    _check_number("skip_seconds", skip_seconds, minimum=0)
    _check_number("rating_threshold", rating_threshold, minimum=None)
    # A threshold that its mapping does not read would be ignored without a word.
    used = {FP_SIGNALS[fp_signal]} if fp_signal else set()
    if "session" not in columns:
        used.add("session_gap_minutes")
    unused = [
        name for name, value in thresholds.items() if name not in used and value != DEFAULTS[name]
    ]
    if unused:
        raise ConfigError(
            f"{', '.join(f'{name}={thresholds[name]!r}' for name in unused)} has no effect here: "
            "session_gap_minutes applies to sessions from user= without session=, skip_seconds "
            "to play_seconds=COLUMN, rating_threshold to rating=COLUMN"
        )
    return EventsMapping(
        columns=columns,
        fp_signal=fp_signal,
        fp_threshold=thresholds[FP_SIGNALS[fp_signal]] if FP_SIGNALS.get(fp_signal) else None,
        gap_millis=(
            None if "session" in columns else round(session_gap_minutes * MILLISECONDS_PER_MINUTE)
        ),
    )


def find_sources(data_dir) -> list[Path]:
    """The table files of ``data_dir``: the file itself, or the folder's files matching
    :data:`PATTERNS`, in name order."""
    path = existing_path(data_dir, what="events table", fix=FIX)
    if path.is_dir():
        files = sorted(
            {file for pattern in PATTERNS for file in path.glob(pattern) if file.is_file()}
        )
        if not files:
            raise DataError(
                f"no table files ({', '.join(PATTERNS)}) in this directory", path=path, fix=FIX
            )
    else:
        files = [path]
    return [require_nonempty(file, what="events table file", fix=FIX) for file in files]


@dataclasses.dataclass(frozen=True)
class FileLayout:
    """Where one file holds the mapped columns.

    Attributes:
      source: the file.
      columns: role -> the file's column: its 0-based field index (text) or its name (Parquet).
      labels: role -> how messages name that column (its header name, or ``column N``).
      delimiter: the field separator of a text file; None for Parquet.
      width: the number of fields of a text file's rows (0 for Parquet).
      has_header: whether a text file's first line is a header (skipped).
    """

    source: Path
    columns: dict[str, int | str]
    labels: dict[str, str]
    delimiter: str | None = None
    width: int = 0
    has_header: bool = False


def _is_parquet(source: Path) -> bool:
    return source.suffix == PARQUET_SUFFIX


def _check_columns(source: Path, mapping: EventsMapping, names: list[str]) -> None:
    """Raises :class:`ConfigError`, listing ``names`` (the file's columns, or its first line's
    fields), when a column of ``mapping`` is not among them."""
    absent = {
        role: column
        for role, column in mapping.columns.items()
        if (column > len(names) if isinstance(column, int) else column not in names)
    }
    if absent:
        raise ConfigError(
            f"{source}: no column for {', '.join(f'{r}={c!r}' for r, c in absent.items())}; the "
            f"file's {len(names)} column(s) are {', '.join(map(repr, names))} (a file without a "
            "header is mapped by 1-based positions, e.g. item=2)"
        )


def _text_layout(source: Path, mapping: EventsMapping) -> FileLayout:
    """The layout of a CSV / TSV file, from its first line (see the module docstring)."""
    with open_text(source) as stream:
        first = stream.readline().lstrip("\ufeff")  # a byte-order mark, as spreadsheets write
    delimiter = detect_delimiter(first)
    fields = [field.strip() for field in next(csv.reader([first], delimiter=delimiter), [])]
    _check_columns(source, mapping, fields)
    if all(isinstance(column, int) for column in mapping.columns.values()):
        indices = {role: column - 1 for role, column in mapping.columns.items()}
        try:
            epoch_milliseconds(fields[indices["time"]])
            has_header = False
        except ValueError:
            has_header = True
        labels = {
            role: repr(fields[index]) if has_header else f"column {index + 1}"
            for role, index in indices.items()
        }
    else:
        indices = {role: fields.index(column) for role, column in mapping.columns.items()}
        labels = {role: repr(column) for role, column in mapping.columns.items()}
        has_header = True
    return FileLayout(source, indices, labels, delimiter, len(fields), has_header)


def _parquet_error(source: Path, error: Exception) -> DataError:
    return DataError(
        f"not a readable Parquet file: {error}",
        path=source,
        fix="write the file again (e.g. pandas DataFrame.to_parquet), or give it as CSV",
    )


def _parquet_layout(source: Path, mapping: EventsMapping) -> FileLayout:
    """The layout of a Parquet file, from its schema."""
    import pyarrow as pa  # Only Parquet needs it (installed with tensorflow-datasets).
    import pyarrow.parquet as pq

    try:
        names = pq.read_schema(source).names
    except (pa.ArrowException, OSError) as error:
        raise _parquet_error(source, error) from None
    _check_columns(source, mapping, names)
    columns = {
        role: names[column - 1] if isinstance(column, int) else column
        for role, column in mapping.columns.items()
    }
    return FileLayout(source, columns, {role: repr(name) for role, name in columns.items()})


def file_layout(source: Path, mapping: EventsMapping) -> FileLayout:
    """Where ``source`` holds the columns of ``mapping``; :class:`ConfigError` listing the file's
    columns when it lacks one, :class:`DataError` when it cannot be read."""
    return (_parquet_layout if _is_parquet(source) else _text_layout)(source, mapping)


def _identifier(value) -> str:
    """A session / user / item id: any non-empty value, as text."""
    if value is None or value == "":
        raise ValueError("empty")
    return value if isinstance(value, str) else str(value)


def _boolean(value) -> bool:
    """A skip flag: a text boolean (:func:`parse_boolean`), a bool, or 0 / 1."""
    if isinstance(value, str):
        return parse_boolean(value)
    if isinstance(value, numbers.Integral) and value in (0, 1):
        return bool(value)
    raise ValueError(f"not a boolean: {value!r}")


def _number(value) -> float:
    """A finite number (text or numeric)."""
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"not finite: {value!r}")
    return number


# Role -> (parser of a value, result dtype, bad-row kind, what a value must be, how to fix it).
PARSERS: dict[str, tuple[Callable, type, str, str, str]] = {
    "session": (_identifier, str, "missing value", "a session id", "give every row its session"),
    "user": (_identifier, str, "missing value", "a user id", "give every row its user"),
    "item": (_identifier, str, "missing value", "an item id", "give every row its item"),
    "time": (
        epoch_milliseconds,
        np.int64,
        "bad timestamp",
        "epoch seconds or milliseconds, or an ISO-8601 time",
        "write times as epoch seconds or ISO-8601, e.g. 1700000000 or 2023-11-14T22:13:20Z",
    ),
    "skip": (
        _boolean,
        bool,
        "bad boolean",
        "true/false, yes/no or 1/0",
        "write skip flags as true/false, yes/no or 1/0",
    ),
    "play_seconds": (_number, np.float64, "bad number", "a number of seconds", "e.g. 12.5"),
    "rating": (_number, np.float64, "bad number", "a number", "write ratings as numbers, e.g. 4"),
}


def _text_rows(layout: FileLayout, bad_rows: BadRows) -> Iterator[tuple[int, list[str]]]:
    """Yields (line number, values of the mapped columns) of a text file's data rows; rows of the
    wrong width go to ``bad_rows``."""
    indices = list(layout.columns.values())
    with open_text(layout.source) as stream:
        rows = csv_rows(stream, layout.source, layout.delimiter)
        if layout.has_header:
            next(rows, None)
        for line_number, row in rows:
            if not row:
                continue  # a blank line
            if len(row) != layout.width:
                bad_rows.add(
                    layout.source,
                    line_number,
                    "wrong column count",
                    f"expected {layout.width} fields (as the first line), found {len(row)}",
                    f"give every row {layout.width} fields separated by {layout.delimiter!r}",
                )
                continue
            yield line_number, [row[index] for index in indices]


def _python_values(column) -> list:
    """The values of an Arrow column as Python objects; instants (timestamps, dates) as float
    epoch seconds, those without a zone taken as UTC (Arrow stores them so)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_timestamp(column.type) or pa.types.is_date(column.type):
        instants = column.cast(pa.timestamp("ms", getattr(column.type, "tz", None)), safe=False)
        column = pc.divide(instants.cast(pa.int64()).cast(pa.float64()), 1000.0)
    return column.to_pylist()


def _parquet_rows(layout: FileLayout) -> Iterator[tuple[int, list]]:
    """Yields (row number, values of the mapped columns) of a Parquet file, batch by batch."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = list(dict.fromkeys(layout.columns.values()))  # a column may play two roles
    row_number = 0
    try:
        with pq.ParquetFile(layout.source) as table:
            for batch in table.iter_batches(columns=names):
                by_name = {name: _python_values(batch.column(name)) for name in names}
                for row in zip(*(by_name[name] for name in layout.columns.values())):
                    row_number += 1
                    yield row_number, list(row)
    except (pa.ArrowException, OSError) as error:
        raise _parquet_error(layout.source, error) from None


def read_events(layout: FileLayout, bad_rows: BadRows) -> dict[str, np.ndarray]:
    """Role -> the values of one file's valid rows in file order (ids as str, time as int64
    epoch milliseconds, skip as bool, seconds and ratings as float64); malformed rows go to
    ``bad_rows``."""
    rows = _parquet_rows(layout) if layout.delimiter is None else _text_rows(layout, bad_rows)
    roles = list(layout.columns)
    parsers = [PARSERS[role][0] for role in roles]
    parsed: dict[str, list] = {role: [] for role in roles}
    for line, values in rows:
        row = []
        for role, parse, value in zip(roles, parsers, values):
            try:
                row.append(parse(value))
            except (ValueError, TypeError):
                _, _, kind, expected, fix = PARSERS[role]
                bad_rows.add(
                    layout.source,
                    line,
                    kind,
                    f"{role} column {layout.labels[role]}: expected {expected}, found {value!r}",
                    fix,
                )
                break
        else:
            for role, value in zip(roles, row):
                parsed[role].append(value)
    return {role: np.asarray(parsed[role], dtype=PARSERS[role][1]) for role in roles}


def false_positives(events: dict[str, np.ndarray], mapping: EventsMapping) -> np.ndarray:
    """bool ``[e]``: which events are FPs under ``mapping``'s signal (none without one)."""
    if mapping.fp_signal is None:
        return np.zeros(len(events["item"]), dtype=bool)
    if mapping.fp_signal == "skip":
        return events["skip"]
    return events[mapping.fp_signal] < mapping.fp_threshold


def sessions_of(
    events: dict[str, np.ndarray], is_fp: np.ndarray, mapping: EventsMapping
) -> list[SessionRecord]:
    """The sessions of the events (columns as :func:`read_events` gives them, all files one after
    the other), in order of their key's first appearance: events by time (ties keep input
    order), by session id, or by user split at gaps above ``mapping.gap_millis``."""
    by_gap = mapping.gap_millis is not None
    keys = events["user"] if by_gap else events["session"]
    unique_keys, first_row, inverse = np.unique(keys, return_index=True, return_inverse=True)
    appearance = np.empty(len(unique_keys), dtype=np.int64)
    appearance[np.argsort(first_row)] = np.arange(len(unique_keys))
    codes = appearance[inverse]
    order = np.lexsort((events["time"], codes))  # stable: equal (key, time) keep input order
    codes, millis = codes[order], events["time"][order]
    new_key = np.concatenate([[True], codes[1:] != codes[:-1]])
    starts_session = new_key.copy()
    if by_gap:
        starts_session[1:] |= np.diff(millis) > mapping.gap_millis
    starts = np.flatnonzero(starts_session)
    bounds = np.concatenate([starts, [len(order)]])
    session_keys = keys[order][starts]
    if by_gap:
        # The N-th session of its user: its number minus that of the user's first session.
        number = np.arange(len(starts))
        first_of_user = np.maximum.accumulate(np.where(new_key[starts], number, 0))
        session_ids = [f"{key}:{n}" for key, n in zip(session_keys, number - first_of_user + 1)]
        user_ids = session_keys
    else:
        session_ids = session_keys
        user_ids = events["user"][order][starts] if "user" in events else np.full(len(starts), "")
    items, is_fp = events["item"][order], is_fp[order]
    return [
        SessionRecord(
            str(session_id),
            str(user_id),
            int(millis[lo] // MILLISECONDS_PER_SECOND),
            items[lo:hi].tolist(),
            is_fp[lo:hi].tolist(),
        )
        for session_id, user_id, lo, hi in zip(session_ids, user_ids, bounds[:-1], bounds[1:])
    ]


def read_sessions(
    sources: list[Path], mapping: EventsMapping, *, bad_rows: BadRows | None = None
) -> list[SessionRecord]:
    """All sessions of the table files (see the module docstring). Every file's columns are
    checked against ``mapping`` before any row is read."""
    bad_rows = bad_rows if bad_rows is not None else BadRows()
    layouts = [file_layout(source, mapping) for source in sources]
    chunks = [read_events(layout, bad_rows) for layout in layouts]
    events = {role: np.concatenate([chunk[role] for chunk in chunks]) for role in mapping.columns}
    if not len(events["item"]):
        raise bad_rows.no_valid_rows(sources[0], FIX)
    return sessions_of(events, false_positives(events, mapping), mapping)
