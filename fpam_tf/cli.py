"""What the command-line entry points share: the run flags of ``fpam_tf.train`` and
``pipelines.run`` (one parser function, one set of defaults), the dataset flags, and user errors
printed without a traceback. Choices and help text come from the registries (backbones, methods,
datasets, ...)."""

from __future__ import annotations

import argparse
import functools
import json
import sys

from fpam_tf import backbones, datasets
from fpam_tf.errors import ConfigError, FpamError
from fpam_tf.losses import WEIGHTINGS
from fpam_tf.methods import METHODS, MethodConfig
from fpam_tf.protocol_variants import PROTOCOL_VARIANTS
from fpam_tf.training.precision import PRECISIONS
from fpam_tf.training.run_dir import RunConfig
from fpam_tf.windows import CONTEXTS, FP_SCOPES


def user_errors(main):
    """Runs ``main``; an :class:`FpamError` prints ``error: ...`` on stderr and exits with
    status 2."""

    @functools.wraps(main)
    def wrapper(argv=None):
        try:
            return main(argv)
        except FpamError as error:
            print(f"error: {error}", file=sys.stderr)
            raise SystemExit(2) from None
        except KeyboardInterrupt:
            print(
                "interrupted; rerun the same command to resume from the last checkpoint",
                file=sys.stderr,
            )
            raise SystemExit(130) from None

    return wrapper


def add_dataset_arguments(parser: argparse.ArgumentParser, *, tfds_dir: bool = True) -> None:
    """``--dataset``, ``--data-dir``, ``--dataset-option`` and (for commands that prepare TFDS
    datasets) ``--tfds-dir`` and ``--verbose``."""
    parser.add_argument(
        "--dataset",
        default="synthetic",
        help=f"one of: {datasets.DATASETS.help()} (default: synthetic, the embedded default)",
    )
    parser.add_argument(
        "--data-dir", default=None, help="raw log file or folder (not needed for synthetic)"
    )
    if tfds_dir:
        parser.add_argument(
            "--tfds-dir",
            default=None,
            help="where prepared TFDS datasets live "
            "(default: $FPAM_TFDS_DIR or ~/.cache/fpam_tf/tfds)",
        )
        parser.add_argument(
            "--verbose",
            action="store_true",
            help="show TFDS's own output while preparing a dataset (progress bars, messages)",
        )
    parser.add_argument(
        "--dataset-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="reader / generator option, e.g. num_sessions=5000, skip_field=skip_1, "
        "session_gap_minutes=60 (repeatable)",
    )


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags that define a training run (backbone, method, model size, optimisation, seed,
    precision)."""
    parser.add_argument("--model", default="narm", help=f"backbone: {backbones.BACKBONES.help()}")
    # The default is the rule's choice (docs/REPRODUCTION.md, "The CLI default"): a configuration
    # replaces Vanilla only if, converged over 3 seeds, its paired validation MRR@20 gain exceeds 2
    # standard errors and its validation SkipHR@20 is lower. None has been judged by it yet (the
    # 3-seed runs are under way), so this is the rule's fallback.
    parser.add_argument(
        "--method",
        default="vanilla",
        help=f"one of: {METHODS.help()} (default: vanilla; see docs/REPRODUCTION.md)",
    )
    # Overrides of the method's preset; None keeps the preset, so --method NAME alone is exactly
    # that method.
    parser.add_argument(
        "--context",
        choices=list(CONTEXTS),
        default=None,
        help="override the method's prefix: all events (an FP-aware method adds a learned skip "
        "flag to each), or positives only (the paper's FP-Simple / FP-Metric / FP-AdaMetric)",
    )
    parser.add_argument(
        "--fp-target-weight",
        type=float,
        default=None,
        help="override the cross-entropy weight in [0, 1] of windows whose target is an FP "
        "(Vanilla 1; the paper's FP methods 0)",
    )
    parser.add_argument(
        "--lambda",
        dest="fp_lambda",
        type=float,
        default=None,
        help="weight λ of the FP metric term",
    )
    parser.add_argument("--margin", type=float, default=None, help="margin m of the FP metric term")
    parser.add_argument(
        "--unlikelihood",
        type=float,
        default=None,
        help="override α of the unlikelihood term -log(1 - p) on windows whose target is an FP "
        "(fp-unlikelihood 1, others 0)",
    )
    parser.add_argument(
        "--skip-head",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="override whether a skip head reranks items by P(not skipped) (on for fp-skiphead)",
    )
    parser.add_argument(
        "--grade-weights",
        default=None,
        metavar="W0,W1,W2,W3",
        help="override the cross-entropy weights in [0, 1] of windows by their target's skip "
        "grade, 0 (played to the end) to 3 (skipped at once), in place of --fp-target-weight "
        "(fp-graded 1,0.667,0.333,0; others none)",
    )
    parser.add_argument(
        "--fp-weighting",
        choices=list(WEIGHTINGS),
        default="softmax",
        help=f"FP-AdaMetric's weights: {WEIGHTINGS.help()}",
    )
    parser.add_argument(
        "--fp-scope",
        choices=list(FP_SCOPES),
        default="session",
        help=f"FP side sequence of a training window: {FP_SCOPES.help()}",
    )
    parser.add_argument("--embedding-dim", type=int, default=100)
    parser.add_argument("--hidden-units", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument(
        "--patience",
        type=int,
        default=2,
        help="epochs without validation MRR@20 gain before stopping",
    )
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--precision", choices=list(PRECISIONS), default="auto", help=PRECISIONS.help()
    )
    parser.add_argument(
        "--max-steps-per-epoch", type=int, default=None, help="cap on steps per epoch (smoke runs)"
    )
    parser.add_argument(
        "--protocol-variant",
        choices=list(PROTOCOL_VARIANTS),
        default="standard",
        help="windows of a variant of PROTOCOL v2, to study the paper's figures: "
        f"{PROTOCOL_VARIANTS.help()} (default: standard; never for a reported figure)",
    )


def parse_options(pairs: list[str]) -> dict:
    """``KEY=VALUE`` strings -> dict, values parsed as JSON when they parse (numbers, booleans)."""
    options = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(
                f"--dataset-option {pair!r} is not KEY=VALUE "
                "(e.g. --dataset-option num_sessions=5000)"
            )
        key, value = pair.split("=", 1)
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def run_config_from_args(args, dataset_options: dict | None = None) -> RunConfig:
    """The validated :class:`RunConfig` of parsed dataset and run flags (``dataset_options``
    replaces the parsed ``--dataset-option`` pairs when given)."""
    method = MethodConfig.preset(
        args.method,
        context=args.context,
        fp_target_weight=args.fp_target_weight,
        fp_lambda=args.fp_lambda,
        margin=args.margin,
        fp_weighting=args.fp_weighting,
        fp_scope=args.fp_scope,
        unlikelihood=args.unlikelihood,
        skip_head=args.skip_head,
        grade_weights=None if args.grade_weights is None else args.grade_weights.split(","),
    )
    options = parse_options(args.dataset_option) if dataset_options is None else dataset_options
    return RunConfig(
        dataset=args.dataset,
        data_dir=args.data_dir,
        model=args.model,
        method=method,
        embedding_dim=args.embedding_dim,
        hidden_units=args.hidden_units,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        epochs=args.epochs,
        patience=args.patience,
        seed=args.seed,
        precision=args.precision,
        dataset_options=options,
        protocol_variant=args.protocol_variant,
    ).validate()
