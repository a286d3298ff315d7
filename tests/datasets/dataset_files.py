"""Helpers that write small raw input files for the dataset tests."""

from pathlib import Path


def write_lines(path: Path, lines) -> Path:
    """Writes ``lines`` (each without its newline) to ``path``; returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path
