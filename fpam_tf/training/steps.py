"""Training and evaluation steps under the model's ``tf.distribute`` strategy, as ``fit`` and
``evaluate`` run them, on one of two kinds of input:

- a ``tf.data.Dataset`` of global batches: every global batch is cut in order into slices of
  ceil(B / replicas) (the last ones shorter, or empty), replica r taking slice r; a worker of a
  multi-worker strategy builds the same batches and keeps its replicas' slices. The default
  strategy gets the batches as they are.
- :class:`WorkerBatches`: each worker of a multi-worker strategy reads its own part of the data
  and hands each of its replicas whole batches of its own; the workers agree on the number of
  steps (:func:`worker_counts`) and a worker that runs out pads with empty batches.

Keras' own train and test functions reduce the replicas' logs with axis=0, which fails on scalars
under ``MultiWorkerMirroredStrategy``; these steps are otherwise theirs: ``train_step`` /
``test_step`` in every replica (compiled as Keras would), on the iterator's next batch (fetched
outside XLA), traced once per model for the iterators' batch shapes.
"""

from __future__ import annotations

import dataclasses
import functools
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


@dataclasses.dataclass(frozen=True)
class WorkerBatches:
    """This worker's own batches for ``steps`` steps: ``dataset`` yields one batch per local
    replica and step (whole batches, not slices of a global one), padded with empty batches to
    the number of steps every worker takes (see :func:`worker_batches`)."""

    dataset: object
    steps: int


def local_replicas(strategy) -> int:
    """Replicas of ``strategy`` in this process."""
    if strategy.num_replicas_in_sync == 1:
        return 1  # also the default strategy, which has no worker devices
    return len(strategy.extended.worker_devices)


def worker_count(strategy) -> int:
    """Workers (input pipelines) of ``strategy``: 1 but for a multi-worker strategy."""
    return strategy.num_replicas_in_sync // local_replicas(strategy)


def worker_counts(strategy, count: int) -> list[int]:
    """``count`` (an int64) of every worker of ``strategy``, in worker order: one collective,
    which every worker must call at the same point of its run."""
    import tensorflow as tf

    if worker_count(strategy) == 1:
        return [count]
    # A tensor, not a Python int: each distinct int would trace the function anew.
    gathered = _all_gather(strategy)(tf.constant([count], tf.int64))
    every_replica = strategy.experimental_local_results(gathered)[0].numpy()
    # Replicas are numbered worker by worker, each worker's holding its count.
    return every_replica[:: local_replicas(strategy)].tolist()


@functools.cache
def _all_gather(strategy):
    """int64 ``[1] -> [replicas]``: every replica's value over ``strategy``, traced once."""
    import tensorflow as tf

    @tf.function
    def gathered(value):
        def replica_values():
            # Captured, not an argument of run: that would distribute a host tensor.
            return tf.distribute.get_replica_context().all_gather(tf.identity(value), axis=0)

        return strategy.run(replica_values)

    return gathered


def agreed_steps(model, local_batches: int) -> int:
    """Steps of a pass over data of which this worker holds ``local_batches`` batches (one per
    local replica and step): the most any worker needs, since every step is collective. One
    collective (:func:`worker_counts`)."""
    per_step = local_replicas(model.distribute_strategy)
    return max(worker_counts(model.distribute_strategy, -(-local_batches // per_step)))


def worker_batches(model, dataset, *, steps: int, start_step: int = 0) -> WorkerBatches:
    """``dataset`` (this worker's own batches) as steps ``[start_step, steps)``: a worker with
    fewer batches than ``steps`` x its replicas pads with empty batches, which add nothing to a
    step's loss or gradient (every loss term is a sum over the global batch's windows divided by
    their count)."""
    import tensorflow as tf

    per_step = local_replicas(model.distribute_strategy)

    def empty(spec):
        # No rows; every other unknown dimension 1 (a prefix of length 0 is no sequence).
        return tf.zeros([0, *(1 if d is None else d for d in spec.shape[1:])], spec.dtype)

    empty_batch = tf.data.Dataset.from_tensors(tf.nest.map_structure(empty, dataset.element_spec))
    padded = dataset.concatenate(empty_batch.repeat())
    return WorkerBatches(
        padded.take(steps * per_step).skip(start_step * per_step), steps - start_step
    )


def _distributed(model, batches):
    """An iterator over ``batches`` (global batches, or :class:`WorkerBatches`) distributed by
    the model's strategy."""
    import tensorflow as tf

    strategy = model.distribute_strategy
    if isinstance(batches, WorkerBatches):
        # Each replica takes the dataset's next batch whole.
        return iter(strategy.distribute_datasets_from_function(lambda _: batches.dataset))
    options = tf.data.Options()
    # Slices of every global batch, so the workers together train on the one-worker batches
    # (sharding the dataset's elements would give each worker whole batches of its own).
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return iter(strategy.experimental_distribute_dataset(batches.with_options(options)))


def batch_logs(model, batches, count: int):
    """Trains on each of the ``count`` batches of ``batches`` (global batches, or
    :class:`WorkerBatches`) in turn; yields each step's loss terms (:data:`LOSS_TERMS`).
    (``train_on_batch`` would hand every replica the whole batch.)"""
    iterator, step = _distributed(model, batches), _compiled_step(model, "train_step")
    for _ in range(count):
        model.reset_metrics()  # each batch's own terms, not a running mean
        yield {name: float(value) for name, value in step(iterator).items()}


def evaluate(model, batches) -> dict:
    """The model's metrics (``evaluate``'s) over every batch of ``batches`` (a finite dataset of
    global batches, or :class:`WorkerBatches`)."""
    iterator, step = _distributed(model, batches), _compiled_step(model, "test_step")
    count = batches.steps if isinstance(batches, WorkerBatches) else int(batches.cardinality())
    model.reset_metrics()
    for _ in range(count):
        step(iterator)
    # Sorted by name, as `evaluate` returns them.
    return {name: float(value) for name, value in sorted(model.get_metrics_result().items())}
