"""Pusher: a blessed model goes to ``<export_base>/<name>/<version>/`` (TF Serving's layout).

The export is ``fpam_tf.export.export`` (a new version, placed atomically). The pushed version's
vocabulary is checked against the transform graph's ``items`` asset, so serving maps item ids
exactly as training did. An unblessed model is not exported: ``not_pushed.json`` keeps the reason
in the pipeline root. Output: ``pushed_model`` (``pushed.json`` or ``not_pushed.json``).
"""

from __future__ import annotations

from pipelines import filesystem
from pipelines.errors import PipelineError
from pipelines.transform import VOCABULARY

COMPONENT = "Pusher"
PUSHED = "pushed.json"


def check_vocabulary(version_dir: str, graph_dir: str) -> None:
    """Raises (and removes the version) when the exported vocabulary differs from the transform
    graph's."""
    exported = filesystem.join(version_dir, "assets", "vocabulary.txt")
    transform = filesystem.join(graph_dir, "transform_fn", "assets", VOCABULARY)
    if filesystem.read_bytes(exported) != filesystem.read_bytes(transform):
        filesystem.remove_tree(version_dir)
        raise PipelineError(
            COMPONENT,
            "the exported vocabulary differs from the transform graph's; export removed",
            path=exported,
        )


def run(
    model_dir: str,
    evaluation_dir: str,
    blessed: bool,
    graph_dir: str,
    output: str,
    *,
    export_base: str,
    name: str,
    k: int,
) -> dict:
    """Exports a blessed model, or records why it was not; returns the record written.

    The records go through :mod:`pipelines.filesystem` (any pipeline root); the export itself is
    ``fpam_tf.export``'s, which reads the run directory and writes the version with local file APIs.

    Raises:
      ConfigError: a blessed model whose run directory or export base is not local.
    """
    from fpam_tf.export import export

    evaluation = filesystem.read_json(filesystem.join(evaluation_dir, "evaluation.json"))
    metrics = filesystem.read_json(filesystem.join(model_dir, "metrics.json"))
    if not blessed:
        record = {"pushed": False, "reason": evaluation["reason"], "model_dir": model_dir}
        filesystem.write_json(filesystem.join(output, "not_pushed.json"), record)
        return record
    version_dir = export(
        filesystem.local_path(model_dir),
        k=k,
        export_base=filesystem.local_path(export_base),
        name=name,
    )
    version_dir = filesystem.location(version_dir)
    check_vocabulary(version_dir, graph_dir)
    record = {
        "pushed": True,
        "version_dir": version_dir,
        "model_dir": model_dir,
        "metrics": metrics,
        "reason": evaluation["reason"],
    }
    filesystem.write_json(filesystem.join(output, PUSHED), record)
    return {"pushed": True, "version_dir": record["version_dir"]}


def current_push(root, exclude_model: str | None = None) -> dict | None:
    """The newest push recorded in the pipeline root whose version folder still exists.

    Pushes of ``exclude_model`` itself are ignored: a model is never compared with its own push
    (so an unchanged rerun does not un-bless what it pushed).
    """
    for record in reversed(root.records(COMPONENT)):
        artifacts = root.artifacts_of(record)
        if artifacts is None:
            continue
        path = filesystem.join(artifacts["pushed_model"].path, PUSHED)
        if not filesystem.exists(path):
            continue
        pushed = filesystem.read_json(path)
        if exclude_model is not None and pushed["model_dir"] == exclude_model:
            continue
        if filesystem.isdir(pushed["version_dir"]):
            return pushed
    return None
