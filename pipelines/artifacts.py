"""The pipeline root: versioned artifact folders, execution records, input-fingerprint caching.

Layout (as TFX lays it out)::

    <root>/<Component>/<artifact>/<execution id>/...     one folder per artifact and execution
    <root>/<Component>/.executions/<execution id>.json   the record of a finished execution
    <root>/<Component>/.staging/<execution id>/          outputs being written (removed on failure)

An execution is identified by its fingerprint: the fingerprints of its input artifacts, its
configuration and the code version. A component whose fingerprint matches a finished execution
(whose artifact folders still exist) is skipped and that execution's artifacts are reused.

Outputs are written into the staging folder and renamed into place only when the component
succeeded; the execution record is written last. A component that fails or is killed therefore
leaves no artifact that a later run would use: only records make artifacts visible.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from fpam_tf.atomic import write_json_atomic
from fpam_tf.errors import FpamError
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
      path: its folder.
      fingerprint: identifies its content (derived from the execution's fingerprint).
    """

    component: str
    name: str
    execution_id: int
    path: Path
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
    """A pipeline root folder and the execution of components into it."""

    def __init__(self, path):
        self.path = Path(path).expanduser().resolve()

    def component_dir(self, component: str) -> Path:
        return self.path / component

    def records(self, component: str) -> list[dict]:
        """The finished executions of ``component``, oldest first."""
        folder = self.component_dir(component) / RECORDS
        if not folder.is_dir():
            return []
        records = [json.loads(p.read_text()) for p in folder.glob("*.json")]
        return sorted(records, key=lambda record: record["execution_id"])

    def artifacts_of(self, record: dict) -> dict[str, Artifact] | None:
        """The artifacts of an execution record; ``None`` when one of its folders was deleted."""
        artifacts = {}
        for name, entry in record["artifacts"].items():
            path = self.path / entry["path"]
            if not path.exists():
                return None
            artifacts[name] = Artifact(
                record["component"], name, record["execution_id"], path, entry["fingerprint"]
            )
        return artifacts

    def _next_execution_id(self, component: str) -> int:
        """One above every execution id used so far (records, artifact folders, staging folders)."""
        folder = self.component_dir(component)
        used = [0]
        if folder.is_dir():
            for child in folder.iterdir():
                if child.is_dir():
                    used += [int(p.name) for p in child.iterdir() if p.name.isdigit()]
            if (folder / RECORDS).is_dir():
                used += [int(p.stem) for p in (folder / RECORDS).glob("*.json") if p.stem.isdigit()]
        return max(used) + 1

    def run_component(
        self,
        component: str,
        *,
        inputs: dict,
        config: dict,
        outputs: list[str],
        execute: Callable[[dict[str, Path]], dict | None],
    ) -> Execution:
        """Runs ``execute`` unless an execution with the same input fingerprint has finished.

        Args:
          component: the component's name (folder under the root).
          inputs: input name -> :class:`Artifact` (or a plain JSON value standing for an external
            input, e.g. the raw files' paths, sizes and modification times).
          config: the component's settings (JSON-serialisable).
          outputs: names of the artifacts ``execute`` writes.
          execute: called with output name -> an empty staging folder; may return a JSON summary
            that is stored in the execution record.

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
        staging = self.component_dir(component) / STAGING / str(execution_id)
        folders = {name: staging / name for name in outputs}
        for folder in folders.values():
            folder.mkdir(parents=True)
        logger.info("%s: running execution %d", component, execution_id)
        started = time.time()
        try:
            summary = execute(folders)
        except BaseException as error:
            shutil.rmtree(staging, ignore_errors=True)
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
        for name, folder in folders.items():
            target = self.component_dir(component) / name / str(execution_id)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(folder, target)
            artifacts[name] = Artifact(
                component, name, execution_id, target, digest([fingerprint, name])
            )
        shutil.rmtree(staging, ignore_errors=True)
        record = {
            "component": component,
            "execution_id": execution_id,
            "fingerprint": fingerprint,
            "inputs": {
                k: (str(v.path.relative_to(self.path)) if isinstance(v, Artifact) else v)
                for k, v in inputs.items()
            },
            "config": config,
            "code": code_version(),
            "seconds": round(time.time() - started, 2),
            "summary": summary or {},
            "artifacts": {
                name: {"path": str(a.path.relative_to(self.path)), "fingerprint": a.fingerprint}
                for name, a in artifacts.items()
            },
        }
        write_json_atomic(self.component_dir(component) / RECORDS / f"{execution_id}.json", record)
        return Execution(component, execution_id, artifacts, skipped=False)
