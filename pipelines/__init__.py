"""The fpam-tf training pipeline: TFX's component sequence as plain functions over Apache Beam.

ExampleGen -> StatisticsGen -> Transform -> Trainer (+ a Vanilla baseline) -> Evaluator -> Pusher.
Every component reads its inputs from, and writes its outputs to, one pipeline root laid out as
TFX lays it out: ``<root>/<Component>/<artifact>/<execution id>/``. A component whose input
fingerprint is unchanged is skipped (see :mod:`pipelines.artifacts`). Entry point:
``python -m pipelines.run`` (see docs/PIPELINES.md).

TFX itself is not a dependency: its ml-metadata pin has no wheel for Python 3.11, so the execution
records live next to the artifacts as JSON instead of in an ML Metadata database.
"""

import fpam_tf  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported; TFT works with it set)
