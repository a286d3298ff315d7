"""The report's findings, generated from the numbers: whether the paper's ordering holds, which
FP-aware cells beat the best of Vanilla and FP-Simple, and where FP-Simple's gap to Vanilla comes
from."""

from __future__ import annotations

from benchmarks.reproduce.grid import (
    BACKBONE_LABELS,
    FP_TERM_CONTROL_WEIGHT,
    GRID_GROUPS,
    METHOD_LABELS,
    method_cell,
)
from benchmarks.reproduce.statistics import (
    PairedGap,
    compared,
    mean_steps,
    no_seed_in_common,
    paired_gap,
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
            and r["group"] in GRID_GROUPS
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


def gap_sources(results: dict) -> list[str]:
    """Sentences, one per backbone, taking apart the test MRR@20 gap between FP-Simple and Vanilla.

    FP-Simple differs from Vanilla in two ways: skipped plays leave the input (context) and leave
    the targets. The context-all FP-Simple cell puts them back as input only, so it splits the gap
    into what context recovers and what the targets hold; the context-all FP-Metric and FP-AdaMetric
    cells say what the FP term adds on that context. For NARM the no-FP-term control (context all,
    FP targets at weight w) and the FP-AdaMetric cell of the same w say what the FP term adds on
    top. The optimizer-step ratio says how much less training a positives-only cell got at the same
    epoch cap.
    """
    sentences = []
    for backbone in trained_backbones(results):
        label = BACKBONE_LABELS.get(backbone, backbone)
        vanilla, simple, simple_all = (
            results.get(f"{backbone}-{m}") for m in ("vanilla", "fp-simple", "fp-simple-all")
        )
        if not (vanilla and simple):
            continue
        simple_over_vanilla = paired_gap(simple, vanilla, "mrr@20")
        if simple_over_vanilla is None:
            sentences.append(f"{label}: {no_seed_in_common(simple, vanilla)}.")
            continue
        simple_gap = simple_over_vanilla.gap
        text = f"{label}: FP-Simple - Vanilla is {simple_gap:+.2f} MRR@20"
        steps_v, steps_s = mean_steps(vanilla), mean_steps(simple)
        if steps_v and steps_s:
            text += f" (FP-Simple trained {steps_s / steps_v:.0%} of Vanilla's optimizer steps)"
        if simple_all:

            def context(gap: PairedGap) -> str:
                clause = (
                    f"skipped plays back as input context (FP-Simple, context all, "
                    f"{cell_value(simple_all, 'mrr@20')}) move FP-Simple {gap.gap:+.2f}"
                )
                if simple_gap < 0 < gap.gap:
                    clause += (
                        f", closing {gap.gap / -simple_gap:.0%} of the gap; the rest goes "
                        "with the FP targets (and their steps) FP-Simple drops"
                    )
                return clause

            text += "; " + compared(simple_all, simple, "mrr@20", context)
            with_fp_term = {
                method: cell
                for method in ("fp-metric", "fp-adametric")
                if (cell := results.get(method_cell(backbone, method, context="all").name))
            }
            if with_fp_term:
                text += "; on that context the FP term on top adds " + ", ".join(
                    compared(
                        cell,
                        simple_all,
                        "mrr@20",
                        lambda gap, method=method, cell=cell: (
                            f"{gap.gap:+.2f} as {METHOD_LABELS[method]} "
                            f"({cell_value(cell, 'mrr@20')}, ahead in {gap.ahead_in})"
                        ),
                    )
                    for method, cell in with_fp_term.items()
                )
        control = results.get(
            method_cell(backbone, "fp-simple", context="all", weight=FP_TERM_CONTROL_WEIGHT).name
        )
        with_term = results.get(
            method_cell(backbone, "fp-adametric", context="all", weight=FP_TERM_CONTROL_WEIGHT).name
        )
        if control:
            text += ". " + compared(
                control,
                vanilla,
                "mrr@20",
                lambda gap: (
                    f"With the FP targets back at w = {FP_TERM_CONTROL_WEIGHT:g} and no FP term "
                    f"({cell_value(control, 'mrr@20')}) it is {gap.gap:+.2f} against Vanilla, "
                    f"ahead in {gap.ahead_in}"
                ),
            )
            if with_term:
                text += "; " + compared(
                    with_term,
                    control,
                    "mrr@20",
                    lambda gap: (
                        f"the FP-AdaMetric term on top ({cell_value(with_term, 'mrr@20')}) adds "
                        f"{gap.gap:+.2f}, ahead in {gap.ahead_in}"
                    ),
                )
        sentences.append(text + ".")
    return sentences
