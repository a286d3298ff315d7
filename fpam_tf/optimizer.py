"""Adam with an in-place update on TensorFlow."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="fpam_tf")
class Adam(keras.optimizers.Adam):
    """``keras.optimizers.Adam``, the same update with the same variables, but on the TensorFlow
    backend each variable is updated by one fused kernel (``ResourceApplyAdam``) that writes the
    variable and its two moments in place.

    Keras' update is written with ``keras.ops``: about nine temporaries the size of the variable,
    several of them alive at once. For the item table every step's gradient is dense (the softmax
    is over every item), so at 792k items (the 64x Last.fm-format log of
    ``benchmarks/data_scaling.py``) they were about 1.2 GB of a training step's peak memory. The
    fused kernel computes ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g^2`` and
    ``var -= lr sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(v) + epsilon)``, Keras' formula.

    Keras' own update runs instead under other backends, with ``amsgrad``, with optimizer options
    that change the update (weight decay, EMA, gradient accumulation, clipping act before it and
    are unaffected), and under a ``tf.distribute`` strategy (whose variables it updates per
    replica).
    """

    def update_step(self, gradient, variable, learning_rate):
        if not self._fused(gradient):
            return super().update_step(gradient, variable, learning_rate)
        import tensorflow as tf

        index = self._get_variable_index(variable)
        dtype = variable.dtype
        step = tf.cast(self.iterations + 1, dtype)
        tf.raw_ops.ResourceApplyAdam(
            var=_handle(variable),
            m=_handle(self._momentums[index]),
            v=_handle(self._velocities[index]),
            beta1_power=tf.pow(tf.cast(self.beta_1, dtype), step),
            beta2_power=tf.pow(tf.cast(self.beta_2, dtype), step),
            lr=tf.cast(learning_rate, dtype),
            beta1=tf.cast(self.beta_1, dtype),
            beta2=tf.cast(self.beta_2, dtype),
            epsilon=tf.cast(self.epsilon, dtype),
            grad=tf.cast(gradient, dtype),
        )

    def _fused(self, gradient) -> bool:
        if keras.backend.backend() != "tensorflow" or self.amsgrad:
            return False
        import tensorflow as tf

        return not isinstance(gradient, tf.IndexedSlices) and not tf.distribute.has_strategy()


def _handle(variable):
    """The resource handle of a Keras variable or of the TensorFlow variable it wraps."""
    return (variable.value if isinstance(variable, keras.Variable) else variable).handle
