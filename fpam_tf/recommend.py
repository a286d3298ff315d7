"""``python -m fpam_tf.recommend``: the next items of a session, or of every session of a JSON
Lines file, from an exported model (newest version).

Examples::

    python -m fpam_tf.recommend --model saved_models/spotify-narm-fpam \\
        --items t_1,t_2,t_3 --skipped t_3 --k 10
    python -m fpam_tf.recommend --model saved_models/spotify-narm-fpam --sessions sessions.jsonl

A sessions file holds one JSON object per line, ``{"items": [...], "skipped": [...]}``
(``skipped`` optional); the answers go to stdout as one JSON line per session, ``{"items": [...],
"scores": [...]}``, in order, written batch by batch as they are scored (``-`` reads stdin).

Loads the SavedModel with plain TensorFlow (no model code), as TF Serving would.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import fpam_tf  # noqa: F401  (quiet TensorFlow start-up)
from fpam_tf.cli import user_errors
from fpam_tf.errors import ConfigError, DataError


def version_dir(model: Path) -> Path:
    """``model`` itself when it is a SavedModel folder, else the newest version inside it."""
    from fpam_tf.serving.versions import latest_version

    if (model / "saved_model.pb").is_file():
        return model
    if not model.is_dir():
        raise ConfigError(f"--model {model} does not exist; pass <export-base>/<name> of an export")
    return latest_version(model)


def load_signature(model: Path, k: int):
    """The export's ``serving_default`` signature, after checking ``k`` against the export's.

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
    return serve


def recommend_batch(
    serve, sessions: list[list[str]], skipped: list[list[str]], k: int
) -> list[list[tuple[str, float]]]:
    """The ``k`` best next items of each session (its skipped ones excluded), as ``(id, score)``
    pairs."""
    import tensorflow as tf

    def padded(rows):
        width = max([len(row) for row in rows] + [1])
        return tf.constant([row + [""] * (width - len(row)) for row in rows])

    result = serve(item_ids=padded(sessions), skipped_ids=padded(skipped))
    ids, scores = result["item_ids"].numpy()[:, :k], result["scores"].numpy()[:, :k]
    return [
        [(i.decode(), float(s)) for i, s in zip(row_ids, row_scores) if i]
        for row_ids, row_scores in zip(ids, scores)
    ]


def recommend(model: Path, items: list[str], skipped: list[str], k: int) -> list[tuple[str, float]]:
    """The ``k`` best next items of the session ``items`` (skipped ones excluded), as
    ``(id, score)`` pairs.

    Raises:
      ConfigError: no exported model at ``model``, or ``k`` above the export's ``k``.
    """
    return recommend_batch(load_signature(model, k), [items], [skipped], k)[0]


SESSIONS_FIX = (
    'write one JSON object per line: {"items": ["id1", "id2"], "skipped": ["id2"]} '
    "(skipped is optional)"
)


def read_sessions_file(stream, name: str):
    """Yields ``(items, skipped)`` of each non-blank line of a JSON Lines stream.

    Raises:
      DataError: a line that is not such an object, with its line number.
    """
    for line_number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            session = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(
                f"not JSON ({error.msg}): {line.strip()[:80]!r}",
                path=name,
                line=line_number,
                fix=SESSIONS_FIX,
            ) from None
        items = session.get("items") if isinstance(session, dict) else None
        skipped = session.get("skipped", []) if isinstance(session, dict) else None
        if not _string_list(items) or not _string_list(skipped):
            raise DataError(
                f'expected an object with an "items" list of strings, found {line.strip()[:80]!r}',
                path=name,
                line=line_number,
                fix=SESSIONS_FIX,
            )
        yield items, skipped


def _string_list(value) -> bool:
    return isinstance(value, list) and all(isinstance(i, str) for i in value)


def recommend_file(model: Path, stream, name: str, k: int, out, batch_size: int = 256) -> int:
    """Scores every session of a JSON Lines ``stream`` and writes one JSON line per session to
    ``out``, batch by batch (flushed), so a long file streams. Returns the number of sessions; a
    bad line raises :class:`DataError` after the sessions before it are written."""
    serve = load_signature(model, k)
    count, batch = 0, []

    def flush():
        nonlocal count
        answers = recommend_batch(serve, [b[0] for b in batch], [b[1] for b in batch], k)
        for answer in answers:
            out.write(
                json.dumps({"items": [i for i, _ in answer], "scores": [s for _, s in answer]})
            )
            out.write("\n")
        out.flush()
        count += len(batch)
        batch.clear()

    try:
        for session in read_sessions_file(stream, name):
            batch.append(session)
            if len(batch) == batch_size:
                flush()
    finally:
        # The sessions read before a bad line are answered before its error.
        if batch:
            flush()
    return count


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
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--items", help="the session so far, comma-separated item ids, oldest first")
    which.add_argument(
        "--sessions",
        metavar="FILE.jsonl",
        help='score every session of a JSON Lines file ({"items": [...], "skipped": [...]} per '
        "line; - for stdin); one JSON line of ids and scores per session goes to stdout",
    )
    p.add_argument(
        "--skipped",
        default="",
        help="comma-separated ids the user just skipped (never recommended)",
    )
    p.add_argument("--k", type=int, default=10, help="number of results (default: 10)")
    return p


@user_errors
def main(argv=None):
    args = parser().parse_args(argv)
    model = Path(args.model)
    if args.sessions is not None:
        if args.sessions == "-":
            return recommend_file(model, sys.stdin, "<stdin>", args.k, sys.stdout)
        path = Path(args.sessions)
        if not path.is_file():
            raise DataError("sessions file not found", path=path, fix=SESSIONS_FIX)
        with open(path, encoding="utf-8") as stream:
            return recommend_file(model, stream, str(path), args.k, sys.stdout)
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
