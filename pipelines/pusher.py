"""Pusher: a blessed model goes to ``<export_base>/<name>/<version>/`` (TF Serving's layout).

The export is ``fpam_tf.export.export`` (a new version, placed atomically). The pushed version's
vocabulary is checked against the transform graph's ``items`` asset, so serving maps item ids
exactly as training did. An unblessed model is not exported: ``not_pushed.json`` keeps the reason
in the pipeline root. Output: ``pushed_model`` (``pushed.json`` or ``not_pushed.json``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from pipelines.errors import PipelineError
from pipelines.transform import VOCABULARY

COMPONENT = "Pusher"
PUSHED = "pushed.json"


def check_vocabulary(version_dir: Path, graph_dir: Path) -> None:
    """Raises (and removes the version) when the exported vocabulary differs from the transform
    graph's."""
    exported = version_dir / "assets" / "vocabulary.txt"
    transform = graph_dir / "transform_fn" / "assets" / VOCABULARY
    if exported.read_bytes() != transform.read_bytes():
        shutil.rmtree(version_dir)
        raise PipelineError(
            COMPONENT,
            "the exported vocabulary differs from the transform graph's; export removed",
            path=exported,
        )


def run(
    model_dir: Path,
    evaluation_dir: Path,
    blessed: bool,
    graph_dir: Path,
    output: Path,
    *,
    export_base: Path,
    name: str,
    k: int,
) -> dict:
    """Exports a blessed model, or records why it was not; returns the record written."""
    from fpam_tf.export import export

    evaluation = json.loads((evaluation_dir / "evaluation.json").read_text())
    metrics = json.loads((model_dir / "metrics.json").read_text())
    if not blessed:
        record = {"pushed": False, "reason": evaluation["reason"], "model_dir": str(model_dir)}
        (output / "not_pushed.json").write_text(json.dumps(record, indent=2) + "\n")
        return record
    version_dir = export(model_dir, k=k, export_base=export_base, name=name)
    check_vocabulary(version_dir, graph_dir)
    record = {
        "pushed": True,
        "version_dir": str(Path(version_dir).resolve()),
        "model_dir": str(model_dir),
        "metrics": metrics,
        "reason": evaluation["reason"],
    }
    (output / PUSHED).write_text(json.dumps(record, indent=2) + "\n")
    return {"pushed": True, "version_dir": record["version_dir"]}


def current_push(root, exclude_model: Path | None = None) -> dict | None:
    """The newest push recorded in the pipeline root whose version folder still exists.

    Pushes of ``exclude_model`` itself are ignored: a model is never compared with its own push
    (so an unchanged rerun does not un-bless what it pushed).
    """
    for record in reversed(root.records(COMPONENT)):
        artifacts = root.artifacts_of(record)
        if artifacts is None:
            continue
        path = artifacts["pushed_model"].path / PUSHED
        if not path.is_file():
            continue
        pushed = json.loads(path.read_text())
        if exclude_model is not None and Path(pushed["model_dir"]) == Path(exclude_model):
            continue
        if Path(pushed["version_dir"]).is_dir():
            return pushed
    return None
