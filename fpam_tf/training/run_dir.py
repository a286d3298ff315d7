"""A training run's configuration and its directory: what train writes and evaluate / export read.

Layout of a run directory::

    config.json            the RunConfig (a rerun with another config is refused)
    vocabulary.txt         item ids, line k = index k + 1 (embedded by export)
    users.txt              user ids, same layout (empty when the dataset has no users)
    checkpoints/latest.weights.h5, checkpoints/progress.json   resume state (model + optimizer)
    checkpoints/best.weights.h5                                 best validation MRR@20
    logs/                  TensorBoard (train / validation scalars, HParams, projector)
    metrics.json, metrics.md                                    test results of the best weights
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from fpam_tf.atomic import write_json_atomic
from fpam_tf.errors import ConfigError
from fpam_tf.methods import MethodConfig


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything that defines a training run. Fields in ``RESUMABLE`` may change between
    restarts."""

    dataset: str = "synthetic"
    data_dir: str | None = None
    model: str = "narm"
    method: MethodConfig = MethodConfig()
    embedding_dim: int = 100
    hidden_units: int = 100
    batch_size: int = 512
    learning_rate: float = 1e-3
    epochs: int = 10
    patience: int = 2
    seed: int = 0
    precision: str = "auto"
    dataset_options: dict = dataclasses.field(default_factory=dict)
    # PROTOCOL v2 unless a run studies a variant of it (fpam_tf.protocol_variants).
    protocol_variant: str = "standard"
    # The run directory whose best weights initialised this run (warm start), or None.
    init_from: str | None = None
    # The dtype policy ``precision`` resolved to on the machine that last trained the run (a
    # record: ``auto`` depends on the hardware).
    resolved_precision: str | None = None

    RESUMABLE = ("epochs", "patience", "data_dir", "precision", "resolved_precision")

    def validate(self) -> RunConfig:
        """Checks the dataset, backbone, precision and protocol variant names (in their registries)
        before anything is written."""
        from fpam_tf import backbones, datasets
        from fpam_tf.protocol_variants import PROTOCOL_VARIANTS
        from fpam_tf.training.precision import PRECISIONS

        datasets.DATASETS.get(self.dataset)
        backbones.BACKBONES.get(self.model)
        PRECISIONS.get(self.precision)
        PROTOCOL_VARIANTS.get(self.protocol_variant)
        return self

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> RunConfig:
        data = dict(data)
        data["method"] = MethodConfig(**data["method"])
        return cls(**data)


class RunDir:
    """Paths of a run directory and the atomic writes into it."""

    def __init__(self, path):
        self.path = Path(path)
        self.config = self.path / "config.json"
        self.vocabulary = self.path / "vocabulary.txt"
        self.users = self.path / "users.txt"
        self.checkpoints = self.path / "checkpoints"
        self.latest_weights = self.checkpoints / "latest.weights.h5"
        self.progress = self.checkpoints / "progress.json"
        self.best_weights = self.checkpoints / "best.weights.h5"
        self.logs = self.path / "logs"
        self.metrics_json = self.path / "metrics.json"
        self.metrics_md = self.path / "metrics.md"

    def read_config(self) -> RunConfig:
        if not self.config.is_file():
            raise ConfigError(
                f"{self.path} holds no training run (no config.json); "
                f"train one with: python -m fpam_tf.train --run-dir {self.path}"
            )
        return RunConfig.from_json(json.loads(self.config.read_text()))

    def check_same_run(
        self,
        config: RunConfig,
        how_to_fix: str = "pass a new --run-dir, or the same settings to resume it",
    ) -> None:
        """Raises :class:`ConfigError` unless the run here has ``config``'s settings (all but
        ``RESUMABLE``)."""
        if details := differences(
            self.read_config().to_json(), config.to_json(), ignore=RunConfig.RESUMABLE
        ):
            raise ConfigError(
                f"{self.path} holds a run with another config ({details}). Nothing was changed; "
                f"{how_to_fix}."
            )

    def claim(self, config: RunConfig) -> bool:
        """Writes ``config`` to a new run dir, or checks it matches the run already there.

        Returns True when the directory already held this run (training resumes).
        """
        config.validate()
        if self.config.is_file():
            self.check_same_run(config)
            write_json_atomic(self.config, config.to_json())
            return True
        if self.path.exists() and any(self.path.iterdir()):
            raise ConfigError(
                f"--run-dir {self.path} exists and is not a training run; "
                "pass an empty or new directory"
            )
        self.path.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.config, config.to_json())
        return False


def differences(existing: dict, wanted: dict, ignore=()) -> str:
    """``"key: <existing> there, <wanted> now; ..."`` for each key of ``wanted`` (but ``ignore``)
    that differs."""
    return "; ".join(
        f"{k}: {existing.get(k)!r} there, {wanted[k]!r} now"
        for k in sorted(wanted)
        if k not in ignore and existing.get(k) != wanted[k]
    )


def save_weights_atomic(model, path: Path) -> None:
    """``model.save_weights`` (model and optimizer variables) through a temporary file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name.replace(".weights.h5", ".tmp.weights.h5"))
    model.save_weights(tmp)
    os.replace(tmp, path)


def load_model(run_dir: RunDir, weights: str = "best"):
    """Rebuilds a run's model from its directory alone (no dataset needed): config, vocabularies,
    weights.

    Returns ``(config, model, items, users)`` with ``items`` / ``users`` the run's vocabularies.
    """
    import keras

    from fpam_tf.model import build_model
    from fpam_tf.vocabulary import Vocabulary

    config = run_dir.read_config()
    path = run_dir.best_weights if weights == "best" else run_dir.latest_weights
    if not path.is_file():
        raise ConfigError(
            f"{run_dir.path} has no trained model ({path} is missing); "
            "finish its training first (rerun the same train command to resume)"
        )
    items, users = Vocabulary.load(run_dir.vocabulary), Vocabulary.load(run_dir.users)
    # Built under the run's precision (layers keep their policy); the caller's global policy is
    # restored.
    caller_policy = keras.mixed_precision.global_policy()
    # A run recorded before resolved_precision existed is rebuilt under the caller's policy.
    policy = config.resolved_precision or config.precision
    if policy != "auto":
        keras.mixed_precision.set_global_policy(policy)
    try:
        model = build_model(
            config.method,
            backbone=config.model,
            num_items=len(items),
            num_users=len(users),
            embedding_dim=config.embedding_dim,
            hidden_units=config.hidden_units,
            learning_rate=config.learning_rate,
        )
    finally:
        keras.mixed_precision.set_global_policy(caller_policy)
    model.load_weights(path)
    return config, model, items, users
