"""What TF Serving relies on, checked without the server binary: ``saved_model_cli`` reads and runs
the export, a process without fpam_tf loads it and agrees with the Keras model, the warm-up file
holds valid PredictionLogs, mixed-precision models serve float32; plus the ``recommend`` CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))
import tensorflow as tf  # noqa: E402
from serving_runs import item_id, make_run_dir, padded, reference_top_k  # noqa: E402

from fpam_tf import recommend as recommend_cli  # noqa: E402
from fpam_tf.export import export  # noqa: E402
from fpam_tf.serving.warmup import WARMUP_FILE  # noqa: E402
from fpam_tf.training.run_dir import load_model  # noqa: E402

K = 10
VENV_BIN = Path(sys.executable).parent
SESSIONS = [[item_id(3), item_id(9), "unknown"], [item_id(i) for i in range(60)], []]
SKIPPED = [[item_id(9)], [], [item_id(0)]]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    base = tmp_path_factory.mktemp("contract")
    run_dir = make_run_dir(base / "run", model="narm", context="all")
    return run_dir, export(run_dir, k=K, export_base=base / "models")


def run_quietly(args, **kwargs) -> subprocess.CompletedProcess:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TF_USE_LEGACY_KERAS="1")
    return subprocess.run(
        args, capture_output=True, text=True, env=env, timeout=300, check=True, **kwargs
    )


def test_saved_model_cli_lists_the_signatures(exported):
    out = run_quietly(
        [str(VENV_BIN / "saved_model_cli"), "show", "--dir", str(exported[1]), "--all"]
    ).stdout
    for name in ("serving_default", "recommend", "session_embedding"):
        assert f"signature_def['{name}']" in out
    assert (
        "inputs['skipped_ids']" in out and "outputs['scores']" in out and f"shape: (-1, {K})" in out
    )


def test_saved_model_cli_answers_a_request_as_the_in_memory_model(exported, tmp_path):
    """``saved_model_cli run`` loads through the TF1 session loader, the path TF Serving takes."""
    run_dir, path = exported
    # literals only
    expressions = f"item_ids=[['{item_id(3)}', '{item_id(9)}']];skipped_ids=[['{item_id(9)}']]"
    run_quietly(
        [
            str(VENV_BIN / "saved_model_cli"),
            "run",
            "--dir",
            str(path),
            "--tag_set",
            "serve",
            "--signature_def",
            "serving_default",
            "--input_exprs",
            expressions,
            "--outdir",
            str(tmp_path),
        ]
    )
    _, model, _, _ = load_model(run_dir)
    ids, scores = reference_top_k(
        model, [[item_id(3), item_id(9)]], [[item_id(9)]], k=K, positives_only=False
    )
    np.testing.assert_array_equal(
        np.load(tmp_path / "item_ids.npy", allow_pickle=True).astype(str), ids
    )
    np.testing.assert_allclose(np.load(tmp_path / "scores.npy"), scores, rtol=1e-5, atol=1e-6)


FRESH_PROCESS = """
import json, sys
import numpy as np
import tensorflow as tf
assert "fpam_tf" not in sys.modules and "keras" not in sys.modules
path, sessions, skipped = json.loads(sys.stdin.read())
pad = lambda rows: np.array(
    [
        r + [""] * (max(map(len, rows)) - len(r) or 0) if r else [""] * max(1, max(map(len, rows)))
        for r in rows
    ],
    dtype=object,
)
out = tf.saved_model.load(path).signatures["serving_default"](
    item_ids=tf.constant(pad(sessions)), skipped_ids=tf.constant(pad(skipped))
)
assert "fpam_tf" not in sys.modules
print(json.dumps({
    "ids": out["item_ids"].numpy().astype(str).tolist(),
    "scores": out["scores"].numpy().tolist(),
}))
"""


def test_a_process_without_fpam_tf_gets_the_in_memory_models_top_k(exported):
    run_dir, path = exported
    result = json.loads(
        run_quietly(
            [sys.executable, "-c", FRESH_PROCESS],
            cwd="/",
            input=json.dumps([str(path), SESSIONS, SKIPPED]),
        ).stdout
    )
    _, model, _, _ = load_model(run_dir)
    ids, scores = reference_top_k(model, SESSIONS, SKIPPED, k=K, positives_only=False)
    np.testing.assert_array_equal(result["ids"], ids)
    np.testing.assert_allclose(result["scores"], scores, rtol=1e-5, atol=1e-6)


def test_warmup_file_holds_prediction_logs_the_model_answers(exported):
    from tensorflow_serving.apis import prediction_log_pb2

    path = exported[1]
    loaded = tf.saved_model.load(str(path))
    records = list(tf.data.TFRecordDataset(str(path / WARMUP_FILE)).as_numpy_iterator())
    assert 3 <= len(records) <= 10
    signatures = set()
    for record in records:
        request = prediction_log_pb2.PredictionLog.FromString(record).predict_log.request
        assert request.model_spec.name == "run"
        signatures.add(request.model_spec.signature_name)
        inputs = {key: tf.constant(tf.make_ndarray(proto)) for key, proto in request.inputs.items()}
        assert all(
            item.decode() in ("", *(item_id(i) for i in range(300)))
            for value in inputs.values()
            for item in value.numpy().ravel()
        )
        loaded.signatures[request.model_spec.signature_name](**inputs)
    assert signatures == {"serving_default", "recommend", "session_embedding"}


def test_mixed_precision_model_serves_float32(tmp_path):
    import keras

    run_dir = make_run_dir(tmp_path / "run", model="gru4rec", precision="mixed_bfloat16")
    keras.mixed_precision.set_global_policy("float32")
    path = export(run_dir, k=K, export_base=tmp_path / "models")
    assert (
        keras.mixed_precision.global_policy().name == "float32"
    )  # export leaves the caller's policy alone
    out = tf.saved_model.load(str(path)).signatures["serving_default"](
        item_ids=tf.constant(padded(SESSIONS)), skipped_ids=tf.constant(padded(SKIPPED))
    )
    assert out["scores"].dtype == tf.float32
    _, model, _, _ = load_model(run_dir)
    keras.mixed_precision.set_global_policy("float32")
    assert model.compute_dtype == "bfloat16"
    ids, scores = reference_top_k(model, SESSIONS, SKIPPED, k=K, positives_only=True)
    np.testing.assert_allclose(out["scores"].numpy(), scores, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(out["item_ids"].numpy().astype(str), ids)


def test_recommend_cli_prints_the_newest_versions_results(exported, capsys):
    run_dir, path = exported
    results = recommend_cli.main(
        [
            "--model",
            str(path.parent),
            "--items",
            f"{item_id(3)},{item_id(9)},unknown",
            "--skipped",
            item_id(9),
            "--k",
            "5",
        ]
    )
    _, model, _, _ = load_model(run_dir)
    ids, scores = reference_top_k(model, SESSIONS[:1], SKIPPED[:1], k=5, positives_only=False)
    assert [i for i, _ in results] == list(ids[0])
    captured = capsys.readouterr()
    assert "ignored ids outside the model's vocabulary: unknown" in captured.err
    assert captured.out.splitlines()[0].split()[:2] == ["1", ids[0][0]]


def test_recommend_cli_errors(exported, tmp_path, capsys):
    path = exported[1]
    for argv, message in [
        (["--model", str(tmp_path / "none"), "--items", "a"], "does not exist"),
        (["--model", str(tmp_path), "--items", "a"], "holds no exported model version"),
        (["--model", str(path), "--items", "a", "--k", str(K + 1)], f"exported with --k {K}"),
    ]:
        with pytest.raises(SystemExit):
            recommend_cli.main(argv)
        assert message in capsys.readouterr().err


def test_recommend_cli_scores_a_jsonl_file_of_sessions_line_by_line(exported, tmp_path, capsys):
    run_dir, path = exported
    lines = [json.dumps({"items": s, "skipped": k}) for s, k in zip(SESSIONS, SKIPPED)]
    lines.insert(1, "")  # blank lines are skipped
    sessions = tmp_path / "sessions.jsonl"
    sessions.write_text("\n".join(lines) + "\n", encoding="utf-8")
    count = recommend_cli.main(["--model", str(path), "--sessions", str(sessions), "--k", "5"])
    answers = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert count == len(answers) == len(SESSIONS)
    _, model, _, _ = load_model(run_dir)
    ids, scores = reference_top_k(model, SESSIONS, SKIPPED, k=5, positives_only=False)
    for answer, want_ids, want_scores in zip(answers, ids, scores):
        assert answer["items"] == list(want_ids)
        np.testing.assert_allclose(answer["scores"], want_scores, rtol=1e-5, atol=1e-6)


def test_a_bad_line_of_a_sessions_file_is_named(exported, tmp_path, capsys):
    sessions = tmp_path / "sessions.jsonl"
    sessions.write_text('{"items": ["a"]}\n{"items": "a,b"}\n', encoding="utf-8")
    with pytest.raises(SystemExit):
        recommend_cli.main(["--model", str(exported[1]), "--sessions", str(sessions)])
    captured = capsys.readouterr()
    assert f'{sessions}:2: expected an object with an "items" list of strings' in captured.err
    assert json.loads(captured.out.splitlines()[0])["items"]  # the line before it was answered
