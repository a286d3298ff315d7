"""Small trainings under ``tf.distribute`` strategies, each in a process of its own (logical devices
and the cluster must be set before TensorFlow's runtime starts); what they saw is written as JSON.

``python tests/distributed_training.py mirrored TFDS OUT``: a few steps on the same batches with
one device, then with ``MirroredStrategy`` over two logical CPUs.
``python tests/distributed_training.py worker INDEX PORTS TFDS OUT`` (``TF_CONFIG`` from
INDEX and the comma-separated PORTS on 127.0.0.1) or ``... single TFDS OUT``: a whole
:func:`pipelines.trainer.train` run under ``MultiWorkerMirroredStrategy`` or one device.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

SMALL = {"num_sessions": 200, "num_users": 20, "num_items": 60}
STEPS = 6


def small_config():
    """A run config whose loss has every term (grade-weighted cross-entropy, the adaptive FP term,
    unlikelihood, the skip head), on STAMP: a backbone without dropout, whose random masks could
    not be the same on one device and on two replicas."""
    from fpam_tf.methods import MethodConfig
    from fpam_tf.training.run_dir import RunConfig

    method = MethodConfig.preset(
        "fp-adametric",
        context="all",
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


def record_local_batch_sizes(sizes: list):
    """Makes every train step append its replica's batch size to ``sizes``."""
    import tensorflow as tf

    from fpam_tf.model import SessionRecommender

    train_step = SessionRecommender.train_step

    def recording_step(self, data):
        rows = tf.shape(data[0]["items"])[0]
        tf.py_function(lambda n: sizes.append(int(n)), [rows], [])
        return train_step(self, data)

    SessionRecommender.train_step = recording_step


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

    sizes = []
    record_local_batch_sizes(sizes)
    config, data = small_config(), small_data(tfds_dir)
    results = {}
    for name, strategy in (
        ("one_device", tf.distribute.get_strategy()),
        ("two_replicas", tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])),
    ):
        sizes.clear()
        with strategy.scope():
            experiment = Experiment.create(config, data=data)
            losses = list(batch_logs(experiment.model, same_batches(experiment), STEPS))
            validation = experiment.evaluate("validation", skip_metrics=True)
        np.savez(Path(out).with_suffix(f".{name}.npz"), *experiment.model.get_weights())
        results[name] = {
            "replicas": strategy.num_replicas_in_sync,
            "losses": losses,
            "local_batch_sizes": list(sizes),
            "validation": validation,
        }
    Path(out).write_text(json.dumps(results))


def pipeline_trainer(tfds_dir, out, strategy, chief):
    """A whole :func:`pipelines.trainer.train` run of :data:`STEPS` steps into ``<out>.model``."""
    from pipelines import trainer

    sizes = []
    record_local_batch_sizes(sizes)
    model_dir = Path(out).with_suffix(".model")
    summary = trainer.train(
        small_config(),
        small_data(tfds_dir),
        model_dir,
        strategy,
        chief=chief,
        max_steps_per_epoch=STEPS,
    )
    Path(out).write_text(
        json.dumps({**summary, "local_batch_sizes": sizes, "model_dir": str(model_dir)})
    )


if __name__ == "__main__":
    import fpam_tf  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)

    mode, *args = sys.argv[1:]
    if mode == "mirrored":
        mirrored(*args)
    elif mode == "worker":
        index, ports, tfds_dir, out = args
        os.environ["TF_CONFIG"] = json.dumps(
            {
                "cluster": {"worker": [f"127.0.0.1:{port}" for port in ports.split(",")]},
                "task": {"type": "worker", "index": int(index)},
            }
        )
        import tensorflow as tf

        from pipelines.trainer import is_chief

        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        pipeline_trainer(tfds_dir, out, strategy, is_chief("multiworker"))
    else:
        import tensorflow as tf

        pipeline_trainer(*args, tf.distribute.get_strategy(), True)
