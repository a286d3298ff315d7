"""Adding a backbone with inputs of its own is one class and one registry line.

A toy backbone builds a per-position recency feature from the padded prefix. Registered, it
trains through the tf.data pipeline, is rebuilt from its run directory and answers through the
exported serving graph, and none of those places names it.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
from keras import ops

from fpam_tf import datasets
from fpam_tf.backbones import BACKBONES, SessionEncoder
from fpam_tf.methods import MethodConfig
from fpam_tf.protocol import ProtocolData
from fpam_tf.training.run import run
from fpam_tf.training.run_dir import RunConfig, RunDir, load_model

PACKAGE = Path(__file__).resolve().parents[2] / "fpam_tf"
SMALL = {"num_sessions": 300, "num_users": 30, "num_items": 120}


@keras.saving.register_keras_serializable(package="fpam_tf_tests")
class RecencyBag(SessionEncoder):
    """e_seq = Dense(sum_t recency_t * x_t): a bag of the prefix weighted by its own feature.

    ``recency`` float32 [B, T]: (t + 1) / length on real positions, 0 on padding.
    """

    FEATURES = ("recency",)
    calls_of_prefix_features = 0

    @staticmethod
    def prefix_features(items, mask):
        import tensorflow as tf

        RecencyBag.calls_of_prefix_features += 1
        lengths = tf.reduce_sum(tf.cast(mask, tf.float32), axis=1, keepdims=True)
        positions = tf.cast(tf.range(tf.shape(items)[1]) + 1, tf.float32)[None, :]
        return {"recency": tf.where(mask, positions / lengths, 0.0)}

    def build(self, input_shape):
        dim = self.embedding_dim(input_shape)
        self.output_layer = keras.layers.Dense(dim, dtype=self.dtype_policy, name="output_layer")
        self.output_layer.build((None, dim))
        self.built = True

    def call(self, inputs, training=False):
        x = self.masked(self.position_inputs(inputs), inputs["mask"])
        weights = ops.cast(inputs["recency"], self.compute_dtype)[..., None]
        return self.output_layer(ops.sum(x * weights, axis=1))


@pytest.fixture()
def toy_backbone():
    BACKBONES.register("toy-recency", RecencyBag, "test backbone with a feature of its own")
    yield "toy-recency"
    BACKBONES.unregister("toy-recency")


def test_a_registered_backbone_with_its_own_feature_trains_reloads_and_serves(
    toy_backbone, tmp_path
):
    import tensorflow as tf

    from fpam_tf.export import export

    data = ProtocolData.from_sessions(
        datasets.load("synthetic", tfds_dir=tmp_path / "tfds", **SMALL).splits
    )
    config = RunConfig(
        dataset="synthetic",
        model=toy_backbone,
        method=MethodConfig.preset("fp-adametric"),
        embedding_dim=8,
        hidden_units=8,
        batch_size=64,
        epochs=1,
        dataset_options=SMALL,
    )
    run_dir = RunDir(tmp_path / "run")
    calls = RecencyBag.calls_of_prefix_features
    result = run(config, run_dir, verbose=0, max_steps_per_epoch=3, data=data)
    assert RecencyBag.calls_of_prefix_features > calls  # the input pipeline asked the backbone
    assert np.isfinite(result["metrics"]["mrr@20"])

    _, model, items, _ = load_model(run_dir)
    assert isinstance(model.encoder, RecencyBag)
    prefix = np.array([[1, 2, 3]], np.int32)
    features = {"items": prefix, **RecencyBag.prefix_features(prefix, prefix != 0)}
    np.testing.assert_allclose(np.asarray(features["recency"]), [[1 / 3, 2 / 3, 1.0]], rtol=1e-6)

    path = export(run_dir, k=5, export_base=tmp_path / "models")
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    answer = serve(item_ids=tf.constant([list(items.ids[:3])]), skipped_ids=tf.constant([[""]]))
    ids = answer["item_ids"].numpy().astype(str)[0]
    expected = model(features)["logits"].numpy()[0]
    expected[0] = -np.inf
    np.testing.assert_array_equal(ids, items.ids[np.argsort(-expected, kind="stable")[:5] - 1])


def test_no_module_outside_the_backbones_names_a_backbone():
    places = [
        PACKAGE / "input_pipeline.py",
        PACKAGE / "model.py",
        PACKAGE / "serving",
        PACKAGE / "training",
    ]
    for place in places:
        for path in [place] if place.is_file() else sorted(place.glob("*.py")):
            text = path.read_text(encoding="utf-8").lower()
            for name in ("srgnn", "session_graph", "requires_graph"):
                assert name not in text, f"{path} names {name!r}"
