"""The pipeline root: versioned artifact folders, execution records, input-fingerprint caching.

Layout (as TFX lays it out)::

    <root>/<Component>/<artifact>/<execution id>/...     one folder per artifact and execution
    <root>/<Component>/.executions/<execution id>.json   the record of a finished execution
    <root>/<Component>/.staging/<execution id>/          outputs being written (local roots)

An execution is identified by its fingerprint: the fingerprints of its input artifacts, its
configuration and the code version. A component whose fingerprint matches a finished execution
(whose artifact folders still exist) is skipped and that execution's artifacts are reused.

The root is a local folder or a URI (``gs://``, ``ram://``, ...): every file goes through
:mod:`pipelines.filesystem`. The execution record is the completion marker, written last: a
component that fails or is killed leaves no artifact that a later run would use, because only
records make artifacts visible. On a local disk, outputs are written into the staging folder and
renamed into place when the component succeeded, so no half-written artifact folder ever exists;
on an object store a folder rename is a copy of every object, so outputs are written in place and
an unrecorded folder is an incomplete one (a failing component removes it, a killed one leaves it
behind, unread).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

from fpam_tf.errors import FpamError
from pipelines import filesystem
from pipelines.errors import PipelineError

logger = logging.getLogger("pipelines")
RECORDS = ".executions"
STAGING = ".staging"


@dataclasses.dataclass(frozen=True)
class Artifact:
    """One output of one execution.

    Attributes:
      component: the component that wrote it.
      name: the artifact's name within the component (``examples``, ``model``, ...).
      execution_id: the execution that wrote it.
      path: its folder (a local path or a URI).
      fingerprint: identifies its content (derived from the execution's fingerprint).
    """

    component: str
    name: str
    execution_id: int
    path: str
    fingerprint: str


@dataclasses.dataclass(frozen=True)
class Execution:
    """What :meth:`PipelineRoot.run_component` returns: the artifacts and whether the run was
    skipped."""

    component: str
    execution_id: int
    artifacts: dict
    skipped: bool

    def __getitem__(self, name: str) -> Artifact:
        return self.artifacts[name]


def digest(value) -> str:
    """sha256 of the canonical JSON of ``value``."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """Hash of the sources of ``fpam_tf`` and ``pipelines``: any code change invalidates cached
    executions."""
    roots = [Path(__file__).resolve().parent, Path(__file__).resolve().parents[1] / "fpam_tf"]
    hasher = hashlib.sha256()
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            hasher.update(str(path.relative_to(root.parent)).encode())
            hasher.update(path.read_bytes())
    return hasher.hexdigest()[:16]


class PipelineRoot:
    """A pipeline root (a local folder or a URI) and the execution of components into it."""

    def __init__(self, path):
        """Raises ConfigError: ``path`` is a URI of a scheme TensorFlow does not serve."""
        self.path = filesystem.location(path)

    def component_dir(self, component: str) -> str:
        return filesystem.join(self.path, component)

    def relative(self, path: str) -> str:
        """``path`` (inside the root) relative to the root, as execution records keep it."""
        return path.removeprefix(self.path + "/")

    def records(self, component: str) -> list[dict]:
        """The finished executions of ``component``, oldest first."""
        folder = filesystem.join(self.component_dir(component), RECORDS)
        records = [
            filesystem.read_json(filesystem.join(folder, name))
            for name in filesystem.listdir(folder)
            if name.endswith(".json")
        ]
        return sorted(records, key=lambda record: record["execution_id"])

    def artifacts_of(self, record: dict) -> dict[str, Artifact] | None:
        """The artifacts of an execution record; ``None`` when one of its folders was deleted."""
        artifacts = {}
        for name, entry in record["artifacts"].items():
            path = filesystem.join(self.path, entry["path"])
            if not filesystem.isdir(path):
                return None
            artifacts[name] = Artifact(
                record["component"], name, record["execution_id"], path, entry["fingerprint"]
            )
        return artifacts

    def _next_execution_id(self, component: str) -> int:
        """One above every execution id used so far (records, artifact folders, staging folders)."""
        folder = self.component_dir(component)
        used = [0]
        for child in filesystem.listdir(folder):
            for name in filesystem.listdir(filesystem.join(folder, child)):
                stem = name.removesuffix(".json") if child == RECORDS else name
                if stem.isdigit():
                    used.append(int(stem))
        return max(used) + 1

    def run_component(
        self,
        component: str,
        *,
        inputs: dict,
        config: dict,
        outputs: list[str],
        execute: Callable[[dict[str, str]], dict | None],
    ) -> Execution:
        """Runs ``execute`` unless an execution with the same input fingerprint has finished.

        Args:
          component: the component's name (folder under the root).
          inputs: input name -> :class:`Artifact` (or a plain JSON value standing for an external
            input, e.g. the raw files' paths, sizes and modification times).
          config: the component's settings (JSON-serialisable).
          outputs: names of the artifacts ``execute`` writes.
          execute: called with output name -> an empty folder (a local path or a URI, as the
            root); may return a JSON summary that is stored in the execution record.

        Raises:
          PipelineError: ``execute`` failed (an :class:`FpamError` is reworded to name the
            component).
        """
        input_prints = {
            k: v.fingerprint if isinstance(v, Artifact) else digest(v) for k, v in inputs.items()
        }
        fingerprint = digest(
            {
                "component": component,
                "inputs": input_prints,
                "config": config,
                "code": code_version(),
            }
        )
        for record in reversed(self.records(component)):
            if record["fingerprint"] == fingerprint:
                artifacts = self.artifacts_of(record)
                if artifacts is not None:
                    logger.info(
                        "%s: skipped, inputs unchanged (execution %d)",
                        component,
                        record["execution_id"],
                    )
                    return Execution(component, record["execution_id"], artifacts, skipped=True)

        execution_id = self._next_execution_id(component)
        staging = filesystem.join(self.component_dir(component), STAGING, str(execution_id))
        targets = {
            name: filesystem.join(self.component_dir(component), name, str(execution_id))
            for name in outputs
        }
        # Staged and renamed where that is atomic; written in place elsewhere (module docstring).
        if filesystem.renames_folders_atomically(self.path):
            folders = {name: filesystem.join(staging, name) for name in outputs}
        else:
            folders = targets
        for folder in folders.values():
            filesystem.makedirs(folder)
        logger.info("%s: running execution %d", component, execution_id)
        started = time.time()
        try:
            summary = execute(folders)
        except BaseException as error:
            # The execution id is fresh, so its target folders hold nothing but this execution's.
            for folder in [staging, *targets.values()]:
                filesystem.remove_tree(folder)
            if isinstance(error, PipelineError):
                raise
            if isinstance(error, FpamError):
                raise PipelineError(component, str(error)) from error
            if isinstance(error, Exception):
                raise PipelineError(
                    component, f"failed: {type(error).__name__}: {error}"
                ) from error
            raise
        artifacts = {}
        for name, target in targets.items():
            if folders[name] != target:
                filesystem.rename(folders[name], target)
            artifacts[name] = Artifact(
                component, name, execution_id, target, digest([fingerprint, name])
            )
        filesystem.remove_tree(staging)
        record = {
            "component": component,
            "execution_id": execution_id,
            "fingerprint": fingerprint,
            "inputs": {
                k: (self.relative(v.path) if isinstance(v, Artifact) else v)
                for k, v in inputs.items()
            },
            "config": config,
            "code": code_version(),
            "seconds": round(time.time() - started, 2),
            "summary": summary or {},
            "artifacts": {
                name: {"path": self.relative(a.path), "fingerprint": a.fingerprint}
                for name, a in artifacts.items()
            },
        }
        # Last: the record is what makes the artifacts visible (the completion marker).
        filesystem.write_json(
            filesystem.join(self.component_dir(component), RECORDS, f"{execution_id}.json"), record
        )
        return Execution(component, execution_id, artifacts, skipped=False)
