"""The report's findings, generated from the numbers: whether the paper's ordering holds, which
FP-aware cells beat the best of Vanilla and FP-Simple, what each method does against Vanilla on
liked items and on skipped ones, and how FP-Simple's training differs from Vanilla's."""

from __future__ import annotations

import numpy as np

from benchmarks.reproduce.grid import BACKBONE_LABELS
from benchmarks.reproduce.statistics import (
    mean_steps,
    no_seed_in_common,
    paired_differences,
    paired_gap,
    standard_error,
    trained_backbones,
)
from benchmarks.reproduce.tables import cell_value
from fpam_tf.methods import METHODS


def ordering(label: str, ada: dict, simple: dict, vanilla: dict, key: str) -> str:
    """Whether FP-AdaMetric > FP-Simple > Vanilla holds on ``key``, paired over common seeds."""
    over_simple, over_vanilla = paired_gap(ada, simple, key), paired_gap(simple, vanilla, key)
    if over_simple is None or over_vanilla is None:
        a, b = (ada, simple) if over_simple is None else (simple, vanilla)
        return (
            f"{label}, {key.upper()}: FP-AdaMetric > FP-Simple > Vanilla is not judged: "
            f"{no_seed_in_common(a, b)}."
        )
    holds = over_simple.gap > 0 and over_vanilla.gap > 0
    return (
        f"{label}, {key.upper()}: FP-AdaMetric > FP-Simple > Vanilla "
        f"{'holds' if holds else 'does not hold'} (FP-AdaMetric {cell_value(ada, key)}, "
        f"FP-Simple {cell_value(simple, key)}, Vanilla {cell_value(vanilla, key)}; "
        f"FP-AdaMetric - FP-Simple {over_simple.gap:+.2f}, ahead in {over_simple.ahead_in}; "
        f"FP-Simple - Vanilla {over_vanilla.gap:+.2f}, ahead in {over_vanilla.ahead_in})."
    )


def agreement(results: dict) -> list[str]:
    """Sentences, one per backbone, generated from the numbers: the paper's ordering and the best
    FP-aware cell."""
    sentences = []
    for backbone in trained_backbones(results):
        names = {m: f"{backbone}-{m}" for m in METHODS}
        label = BACKBONE_LABELS.get(backbone, backbone)
        if all(names[m] in results for m in ("vanilla", "fp-simple", "fp-adametric")):
            ada, simple, vanilla = (
                results[names[m]] for m in ("fp-adametric", "fp-simple", "vanilla")
            )
            sentences += [ordering(label, ada, simple, vanilla, key) for key in ("mrr@20", "hr@20")]
        references = [results[names[m]] for m in ("vanilla", "fp-simple") if names[m] in results]
        aware = {
            n: r
            for n, r in results.items()
            if r["backbone"] == backbone
            and n not in (names["vanilla"], names["fp-simple"])
            and r["group"] == "main"
        }
        if not references or not aware:
            continue
        reference = max(references, key=lambda r: r["mean"]["mrr@20"])
        gaps = {
            name: gap for name, r in aware.items() if (gap := paired_gap(r, reference, "mrr@20"))
        }
        unpaired = "; ".join(
            no_seed_in_common(r, reference) for name, r in aware.items() if name not in gaps
        )
        if not gaps:
            sentences.append(
                f"{label}: no FP-aware configuration is compared with the best of "
                f"Vanilla and FP-Simple: {unpaired}."
            )
            continue
        winners = sorted(
            (name for name in gaps if gaps[name].gap > 0), key=lambda name: -gaps[name].gap
        )
        best_of = (
            f"the best of Vanilla and FP-Simple ({reference['label']}, MRR@20 "
            f"{cell_value(reference, 'mrr@20')})"
        )
        if winners:
            sentence = (
                f"{label}: {len(winners)} FP-aware configuration(s) beat {best_of} on test "
                "MRR@20, best first: "
                + "; ".join(
                    f"{aware[name]['label']} ({cell_value(aware[name], 'mrr@20')}, "
                    f"{gaps[name].gap:+.2f}, ahead in {gaps[name].ahead_in})"
                    for name in winners
                )
                + "."
            )
        else:
            best_name = max(gaps, key=lambda name: gaps[name].gap)
            best, best_gap = aware[best_name], gaps[best_name]
            sentence = (
                f"{label}: no FP-aware configuration beats {best_of}; the closest is "
                f"{best['label']} ({cell_value(best, 'mrr@20')}, {best_gap.gap:+.2f}, "
                f"ahead in {best_gap.ahead_in})."
            )
        sentences.append(sentence + (f" Not compared: {unpaired}." if unpaired else ""))
    return sentences


def paired_verdict(a: dict, b: dict, key: str, lower_is_better: bool = False) -> str:
    """``a`` against ``b`` on ``key``, paired over their common seeds: the mean difference, its
    standard error, and "better" / "worse" only when the mean is beyond 2 standard errors; a tie
    (within seed noise) otherwise; "one seed, not judged" below two common seeds."""
    common = sorted(set(a["seeds"]) & set(b["seeds"]))
    if not common:
        return no_seed_in_common(a, b)
    if any(key not in cell["seeds"][s] for s in common for cell in (a, b)):
        return "not measured (a run written before PROTOCOL §5b)"
    gaps = paired_differences(
        {s: a["seeds"][s][key] for s in common}, {s: b["seeds"][s][key] for s in common}
    )
    error = standard_error(gaps)
    if error is None:
        return f"{gaps.mean():+.2f} (one seed, not judged)"
    text = f"{gaps.mean():+.2f} ± {error:.2f} (SE, {len(gaps)} seeds)"
    if abs(gaps.mean()) <= 2 * error:
        return text + ", a tie within seed noise"
    better = (gaps.mean() < 0) if lower_is_better else (gaps.mean() > 0)
    return text + (", better" if better else ", worse")


def against_vanilla(results: dict) -> list[str]:
    """Sentences, one per method and backbone: test MRR@20, HR@20 and SkipHR@20 against Vanilla
    (paired), and whether it beats Vanilla on liked items and on skipped ones at once."""
    sentences = []
    for backbone in trained_backbones(results):
        vanilla = results.get(f"{backbone}-vanilla")
        if vanilla is None:
            continue
        label = BACKBONE_LABELS.get(backbone, backbone)
        for name, r in results.items():
            if r["backbone"] != backbone or r["group"] != "main" or r is vanilla:
                continue
            verdicts = {
                "MRR@20": paired_verdict(r, vanilla, "mrr@20"),
                "HR@20": paired_verdict(r, vanilla, "hr@20"),
                "SkipHR@20": paired_verdict(r, vanilla, "skiphr@20", lower_is_better=True),
            }
            both = verdicts["MRR@20"].endswith("better") and verdicts["SkipHR@20"].endswith(
                "better"
            )
            sentences.append(
                f"{label}, {r['label']} - Vanilla: "
                + "; ".join(f"{key} {text}" for key, text in verdicts.items())
                + (". Beats Vanilla on both." if both else ".")
            )
    return sentences


def gap_sources(results: dict) -> list[str]:
    """Sentences, one per backbone, on FP-Simple against Vanilla: the test MRR@20 gap and how much
    training each got (optimizer steps and epochs to converge; FP-Simple drops the windows whose
    target or context is an FP, so an epoch of it is shorter)."""
    sentences = []
    for backbone in trained_backbones(results):
        label = BACKBONE_LABELS.get(backbone, backbone)
        vanilla, simple = (results.get(f"{backbone}-{m}") for m in ("vanilla", "fp-simple"))
        if not (vanilla and simple):
            continue
        gap = paired_gap(simple, vanilla, "mrr@20")
        if gap is None:
            sentences.append(f"{label}: {no_seed_in_common(simple, vanilla)}.")
            continue
        text = f"{label}: FP-Simple - Vanilla is {gap.gap:+.2f} MRR@20 (ahead in {gap.ahead_in})"
        steps_v, steps_s = mean_steps(vanilla), mean_steps(simple)
        if steps_v and steps_s:
            epochs = {
                name: np.mean([t["best_epoch"] for t in r["training"].values()])
                for name, r in (("vanilla", vanilla), ("simple", simple))
            }
            text += (
                f"; converged, FP-Simple trained {steps_s / steps_v:.0%} of Vanilla's optimizer "
                f"steps (best epoch {epochs['simple']:.1f} against {epochs['vanilla']:.1f})"
            )
        sentences.append(text + ".")
    return sentences
