"""StatisticsGen: per-split figures of the examples (JSON) and a plot of them (PNG).

Per split: sessions, events, FP ratio, session-length histogram, and the item frequency head
(most played items) and tail (how many items occur once, twice, ... up to 4 times: those below
PROTOCOL §3's vocabulary threshold in train).
"""

from __future__ import annotations

import collections
import json
from pathlib import Path

import numpy as np

from fpam_tf.events import SPLITS
from pipelines import records

COMPONENT = "StatisticsGen"
HEAD = 20
LENGTH_BINS = (1, 2, 3, 5, 10, 20, 50, 100, 200, 500)


def bin_labels() -> list[str]:
    """Labels of the session-length bins: ``[lo,hi)`` and a last open bin."""
    return [f"[{lo},{hi})" for lo, hi in zip(LENGTH_BINS[:-1], LENGTH_BINS[1:])] + [
        f">={LENGTH_BINS[-1]}"
    ]


def split_statistics(sessions) -> dict:
    """The figures of one split's sessions."""
    lengths = np.array([len(s.items) for s in sessions], dtype=np.int64)
    flags = sum(int(sum(s.is_fp)) for s in sessions)
    events = int(lengths.sum())
    counts = collections.Counter(item for s in sessions for item in s.items)
    edges = [*LENGTH_BINS, max(int(lengths.max(initial=0)) + 1, LENGTH_BINS[-1] + 1)]
    histogram, _ = np.histogram(lengths, bins=edges)
    tail = collections.Counter(count for count in counts.values() if count < 5)
    return {
        "sessions": len(sessions),
        "events": events,
        "fp_ratio": round(flags / max(events, 1), 4),
        "distinct_items": len(counts),
        "session_length": {
            "mean": round(float(lengths.mean()) if len(lengths) else 0.0, 2),
            "max": int(lengths.max(initial=0)),
            "histogram": {label: int(n) for label, n in zip(bin_labels(), histogram)},
        },
        "item_frequency_head": [
            [item, count]
            for item, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:HEAD]
        ],
        "item_frequency_tail": {f"items_seen_{k}_times": tail[k] for k in sorted(tail)},
    }


def plot(statistics: dict, path: Path) -> None:
    """Session-length histograms and FP ratios of the splits, side by side."""
    import matplotlib

    matplotlib.use("Agg")  # No display: write a file only.
    import matplotlib.pyplot as plt

    figure, (lengths, ratios) = plt.subplots(1, 2, figsize=(11, 4))
    for split in SPLITS:
        histogram = statistics[split]["session_length"]["histogram"]
        total = max(sum(histogram.values()), 1)
        lengths.plot(
            list(histogram), [n / total for n in histogram.values()], marker="o", label=split
        )
    lengths.set(title="session length", xlabel="events", ylabel="share of sessions")
    lengths.tick_params(axis="x", rotation=45)
    lengths.legend()
    ratios.bar(list(SPLITS), [statistics[split]["fp_ratio"] for split in SPLITS])
    ratios.set(title="false-positive ratio", ylabel="FP events / events")
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)


def run(examples: Path, output: Path) -> dict:
    """Writes ``statistics.json`` and ``statistics.png`` of an examples artifact into ``output``."""
    statistics = {
        split: split_statistics(records.read_sessions(examples, split)) for split in SPLITS
    }
    (output / "statistics.json").write_text(json.dumps(statistics, indent=2) + "\n")
    plot(statistics, output / "statistics.png")
    return {
        split: {k: statistics[split][k] for k in ("sessions", "events", "fp_ratio")}
        for split in SPLITS
    }
