"""``python -m fpam_tf.recommend``: the next items of one session from an exported model
(newest version).

Example::

    python -m fpam_tf.recommend --model saved_models/spotify-narm-fpam \\
        --items t_1,t_2,t_3 --skipped t_3 --k 10

Loads the SavedModel with plain TensorFlow (no model code), as TF Serving would.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import fpam_tf  # noqa: F401  (quiet TensorFlow start-up)
from fpam_tf.cli import user_errors
from fpam_tf.errors import ConfigError


def version_dir(model: Path) -> Path:
    """``model`` itself when it is a SavedModel folder, else the newest version inside it."""
    from fpam_tf.serving.versions import latest_version

    if (model / "saved_model.pb").is_file():
        return model
    if not model.is_dir():
        raise ConfigError(f"--model {model} does not exist; pass <export-base>/<name> of an export")
    return latest_version(model)


def recommend(model: Path, items: list[str], skipped: list[str], k: int) -> list[tuple[str, float]]:
    """The ``k`` best next items of the session ``items`` (skipped ones excluded), as
    ``(id, score)`` pairs.

    Raises:
      ConfigError: no exported model at ``model``, or ``k`` above the export's ``k``.
    """
    import tensorflow as tf

    serve = tf.saved_model.load(str(version_dir(model))).signatures["serving_default"]
    exported_k = serve.structured_outputs["item_ids"].shape[1]
    if not 1 <= k <= exported_k:
        raise ConfigError(
            f"--k {k} is outside 1..{exported_k} (the model was exported with --k {exported_k}; "
            "re-export with a larger --k for more)"
        )
    result = serve(
        item_ids=tf.constant([items or [""]]), skipped_ids=tf.constant([skipped or [""]])
    )
    ids = [i.decode() for i in result["item_ids"].numpy()[0, :k]]
    return [(i, float(s)) for i, s in zip(ids, result["scores"].numpy()[0, :k]) if i]


def unknown_ids(model: Path, ids: list[str]) -> list[str]:
    """The ``ids`` missing from the export's vocabulary asset (the model ignores them)."""
    vocabulary = set(
        (version_dir(model) / "assets" / "vocabulary.txt").read_text(encoding="utf-8").splitlines()
    )
    return [i for i in ids if i not in vocabulary]


def split_ids(text: str) -> list[str]:
    return [i.strip() for i in text.split(",") if i.strip()]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m fpam_tf.recommend",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--model", required=True, help="<export-base>/<name> (newest version) or a version folder"
    )
    p.add_argument(
        "--items", required=True, help="the session so far, comma-separated item ids, oldest first"
    )
    p.add_argument(
        "--skipped",
        default="",
        help="comma-separated ids the user just skipped (never recommended)",
    )
    p.add_argument("--k", type=int, default=10, help="number of results (default: 10)")
    return p


@user_errors
def main(argv=None) -> list[tuple[str, float]]:
    args = parser().parse_args(argv)
    model = Path(args.model)
    items, skipped = split_ids(args.items), split_ids(args.skipped)
    results = recommend(model, items, skipped, args.k)
    unknown = unknown_ids(model, items + skipped)
    if unknown:
        print(
            f"note: ignored ids outside the model's vocabulary: {', '.join(unknown)}",
            file=sys.stderr,
        )
    if not [i for i in items if i not in unknown]:
        print(
            "note: no known item in the session; these are the most popular training items",
            file=sys.stderr,
        )
    for rank, (item, score) in enumerate(results, 1):
        print(f"{rank:>3}  {item}  {score:.4f}")
    return results


if __name__ == "__main__":
    main()
