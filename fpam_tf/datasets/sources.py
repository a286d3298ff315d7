"""Locating raw input files, opening them as text (plain or gzip), and reading the field types
that many logs share (delimiters, booleans, timestamps)."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import math
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from fpam_tf.errors import DataError

# Field separators of delimited text files, in the order that breaks a tie between them.
DELIMITERS = (",", "\t", ";")
BOOLEANS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}
# Epoch numbers above this are milliseconds (1e11 s is the year 5138).
MILLISECONDS_ABOVE = 10**11
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
MILLISECOND = dt.timedelta(milliseconds=1)
# The instants a timestamp may name, in epoch milliseconds: those of ``datetime``, years 1-9999.
FIRST_MILLISECOND = (dt.datetime.min.replace(tzinfo=dt.UTC) - EPOCH) // MILLISECOND
LAST_MILLISECOND = (dt.datetime.max.replace(tzinfo=dt.UTC) - EPOCH) // MILLISECOND


def open_text(path: Path) -> CheckedText:
    """Opens ``path`` for reading as UTF-8 text lines, gunzipping ``*.gz`` (see
    :class:`CheckedText`)."""
    binary = gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")
    return CheckedText(binary, str(path))


class CheckedText:
    """Text lines of a binary stream, decoded as UTF-8 one line at a time, so a broken file is a
    :class:`DataError` that names the file, the line and the byte offset, never a traceback.

    Reads like a text file opened with ``newline=""`` (line endings kept, ``csv`` can read it):
    iteration, ``readline``, ``seek(0)``, and use as a context manager; or many lines at a time
    (:meth:`blocks`). A truncated or corrupt gzip stream and bytes that are not UTF-8 raise
    :class:`DataError`.

    Args:
      binary: a binary stream (a file, ``gzip.open``, a tar member); closed with this object.
      name: how the errors name the file.
    """

    def __init__(self, binary: BinaryIO, name: str):
        self._binary = binary
        self.name = name
        self.line_number = 0  # lines read so far
        self.offset = 0  # bytes read so far (decompressed)

    def readline(self) -> str:
        raw = self._read(self._binary.readline)
        self.line_number += 1
        line = self._decode(raw, self.line_number)
        self.offset += len(raw)
        return line

    def blocks(self, size: int) -> Iterator[tuple[int, bytes]]:
        """Yields ``(number of its first line, raw bytes)`` of the rest of the stream in blocks of
        whole lines, about ``size`` bytes each (a longer line is a block of its own), checked to be
        UTF-8: for readers that parse many lines at once (numpy, pyarrow) instead of one at a
        time. Each block but possibly the last ends with a newline."""
        carry = b""
        while True:
            chunk = self._read(lambda: self._binary.read(size))
            raw = carry + chunk
            if not chunk:  # end of the stream: what is left, if anything, is the last line
                end = len(raw)
            else:
                end = raw.rfind(b"\n") + 1
                if end == 0:  # no newline yet: a line longer than the block size
                    carry = raw
                    continue
            raw, carry = raw[:end], raw[end:]
            if not raw:
                return
            first_line = self.line_number + 1
            self._decode(raw, first_line)
            self.line_number += raw.count(b"\n") + (not raw.endswith(b"\n"))
            self.offset += len(raw)
            yield first_line, raw

    def _read(self, read: Callable[[], bytes]) -> bytes:
        try:
            return read()
        except (EOFError, zlib.error, OSError) as error:
            # gzip: EOFError when the stream ends early, BadGzipFile (an OSError) or zlib.error
            # when the bytes are not gzip.
            raise DataError(
                f"the file is truncated or not valid gzip after {self.offset:,} bytes "
                f"(line {self.line_number + 1}): {error}",
                path=self.name,
                fix="download or copy the file again; `gzip -t FILE` checks a gzip file",
            ) from None

    def _decode(self, raw: bytes, first_line: int) -> str:
        """``raw`` (whole lines from byte ``self.offset``, the first numbered ``first_line``) as
        text; :class:`DataError` naming the line and byte of the first bytes that are not UTF-8."""
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as error:
            line_start = raw.rfind(b"\n", 0, error.start) + 1
            line_end = raw.find(b"\n", error.end)
            line_end = len(raw) if line_end < 0 else line_end + 1
            found = raw[max(error.start - 8, line_start) : min(error.end + 8, line_end)]
            raise DataError(
                f"bytes {raw[error.start : error.end]!r} at byte {self.offset + error.start:,} "
                f"are not UTF-8 (expected UTF-8 text; found {found!r})",
                path=self.name,
                line=first_line + raw.count(b"\n", 0, line_start),
                fix="convert the file to UTF-8, e.g. `iconv -f LATIN1 -t UTF-8 FILE > NEW`",
            ) from None

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def seek(self, position: int) -> int:
        """Back to the start (the only position readers need: after peeking at the first line)."""
        if position != 0:
            raise ValueError("CheckedText can only seek back to the start (0)")
        self._binary.seek(0)
        self.line_number = self.offset = 0
        return 0

    def close(self) -> None:
        self._binary.close()

    def __enter__(self) -> CheckedText:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def existing_path(data_dir, *, what: str, fix: str) -> Path:
    """``data_dir`` as an absolute path; :class:`DataError` saying what to put where when it is
    unset or missing."""
    if data_dir is None:
        raise DataError(f"no data directory given for {what}", fix=fix)
    path = Path(data_dir).expanduser().resolve()
    if not path.exists():
        raise DataError(f"{what} not found", path=path, fix=fix)
    return path


def require_nonempty(path: Path, *, what: str, fix: str) -> Path:
    """``path`` itself; :class:`DataError` when the file is empty (0 bytes)."""
    if path.stat().st_size == 0:
        raise DataError(f"{what} is empty", path=path, fix=fix)
    return path


def csv_rows(stream, path, delimiter: str = ",") -> Iterator[tuple[int, list[str]]]:
    """Yields ``(line number, fields)`` of every row of a CSV text stream (a quoted field may span
    lines: the number is the line the row ends on).

    Raises:
      DataError: the csv module cannot read on, typically because a quote never closes and the
        field runs past its size limit; it names the line after the last complete row.
    """
    reader = csv.reader(stream, delimiter=delimiter)
    last_row_end = 0
    try:
        for row in reader:
            yield reader.line_num, row
            last_row_end = reader.line_num
    except csv.Error as error:
        raise DataError(
            f"unreadable CSV from this line on: {error}",
            path=path,
            line=last_row_end + 1,
            fix='close the quoted field that starts there, or drop its stray quote (")',
        ) from None


def detect_delimiter(first_line: str) -> str:
    """The field separator of a delimited text file: whichever of comma, tab and semicolon its
    first line holds most often (on a tie, the earlier of the three; a comma when it holds none)."""
    return max(DELIMITERS, key=first_line.count)


def parse_boolean(text: str) -> bool:
    """The truth value of ``true``/``false``, ``yes``/``no`` or ``1``/``0`` (any case, surrounding
    spaces ignored); ValueError for anything else."""
    value = BOOLEANS.get(text.strip().lower())
    if value is None:
        raise ValueError(f"not a boolean: {text!r}")
    return value


def epoch_milliseconds(value: str | float) -> int:
    """Whole milliseconds since the Unix epoch of a timestamp: a number of epoch seconds (of
    milliseconds when above :data:`MILLISECONDS_ABOVE`), or an ISO-8601 string, taken as UTC when
    it has no zone. ValueError when it is neither, or outside the years 1-9999."""
    try:
        number = float(value)
    except ValueError:
        moment = dt.datetime.fromisoformat(value.strip())
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        # Whole milliseconds of the exact difference; ``timestamp()`` is a float.
        millis = (moment - EPOCH) // MILLISECOND
    else:
        scaled = number if number > MILLISECONDS_ABOVE else number * 1000
        if not math.isfinite(scaled):
            raise ValueError(f"not a finite time: {value!r}")
        millis = round(scaled)
    if not FIRST_MILLISECOND <= millis <= LAST_MILLISECOND:
        raise ValueError(f"not a time of the years 1-9999: {value!r}")
    return millis
