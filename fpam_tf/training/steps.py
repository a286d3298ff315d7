"""Training and evaluation steps under the model's ``tf.distribute`` strategy, as ``fit`` and
``evaluate`` run them: every global batch is cut in order into slices of ceil(B / replicas) (the
last ones shorter, or empty), replica r taking slice r; a worker of a multi-worker strategy
builds the same batches and keeps its replicas' slices. The default strategy gets the batches as
they are.

Keras' own train and test functions reduce the replicas' logs with axis=0, which fails on scalars
under ``MultiWorkerMirroredStrategy``; these steps are otherwise theirs: ``train_step`` /
``test_step`` in every replica (compiled as Keras would), on the iterator's next batch (fetched
outside XLA), traced once per model for the iterators' batch shapes.
"""

from __future__ import annotations

import weakref

LOSS_TERMS = ("loss", "ce_loss", "fp_loss", "skip_loss")


# model -> {replica step name: its compiled step}. A step takes the iterator as an argument, so a
# new epoch's iterator reuses the trace of the last one (as ``fit`` reuses its train function).
_COMPILED_STEPS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _compiled_step(model, name: str):
    """The model's ``name`` step (``"train_step"`` or ``"test_step"``) in every replica on the
    iterator's next batch, compiled once per model; returns its loss terms (:data:`LOSS_TERMS`),
    each the mean over the replicas."""
    import tensorflow as tf

    steps = _COMPILED_STEPS.setdefault(model, {})
    if name not in steps:
        # A weak reference: the cache's values must not keep its keys alive.
        strategy, model_ref = model.distribute_strategy, weakref.ref(model)

        @tf.function(jit_compile=model.jit_compile)
        def replica_steps(batch):
            return strategy.run(getattr(model_ref(), name), args=(batch,))

        @tf.function
        def step(iterator):
            outputs = replica_steps(next(iterator))
            # Reduced in the graph: an eager reduce per term and step would cost a dispatch each.
            return {term: strategy.reduce("MEAN", outputs[term], axis=None) for term in LOSS_TERMS}

        steps[name] = step
    return steps[name]


def _distributed(model, dataset):
    """An iterator over ``dataset`` distributed by the model's strategy."""
    import tensorflow as tf

    options = tf.data.Options()
    # Slices of every global batch, so the workers together train on the one-worker batches
    # (sharding the dataset's elements would give each worker whole batches of its own).
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return iter(
        model.distribute_strategy.experimental_distribute_dataset(dataset.with_options(options))
    )


def batch_logs(model, batches, count: int):
    """Trains on each of the ``count`` batches of ``batches`` in turn; yields each one's loss
    terms (:data:`LOSS_TERMS`). (``train_on_batch`` would hand every replica the whole batch.)"""
    iterator, step = _distributed(model, batches), _compiled_step(model, "train_step")
    for _ in range(count):
        model.reset_metrics()  # each batch's own terms, not a running mean
        yield {name: float(value) for name, value in step(iterator).items()}


def evaluate(model, dataset) -> dict:
    """The model's metrics (``evaluate``'s) over every batch of the finite ``dataset``."""
    iterator, step = _distributed(model, dataset), _compiled_step(model, "test_step")
    model.reset_metrics()
    for _ in range(int(dataset.cardinality())):
        step(iterator)
    # Sorted by name, as `evaluate` returns them.
    return {name: float(value) for name, value in sorted(model.get_metrics_result().items())}
