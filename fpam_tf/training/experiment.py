"""The data and model of a training run, built from its config."""

from __future__ import annotations

import dataclasses

from fpam_tf import datasets
from fpam_tf.input_pipeline import BatchOptions, make_dataset
from fpam_tf.model import build_model
from fpam_tf.protocol import ProtocolData
from fpam_tf.training.precision import resolve_precision
from fpam_tf.training.run_dir import RunConfig
from fpam_tf.windows import Windows


def load_protocol_data(config: RunConfig, *, tfds_dir=None) -> ProtocolData:
    """Prepares (if needed) the run's dataset and applies PROTOCOL §3 (vocabulary, encoding)."""
    prepared = datasets.load(
        config.dataset, config.data_dir, tfds_dir=tfds_dir, **config.dataset_options
    )
    return ProtocolData.from_sessions(prepared.splits)


@dataclasses.dataclass
class Experiment:
    """The data and model of a run, built from its config."""

    config: RunConfig
    data: ProtocolData
    model: object

    @classmethod
    def create(
        cls, config: RunConfig, *, tfds_dir=None, data: ProtocolData | None = None
    ) -> Experiment:
        import keras

        keras.mixed_precision.set_global_policy(
            config.resolved_precision or resolve_precision(config.precision)
        )
        if data is None:
            data = load_protocol_data(config, tfds_dir=tfds_dir)
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
            fp_target_weight=method.fp_target_weight,
            prefix_features=self.model.encoder.prefix_features,
        )

    def training_windows(self) -> Windows:
        method = self.config.method
        return self.data.training_windows(
            context=method.context, fp_targets=method.fp_targets, fp_scope=method.fp_scope
        )

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
        return self.data.evaluation_windows(split, context=self.config.method.context)

    def evaluation_dataset(self, split: str, batch_size: int | None = None):
        options = dataclasses.replace(self.batch_options, fp_items=False)
        return make_dataset(
            self.evaluation_windows(split),
            batch_size=batch_size or self.config.batch_size,
            options=options,
        )

    def evaluate(self, split: str) -> dict:
        """PROTOCOL §5 metrics (percent) of the current weights on a split."""
        self.model.reset_metrics()
        logs = self.model.evaluate(self.evaluation_dataset(split), verbose=0, return_dict=True)
        return {k: float(v) for k, v in logs.items()}
