"""Writes our Spotify-sample Vanilla windows as RecBole benchmark files (run with the main venv).

    .venv/bin/python -m benchmarks.peer.export_windows [--out runs/peer/spotify_vanilla]

RecBole's ``benchmark_filename: [train, valid, test]`` reads ``<name>.train.inter``,
``<name>.valid.inter`` and ``<name>.test.inter`` from the dataset folder ``<name>`` and takes
their rows as given: no filtering, no re-split, no augmentation. Each row is one window:

    session_id:token    item_id_list:token_seq    item_id:token

``item_id_list`` is the prefix (oldest first, at most 50 items, space-separated) and ``item_id``
the target; item tokens are our item indices (1..V-1), session tokens the window's session in
its split (``t<k>`` / ``v<k>`` / ``e<k>``). ``<name>.item`` lists every item index, so that
RecBole's item table (and its full softmax) has exactly our vocabulary's size even if an item
occurs in no window. ``export.json`` records the counts the RecBole script checks against.

Train: ``training_windows(context="all", fp_targets=True)`` (the paper's Vanilla, 343,959
windows on the sample); valid / test: ``evaluation_windows(split, context="all")``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import fpam_tf  # noqa: F401  (sets the environment before TensorFlow)
from fpam_tf import datasets
from fpam_tf.atomic import write_json_atomic, write_text_atomic
from fpam_tf.protocol import ProtocolData
from fpam_tf.windows import MAX_PREFIX, Windows

ROOT = Path(__file__).resolve().parents[2]
SPOTIFY_SAMPLE = ROOT.parent / "shared" / "datasets" / "spotify_mssd_sample"
DEFAULT_OUT = ROOT / "runs" / "peer" / "spotify_vanilla"
HEADER = "session_id:token\titem_id_list:token_seq\titem_id:token\n"
SPLITS = {"train": "t", "valid": "v", "test": "e"}  # RecBole file suffix -> session token prefix


def inter_text(windows: Windows, session_prefix: str) -> str:
    """The ``.inter`` file of ``windows``: the header, then one tab-separated row per window."""
    tokens = windows.track_items.astype(str).tolist()
    begins, ends = windows.prefix_begin.tolist(), windows.prefix_end.tolist()
    targets = windows.targets.astype(str).tolist()
    sessions = windows.session_index.tolist()
    rows = [
        f"{session_prefix}{s}\t{' '.join(tokens[b:e])}\t{t}\n"
        for s, b, e, t in zip(sessions, begins, ends, targets)
    ]
    return HEADER + "".join(rows)


def check(windows: Windows, vocab_size: int, split: str) -> None:
    lengths = windows.prefix_lengths
    if len(windows) == 0 or lengths.min() < 1 or lengths.max() > MAX_PREFIX:
        raise SystemExit(f"{split}: prefix lengths outside 1..{MAX_PREFIX}")
    items = np.concatenate([windows.track_items, windows.targets])
    if items.min() < 1 or items.max() >= vocab_size:
        raise SystemExit(f"{split}: item indices outside 1..{vocab_size - 1}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spotify-dir", default=str(SPOTIFY_SAMPLE), help="the raw sample")
    parser.add_argument(
        "--out",
        default=str(DEFAULT_OUT),
        help="dataset folder; its name is RecBole's dataset name (default %(default)s)",
    )
    args = parser.parse_args(argv)
    out = Path(args.out).resolve()
    name = out.name

    started = time.perf_counter()
    prepared = datasets.load("spotify", args.spotify_dir)
    data = ProtocolData.from_sessions(prepared.splits)
    vocab_size = len(data.items)  # including padding index 0
    windows = {
        "train": data.training_windows(context="all", fp_targets=True),
        "valid": data.evaluation_windows("validation", context="all"),
        "test": data.evaluation_windows("test", context="all"),
    }
    counts = {}
    for split, prefix in SPLITS.items():
        check(windows[split], vocab_size, split)
        write_text_atomic(out / f"{name}.{split}.inter", inter_text(windows[split], prefix))
        counts[split] = len(windows[split])
    items = "".join(f"{i}\n" for i in range(1, vocab_size))
    write_text_atomic(out / f"{name}.item", "item_id:token\n" + items)
    manifest = {
        "dataset": name,
        "source": "spotify",
        "family": "vanilla (context=all, fp_targets=True)",
        "windows": counts,
        "items": vocab_size - 1,
        "max_prefix": MAX_PREFIX,
    }
    write_json_atomic(out / "export.json", manifest)
    seconds = time.perf_counter() - started
    print(json.dumps({**manifest, "out": str(out), "seconds": round(seconds, 1)}))


if __name__ == "__main__":
    main()
