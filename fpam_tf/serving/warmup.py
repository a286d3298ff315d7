"""TF Serving warm-up requests: ``assets.extra/tf_serving_warmup_requests`` of an exported version.

TF Serving replays these ``PredictionLog`` records when it loads a version, so the first live
request does not pay for graph initialisation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

WARMUP_FILE = Path("assets.extra") / "tf_serving_warmup_requests"


def warmup_requests(
    model_name: str, item_ids: np.ndarray
) -> list[prediction_log_pb2.PredictionLog]:
    """A few requests over real items ``item_ids`` (str, the most frequent first): every signature,
    batch 1 and a batch of 8 sessions of mixed lengths."""
    items = np.asarray(item_ids, dtype=str).tolist()
    single = np.array([items[:5]], dtype=object)
    # Row i: i + 1 consecutive items, then "" padding.
    width = 8
    mixed = np.array(
        [
            [items[(i + j) % len(items)] for j in range(i + 1)] + [""] * (width - i - 1)
            for i in range(width)
        ],
        dtype=object,
    )
    nothing = np.full((1, 1), "", dtype=object)
    skip_first = mixed[:, :1]
    requests = [
        ("serving_default", {"item_ids": single, "skipped_ids": nothing}),
        ("serving_default", {"item_ids": mixed, "skipped_ids": skip_first}),
        ("recommend", {"item_ids": single}),
        ("recommend", {"item_ids": mixed}),
        ("session_embedding", {"item_ids": mixed, "skipped_ids": skip_first}),
    ]
    return [_prediction_log(model_name, signature, inputs) for signature, inputs in requests]


def _prediction_log(
    model_name: str, signature: str, inputs: dict
) -> prediction_log_pb2.PredictionLog:
    request = predict_pb2.PredictRequest(
        model_spec=model_pb2.ModelSpec(name=model_name, signature_name=signature)
    )
    for key, value in inputs.items():
        request.inputs[key].CopyFrom(tf.make_tensor_proto(value, dtype=tf.string))
    return prediction_log_pb2.PredictionLog(
        predict_log=prediction_log_pb2.PredictLog(request=request)
    )


def write_warmup_requests(version_dir: Path, model_name: str, item_ids: np.ndarray) -> Path:
    """Writes :func:`warmup_requests` as a TFRecord file into ``version_dir``; returns its path."""
    path = version_dir / WARMUP_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for log in warmup_requests(model_name, item_ids):
            writer.write(log.SerializeToString())
    return path
