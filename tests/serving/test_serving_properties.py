"""Property-based: the exported ``serving_default`` signature, fed random batches of string sessions
(empty, unknown, non-ASCII, thousands of items long, with random skipped ids), always answers
well-formed: ``[B, k]`` ids from the vocabulary (or "" padding, scored -inf, only after every real
id), finite float32 scores in descending order otherwise, never a skipped id."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

sys.path.insert(0, os.path.dirname(__file__))
import tensorflow as tf  # noqa: E402
from serving_runs import NUM_ITEMS, item_id, make_run_dir, padded  # noqa: E402

from fpam_tf.export import export  # noqa: E402

K = 10
EXAMPLES = 60
KNOWN = [item_id(i) for i in range(NUM_ITEMS)]
ids = st.one_of(
    st.sampled_from(KNOWN),
    st.just(""),
    st.text(max_size=12),  # unknown ids, non-ASCII included
)
sessions = st.one_of(
    st.lists(ids, max_size=8),
    st.lists(st.sampled_from(KNOWN), min_size=1000, max_size=3000),  # very long sessions
)


@pytest.fixture(scope="module")
def signature(tmp_path_factory):
    base = tmp_path_factory.mktemp("serving-properties")
    run_dir = make_run_dir(base / "run", model="narm", method="fp-skiphead")
    path = export(run_dir, k=K, export_base=base / "models")
    return tf.saved_model.load(str(path)).signatures["serving_default"]


@seed(20261201)
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    batch=st.lists(st.tuples(sessions, st.lists(ids, max_size=4)), min_size=1, max_size=4),
)
def test_any_batch_of_strings_gets_a_well_formed_answer(signature, batch):
    items = padded([list(s) for s, _ in batch])
    skipped = padded([list(k) for _, k in batch])
    out = signature(item_ids=tf.constant(items), skipped_ids=tf.constant(skipped))
    answer = out["item_ids"].numpy().astype(object)
    scores = out["scores"].numpy()
    assert answer.shape == (len(batch), K) and scores.shape == (len(batch), K)
    assert scores.dtype == np.float32
    known = set(KNOWN)
    for row, row_scores, (_, row_skipped) in zip(answer, scores, batch):
        row = [i.decode("utf-8") for i in row]
        real = [i != "" for i in row]
        assert real == sorted(real, reverse=True)  # padding only at the end
        assert all(i in known for i in row if i) and not set(row) & set(row_skipped) - {""}
        assert (
            np.isfinite(row_scores[real]).all() and np.isneginf(row_scores[~np.array(real)]).all()
        )
        assert (np.diff(row_scores[real]) <= 1e-6).all()
