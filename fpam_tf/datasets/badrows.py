"""Malformed input rows: counted and skipped, reported once at the end, or fatal in strict mode."""

from __future__ import annotations

import dataclasses
import logging
from typing import NamedTuple

from fpam_tf.errors import DataError

logger = logging.getLogger("fpam_tf.datasets")

# How many bad rows a report keeps verbatim (the count covers all of them).
MAX_EXAMPLES = 5


class BadRow(NamedTuple):
    """One malformed row: where it is, what kind of problem, and how to fix it."""

    path: str
    line: int
    kind: str
    problem: str
    fix: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.problem}"


@dataclasses.dataclass(frozen=True)
class BadRowReport:
    """What a reader skipped: the number of bad rows per problem kind and the first few of them."""

    counts: dict[str, int] = dataclasses.field(default_factory=dict)
    examples: tuple[BadRow, ...] = ()

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> str:
        """One paragraph for a warning: files, count per kind, the first rows with line numbers."""
        files = sorted({row.path for row in self.examples})
        kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(self.counts.items()))
        first = "; ".join(str(row) for row in self.examples)
        return (
            f"skipped {self.total} malformed row(s) in {', '.join(files)} ({kinds}). "
            f"First: {first}. Fix the file, or pass strict=True to stop at the first bad row."
        )

    def raise_first(self) -> None:
        """Raises the first bad row as a :class:`DataError` (strict mode on an already prepared
        dataset)."""
        if self.examples:
            row = self.examples[0]
            raise DataError(row.problem, path=row.path, line=row.line, fix=row.fix)

    def to_json(self) -> dict:
        return {"counts": dict(self.counts), "examples": [row._asdict() for row in self.examples]}

    @classmethod
    def from_json(cls, data: dict) -> BadRowReport:
        return cls(
            counts={str(k): int(v) for k, v in data.get("counts", {}).items()},
            examples=tuple(BadRow(**row) for row in data.get("examples", [])),
        )


class BadRows:
    """Collector a reader calls for each malformed row; raises at once when ``strict``."""

    def __init__(self, strict: bool = False):
        self.strict = strict
        self._counts: dict[str, int] = {}
        self._examples: list[BadRow] = []

    def add(self, path, line: int, kind: str, problem: str, fix: str) -> None:
        """Counts (or, strict, raises) a bad row at 1-based ``line`` of ``path``."""
        if self.strict:
            raise DataError(problem, path=path, line=line, fix=fix)
        self._counts[kind] = self._counts.get(kind, 0) + 1
        if len(self._examples) < MAX_EXAMPLES:
            self._examples.append(BadRow(str(path), line, kind, problem, fix))

    def report(self) -> BadRowReport:
        return BadRowReport(dict(self._counts), tuple(self._examples))

    def no_valid_rows(self, path, fix: str) -> DataError:
        """The error of a file with no row to read: every row was malformed (the first three
        named, with what was expected and what was found), or there were none."""
        total = sum(self._counts.values())
        if not total:
            return DataError("no valid rows: the file holds no data rows", path=path, fix=fix)
        first = "; ".join(f"line {row.line}: {row.problem}" for row in self._examples[:3])
        return DataError(
            f"no valid rows: all {total} rows are malformed. The first: {first}",
            path=path,
            fix=fix,
        )


def warn_bad_rows(name: str, report: BadRowReport) -> None:
    """Logs the report as one warning paragraph on stderr (nothing when there were no bad rows)."""
    if report.total:
        logger.warning("%s: %s", name, report.summary())
