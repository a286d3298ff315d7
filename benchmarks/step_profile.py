"""Where one training step's time goes: each part of a Spotify-sample step timed alone.

    python -m benchmarks.step_profile [--backbone narm] [--precision float32] [--steps 30]

On the same batches (Vanilla windows, batch 512, embedding and hidden 100, full softmax over the
17,101 items), in milliseconds per step:

- ``input pipeline``: pulling a batch from the tf.data pipeline (shuffle, gather, pad);
- ``encoder``: forward and backward of the backbone from item ids to e_seq (the recurrent loop or
  graph network, and the gradient of the input embedding lookup);
- ``output products``: the three [B, D+1] x [D+1, V] products of the output layer (logits, the
  gradient of e_seq, the gradient of the item table), alone: the output layer's roofline;
- ``softmax cross-entropy``: forward and backward of the loss over the [B, V] logits
  (:func:`fpam_tf.losses.softmax_cross_entropy`);
- ``optimizer``: one Adam update of every variable;
- ``compiled step``: the model's compiled train step, called directly;
- ``train_on_batch``: what the training loop calls (the compiled step plus Keras' per-call Python).

The parts do not add up to the step exactly (fusion, the casts and the mask around them), but they
say which part to work on. The table goes to BUILD.md, the JSON to
``results/step_profile_<precision>.json``.
"""

from __future__ import annotations

import argparse
import time

import fpam_tf  # noqa: F401
from benchmarks.common import (
    SPOTIFY_SAMPLE,
    print_table,
    require_spotify,
    spotify_vanilla_experiment,
    write_json,
)
from fpam_tf.training.precision import output_products_ms


def timed(function, batches, repeat: int = 1) -> float:
    """Milliseconds per call of ``function(batch)`` over ``batches`` (after a warm-up pass)."""
    for batch in batches:  # traces every batch shape
        function(batch)
    started = time.perf_counter()
    for _ in range(repeat):
        for batch in batches:
            result = function(batch)
    if result is not None:
        float(result)  # waits for asynchronous work
    return 1000 * (time.perf_counter() - started) / (repeat * len(batches))


def profile(backbone: str, precision: str, steps: int, spotify_dir: str, tfds_dir=None) -> dict:
    import keras
    import tensorflow as tf

    from fpam_tf.losses import softmax_cross_entropy

    experiment = spotify_vanilla_experiment(backbone, precision, spotify_dir, tfds_dir)
    model = experiment.model
    dataset = experiment.training_dataset(epoch=0)
    iterator = iter(dataset)
    started = time.perf_counter()
    batches = [next(iterator) for _ in range(steps)]
    pipeline_ms = 1000 * (time.perf_counter() - started) / steps

    variables = model.trainable_variables
    encoder_variables = [v for v in variables if v is not model.item_embedding.embeddings]

    @tf.function(reduce_retracing=True)
    def encoder_step(batch):
        features = batch[0]
        with tf.GradientTape() as tape:
            e_seq = tf.cast(model.session_embedding(features, training=True), tf.float32)
            loss = tf.reduce_sum(e_seq)
        grads = tape.gradient(loss, [model.item_embedding.embeddings, *encoder_variables])
        return tf.add_n([tf.reduce_sum(tf.convert_to_tensor(g)) for g in grads])

    batch_size, num_items = int(batches[0][1].shape[0]), len(experiment.data.items)
    dtype = keras.mixed_precision.global_policy().compute_dtype
    dim = experiment.config.embedding_dim + 1  # the padding mask rides as one more column
    products_ms = output_products_ms(dtype, batch_size, dim, num_items)

    logits = tf.random.stateless_normal([batch_size, num_items], [1, 2])

    @tf.function(reduce_retracing=True)
    def cross_entropy(batch):
        targets = batch[1]
        batch_logits = logits[: tf.shape(targets)[0]]
        with tf.GradientTape() as tape:
            tape.watch(batch_logits)
            loss = tf.reduce_mean(softmax_cross_entropy(targets, batch_logits))
        return tf.reduce_sum(tape.gradient(loss, batch_logits))

    zero_grads = [tf.zeros_like(v) for v in variables]

    @tf.function
    def optimizer_step(batch):
        model.optimizer.apply_gradients(zip(zero_grads, variables))
        return tf.constant(0.0)

    def compiled_step(batch):
        return model.train_function(iter([batch]))["loss"]

    def keras_step(batch):
        return model.train_on_batch(*batch, return_dict=True)["loss"]

    model.make_train_function()
    parts = {
        "input pipeline": pipeline_ms,
        "encoder (forward + backward)": timed(encoder_step, batches),
        "output products (roofline)": products_ms,
        "softmax cross-entropy": timed(cross_entropy, batches),
        "optimizer (Adam)": timed(optimizer_step, batches),
        "compiled step": timed(compiled_step, batches),
        "train_on_batch": timed(keras_step, batches),
    }
    mean_length = sum(int(b[0]["items"].shape[1]) for b in batches) / len(batches)
    return {
        "backbone": backbone,
        "precision": precision,
        "steps": steps,
        "mean_padded_length": round(mean_length, 1),
        "ms": {name: round(ms, 2) for name, ms in parts.items()},
    }


def main(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--backbone", default="narm")
    p.add_argument("--precision", default="float32")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--spotify-dir", default=str(SPOTIFY_SAMPLE))
    p.add_argument("--tfds-dir", default=None)
    p.add_argument("--out", default=None, help="default: results/step_profile_<precision>.json")
    args = p.parse_args(argv)
    require_spotify(args.spotify_dir)
    result = profile(args.backbone, args.precision, args.steps, args.spotify_dir, args.tfds_dir)
    step = result["ms"]["train_on_batch"]
    rows = [
        {"part": name, "ms / step": ms, "share of train_on_batch": f"{ms / step:.0%}"}
        for name, ms in result["ms"].items()
    ]
    print(
        f"\n{args.backbone} / {args.precision}, mean padded length {result['mean_padded_length']}\n"
    )
    print_table(rows, ["part", "ms / step", "share of train_on_batch"])
    out = args.out or f"results/step_profile_{args.precision}.json"
    write_json(out, {"benchmark": "step_profile", **result})


if __name__ == "__main__":
    main()
