"""The data and model of a training run, built from its config."""

from __future__ import annotations

import dataclasses

from fpam_tf import datasets, metrics
from fpam_tf.input_pipeline import BatchOptions, make_dataset
from fpam_tf.model import build_model
from fpam_tf.protocol import ProtocolData
from fpam_tf.protocol_variants import shifted_windows, variant_splits
from fpam_tf.training import steps
from fpam_tf.training.precision import resolve_precision
from fpam_tf.training.run_dir import RunConfig
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
    """The data and model of a run, built from its config."""

    config: RunConfig
    data: ProtocolData
    model: object

    @classmethod
    def create(
        cls,
        config: RunConfig,
        *,
        tfds_dir=None,
        data: ProtocolData | None = None,
        verbose: bool = False,
    ) -> Experiment:
        import keras

        keras.mixed_precision.set_global_policy(
            config.resolved_precision or resolve_precision(config.precision)
        )
        if data is None:
            data = load_protocol_data(config, tfds_dir=tfds_dir, verbose=verbose)
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
        return cls(config, data, model)

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
        method = self.config.method
        windows = self.data.training_windows(
            context=method.context, fp_targets=method.fp_targets, fp_scope=method.fp_scope
        )
        return self._as_variant("train", windows)

    def training_dataset(self, windows: Windows, epoch: int):
        """Epoch ``epoch``'s batches; the order depends only on (seed, epoch), so a resumed run sees
        the same."""
        return make_dataset(
            windows,
            batch_size=self.config.batch_size,
            options=self.batch_options,
            shuffle=True,
            seed=self.config.seed * 100_003 + epoch,
        )

    def evaluation_windows(self, split: str) -> Windows:
        """PROTOCOL §4's evaluation windows of a split with this method's prefix (or, for a run
        under a protocol variant, the variant's)."""
        method = self.config.method
        own_targets = self.config.protocol_variant == "own-targets" and method.fp_targets
        windows = self.data.evaluation_windows(
            split, context=method.context, fp_targets=own_targets
        )
        return self._as_variant(split, windows)

    def _as_variant(self, split: str, windows: Windows) -> Windows:
        return shifted_windows(
            self.config.protocol_variant,
            self.data.splits[split],
            windows,
            context=self.config.method.context,
        )

    def skip_windows(self, split: str) -> Windows:
        """PROTOCOL §5b's skip windows of a split, with this method's prefix."""
        return self.data.skip_windows(split, context=self.config.method.context)

    def evaluation_dataset(self, split: str, batch_size: int | None = None, *, skips=False):
        """Batches of ``split``'s evaluation windows, or with ``skips`` its skip windows; every
        window weighs 1, so evaluation losses compare across methods."""
        options = dataclasses.replace(
            self.batch_options,
            fp_items=False,
            target_is_fp=False,
            fp_target_weight=1.0,
            grade_weights=None,
        )
        windows = self.skip_windows(split) if skips else self.evaluation_windows(split)
        return make_dataset(
            windows, batch_size=batch_size or self.config.batch_size, options=options
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
        return steps.evaluate(self.model, dataset)
