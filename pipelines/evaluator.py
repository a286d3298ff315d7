"""Evaluator: PROTOCOL §5 metrics of the candidate on the test split, and the blessing decision.

The candidate is **blessed** only if its validation MRR@20 (PROTOCOL's selection metric) beats,
by at least ``margin`` (percentage points), both the Vanilla baseline of the same backbone trained
by the same pipeline and the currently pushed model (when there is one). Outputs: ``evaluation``
(``evaluation.json``) and ``blessing`` (an empty ``BLESSED`` or ``NOT_BLESSED`` file, as TFX
writes). Every file goes through :mod:`pipelines.filesystem`, so any pipeline root serves.
"""

from __future__ import annotations

from pipelines import filesystem
from pipelines.errors import PipelineError

COMPONENT = "Evaluator"
SELECTION = "best_validation_mrr@20"


def read_metrics(model_dir: str, what: str) -> dict:
    """The ``metrics.json`` of a trained run directory."""
    path = filesystem.join(model_dir, "metrics.json")
    if not filesystem.exists(path):
        raise PipelineError(
            COMPONENT,
            f"the {what} has no metrics.json",
            path=path,
            fix="rerun the pipeline: its Trainer writes it when training finishes",
        )
    return filesystem.read_json(path)


def decide(candidate: float, rivals: dict[str, float | None], margin: float) -> tuple[bool, str]:
    """(blessed, reason): whether ``candidate`` beats every rival that exists by at least
    ``margin``."""
    failures, passes = [], []
    for name, score in rivals.items():
        if score is None:
            passes.append(f"no {name}")
        elif candidate >= score + margin:
            passes.append(f"beats {name} ({candidate:.4f} >= {score:.4f} + {margin})")
        else:
            failures.append(
                f"does not beat {name}: validation MRR@20 {candidate:.4f} < "
                f"{score:.4f} + margin {margin}"
            )
    if failures:
        return False, "; ".join(failures)
    return True, "; ".join(passes)


def run(
    model_dir: str,
    baseline_dir: str | None,
    pushed: dict | None,
    output: dict[str, str],
    *,
    margin: float,
) -> dict:
    """Writes ``evaluation.json`` and the blessing file; returns the evaluation.

    Args:
      model_dir: the candidate's run directory.
      baseline_dir: the Vanilla baseline's run directory (``None`` when the candidate is Vanilla
        itself).
      pushed: the record of the currently pushed model (``pushed.json`` of a Pusher execution) or
        ``None``.
      margin: how far (MRR@20 percentage points) the candidate must be ahead.
    """
    candidate = read_metrics(model_dir, "candidate model")
    baseline = read_metrics(baseline_dir, "Vanilla baseline") if baseline_dir is not None else None
    rivals = {
        "Vanilla baseline": baseline[SELECTION] if baseline else None,
        "pushed model": pushed["metrics"][SELECTION] if pushed else None,
    }
    blessed, reason = decide(candidate[SELECTION], rivals, margin)
    evaluation = {
        "blessed": blessed,
        "reason": reason,
        "margin": margin,
        "selection_metric": "validation mrr@20",
        "candidate": {
            "validation_mrr@20": candidate[SELECTION],
            "test": candidate["metrics"],
            "method": candidate["method"],
            "model": candidate["model"],
        },
        "baseline": {"validation_mrr@20": baseline[SELECTION], "test": baseline["metrics"]}
        if baseline
        else None,
        "pushed": {
            "validation_mrr@20": pushed["metrics"][SELECTION],
            "version_dir": pushed["version_dir"],
        }
        if pushed
        else None,
    }
    filesystem.write_json(filesystem.join(output["evaluation"], "evaluation.json"), evaluation)
    # An empty file whose name is the decision, as TFX's blessing artifact.
    filesystem.write_text(
        filesystem.join(output["blessing"], "BLESSED" if blessed else "NOT_BLESSED"), ""
    )
    return {"blessed": blessed, "reason": reason}


def is_blessed(blessing_dir: str) -> bool:
    return filesystem.exists(filesystem.join(blessing_dir, "BLESSED"))
