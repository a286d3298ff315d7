"""Locating raw input files and opening them as text (plain or gzip)."""

from __future__ import annotations

import gzip
import io
from pathlib import Path
from typing import TextIO

from fpam_tf.errors import DataError


def open_text(path: Path) -> TextIO:
    """Opens ``path`` for reading as UTF-8 text, gunzipping ``*.gz``; undecodable bytes become
    U+FFFD."""
    if path.suffix == ".gz":
        return io.TextIOWrapper(
            gzip.open(path, "rb"), encoding="utf-8", errors="replace", newline=""
        )
    return open(path, encoding="utf-8", errors="replace", newline="")


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
