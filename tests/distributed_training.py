"""Small trainings under ``tf.distribute`` strategies, each in a process of its own (logical devices
and the cluster must be set before TensorFlow's runtime starts); what they saw is written as JSON.

``python tests/distributed_training.py mirrored TFDS OUT``: a few steps on the same batches with
one device, then with ``MirroredStrategy`` over two logical CPUs.
``python tests/distributed_training.py worker INDEX PORTS TFDS OUT`` (``TF_CONFIG`` from
INDEX and the comma-separated PORTS on 127.0.0.1) or ``... single TFDS OUT``: a whole
:func:`pipelines.trainer.train` run under ``MultiWorkerMirroredStrategy`` or one device.
``python tests/distributed_training.py shards-worker INDEX PORTS GRAPH TRANSFORMED OUT``: a whole
:func:`pipelines.trainer.run` under ``--distribution multiworker``, the worker reading its own
transformed shards and recording the batches it trained on; ``... shards-single GRAPH TRANSFORMED
OUT WORKER_OUTS`` trains one device on the union of the workers' batches of each step.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

SMALL = {"num_sessions": 200, "num_users": 20, "num_items": 60}
STEPS = 6


def small_config(method: str = "fp-adametric", margin: float | None = None):
    """A run config whose loss has every term (grade-weighted cross-entropy, the adaptive FP term,
    unlikelihood, the skip head), on STAMP: a backbone without dropout, whose random masks could
    not be the same on one device and on two replicas."""
    from fpam_tf.methods import MethodConfig
    from fpam_tf.training.run_dir import RunConfig

    method = MethodConfig.preset(
        method,
        context="all",
        margin=margin,
        unlikelihood=1.0,
        skip_head=True,
        grade_weights=(1.0, 2 / 3, 1 / 3, 0.0),
    )
    return RunConfig(
        dataset="synthetic",
        model="stamp",
        method=method,
        batch_size=32,
        epochs=1,
        embedding_dim=8,
        hidden_units=8,
        precision="float32",
        dataset_options=SMALL,
    )


def small_data(tfds_dir):
    from fpam_tf import datasets
    from fpam_tf.protocol import ProtocolData

    prepared = datasets.load("synthetic", tfds_dir=tfds_dir, **SMALL)
    return ProtocolData.from_sessions(prepared.splits)


def same_batches(experiment):
    """Four shuffled training batches of 32, then one of 5 (split 3 + 2) and one of 1 (split 1 +
    an empty slice)."""
    import tensorflow as tf

    full = experiment.training_dataset(0)
    first = next(iter(full))
    tail = [tf.nest.map_structure(lambda t, n=n: t[:n], first) for n in (5, 1)]
    rest = tf.data.Dataset.from_tensors(tail[0]).concatenate(tf.data.Dataset.from_tensors(tail[1]))
    return full.take(4).concatenate(rest)


def mirrored(tfds_dir, out):
    """Per-step losses, final weights and validation metrics with one device and with two
    replicas, on the same batches."""
    import numpy as np
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from fpam_tf.training.experiment import Experiment
    from fpam_tf.training.loop import batch_logs

    batches = []
    record_batches(batches)
    config, data = small_config(), small_data(tfds_dir)
    results = {}
    for name, strategy in (
        ("one_device", tf.distribute.get_strategy()),
        ("two_replicas", tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])),
    ):
        batches.clear()
        with strategy.scope():
            experiment = Experiment.create(config, data=data)
            losses = list(batch_logs(experiment.model, same_batches(experiment), STEPS))
            validation = experiment.evaluate("validation", skip_metrics=True)
        np.savez(Path(out).with_suffix(f".{name}.npz"), *experiment.model.get_weights())
        results[name] = {
            "replicas": strategy.num_replicas_in_sync,
            "losses": losses,
            "local_batch_sizes": local_batch_sizes(batches),
            "validation": validation,
        }
    Path(out).write_text(json.dumps(results))


def set_tf_config(index, ports: str) -> None:
    """``TF_CONFIG`` of worker ``index`` of a cluster on 127.0.0.1 at the comma-separated
    ``ports``."""
    os.environ["TF_CONFIG"] = json.dumps(
        {
            "cluster": {"worker": [f"127.0.0.1:{port}" for port in ports.split(",")]},
            "task": {"type": "worker", "index": int(index)},
        }
    )


def record_batches(batches: list):
    """Makes every train step append its replica's batch (name -> array) to ``batches``."""
    import tensorflow as tf

    from fpam_tf.model import SessionRecommender

    train_step = SessionRecommender.train_step

    def recording_step(self, data):
        features, targets, weights = data
        named = {**features, "targets": targets, "weights": weights}
        names = sorted(named)

        def keep(*tensors):
            batches.append({name: t.numpy() for name, t in zip(names, tensors, strict=True)})

        tf.py_function(keep, [named[name] for name in names], [])
        return train_step(self, data)

    SessionRecommender.train_step = recording_step


def whole_epoch_config():
    """:func:`small_config` for comparisons over a whole epoch: no loss term with a kink any
    window can sit on. The mean FP embedding (FP-Metric) instead of the FP weighting network,
    whose ReLU units near 0, like a hinge max(0, . + m) near 0, switch on float rounding (the sums
    of two workers against one), which Adam amplifies over an epoch into differences up to 4e-3 in
    the parameters only they train; and a margin no window's hinge goes below."""
    return small_config("fp-metric", margin=100.0)


def local_batch_sizes(batches: list) -> list[int]:
    """The windows of each batch :func:`record_batches` recorded."""
    return [len(batch["targets"]) for batch in batches]


def shards_worker(index, ports, graph, transformed, out):
    """A ``--distribution multiworker`` Trainer run, this worker reading its own shards; writes
    its summary and the batches of each step (``<out>.batches.npz``)."""
    set_tf_config(index, ports)
    import numpy as np

    from pipelines import trainer

    batches = []
    record_batches(batches)
    model_dir = Path(out).with_suffix(".model")
    summary = trainer.run(
        whole_epoch_config(),
        Path(graph),
        Path(transformed),
        model_dir,
        distribution="multiworker",
    )
    arrays = {
        f"{step}/{name}": value
        for step, batch in enumerate(batches)
        for name, value in batch.items()
    }
    np.savez(Path(out).with_suffix(".batches.npz"), **arrays)
    summary.update(steps=len(batches), model_dir=str(model_dir))
    Path(out).write_text(json.dumps(summary))


def union_batches(worker_outs: list[str]):
    """Each step's batches of the workers, concatenated in worker order (prefixes padded to the
    longest), as a dataset of global batches."""
    import numpy as np
    import tensorflow as tf

    recorded = [np.load(Path(out).with_suffix(".batches.npz")) for out in worker_outs]
    steps = {int(key.split("/")[0]) for key in recorded[0].files}
    names = sorted({key.split("/")[1] for key in recorded[0].files})

    def union(step, name):
        parts = [batches[f"{step}/{name}"] for batches in recorded]
        if parts[0].ndim == 2:  # [B, T] prefixes: right-padded to the longest
            width = max(part.shape[1] for part in parts)
            parts = [np.pad(part, [(0, 0), (0, width - part.shape[1])]) for part in parts]
        return np.concatenate(parts)

    def global_batches():
        for step in sorted(steps):
            named = {name: union(step, name) for name in names}
            targets, weights = named.pop("targets"), named.pop("weights")
            yield named, targets, weights

    first = next(global_batches())
    signature = tf.nest.map_structure(
        lambda a: tf.TensorSpec([None] * a.ndim, tf.as_dtype(a.dtype)), first
    )
    return tf.data.Dataset.from_generator(global_batches, output_signature=signature), len(steps)


def shards_single(graph, transformed, out, *worker_outs):
    """One device trained on the union of the workers' batches of every step; its losses, the
    whole validation and test splits' metrics, and its weights (``<out>.weights.h5``)."""
    from fpam_tf.training.experiment import Experiment
    from fpam_tf.training.steps import batch_logs
    from pipelines import trainer

    experiment = Experiment.create(
        whole_epoch_config(), data=trainer.streamed_data(Path(graph), Path(transformed))
    )
    batches, steps = union_batches(worker_outs)
    losses = list(batch_logs(experiment.model, batches, steps))
    experiment.model.save_weights(Path(out).with_suffix(".weights.h5"))
    Path(out).write_text(
        json.dumps(
            {
                "losses": losses,
                "validation": experiment.evaluate("validation"),
                "test": experiment.evaluate("test", skip_metrics=True),
                "windows": {
                    split: experiment.evaluation_window_count(split)
                    for split in ("validation", "test")
                },
            }
        )
    )


def pipeline_trainer(tfds_dir, out, strategy, chief):
    """A whole :func:`pipelines.trainer.train` run of :data:`STEPS` steps into ``<out>.model``."""
    from pipelines import trainer

    batches = []
    record_batches(batches)
    model_dir = Path(out).with_suffix(".model")
    summary = trainer.train(
        small_config(),
        small_data(tfds_dir),
        model_dir,
        strategy,
        chief=chief,
        max_steps_per_epoch=STEPS,
    )
    summary.update(local_batch_sizes=local_batch_sizes(batches), model_dir=str(model_dir))
    Path(out).write_text(json.dumps(summary))


if __name__ == "__main__":
    import fpam_tf  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)

    mode, *args = sys.argv[1:]
    if mode == "mirrored":
        mirrored(*args)
    elif mode == "shards-worker":
        shards_worker(*args)
    elif mode == "shards-single":
        shards_single(*args)
    elif mode == "worker":
        index, ports, tfds_dir, out = args
        set_tf_config(index, ports)
        import tensorflow as tf

        from pipelines.trainer import is_chief

        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        pipeline_trainer(tfds_dir, out, strategy, is_chief("multiworker"))
    else:
        import tensorflow as tf

        pipeline_trainer(*args, tf.distribute.get_strategy(), True)
