"""Figures of others to set beside ours, read from data files rather than written into the code.

- The peer framework's (RecBole) Spotify figures: ``benchmarks/data/recbole_spotify.json``.
- The paper's Tables 2 and 3, transcribed in ``../shared/paper/`` beside the repository
  (``table2.tsv``, ``table3.tsv``; see the README there). That folder may be absent: the readers
  then return ``None`` and the report says so.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import NamedTuple

from benchmarks.reproduce import ROOT

RECBOLE_SPOTIFY = Path(__file__).resolve().parents[1] / "data" / "recbole_spotify.json"
PAPER_DIR = ROOT.parent / "shared" / "paper"
# The paper's spellings -> ours.
PAPER_BACKBONES = {"NARM": "narm", "SRGNN": "srgnn"}
PAPER_METHODS = {"Vanilla": "vanilla", "FP-Simple": "fp-simple", "FP-AdaMetric": "fp-adametric"}
# Table 3 labels the ablation by what it removes from FP-AdaMetric.
PAPER_ABLATION_METHODS = {
    "FP-AdaMetric": "fp-adametric",
    "w/o Adaptive": "fp-metric",
    "w/o Metric": "fp-simple",
    "Vanilla": "vanilla",
}


class PeerFigures(NamedTuple):
    """The peer framework's test figures per cell name, ``{name: (HR@20 or None, MRR@20)}``, and a
    note on how it was trained."""

    cells: dict[str, tuple[float | None, float]]
    note: str


def peer_spotify(path: Path = RECBOLE_SPOTIFY) -> PeerFigures:
    """The peer framework's figures on our Spotify windows (PROTOCOL §6), percent."""
    data = json.loads(path.read_text(encoding="utf-8"))
    cells = {name: (cell["hr@20"], cell["mrr@20"]) for name, cell in data["cells"].items()}
    return PeerFigures(cells, data["note"])


def shown_path(path: Path) -> str:
    """``path`` as the report names it: relative to the repository root."""
    return Path(os.path.relpath(path, ROOT)).as_posix()


def read_tsv(path: Path) -> list[dict[str, str]]:
    """The rows of a tab-separated file with a header line."""
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def metrics_of(row: dict[str, str]) -> dict[str, float]:
    """The metric columns of a paper table's row (``HR@20`` ...), keyed as ours (``hr@20``)."""
    return {column.lower(): float(value) for column, value in row.items() if "@" in column}


def ours(table: dict[str, str], label: str, path: Path) -> str:
    """Our name of the paper's ``label``; a label we have no name for is an error, not skipped."""
    if label not in table:
        raise ValueError(f"{path}: unknown label {label!r}; expected one of {', '.join(table)}")
    return table[label]


def paper_table2(
    dataset: str = "Spotify", paper_dir: Path | None = None
) -> dict[tuple[str, str], dict[str, float]] | None:
    """The paper's Table 2 rows of ``dataset`` (the paper's spelling), test, percent:
    ``{(backbone, method): {"hr@20": ..., "mrr@20": ..., ...}}`` in our names, in the paper's order;
    ``None`` when ``table2.tsv`` is absent. ``paper_dir``: default :data:`PAPER_DIR`."""
    path = Path(paper_dir or PAPER_DIR) / "table2.tsv"
    if not path.is_file():
        return None
    return {
        (
            ours(PAPER_BACKBONES, row["backbone"], path),
            ours(PAPER_METHODS, row["method"], path),
        ): metrics_of(row)
        for row in read_tsv(path)
        if row["dataset"] == dataset
    }


def paper_table3(
    dataset: str = "Spotify", paper_dir: Path | None = None
) -> dict[str, dict[str, float]] | None:
    """The paper's Table 3 (the NARM ablation @100) rows of ``dataset``: ``{method: {"hr@100": ...,
    "mrr@100": ..., "ndcg@100": ...}}`` in our method names; ``None`` when ``table3.tsv`` is
    absent."""
    path = Path(paper_dir or PAPER_DIR) / "table3.tsv"
    if not path.is_file():
        return None
    return {
        ours(PAPER_ABLATION_METHODS, row["method"], path): metrics_of(row)
        for row in read_tsv(path)
        if row["dataset"] == dataset
    }
