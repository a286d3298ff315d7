"""The study's record of its finished runs: one small JSON file per run, committed under
``results/study/<dataset>/``, so the study accumulates across sessions and machines.

A run directory (``runs/reproduce/...``) is one machine's working copy: its checkpoints are large
and are not committed, and a session ends with its machine. What the report needs of a finished
run (its config, test and validation figures, and how it trained) is a few kilobytes: the record
holds exactly the run directory's ``config.json``, ``metrics.json`` and
``checkpoints/progress.json``, plus the machine it trained on. A later invocation restores the
records into run directories before it looks at them, so a recorded run counts as finished and is
not trained again.
"""

from __future__ import annotations

import json
from pathlib import Path

from fpam_tf.atomic import write_json_atomic
from fpam_tf.training.run_dir import RunDir

RECORD_FILES = {"config": "config", "metrics": "metrics_json", "progress": "progress"}
# In a run directory: the machine its run trained on (the record's ``machine``), so the report can
# say which runs' training times compare.
MACHINE_FILE = "machine.json"


def machine_of(run_dir: RunDir) -> dict | None:
    """The machine ``run_dir``'s run trained on, when known (``{"cpu_model": ...}``)."""
    path = run_dir.path / MACHINE_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def record_path(records_dir: Path, run_dir: RunDir) -> Path:
    """``<records_dir>/<dataset>/<run>.json`` for ``<runs_dir>/<dataset>/<run>``."""
    return Path(records_dir) / run_dir.path.parent.name / f"{run_dir.path.name}.json"


def write_record(run_dir: RunDir, records_dir: Path) -> Path:
    """Records the finished run in ``run_dir`` (its files that exist; a baseline has only
    ``metrics.json``) with the machine it ran on; returns the record's path."""
    from fpam_tf.training.precision import cpu_model

    record = {
        key: json.loads(getattr(run_dir, attr).read_text())
        for key, attr in RECORD_FILES.items()
        if getattr(run_dir, attr).is_file()
    }
    # A run restored from its record and rescored here keeps the machine it trained on.
    record["machine"] = machine_of(run_dir) or {"cpu_model": cpu_model()}
    write_json_atomic(run_dir.path / MACHINE_FILE, record["machine"])
    path = record_path(records_dir, run_dir)
    write_json_atomic(path, record)
    return path


def restore_records(records_dir: Path, runs_dir: Path, dataset: str) -> list[str]:
    """Writes each recorded run of ``dataset`` back into its run directory when that directory
    does not exist (a fresh machine); returns the names restored.

    A restored run has no weights: it stands for a finished run, and if it must train on (a higher
    epoch cap), it trains again from the start.
    """
    restored = []
    for path in sorted((Path(records_dir) / dataset).glob("*.json")):
        run_dir = RunDir(Path(runs_dir) / dataset / path.stem)
        record = json.loads(path.read_text())
        if run_dir.path.exists() or run_dir.path.is_symlink():
            # Restored before runs knew their machine: the record says it.
            if "machine" in record and machine_of(run_dir) is None and run_dir.path.is_dir():
                write_json_atomic(run_dir.path / MACHINE_FILE, record["machine"])
            continue
        for key, attr in RECORD_FILES.items():
            if key in record:
                write_json_atomic(getattr(run_dir, attr), record[key])
        if "machine" in record:
            write_json_atomic(run_dir.path / MACHINE_FILE, record["machine"])
        restored.append(path.stem)
    return restored
