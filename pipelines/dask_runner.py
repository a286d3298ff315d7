"""Beam's DaskRunner, with the fixes ExampleGen and Transform need (``--runner DaskRunner``).

Beam 2.77's ``apache_beam.runners.dask.dask_runner.DaskRunner`` translates a pipeline into
``dask.bag`` operations on a dask.distributed cluster. As shipped it cannot run either component
(each found by running them here against a ``LocalCluster``):

* it computes only the bag of the *last* transform it visited: of a pipeline with several sinks
  (ExampleGen writes three splits, the split counts and the bad-row report) only the last runs;
* a side input is recomputed, inside the consuming task, each time it is read. Beam's file sinks
  read their ``InitializeWrite`` result (a temporary folder with a fresh random name) in three
  steps, so each step sees another folder; each read also recomputes the side input's upstream;
* outputs of ``finish_bundle`` are dropped: the bundle writer of ``WriteToTFRecord`` emits its
  file name there, so every split came out as one empty shard;
* a multi-output ParDo (``beam.Partition``: ExampleGen's split routing) hands *all* its outputs
  to each consumer;
* sources (``beam.io.Read``: ``ReadFromTFRecord``, Transform's input) are translated to nothing,
  so Transform failed with ``AttributeError: 'NoneType' object has no attribute 'map'``.

Here every bag no other transform consumes (every sink) is computed; a side input is one node of
the dask graph, computed once and handed to each task that reads it; a ParDo's outputs are
``(tag, value)`` pairs its consumers select from; a bounded source is split into bundles, one
dask partition each; and a primitive with no translation is an error instead of a silent no-op.
The rest (Create, GroupByKey, Flatten, the DoFn invoker) is Beam's. The client the runner opens
is closed when the pipeline finishes.
"""

from __future__ import annotations

import collections
import dataclasses

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.pipeline import PipelineVisitor
from apache_beam.runners.dask import dask_runner as beam_dask
from apache_beam.runners.dask import overrides as dask_overrides
from apache_beam.runners.dask import transform_evaluator as beam_ops
from apache_beam.transforms.window import GlobalWindows

READ_BUNDLE_BYTES = 64 << 20  # a dask partition per 64 MiB of a source


def _concat(partitions):
    return [element for partition in partitions for element in partition]


@dataclasses.dataclass(frozen=True)
class _DoFnSpec:
    """What a task needs to run a ParDo on one bundle (sent to the workers with the task)."""

    fn: bytes  # The pickled DoFn: each bundle unpickles its own copy, as the DirectRunner does.
    label: str
    window_fn: object
    args: list  # With placeholders where the side inputs go.
    kwargs: dict
    side_inputs: list  # (view class, view options, window mapping) of each side input.


def _apply_dofn(items, spec: _DoFnSpec, *side_values):
    """One bundle (a dask partition) through a DoFn, its side inputs already computed.

    Returns ``(tag, value)`` pairs (tag ``None``: the main output), the outputs of
    ``finish_bundle`` included. Beam's version collects them before calling it (losing e.g. the
    file names ``WriteToTFRecord``'s bundle writer emits there) and shares one DoFn and one output
    list between the tasks of a process.
    """
    from apache_beam import DoFn, TaggedOutput
    from apache_beam.internal import pickler
    from apache_beam.runners.common import (
        DoFnContext,
        DoFnInvoker,
        DoFnSignature,
        _OutputHandler,
    )
    from apache_beam.transforms.sideinputs import SideInputMap

    receivers = beam_ops.OneReceiver()
    handler = _OutputHandler(
        window_fn=spec.window_fn,
        main_receivers=receivers[None],
        tagged_receivers=receivers,
        per_element_output_counter=None,
        output_batch_converter=None,
        process_yields_batches=False,
        process_batch_yields_elements=False,
    )
    side_inputs = [
        SideInputMap(view, options, beam_ops.DaskBagWindowedIterator(values, window_mapping))
        for (view, options, window_mapping), values in zip(spec.side_inputs, side_values)
    ]
    invoker = DoFnInvoker.create_invoker(
        DoFnSignature(pickler.loads(spec.fn)),
        handler,
        context=DoFnContext(spec.label, state=None),
        side_inputs=side_inputs,
        input_args=list(spec.args),
        input_kwargs=dict(spec.kwargs),
        user_state_context=None,
        bundle_finalizer_param=DoFn.BundleFinalizerParam(),
    )
    invoker.invoke_setup()
    try:
        invoker.invoke_start_bundle()
        for item in items:
            invoker.invoke_process(beam_ops.get_windowed_value(item, spec.window_fn))
        invoker.invoke_finish_bundle()
    finally:
        # A failed bundle still releases what setup acquired, as the DirectRunner does.
        invoker.invoke_teardown()
    return [
        (output.tag, output.value.value)
        if isinstance(output, TaggedOutput)
        else (None, output.value)
        for output in receivers.values
    ]


def _select(pairs, tag):
    """The elements of one output (``tag``) of a ParDo's ``(tag, value)`` pairs."""
    return [value for output, value in pairs if output == tag]


class _ParDo(beam_ops.DaskBagOp):
    """A ParDo over each partition, each side input a graph dependency computed once."""

    def apply(self, input_bag, side_inputs=None):
        import dask
        from apache_beam.internal import pickler

        transform = self.transform
        main_input = next(iter(self.applied.main_inputs.values()))
        windowing = getattr(main_input, "windowing", None)
        side_specs, side_values = [], []
        for side_spec, bag in side_inputs or ():
            side_specs.append(side_spec)
            side_values.append(dask.delayed(_concat)(bag.to_delayed(optimize_graph=False)))
        spec = _DoFnSpec(
            fn=pickler.dumps(transform.fn),
            label=transform.label,
            window_fn=windowing.windowfn if windowing is not None else None,
            # Beam's Dask translation passes the raw AsList / AsSingleton objects instead.
            args=list(transform.args),
            kwargs=dict(transform.kwargs),
            side_inputs=side_specs,
        )
        return input_bag.map_partitions(_apply_dofn, spec, *side_values)


# Primitives Beam's translation passes through on purpose: a reshuffle (dask partitions are
# already spread) and the window merge after GroupByKey (its translation already groups).
IDENTITIES = (dask_overrides._Reshuffle, dask_overrides._GroupAlsoByWindow)


def _read_bundles(bundles) -> list:
    """The elements of some bundles of a bounded source (a list: a partition may have several
    consumers, which an iterator would serve once)."""
    elements = []
    for bundle in bundles:
        tracker = bundle.source.get_range_tracker(bundle.start_position, bundle.stop_position)
        elements.extend(bundle.source.read(tracker))
    return elements


class _Read(beam_ops.DaskBagOp):
    """A bounded source (``beam.io.Read``, e.g. ReadFromTFRecord): split into bundles, one dask
    partition each (Beam's DaskRunner translates it to nothing)."""

    def apply(self, input_bag, side_inputs=None):
        import dask.bag
        from apache_beam.io.iobase import BoundedSource

        source = self.transform.source
        if not isinstance(source, BoundedSource):
            raise NotImplementedError(
                f"the DaskRunner cannot run {self.applied.full_label!r}: "
                f"{type(source).__name__} is not a bounded source"
            )
        bundles = list(source.split(desired_bundle_size=READ_BUNDLE_BYTES))
        return dask.bag.from_sequence(bundles, npartitions=max(len(bundles), 1)).map_partitions(
            _read_bundles
        )


@dataclasses.dataclass
class _BagVisitor(PipelineVisitor):
    """Beam's DaskBagVisitor, with ParDo outputs told apart by tag and side inputs passed to the
    ParDo as (view, bag) pairs."""

    bag_kwargs: dict
    bags: dict = dataclasses.field(default_factory=collections.OrderedDict)
    pardos: set = dataclasses.field(default_factory=set)

    def bag_of(self, value):
        """The bag of a PCollection: its producer's, or one output of a ParDo's."""
        bag = self.bags.get(value.producer)
        if value.producer in self.pardos:
            bag = bag.map_partitions(_select, value.tag)
        return bag

    def visit_transform(self, node) -> None:
        transform = node.transform
        op_class = beam_ops.TRANSLATIONS.get(transform.__class__, beam_ops.NoOp)
        if isinstance(transform, dask_overrides._Read):
            op_class = _Read
        elif isinstance(transform, IDENTITIES):
            op_class = beam_ops.NoOp
        elif isinstance(transform, beam.WindowInto) and not isinstance(
            transform.windowing.windowfn, GlobalWindows
        ):
            raise NotImplementedError(
                f"the DaskRunner cannot run {node.full_label!r}: this translation keeps no "
                "windows, only the global one"
            )
        elif isinstance(transform, beam.ParDo):  # Beam's matches ParDo itself, not subclasses.
            op_class = _ParDo
        elif op_class is beam_ops.NoOp:
            # Beam would pass the input through (or nothing, for a root): wrong output, no error.
            raise NotImplementedError(
                f"the DaskRunner cannot run {node.full_label!r}: Beam's Dask translation has no "
                f"{type(transform).__name__} (it has Create, ParDo, GroupByKey, Flatten, and "
                "here bounded reads)"
            )
        if op_class is _ParDo:
            self.pardos.add(node)
        op = op_class(node, bag_kwargs=self.bag_kwargs)
        inputs = []
        for value in node.inputs:
            if isinstance(value, pvalue.PBegin):
                inputs.append(None)
            elif value.producer in self.bags:
                inputs.append(self.bag_of(value))
        input_bag = None
        if node.inputs:
            single = len(inputs) == 1 and not isinstance(op, beam_ops.Flatten)
            input_bag = inputs[0] if single else inputs
        side_inputs = [
            (
                (type(side), side._view_options(), side._window_mapping_fn),
                self.bag_of(side.pvalue),
            )
            for side in node.side_inputs
        ]
        self.bags[node] = op.apply(input_bag=input_bag, side_inputs=side_inputs or None)


@dataclasses.dataclass
class DaskRunnerResult(beam_dask.DaskRunnerResult):
    """Beam's result; the client is closed once the pipeline has finished (or failed)."""

    def wait_until_finish(self, duration=None) -> str:
        try:
            return super().wait_until_finish(duration)
        finally:
            self.client.close()


class DaskRunner(beam_dask.DaskRunner):
    """Executes a pipeline on the dask.distributed cluster at ``--dask_client_address``."""

    def run_pipeline(self, pipeline, options):
        import dask
        import dask.bag
        import dask.distributed

        dask_options = options.view_as(beam_dask.DaskOptions).get_all_options(
            drop_default=True, current_only=True
        )
        bag_kwargs = beam_dask.DaskOptions._extract_bag_kwargs(dask_options)
        pipeline.replace_all(dask_overrides.dask_overrides())
        visitor = _BagVisitor(bag_kwargs)
        pipeline.visit(visitor)
        consumed = set()
        for node in visitor.bags:
            consumed.update(value.producer for value in node.inputs)
            consumed.update(side.pvalue.producer for side in node.side_inputs)
        sinks = [
            bag
            for node, bag in visitor.bags.items()
            if node not in consumed and isinstance(bag, dask.bag.Bag)
        ]
        client = dask.distributed.Client(**dask_options)
        futures = client.compute(list(dask.optimize(*sinks)))
        return DaskRunnerResult(client, futures)
