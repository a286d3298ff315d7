"""Locating raw input files and opening them as text (plain or gzip)."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import BinaryIO

from fpam_tf.errors import DataError


def open_text(path: Path) -> CheckedText:
    """Opens ``path`` for reading as UTF-8 text lines, gunzipping ``*.gz`` (see
    :class:`CheckedText`)."""
    binary = gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")
    return CheckedText(binary, str(path))


class CheckedText:
    """Text lines of a binary stream, decoded as UTF-8 one line at a time, so a broken file is a
    :class:`DataError` that names the file, the line and the byte offset, never a traceback.

    Reads like a text file opened with ``newline=""`` (line endings kept, ``csv`` can read it):
    iteration, ``readline``, ``seek(0)``, and use as a context manager. A truncated or corrupt
    gzip stream and bytes that are not UTF-8 raise :class:`DataError`.

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
        try:
            raw = self._binary.readline()
        except (EOFError, zlib.error, OSError) as error:
            # gzip: EOFError when the stream ends early, BadGzipFile (an OSError) or zlib.error
            # when the bytes are not gzip.
            raise DataError(
                f"the file is truncated or not valid gzip after {self.offset:,} bytes "
                f"(line {self.line_number + 1}): {error}",
                path=self.name,
                fix="download or copy the file again; `gzip -t FILE` checks a gzip file",
            ) from None
        self.line_number += 1
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            found = raw[max(error.start - 8, 0) : error.end + 8]
            raise DataError(
                f"bytes {raw[error.start : error.end]!r} at byte {self.offset + error.start:,} "
                f"are not UTF-8 (expected UTF-8 text; found {found!r})",
                path=self.name,
                line=self.line_number,
                fix="convert the file to UTF-8, e.g. `iconv -f LATIN1 -t UTF-8 FILE > NEW`",
            ) from None
        self.offset += len(raw)
        return line

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
