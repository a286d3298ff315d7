"""``python -m pipelines.run``: the whole pipeline, ExampleGen to Pusher, in one command.

Locally on the embedded default (Beam DirectRunner, a small synthetic log; ``make pipeline`` adds a
small model and 3 epochs)::

    python -m pipelines.run --dataset synthetic

The training flags are ``python -m fpam_tf.train``'s, with the same defaults (``fpam_tf.cli``).

On a cluster: ``--runner DaskRunner|DataflowRunner|FlinkRunner|SparkRunner`` plus that runner's
usual Beam options (DaskRunner: ``--dask_client_address=HOST:PORT``, the one tested; BUILD.md);
every argument this parser does not know goes to Beam's ``PipelineOptions``::

    python -m pipelines.run --dataset spotify --data-dir /data/mssd --runner FlinkRunner \\
        --flink_master=host:8081 --environment_type=LOOPBACK

A rerun with unchanged inputs skips every component; see docs/PIPELINES.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging

import pipelines  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)
from fpam_tf.cli import (
    add_dataset_arguments,
    add_run_arguments,
    parse_options,
    run_config_from_args,
    user_errors,
)
from fpam_tf.errors import DataError
from fpam_tf.methods import MethodConfig
from fpam_tf.training.run_dir import RunConfig
from pipelines import (
    evaluator,
    example_gen,
    filesystem,
    pusher,
    raw_sources,
    statistics_gen,
    trainer,
    transform,
)
from pipelines.artifacts import Artifact, Execution, PipelineRoot
from pipelines.beam_options import RUNNERS, pipeline_options
from pipelines.errors import PipelineError
from pipelines.trainer import DISTRIBUTIONS

logger = logging.getLogger("pipelines")
# The embedded default's size: a few minutes end to end on 2 CPU cores.
SMALL_SYNTHETIC = {"num_sessions": 2000, "num_users": 100, "num_items": 600}


def default_run() -> RunConfig:
    """The training run of ``python -m pipelines.run`` with no flags: ``fpam_tf.train``'s
    defaults."""
    return run_config_from_args(parser().parse_known_args([])[0])


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything one pipeline run depends on (the command line, parsed).

    ``run`` is the candidate's training run (its dataset, backbone, method and optimisation); its
    ``data_dir`` is the raw input of ExampleGen. The rest is the pipeline's own.
    """

    run: RunConfig = dataclasses.field(default_factory=default_run)
    pipeline_root: str = "pipeline_root/synthetic"
    max_steps_per_epoch: int | None = None
    distribution: str = "none"
    shards: int = 0
    blessing_margin: float = 0.0
    export_base: str = "saved_models"
    name: str | None = None
    k: int = 100
    runner: str = "DirectRunner"
    beam_args: tuple = ()
    strict: bool = False
    update_schema: bool = False
    verbose: int = 0

    def run_config(self, method: str) -> RunConfig:
        """The training run of ``method``: the candidate's own, or the plain preset of another
        method (the Vanilla baseline) with the same data, backbone and optimisation."""
        if method == self.run.method.method:
            return self.run
        return dataclasses.replace(self.run, method=MethodConfig.preset(method))


def run_pipeline(settings: Settings) -> dict:
    """Runs (or skips, when cached) every component in order; returns component name ->
    Execution. A ``multiworker`` worker other than the chief stops after the Trainers."""
    settings.run.validate()
    DISTRIBUTIONS.get(settings.distribution)
    if settings.distribution == "multiworker":
        # Before any component starts TensorFlow's runtime (see trainer.strategy_for).
        trainer.strategy_for(settings.distribution)
    root = PipelineRoot(settings.pipeline_root)
    options = pipeline_options(settings.runner, settings.beam_args)
    done = {"ExampleGen": run_example_gen(root, settings, options)}
    examples = done["ExampleGen"]["examples"]
    done["StatisticsGen"] = root.run_component(
        statistics_gen.COMPONENT,
        inputs={"examples": examples},
        config={},
        outputs=["statistics"],
        execute=lambda out: statistics_gen.run(
            filesystem.local_path(examples.path), filesystem.local_path(out["statistics"])
        ),
    )
    done["Transform"] = run_transform(root, examples, options, settings.shards)
    graph, transformed = (
        done["Transform"]["transform_graph"],
        done["Transform"]["transformed_examples"],
    )
    method = settings.run.method.method
    done["Trainer"] = run_trainer(root, settings, trainer.COMPONENT, method, graph, transformed)
    model = done["Trainer"]["model"]
    baseline = None
    if method != "vanilla":
        done["BaselineTrainer"] = run_trainer(
            root, settings, "BaselineTrainer", "vanilla", graph, transformed
        )
        baseline = done["BaselineTrainer"]["model"]
    if not trainer.is_chief(settings.distribution):
        # A multiworker non-chief took its part in training; its model artifacts are empty.
        return done
    done["Evaluator"] = run_evaluator(root, settings, model, baseline)
    done["Pusher"] = run_pusher(root, settings, model, done["Evaluator"], graph)
    return done


def run_example_gen(root: PipelineRoot, settings: Settings, options) -> Execution:
    """ExampleGen over the raw input of ``settings`` (input schema checked against the pinned
    one)."""
    try:
        raw = raw_sources.resolve_input(
            settings.run.dataset,
            settings.run.data_dir,
            settings.run.dataset_options,
            filesystem.local_path(filesystem.join(root.path, "raw")),
        )
    except DataError as error:
        raise PipelineError(example_gen.COMPONENT, str(error)) from error

    def execute(out):
        schema = {path: raw_sources.input_schema(raw, path) for path in raw.files}
        example_gen.check_schema(
            root.component_dir(example_gen.COMPONENT), raw, schema, settings.update_schema
        )
        filesystem.write_json(filesystem.join(out["examples"], "input_schema.json"), schema)
        return example_gen.run(
            raw, filesystem.local_path(out["examples"]), options=options, strict=settings.strict
        )

    return root.run_component(
        example_gen.COMPONENT,
        inputs={"files": raw_sources.file_stamps(raw, filesystem.local_path(root.path))},
        config={"dataset": raw.dataset, "thresholds": raw.thresholds, "strict": settings.strict},
        outputs=["examples"],
        execute=execute,
    )


def run_transform(root: PipelineRoot, examples: Artifact, options, shards: int = 0) -> Execution:
    """Transform of an examples artifact into ``shards`` shards per split (0: the runner decides;
    tensorflow-transform's scratch files stay in the staging folder)."""
    return root.run_component(
        transform.COMPONENT,
        inputs={"examples": examples},
        config={"min_count": transform.MIN_ITEM_COUNT, "shards": shards},
        outputs=["transform_graph", "transformed_examples"],
        execute=lambda out: transform.run(
            filesystem.local_path(examples.path),
            filesystem.local_path(out["transform_graph"]),
            filesystem.local_path(out["transformed_examples"]),
            options=options,
            temp_dir=filesystem.local_path(out["transform_graph"]).parent / "tft_tmp",
            num_shards=shards,
        ),
    )


def run_trainer(
    root: PipelineRoot,
    settings: Settings,
    component: str,
    method: str,
    graph: Artifact,
    transformed: Artifact,
) -> Execution:
    """A Trainer component (``component`` names it: the candidate or the Vanilla baseline)
    training ``method``."""
    config = settings.run_config(method)
    return root.run_component(
        component,
        inputs={"transform_graph": graph, "transformed_examples": transformed},
        config={
            "run": config.to_json(),
            "distribution": settings.distribution,
            "max_steps_per_epoch": settings.max_steps_per_epoch,
        },
        outputs=["model"],
        execute=lambda out: trainer.run(
            config,
            filesystem.local_path(graph.path),
            filesystem.local_path(transformed.path),
            filesystem.local_path(out["model"]),
            distribution=settings.distribution,
            max_steps_per_epoch=settings.max_steps_per_epoch,
            verbose=settings.verbose,
        ),
    )


def run_evaluator(
    root: PipelineRoot, settings: Settings, model: Artifact, baseline: Artifact | None
) -> Execution:
    """The Evaluator: the candidate against the Vanilla baseline and the model currently pushed
    (if any)."""
    pushed = pusher.current_push(root, exclude_model=model.path)
    inputs = {"model": model, "pushed": pushed and pushed["version_dir"]}
    if baseline is not None:
        inputs["baseline"] = baseline
    return root.run_component(
        evaluator.COMPONENT,
        inputs=inputs,
        config={"margin": settings.blessing_margin},
        outputs=["evaluation", "blessing"],
        execute=lambda out: evaluator.run(
            model.path, baseline and baseline.path, pushed, out, margin=settings.blessing_margin
        ),
    )


def run_pusher(
    root: PipelineRoot, settings: Settings, model: Artifact, evaluation: Execution, graph: Artifact
) -> Execution:
    """The Pusher: exports a blessed model to ``settings.export_base``, records why an unblessed
    one was not."""
    run = settings.run
    name = settings.name or f"{run.dataset}-{run.model}-{run.method.method}"
    # An exported model returns at most the whole catalogue: a tiny log's vocabulary can be below
    # --k.
    k = min(settings.k, transform_vocabulary_size(graph.path))
    export_base = filesystem.location(settings.export_base)
    report, blessing = evaluation["evaluation"], evaluation["blessing"]
    return root.run_component(
        pusher.COMPONENT,
        inputs={
            "model": model,
            "evaluation": report,
            "blessing": blessing,
            "transform_graph": graph,
        },
        config={"export_base": export_base, "name": name, "k": k},
        outputs=["pushed_model"],
        execute=lambda out: pusher.run(
            model.path,
            report.path,
            evaluator.is_blessed(blessing.path),
            graph.path,
            out["pushed_model"],
            export_base=export_base,
            name=name,
            k=k,
        ),
    )


def transform_vocabulary_size(graph_dir: str) -> int:
    """Number of items in the transform graph's vocabulary (padding excluded)."""
    asset = filesystem.join(graph_dir, "transform_fn", "assets", transform.VOCABULARY)
    return len(filesystem.read_text(asset).splitlines())


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m pipelines.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_dataset_arguments(p, tfds_dir=False)
    p.add_argument(
        "--full-size",
        action="store_true",
        help="synthetic: the generator's default size instead of the small embedded default",
    )
    add_run_arguments(p)
    p.add_argument(
        "--pipeline-root",
        default=None,
        help="artifact root: a local folder or a URI such as gs://bucket/root "
        "(default: pipeline_root/<dataset>)",
    )
    p.add_argument(
        "--distribution",
        choices=list(DISTRIBUTIONS),
        default="none",
        help=f"tf.distribute strategy of the Trainer: {DISTRIBUTIONS.help()}",
    )
    p.add_argument(
        "--shards",
        type=_non_negative,
        default=0,
        help="transformed shards per split (0: the Beam runner decides); a multiworker Trainer "
        "needs at least as many as workers, each reading its own",
    )
    p.add_argument(
        "--blessing-margin",
        type=float,
        default=0.0,
        help="validation MRR@20 points the candidate must gain over the Vanilla baseline "
        "and the pushed model",
    )
    p.add_argument("--export-base", default="saved_models", help="TF Serving model base folder")
    p.add_argument(
        "--name", default=None, help="served model name (default: <dataset>-<model>-<method>)"
    )
    p.add_argument("--k", type=int, default=100, help="results per session of the exported model")
    p.add_argument("--runner", default="DirectRunner", help=f"Beam runner: {', '.join(RUNNERS)}")
    p.add_argument(
        "--strict",
        action="store_true",
        help="fail on the first malformed input row instead of skipping it",
    )
    p.add_argument(
        "--update-schema",
        action="store_true",
        help="accept a changed input schema and pin the new one",
    )
    p.add_argument("--verbose", action="store_true", help="training progress bars")
    return p


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def settings_from_args(argv=None) -> Settings:
    """Parses the command line; arguments it does not know are Beam pipeline options."""
    args, beam_args = parser().parse_known_args(argv)
    options = parse_options(args.dataset_option)
    if args.dataset == "synthetic" and not args.full_size:
        options = {**SMALL_SYNTHETIC, **options}
    return Settings(
        run=run_config_from_args(args, dataset_options=options),
        pipeline_root=args.pipeline_root or f"pipeline_root/{args.dataset}",
        max_steps_per_epoch=args.max_steps_per_epoch,
        distribution=args.distribution,
        shards=args.shards,
        blessing_margin=args.blessing_margin,
        export_base=args.export_base,
        name=args.name,
        k=args.k,
        runner=args.runner,
        beam_args=tuple(beam_args),
        strict=args.strict,
        update_schema=args.update_schema,
        verbose=int(args.verbose),
    )


@user_errors
def main(argv=None) -> dict:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    # Beam and TensorFlow log every stage at INFO; the pipeline's own lines are what a user needs.
    for noisy in ("apache_beam", "tensorflow", "absl"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    settings = settings_from_args(argv)
    done = run_pipeline(settings)
    for component, execution in done.items():
        state = "skipped (cached)" if execution.skipped else "ran"
        print(f"{component:16s} execution {execution.execution_id:3d}  {state}")
    if "Pusher" in done:
        print(f"Pusher output: {done['Pusher']['pushed_model'].path}")
    return done


if __name__ == "__main__":
    main()
