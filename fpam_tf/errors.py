"""Errors a user can act on: each names what is wrong, where, and how to fix it."""

from __future__ import annotations


class FpamError(Exception):
    """Base class of the errors fpam-tf reports to users (CLIs print them without a traceback)."""


class DataError(FpamError):
    """Bad input data: a missing or empty file, or a malformed row.

    Attributes:
      path: the file concerned (``None`` when not file-specific).
      line: 1-based line number in that file, or ``None``.
      problem: what is wrong.
      fix: how to fix it.
    """

    def __init__(self, problem: str, *, path=None, line: int | None = None, fix: str = ""):
        self.path = None if path is None else str(path)
        self.line = line
        self.problem = problem
        self.fix = fix
        where = ""
        if self.path is not None:
            where = f"{self.path}:{line}: " if line is not None else f"{self.path}: "
        message = f"{where}{problem}"
        if fix:
            message += f"\n  fix: {fix}"
        super().__init__(message)


class ConfigError(FpamError):
    """A bad command-line value or configuration (unknown name, conflicting run directory, ...)."""
