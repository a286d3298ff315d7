"""Last.fm 1K reader: scrobbles -> sessions with skips inferred from play time (PROTOCOL §1).

Input: ``userid-timestamp-artid-artname-traid-traname.tsv`` (6 tab-separated fields, no header,
ISO-8601 UTC timestamps, sorted by user then timestamp descending), given as the file, a directory
holding it (directly or in ``lastfm-dataset-1K/``), or the official ``lastfm-dataset-1K.tar.gz``.

Item key: the track MBID when present, else ``artist name + " - " + track name``. The separator is
ambiguous only when a name itself contains `` - ``, which we accept for readable item ids.

Malformed rows (another number of fields, an unparsable timestamp, a carriage return inside the
row) are counted and skipped, or fatal when strict (``BadRows``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import tarfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as csv

from fpam_tf.datasets.badrows import BadRows
from fpam_tf.datasets.sources import CheckedText, existing_path, open_text, require_nonempty
from fpam_tf.errors import DataError
from fpam_tf.events import Sessions, grades_from_fp

TSV_NAME = "userid-timestamp-artid-artname-traid-traname.tsv"
TAR_NAME = "lastfm-dataset-1K.tar.gz"
URL = "http://mtg.upf.edu/static/datasets/last.fm/lastfm-dataset-1K.tar.gz"
NUM_FIELDS = 6
ITEM_NAME_SEPARATOR = " - "
FIX = (
    f"download {URL} (2.4 GB unpacked; it cannot be fetched automatically here), put {TAR_NAME} "
    f"or its extracted {TSV_NAME} in a directory and pass that directory as --data-dir / data_dir"
)


def find_source(data_dir) -> Path:
    """The TSV or tar.gz to read for ``data_dir`` (a file, or a directory holding one)."""
    path = existing_path(data_dir, what="Last.fm 1K data", fix=FIX)
    if path.is_dir():
        candidates = [path / TSV_NAME, path / "lastfm-dataset-1K" / TSV_NAME, path / TAR_NAME]
        found = [candidate for candidate in candidates if candidate.is_file()]
        if not found:
            raise DataError(f"no {TSV_NAME} or {TAR_NAME} in this directory", path=path, fix=FIX)
        path = found[0]
    return require_nonempty(path, what="Last.fm 1K file", fix=FIX)


@contextlib.contextmanager
def _open_lines(source: Path) -> Iterator[tuple[str, CheckedText]]:
    """Yields (name for messages, text stream) of the TSV, reading it from inside the tar when
    needed."""
    if source.name.endswith((".tar.gz", ".tgz", ".tar")):
        with tarfile.open(source) as tar:
            member = next((m for m in tar.getmembers() if m.name.endswith(TSV_NAME)), None)
            if member is None:
                raise DataError(f"the archive holds no {TSV_NAME}", path=source, fix=FIX)
            name = f"{source}[{member.name}]"
            yield name, CheckedText(tar.extractfile(member), name)
    else:
        with open_text(source) as stream:
            yield str(source), stream


def parse_timestamp(text: str) -> int:
    """Seconds since the epoch of an ISO-8601 timestamp; one without a zone is taken as UTC."""
    moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp())


# The file's fields, as the parser names them; the artist MBID is not used.
COLUMNS = ("user", "stamp", "artist_id", "artist", "track_id", "track")
PARSED_COLUMNS = [column for column in COLUMNS if column != "artist_id"]
NEWLINE, TAB, RETURN = b"\n\t\r"  # as byte values
INNER_RETURN = (
    "carriage return inside a row",
    "a carriage return (\\r) inside the row, not at its end",
    "remove the stray carriage returns, e.g. `tr -d '\\r' < FILE > NEW`",
)
# Bytes parsed at a time: about 130,000 plays; their columns in flight are a few times that.
BLOCK_BYTES = 1 << 24
# The timestamps Last.fm writes, parsed in bulk; any other ISO-8601 form goes to parse_timestamp.
STAMP_FORMAT, STAMP_LENGTH = "%Y-%m-%dT%H:%M:%SZ", len("2009-05-04T23:08:57Z")


@dataclasses.dataclass
class Plays:
    """Every valid row of the file as columns, in file order: ``user_codes`` (int32 indices into
    ``users``, the distinct user ids in order of first appearance), ``times`` (int64 epoch
    seconds) and ``item_codes`` (int32 indices into ``keys``, the distinct item keys in order of
    first appearance). 16 bytes a play plus each distinct id once, where Python objects per row
    cost over 100 bytes (the full Last.fm 1K log has 19M rows)."""

    user_codes: np.ndarray
    times: np.ndarray
    item_codes: np.ndarray
    users: list[str]
    keys: list[str]


class _Codes:
    """Global codes of strings seen block by block, in order of first appearance (``codes``' own
    order: its keys are the distinct strings by code)."""

    def __init__(self):
        self.codes: dict[str, int] = {}

    def encode(self, column: pa.ChunkedArray) -> np.ndarray:
        """int32 codes of ``column``; a new string gets the next code."""
        # Its dictionary: the distinct values in order of first appearance.
        encoded = pc.dictionary_encode(column.combine_chunks())
        local = np.fromiter(
            (
                self.codes.setdefault(value, len(self.codes))
                for value in encoded.dictionary.to_pylist()
            ),
            dtype=np.int32,
            count=len(encoded.dictionary),
        )
        return local[encoded.indices.to_numpy(zero_copy_only=False)]


def _wrong_column_count(found: int) -> tuple[str, str, str]:
    return (
        "wrong column count",
        f"expected {NUM_FIELDS} tab-separated fields, found {found}",
        "each row must be: user id, timestamp, artist MBID, artist name, track MBID, track name",
    )


def _bad_timestamp(stamp: str) -> tuple[str, str, str]:
    return (
        "bad timestamp",
        f"unparsable timestamp {stamp!r}",
        "write timestamps as ISO-8601 UTC, e.g. 2009-05-04T23:08:57Z",
    )


def read_plays(source: Path, bad_rows: BadRows) -> Plays:
    """The valid rows of the file (:class:`Plays`); malformed rows go to ``bad_rows``, in file
    order.

    A block of lines at a time: numpy finds each line's fields and the malformed lines in the raw
    bytes, pyarrow's CSV reader parses the rest into string columns; no Python object per row
    (the full Last.fm 1K log is 19M rows).
    """
    users, keys = _Codes(), _Codes()
    columns: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    with _open_lines(source) as (name, stream):
        for first_line, raw in stream.blocks(BLOCK_BYTES):
            table, seconds = _parse_block(raw, first_line, name, bad_rows)
            if len(seconds):
                columns.append(
                    (users.encode(table["user"]), seconds, keys.encode(_item_keys(table)))
                )
    user_codes, times, item_codes = (
        np.concatenate([block[i] for block in columns]) if columns else np.zeros(0, dtype)
        for i, dtype in enumerate((np.int32, np.int64, np.int32))
    )
    return Plays(user_codes, times, item_codes, list(users.codes), list(keys.codes))


def _item_keys(table: pa.Table) -> pa.ChunkedArray:
    """Per row: the track MBID, else artist name + " - " + track name."""
    track_ids = table["track_id"].combine_chunks()
    unnamed = pc.equal(track_ids, "")
    if not pc.any(unnamed).as_py():
        return pa.chunked_array([track_ids])
    rows = table.filter(unnamed)
    named = pc.binary_join_element_wise(rows["artist"], rows["track"], ITEM_NAME_SEPARATOR)
    return pa.chunked_array([pc.replace_with_mask(track_ids, unnamed, named.combine_chunks())])


def _parse_block(
    raw: bytes, first_line: int, name: str, bad_rows: BadRows
) -> tuple[pa.Table, np.ndarray]:
    """The valid rows of a block of whole lines numbered from ``first_line``: a table of the
    string columns (``COLUMNS`` but the artist MBID) and their epoch seconds. The other lines go to
    ``bad_rows``, in line order."""
    data = np.frombuffer(raw, dtype=np.uint8)
    newlines = np.flatnonzero(data == NEWLINE)
    starts = np.concatenate([[0], newlines + 1])
    if raw.endswith(b"\n"):
        starts = starts[:-1]
    tabs_before = np.searchsorted(np.flatnonzero(data == TAB), np.append(starts, len(data)))
    fields = np.diff(tabs_before) + 1
    # A line's trailing carriage returns are part of its line ending (rstrip("\r\n")); one
    # inside a line would end the row for the CSV parser. (A return as the last byte ends a line.)
    returns = np.flatnonzero(data[:-1] == RETURN)
    inner = returns[(data[returns + 1] != NEWLINE) & (data[returns + 1] != RETURN)]
    inner_return = np.zeros(len(starts), dtype=bool)
    inner_return[np.searchsorted(starts, inner, side="right") - 1] = True
    problems = [
        (first_line + int(i), *_wrong_column_count(int(fields[i])))
        for i in np.flatnonzero(fields != NUM_FIELDS)
    ] + [
        (first_line + int(i), *INNER_RETURN)
        for i in np.flatnonzero(inner_return & (fields == NUM_FIELDS))
    ]
    readable = (fields == NUM_FIELDS) & ~inner_return
    good = np.flatnonzero(readable)
    if len(good) < len(starts):
        lengths = np.diff(np.append(starts, len(data)))
        raw = data[np.repeat(readable, lengths)].tobytes()
    table = _read_rows(raw) if len(good) else _EMPTY_ROWS
    if table.num_rows != len(good):
        raise RuntimeError(f"{name}: {table.num_rows} rows parsed from {len(good)} lines")
    stamps = table["stamp"]
    parsed = pc.strptime(stamps, format=STAMP_FORMAT, unit="s", error_is_null=True)
    canonical = pc.equal(pc.utf8_length(stamps), STAMP_LENGTH)
    parsed = pc.if_else(canonical, parsed, pa.scalar(None, parsed.type))
    seconds = np.array(pc.fill_null(parsed.cast(pa.int64()), 0).to_numpy())
    valid = np.ones(len(seconds), dtype=bool)
    for i in np.flatnonzero(pc.is_null(parsed).to_numpy(zero_copy_only=False)):
        stamp = stamps[int(i)].as_py()
        try:
            seconds[i] = parse_timestamp(stamp)
        except ValueError:
            valid[i] = False
            problems.append((first_line + int(good[i]), *_bad_timestamp(stamp)))
    for line, kind, problem, fix in sorted(problems):
        bad_rows.add(name, line, kind, problem, fix)
    if not valid.all():
        table, seconds = table.filter(pa.array(valid)), seconds[valid]
    return table, seconds


_EMPTY_ROWS = pa.table({column: pa.array([], pa.string()) for column in PARSED_COLUMNS})


def _read_rows(raw: bytes) -> pa.Table:
    """The rows of ``raw`` (lines of exactly six tab-separated fields, no carriage return inside a
    line) as a table of string columns; quotes are plain characters, as in the Last.fm files."""
    return csv.read_csv(
        pa.py_buffer(raw),
        read_options=csv.ReadOptions(column_names=COLUMNS),
        parse_options=csv.ParseOptions(
            delimiter="\t", quote_char=False, double_quote=False, escape_char=False
        ),
        convert_options=csv.ConvertOptions(
            column_types=dict.fromkeys(PARSED_COLUMNS, pa.string()),
            include_columns=PARSED_COLUMNS,
            strings_can_be_null=False,
        ),
    )


def sessionize(plays: Plays, *, gap_seconds: float, skip_seconds: float) -> Sessions:
    """The sessions of ``plays``, column-wise: users in order of first appearance, each user's plays
    in ascending time, split at gaps > ``gap_seconds``; FP = play time < ``skip_seconds``.

    The file lists a user's plays newest first, so the rows are reversed before the stable sort:
    a user's plays with equal timestamps then keep their chronological (reverse file) order.
    """
    times, user_of_play = plays.times[::-1], plays.user_codes[::-1]
    order = np.lexsort((times, user_of_play))  # stable
    times, user_of_play = times[order], user_of_play[order]
    # Items as one string object per distinct key (8 bytes an event).
    items = np.array(plays.keys, dtype=object)[plays.item_codes[::-1][order]]
    del order
    new_user = np.concatenate([[True], user_of_play[1:] != user_of_play[:-1]])
    play_time = np.diff(times)
    starts_session = new_user | np.concatenate([[True], play_time > gap_seconds])
    # The last play of a session has no observable play time: never FP.
    is_last = np.concatenate([starts_session[1:], [True]])
    is_fp = np.concatenate([play_time < skip_seconds, [False]]) & ~is_last
    starts = np.flatnonzero(starts_session)
    users = np.array(plays.users, dtype=object)[user_of_play[starts]]
    start_times = times[starts]
    return Sessions(
        session_ids=np.array([f"{u}:{t}" for u, t in zip(users, start_times.tolist())], dtype=str),
        user_ids=users.astype(str),
        start_times=start_times,
        row_splits=np.append(starts, len(times)).astype(np.int64),
        items=items,
        is_fp=is_fp,
        grades=grades_from_fp(is_fp),
    )


def read_sessions(
    source: Path,
    *,
    session_gap_minutes: float = 30,
    skip_seconds: float = 30,
    bad_rows: BadRows | None = None,
) -> Sessions:
    """All sessions of a Last.fm 1K file (see the module docstring), users in file order."""
    bad_rows = bad_rows if bad_rows is not None else BadRows()
    plays = read_plays(source, bad_rows)
    if not len(plays.times):
        raise bad_rows.no_valid_rows(source, FIX)
    return sessionize(plays, gap_seconds=session_gap_minutes * 60, skip_seconds=skip_seconds)
