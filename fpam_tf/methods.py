"""Training methods: the paper's four as presets of one configuration, found by name in ``METHODS``.

A method decides what a training window holds (its prefix context, whether FP targets are kept and
with what weight) and the loss on top of the cross-entropy (the FP metric term, paper eqs. 8-11).
Adding a method is one ``METHODS.register`` line with its :class:`MethodPreset`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from fpam_tf.errors import ConfigError
from fpam_tf.events import NUM_GRADES
from fpam_tf.losses import AGGREGATIONS, WEIGHTINGS
from fpam_tf.registry import Registry
from fpam_tf.windows import CONTEXTS, FP_SCOPES

# λ and m of the FP term. Validation MRR@20 (NARM / FP-AdaMetric, Spotify sample, positives context,
# 6 epochs, seed 0; docs/REPRODUCTION.md): λ = 0.01 / 0.1 / 1 at m = 1: 11.98 / 12.10 / 12.14;
# m = 0.5 / 1 / 2 at λ = 0.1: 12.04 / 12.10 / 12.12. A spread of 0.16 MRR@20 over two decades of λ
# and a 4x range of m: the term's strength barely matters there, so the middle point is kept
# (λ = 1 costs 2.2 test HR@20 at seed 0).
DEFAULT_LAMBDA = 0.1
DEFAULT_MARGIN = 1.0


@dataclasses.dataclass(frozen=True)
class MethodPreset:
    """What a method name stands for, before command-line overrides.

    Attributes:
      context: the prefix context (``all`` or ``positives``).
      fp_target_weight: cross-entropy weight of windows whose target is an FP.
      aggregation: the FP term's aggregation (``mean`` / ``adaptive``), or None for no FP term.
      skip_flags: whether the method adds a learned skip-flag embedding when its context is ``all``.
      unlikelihood: weight α of the unlikelihood term on windows whose target is an FP (0: none).
      skip_head: whether the model learns a skip head and ranks with it.
      grade_weights: cross-entropy weight of a window by its target's skip grade 0-3
        (:mod:`fpam_tf.events`), replacing ``fp_target_weight``; None: no grade weights.
    """

    context: str
    fp_target_weight: float
    aggregation: str | None = None
    skip_flags: bool = True
    unlikelihood: float = 0.0
    skip_head: bool = False
    grade_weights: tuple[float, float, float, float] | None = None


METHODS: Registry[MethodPreset] = Registry("method")
METHODS.register(
    "vanilla", MethodPreset("all", 1.0, skip_flags=False), "eq. 1: every event is input and target"
)
METHODS.register("fp-simple", MethodPreset("positives", 0.0), "eq. 2: FPs removed")
METHODS.register(
    "fp-metric",
    MethodPreset("positives", 0.0, "mean"),
    "eqs. 8-9: FP-Simple + the FP metric term over the mean FP",
)
METHODS.register(
    "fp-adametric",
    MethodPreset("positives", 0.0, "adaptive"),
    "eqs. 10-11: FP-Simple + the FP metric term over adaptively weighted FPs",
)
# Beyond the paper: both see every event with its skip flag and learn from skipped targets instead
# of dropping them (FP-Simple drops 55% of Vanilla's training windows on the Spotify sample).
METHODS.register(
    "fp-unlikelihood",
    MethodPreset("all", 0.0, unlikelihood=1.0),
    "an FP target's probability pushed down by unlikelihood, -log(1 - p) (Welleck et al. 2020), "
    "instead of pulled up (Vanilla) or dropped (FP-Simple); every event in the prefix with its "
    "skip flag",
)
METHODS.register(
    "fp-skiphead",
    MethodPreset("all", 1.0, skip_head=True),
    "Vanilla's cross-entropy plus a skip head P(skipped | session, item) trained on every target; "
    "items ranked by log P(item) + log P(not skipped | item); every event in the prefix with its "
    "skip flag",
)
# Grade weights linear in how much of the track was played (grades 0-3: to the end, most of it,
# briefly, at once), fixed a priori from the grades' meaning: no value was tuned on any split.
METHODS.register(
    "fp-graded",
    MethodPreset("all", 1.0, grade_weights=(1.0, 2 / 3, 1 / 3, 0.0)),
    "Vanilla's cross-entropy with each window weighted by how much of its target was played "
    "(skip grade 0-3: weight 1, 2/3, 1/3, 0); every event in the prefix with its skip flag",
)


@dataclasses.dataclass(frozen=True)
class MethodConfig:
    """A point of the method space (the paper's methods are presets, see :meth:`preset`).

    Attributes:
      method: the preset's name (kept for reports).
      context: ``"all"`` (prefix holds every event) or ``"positives"`` (FPs removed, paper eq. 2).
      flags: add a learned played/skipped embedding to each prefix item (``--context all`` of an
        FP-aware method).
      fp_target_weight: cross-entropy weight of windows whose target is an FP (0 drops those
        windows).
      fp_lambda: λ of the FP metric term (0 = no term).
      aggregation: ``"mean"`` (FP-Metric, eq. 9) or ``"adaptive"`` (FP-AdaMetric, eqs. 10-11).
      fp_weighting: adaptive weights: ``"softmax"`` over a window's FPs or the literal
        ``"sigmoid"`` gate.
      margin: m of the hinge.
      fp_scope: which FPs a training window's side sequence holds (``session`` | ``prefix`` |
        ``user``).
      unlikelihood: α of ``-log(1 - p_target)`` on windows whose target is an FP (0 = none).
      skip_head: learn a :class:`~fpam_tf.skip_head.SkipHead` and rank by
        ``log P(item) + log P(not skipped | item)``.
      grade_weights: cross-entropy weight of a window by its target's skip grade 0-3
        (:mod:`fpam_tf.events`), in place of ``fp_target_weight``; None: by ``fp_target_weight``.
    """

    method: str = "vanilla"
    context: str = "all"
    flags: bool = False
    fp_target_weight: float = 1.0
    fp_lambda: float = 0.0
    aggregation: str = "mean"
    fp_weighting: str = "softmax"
    margin: float = 1.0
    fp_scope: str = "session"
    unlikelihood: float = 0.0
    skip_head: bool = False
    grade_weights: tuple[float, float, float, float] | None = None

    def __post_init__(self):
        # Validated and made a tuple of floats here, so a config read back from JSON (a list) is
        # equal to the one that was written.
        if self.grade_weights is not None:
            object.__setattr__(self, "grade_weights", check_grade_weights(self.grade_weights))

    @classmethod
    def preset(
        cls,
        method: str,
        *,
        context: str | None = None,
        fp_target_weight: float | None = None,
        fp_lambda: float | None = None,
        margin: float | None = None,
        fp_weighting: str = "softmax",
        fp_scope: str = "session",
        unlikelihood: float | None = None,
        skip_head: bool | None = None,
        grade_weights: Sequence[float | str] | None = None,
    ) -> MethodConfig:
        """The method ``method`` of ``METHODS``, with optional overrides of its context, FP target
        weight, λ, m, unlikelihood weight α, skip head and grade weights (``None``: the
        preset's; grade weights are checked by :func:`check_grade_weights`).

        Vanilla = all context without flags, w = 1, λ = 0; FP-Simple = positives context, w = 0,
        λ = 0; FP-Metric / FP-AdaMetric = FP-Simple plus the FP term (mean / adaptive aggregate of
        FPs). An FP-aware method given ``context="all"`` sees every event, each with its skip flag.
        """
        preset = METHODS.get(method)
        WEIGHTINGS.get(fp_weighting)
        FP_SCOPES.get(fp_scope)
        context = CONTEXTS.canonical(context or preset.context)
        weight = preset.fp_target_weight if fp_target_weight is None else float(fp_target_weight)
        if not 0.0 <= weight <= 1.0:
            raise ConfigError(f"--fp-target-weight must be in [0, 1], got {weight}")
        with_term = preset.aggregation is not None
        fp_lambda = (
            (DEFAULT_LAMBDA if with_term else 0.0) if fp_lambda is None else float(fp_lambda)
        )
        if fp_lambda < 0:
            raise ConfigError(f"--lambda must be >= 0, got {fp_lambda}")
        unlikelihood = preset.unlikelihood if unlikelihood is None else float(unlikelihood)
        if unlikelihood < 0:
            raise ConfigError(f"--unlikelihood must be >= 0, got {unlikelihood}")
        grade_weights = preset.grade_weights if grade_weights is None else grade_weights
        if grade_weights is not None and fp_target_weight is not None:
            raise ConfigError(
                "--fp-target-weight has no effect with grade weights (they weight every window by "
                "its target's skip grade); give --grade-weights instead"
            )
        return cls(
            method=method,
            context=context,
            flags=context == "all" and preset.skip_flags,
            fp_target_weight=weight,
            fp_lambda=fp_lambda,
            aggregation=AGGREGATIONS.canonical(preset.aggregation or "mean"),
            fp_weighting=fp_weighting,
            margin=DEFAULT_MARGIN if margin is None else float(margin),
            fp_scope=fp_scope,
            unlikelihood=unlikelihood,
            skip_head=preset.skip_head if skip_head is None else bool(skip_head),
            grade_weights=grade_weights,
        )

    @property
    def fp_targets(self) -> bool:
        """Whether training keeps windows whose target is an FP."""
        # With grade weights any grade may be an FP's (the FP flag follows the dataset's own
        # threshold), so FP targets are kept unless every weight is 0.
        weighted = (
            self.fp_target_weight > 0
            if self.grade_weights is None
            else any(weight > 0 for weight in self.grade_weights)
        )
        return weighted or self.unlikelihood > 0 or self.skip_head

    @property
    def target_flags(self) -> bool:
        """Whether a training batch must say which windows' targets are FPs."""
        return self.fp_lambda > 0 or self.unlikelihood > 0 or self.skip_head


def check_grade_weights(weights: Sequence[float | str]) -> tuple[float, float, float, float]:
    """``weights`` (numbers or their text, one per skip grade 0-3) as a tuple of 4 floats in
    [0, 1]; :class:`ConfigError` saying what it received otherwise."""
    try:
        values = tuple(float(weight) for weight in weights)
    except ValueError:
        values = ()
    if len(values) != NUM_GRADES or not all(0.0 <= value <= 1.0 for value in values):
        raise ConfigError(
            f"--grade-weights must be {NUM_GRADES} comma-separated numbers in [0, 1], the "
            "cross-entropy weights of skip grades 0 (played to the end) to 3 (skipped at once); "
            f"got {','.join(map(str, weights))!r}"
        )
    return values
