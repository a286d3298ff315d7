"""Export -> reload: the SavedModel answers as the in-memory Keras model, for every kind of input.

Tolerance: ids identical; scores within 1e-5 relative (+1e-6 absolute) in float32, the difference
between graph and eager evaluation order of the same float32 ops.
"""

from __future__ import annotations

import os
import sys
import types

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))
import tensorflow as tf  # noqa: E402
from serving_runs import NUM_ITEMS, item_id, make_run_dir, padded, reference_top_k  # noqa: E402

from fpam_tf.export import export  # noqa: E402
from fpam_tf.training.run_dir import load_model  # noqa: E402

K = 20
RTOL, ATOL = 1e-5, 1e-6


@pytest.fixture(
    scope="module",
    params=[
        ("narm", "fp-adametric", "all"),
        ("srgnn", "fp-adametric", "positives"),
        ("stamp", "fp-skiphead", None),
    ],
    ids=["narm-flags", "srgnn-positives", "stamp-skiphead"],
)
def exported(request, tmp_path_factory):
    """An exported run (NARM with skip flags; SR-GNN on positives-only prefixes; STAMP with a skip
    head reranking its candidates), reloaded."""
    backbone, method, context = request.param
    base = tmp_path_factory.mktemp(f"export-{backbone}")
    run_dir = make_run_dir(base / "run", model=backbone, method=method, context=context)
    path = export(run_dir, k=K, export_base=base / "models")
    _, model, _, _ = load_model(run_dir)
    return types.SimpleNamespace(
        path=path,
        model=model,
        positives_only=context == "positives",
        loaded=tf.saved_model.load(str(path)),
    )


def serve(exported, sessions, skipped=None, signature="serving_default"):
    """(ids [B, k] str, scores [B, k]) of the reloaded model's ``signature`` for lists of string
    ids."""
    inputs = {"item_ids": tf.constant(padded(sessions))}
    if signature != "recommend":
        inputs["skipped_ids"] = tf.constant(padded(skipped or [[] for _ in sessions]))
    out = exported.loaded.signatures[signature](**inputs)
    return out["item_ids"].numpy().astype(str), out["scores"].numpy()


def expected(exported, sessions, skipped=None):
    return reference_top_k(
        exported.model,
        sessions,
        skipped or [[] for _ in sessions],
        k=K,
        positives_only=exported.positives_only,
    )


def assert_same(actual, wanted):
    np.testing.assert_array_equal(actual[0], wanted[0])
    np.testing.assert_allclose(actual[1], wanted[1], rtol=RTOL, atol=ATOL)


def ids(*indices):
    return [item_id(i) for i in indices]


def test_reloaded_model_matches_in_memory_model_on_a_mixed_batch(exported):
    rng = np.random.default_rng(1)
    sessions = [ids(*rng.integers(0, NUM_ITEMS, n)) for n in (1, 3, 7, 12, 50, 64)]
    sessions.append(ids(5) + ["unknown-1"] + ids(6, 5, 7))  # repeated items, an unknown id
    sessions.append([])
    skipped = [
        [],
        ids(int(rng.integers(NUM_ITEMS))),
        [sessions[2][3]],
        [],
        [sessions[4][-1], "unknown-2"],
        [],
        ids(6),
        [],
    ]
    assert_same(serve(exported, sessions, skipped), expected(exported, sessions, skipped))


def test_batch_results_do_not_depend_on_the_other_rows(exported):
    sessions = [ids(1, 2, 3), ids(*range(40, 80)), ids(9)]
    skipped = [ids(2), [], ids(100)]
    batch = serve(exported, sessions, skipped)
    for row, (session, skip) in enumerate(zip(sessions, skipped)):
        alone = serve(exported, [session], [skip])
        np.testing.assert_array_equal(batch[0][row], alone[0][0])
        np.testing.assert_allclose(batch[1][row], alone[1][0], rtol=RTOL, atol=ATOL)


def test_skipped_items_are_never_recommended(exported):
    sessions = [ids(3, 4, 5), ids(*range(10, 30)), []]
    first = serve(exported, sessions)[0]
    skipped = [list(row[:10]) for row in first]  # the 10 best of each row, now skipped
    again = serve(exported, sessions, skipped)
    for row, skip in zip(again[0], skipped):
        assert not set(row) & set(skip)
    assert_same(again, expected(exported, sessions, skipped))


def test_unknown_ids_are_ignored(exported):
    with_unknown = serve(
        exported, [["nope"] + ids(3) + ["", "zzz"] + ids(4, 5) + ["other"]], [["never-seen"]]
    )
    without = serve(exported, [ids(3, 4, 5)])
    assert_same(with_unknown, without)


def test_over_long_sessions_keep_the_last_50_events(exported):
    session = ids(*range(80))
    assert_same(serve(exported, [session]), serve(exported, [session[-50:]]))


def test_empty_sessions_get_the_most_popular_items(exported):
    """No known item: zero embedding, so scores 0 and vocabulary order (descending training
    frequency); a skip head reranks those by P(not skipped)."""
    result = serve(exported, [[], ["unknown"], [""]], [[], [], ids(0, 2)])
    if exported.model.skip_head is not None:
        wanted = expected(exported, [[], ["unknown"], [""]], [[], [], ids(0, 2)])
        assert set(wanted[0][0]) <= set(ids(*range(100)))
        return assert_same(result, wanted)
    np.testing.assert_array_equal(result[0][0], ids(*range(K)))
    np.testing.assert_array_equal(result[0][1], ids(*range(K)))
    np.testing.assert_array_equal(result[0][2], ids(1, *range(3, K + 2)))
    np.testing.assert_array_equal(result[1], 0.0)


def test_skipped_prefix_events_are_removed_or_flagged(exported):
    """Positives-only models drop skipped events from the prefix; flag models keep them, flagged."""
    session, skipped = ids(3, 4, 5, 6), ids(5)
    with_skip = serve(exported, [session], [skipped])
    without_event = serve(exported, [ids(3, 4, 6)], [skipped])
    if exported.positives_only:
        assert_same(with_skip, without_event)
    else:
        assert not np.allclose(with_skip[1], without_event[1])
    assert_same(with_skip, expected(exported, [session], [skipped]))


def test_recommend_signature_is_serving_default_with_nothing_skipped(exported):
    sessions = [ids(7, 8), []]
    assert_same(serve(exported, sessions, signature="recommend"), serve(exported, sessions))


def test_session_embedding_signature(exported):
    out = exported.loaded.signatures["session_embedding"](
        item_ids=tf.constant([ids(1, 2), [""] * 2]), skipped_ids=tf.constant([[""], [""]])
    )["e_seq"]
    assert out.dtype == tf.float32 and out.shape == (2, exported.model.embedding_dim)
    np.testing.assert_array_equal(out[1], 0.0)


def test_signature_names_and_dtypes(exported):
    signatures = exported.loaded.signatures
    assert set(signatures) == {"serving_default", "recommend", "session_embedding"}
    for name in signatures:
        inputs = signatures[name].structured_input_signature[1]
        wanted = {"item_ids"} if name == "recommend" else {"item_ids", "skipped_ids"}
        assert set(inputs) == wanted
        assert all(
            spec.dtype == tf.string and spec.shape.as_list() == [None, None]
            for spec in inputs.values()
        )
    for name in ("serving_default", "recommend"):
        outputs = signatures[name].structured_outputs
        assert outputs["item_ids"].dtype == tf.string and outputs["item_ids"].shape.as_list() == [
            None,
            K,
        ]
        assert outputs["scores"].dtype == tf.float32 and outputs["scores"].shape.as_list() == [
            None,
            K,
        ]
    assert signatures["session_embedding"].structured_outputs["e_seq"].dtype == tf.float32
    assert (exported.path / "assets" / "vocabulary.txt").is_file()
