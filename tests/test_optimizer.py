"""fpam_tf's Adam: Keras' update, computed in place on TensorFlow."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from fpam_tf.optimizer import Adam


def test_adam_updates_variables_and_moments_as_keras_adam_does():
    rng = np.random.default_rng(0)
    start = [rng.normal(size=(40, 6)).astype(np.float32), rng.normal(size=6).astype(np.float32)]
    ours, theirs = Adam(3e-3), keras.optimizers.Adam(3e-3)
    variables = {id(o): [keras.Variable(v) for v in start] for o in (ours, theirs)}
    steps = {}
    for optimizer in (ours, theirs):
        optimizer.build(variables[id(optimizer)])
        # As in training: the update runs in a graph.
        steps[id(optimizer)] = tf.function(
            lambda gradients, o=optimizer: o.apply(gradients, variables[id(o)])
        )
    for _ in range(5):
        gradients = [tf.constant(rng.normal(size=v.shape).astype(np.float32)) for v in start]
        for optimizer in (ours, theirs):
            steps[id(optimizer)](gradients)
    for got, want in zip(ours.variables, theirs.variables):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-7)
    kinds = [[v.name.rsplit("_", 1)[-1] for v in o.variables] for o in (ours, theirs)]
    assert kinds[0] == kinds[1]  # iteration, learning_rate, then a momentum and velocity each
    assert int(ours.iterations) == 5
    assert ours._fused(tf.zeros(3))  # the fused kernel is what was compared


def test_adam_config_round_trips():
    clone = Adam.from_config(Adam(2e-3, beta_2=0.98).get_config())
    assert isinstance(clone, Adam) and clone.beta_2 == 0.98
    assert float(clone.learning_rate) == pytest.approx(2e-3)
