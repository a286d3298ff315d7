"""fpam-tf: false-positive-aware adaptive metric learning for session-based recommendation.

TensorFlow/Keras 3 implementation of FPAdaMetric (Jeong, Choi, Cho, Chung, AAAI 2022).

Importing the package sets ``TF_USE_LEGACY_KERAS=1`` before TensorFlow can be imported:
TensorFlow Recommenders 0.7.7 refuses to import without it (it builds on ``tf_keras``).
All model code in this package uses Keras 3 (``import keras``), never ``tf.keras``.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
# TensorFlow's C++ start-up chatter (CPU feature notices) hides real messages from users.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
