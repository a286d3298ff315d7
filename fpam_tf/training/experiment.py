"""The data and model of a training run, built from its config."""

from __future__ import annotations

import dataclasses

from fpam_tf import datasets, metrics, protocol
from fpam_tf.errors import ConfigError
from fpam_tf.input_pipeline import (
    BatchOptions,
    chunk_batches,
    make_dataset,
    make_streamed_dataset,
    num_batches,
    window_tensors,
)
from fpam_tf.model import build_model
from fpam_tf.protocol import ProtocolData, StreamedProtocolData
from fpam_tf.protocol_variants import shifted_windows, variant_splits
from fpam_tf.training import steps
from fpam_tf.training.precision import resolve_precision
from fpam_tf.training.run_dir import RunConfig
from fpam_tf.vocabulary import EncodedSessions
from fpam_tf.windows import Windows


def load_protocol_data(config: RunConfig, *, tfds_dir=None, verbose: bool = False) -> ProtocolData:
    """Prepares (if needed) the run's dataset and applies PROTOCOL §3 (vocabulary, encoding) to its
    splits (or to those of the run's protocol variant); ``verbose`` shows TFDS's own output while
    preparing."""
    prepared = datasets.load(
        config.dataset,
        config.data_dir,
        tfds_dir=tfds_dir,
        verbose=verbose,
        **config.dataset_options,
    )
    return ProtocolData.from_sessions(variant_splits(config.protocol_variant, prepared.splits))


@dataclasses.dataclass
class Experiment:
    """The data and model of a run, built from its config.

    ``data`` is a :class:`~fpam_tf.protocol.ProtocolData` (splits in memory: each family of
    windows is built once, whole) or a :class:`~fpam_tf.protocol.StreamedProtocolData` (splits
    read in blocks of sessions: every dataset is built block by block, and only the blocks' window
    counts are kept between epochs).

    Streamed data that is only a part of every split (a worker of a multi-worker strategy on its
    own shards, :attr:`partitioned`) gives each of this worker's replicas whole batches of
    ceil(batch_size / replicas) windows of its own; the workers agree on the steps of every pass
    (one collective each) and a worker that runs out pads with empty batches. Window counts are
    summed over the workers.
    """

    config: RunConfig
    data: ProtocolData | StreamedProtocolData
    model: object
    # Built on first use: the in-memory training windows as tensors (kept for every epoch, the
    # NumPy windows dropped: one copy, not two); window counts of the streamed blocks.
    _training_tensors: dict | None = dataclasses.field(default=None, repr=False)
    _block_counts: dict = dataclasses.field(default_factory=dict, repr=False)
    # A partitioned worker's steps per epoch, as the workers agreed on them (one collective).
    _agreed_training_steps: int | None = dataclasses.field(default=None, repr=False)

    @classmethod
    def create(
        cls,
        config: RunConfig,
        *,
        tfds_dir=None,
        data: ProtocolData | StreamedProtocolData | None = None,
        verbose: bool = False,
    ) -> Experiment:
        import keras

        keras.mixed_precision.set_global_policy(
            config.resolved_precision or resolve_precision(config.precision)
        )
        if data is None:
            data = load_protocol_data(config, tfds_dir=tfds_dir, verbose=verbose)
        if isinstance(data, StreamedProtocolData):
            check_streamable(config)
        # Seeded after the data: preparing a dataset for the first time draws from Python's
        # random, which seeds Keras' generators, so seeding before it made a run's weights depend
        # on whether its dataset had been prepared already.
        keras.utils.set_random_seed(config.seed)
        model = build_model(
            config.method,
            backbone=config.model,
            num_items=len(data.items),
            num_users=len(data.users),
            embedding_dim=config.embedding_dim,
            hidden_units=config.hidden_units,
            learning_rate=config.learning_rate,
        )
        if isinstance(data, StreamedProtocolData):
            check_part(data, model.distribute_strategy)
        return cls(config, data, model)

    @property
    def streamed(self) -> bool:
        return isinstance(self.data, StreamedProtocolData)

    @property
    def partitioned(self) -> bool:
        """Whether this process holds only its part of every split (see the class)."""
        return self.streamed and not self.data.part.whole

    def _local_batch_size(self, batch_size: int) -> int:
        """Windows per batch this process builds: ``batch_size``, or a partitioned worker's
        replica's share of it."""
        if not self.partitioned:
            return batch_size
        return -(-batch_size // self.model.distribute_strategy.num_replicas_in_sync)

    @property
    def batch_options(self) -> BatchOptions:
        """What the method and the backbone need in a training batch."""
        method = self.config.method
        return BatchOptions(
            flags=method.flags,
            fp_items=method.fp_lambda > 0,
            target_is_fp=method.target_flags,
            fp_target_weight=method.fp_target_weight,
            grade_weights=method.grade_weights,
            prefix_features=self.model.encoder.prefix_features,
        )

    def training_windows(self) -> Windows:
        """The training windows of in-memory data (for inspection: training keeps them as
        tensors)."""
        if self.streamed:
            raise ConfigError("a streamed dataset has no whole training windows; iterate blocks")
        method = self.config.method
        windows = self.data.training_windows(
            context=method.context, fp_targets=method.fp_targets, fp_scope=method.fp_scope
        )
        return self._as_variant("train", windows)

    def _training_window_tensors(self) -> dict:
        if self._training_tensors is None:
            self._training_tensors = window_tensors(self.training_windows())
        return self._training_tensors

    def training_window_count(self) -> int:
        """How many training windows an epoch has (over every worker's part)."""
        if self.streamed:
            return self._summed(sum(self._counts("train", self._block_training_windows)))
        return int(self._training_window_tensors()["targets"].shape[0])

    def training_steps(self) -> int:
        """Steps in one training epoch: its global batches, or for a partitioned worker the most
        steps any worker's part needs."""
        if not self.streamed:
            return num_batches(self.training_window_count(), self.config.batch_size)
        if not self.partitioned:
            return self._local_training_batches()
        if self._agreed_training_steps is None:
            self._agreed_training_steps = steps.agreed_steps(
                self.model, self._local_training_batches()
            )
        return self._agreed_training_steps

    def _local_training_batches(self) -> int:
        counts = self._counts("train", self._block_training_windows)
        return chunk_batches(counts, self._local_batch_size(self.config.batch_size), shuffle=True)

    def training_batches(self, epoch: int, *, steps_to: int, start_step: int = 0):
        """Epoch ``epoch``'s steps ``[start_step, steps_to)`` as the training loop hands them to
        the strategy: global batches, or a partitioned worker's own
        (:class:`~fpam_tf.training.steps.WorkerBatches`)."""
        dataset = self.training_dataset(epoch)
        if not self.partitioned:
            return dataset.take(steps_to).skip(start_step)
        return steps.worker_batches(self.model, dataset, steps=steps_to, start_step=start_step)

    def training_dataset(self, epoch: int):
        """Epoch ``epoch``'s batches (this worker's own, when :attr:`partitioned`); the order
        depends only on (seed, epoch), so a resumed run sees the same."""
        seed = self.config.seed * 100_003 + epoch
        if not self.streamed:
            return make_dataset(
                self._training_window_tensors(),
                batch_size=self.config.batch_size,
                options=self.batch_options,
                shuffle=True,
                seed=seed,
            )
        return make_streamed_dataset(
            lambda: map(self._block_training_windows, self.data.blocks("train", seed)),
            num_batches=self._local_training_batches(),
            batch_size=self._local_batch_size(self.config.batch_size),
            options=self.batch_options,
            shuffle=True,
            seed=seed,
        )

    def _block_training_windows(self, sessions: EncodedSessions) -> Windows:
        method = self.config.method
        return protocol.training_windows(
            sessions, context=method.context, fp_targets=method.fp_targets, fp_scope=method.fp_scope
        )

    def evaluation_windows(self, split: str) -> Windows:
        """PROTOCOL §4's evaluation windows of a split of in-memory data with this method's prefix
        (or, for a run under a protocol variant, the variant's)."""
        return self._as_variant(split, self._evaluation_windows_of(self.data.splits[split]))

    def _evaluation_windows_of(self, sessions: EncodedSessions) -> Windows:
        method = self.config.method
        own_targets = self.config.protocol_variant == "own-targets" and method.fp_targets
        return protocol.evaluation_windows(sessions, context=method.context, fp_targets=own_targets)

    def _as_variant(self, split: str, windows: Windows) -> Windows:
        return shifted_windows(
            self.config.protocol_variant,
            self.data.splits[split],
            windows,
            context=self.config.method.context,
        )

    def skip_windows(self, split: str) -> Windows:
        """PROTOCOL §5b's skip windows of a split of in-memory data, with this method's prefix."""
        return self._skip_windows_of(self.data.splits[split])

    def _skip_windows_of(self, sessions: EncodedSessions) -> Windows:
        return protocol.skip_windows(sessions, context=self.config.method.context)

    def evaluation_window_count(self, split: str, *, skips: bool = False) -> int:
        """How many evaluation (or with ``skips``, skip) windows ``split`` has (over every
        worker's part)."""
        if self.streamed:
            windows_of = self._skip_windows_of if skips else self._evaluation_windows_of
            return self._summed(sum(self._counts(split, windows_of)))
        return len(self.skip_windows(split) if skips else self.evaluation_windows(split))

    def _summed(self, count: int) -> int:
        """This process's ``count`` summed over the workers' parts (one collective when
        :attr:`partitioned`)."""
        if not self.partitioned:
            return count
        return sum(steps.worker_counts(self.model.distribute_strategy, count))

    def _counts(self, split: str, windows_of) -> list[int]:
        """The window counts of ``split``'s blocks (stored order) under ``windows_of``: one pass
        over the split, the first time they are asked for."""
        key = (split, windows_of.__name__)
        if key not in self._block_counts:
            self._block_counts[key] = [
                len(windows_of(sessions)) for sessions in self.data.blocks(split, None)
            ]
        return self._block_counts[key]

    def evaluation_dataset(
        self, split: str, batch_size: int | None = None, *, skips=False, fp_items=False
    ):
        """Batches of ``split``'s evaluation windows, or with ``skips`` its skip windows, in order
        (this worker's own, when :attr:`partitioned`); every window weighs 1, so evaluation losses
        compare across methods. ``fp_items`` adds each window's FP side sequence (the projector's
        points)."""
        options = dataclasses.replace(
            self.batch_options,
            fp_items=fp_items,
            target_is_fp=False,
            fp_target_weight=1.0,
            grade_weights=None,
        )
        batch_size = batch_size or self.config.batch_size
        if not self.streamed:
            windows = self.skip_windows(split) if skips else self.evaluation_windows(split)
            return make_dataset(windows, batch_size=batch_size, options=options)
        windows_of = self._skip_windows_of if skips else self._evaluation_windows_of
        batch_size = self._local_batch_size(batch_size)
        return make_streamed_dataset(
            lambda: map(windows_of, self.data.blocks(split, None)),
            num_batches=chunk_batches(self._counts(split, windows_of), batch_size, shuffle=False),
            batch_size=batch_size,
            options=options,
        )

    def evaluate(self, split: str, *, skip_metrics: bool = False) -> dict:
        """PROTOCOL §5 metrics (percent) of the current weights on a split, and the loss; with
        ``skip_metrics`` also §5b's (``skiphr@K``, ``skipmrr@K``, ``separation@K``), one more pass
        over the split's skip windows."""
        results = self._ranking(self.evaluation_dataset(split))
        if skip_metrics:
            skips = self._ranking(self.evaluation_dataset(split, skips=True))
            results.update(metrics.skip_metrics(skips, results))
        return results

    def _ranking(self, dataset) -> dict:
        if self.partitioned:
            count = steps.agreed_steps(self.model, int(dataset.cardinality()))
            dataset = steps.worker_batches(self.model, dataset, steps=count)
        return steps.evaluate(self.model, dataset)


def check_part(data: StreamedProtocolData, strategy) -> None:
    """Refuses data split into a number of parts other than the strategy's workers.

    Raises:
      ConfigError: the parts and the workers differ in number.
    """
    workers = steps.worker_count(strategy)
    if data.part.count != workers:
        raise ConfigError(
            f"the data is part {data.part.index} of {data.part.count}, but the strategy has "
            f"{workers} worker(s): every worker must read one part\n"
            "  fix: read the data with one part per worker (pipelines.trainer.worker_part)"
        )


def check_streamable(config: RunConfig) -> None:
    """Refuses, before any work, what a streamed dataset cannot train: what needs a split whole.

    Raises:
      ConfigError: the method's FP scope is ``user``, or the run is under a protocol variant.
    """
    if config.method.fp_scope == "user":
        raise ConfigError(
            "the 'user' FP scope needs each user's train FPs in time order, which a streamed "
            "dataset (the pipeline's Trainer) never holds whole\n"
            "  fix: use --fp-scope session or prefix, or train with python -m fpam_tf.train"
        )
    if config.protocol_variant != "standard":
        raise ConfigError(
            f"the protocol variant {config.protocol_variant!r} re-cuts whole splits, which a "
            "streamed dataset (the pipeline's Trainer) never holds\n"
            "  fix: run protocol variants with python -m fpam_tf.train"
        )
