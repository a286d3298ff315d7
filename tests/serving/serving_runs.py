"""Run directories of small untrained models (weights saved as if trained) and their exports."""

from __future__ import annotations

import numpy as np

import fpam_tf  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
from fpam_tf.methods import MethodConfig
from fpam_tf.model import build_model
from fpam_tf.training.run_dir import RunConfig, RunDir, save_weights_atomic
from fpam_tf.vocabulary import Vocabulary

NUM_ITEMS = 300  # catalogue size, padding excluded
EMBEDDING_DIM = 16


def item_id(i: int) -> str:
    """The string id of vocabulary entry ``i`` (0-based)."""
    return f"track-{i:04d}"


def make_run_dir(
    path,
    *,
    model: str = "narm",
    method: str = "fp-adametric",
    context: str | None = None,
    precision: str = "auto",
    seed: int = 0,
) -> RunDir:
    """A run directory whose best weights are those of a freshly initialised model (``seed``).

    The skip-flag embedding and a skip head's item biases (zeros at initialisation) are randomised
    so that flags and the head change the output.
    """
    import keras

    keras.utils.set_random_seed(seed)
    policy = "float32" if precision == "auto" else precision
    keras.mixed_precision.set_global_policy(policy)
    run_dir = RunDir(path)
    config = RunConfig(
        model=model,
        method=MethodConfig.preset(method, context=context),
        embedding_dim=EMBEDDING_DIM,
        hidden_units=EMBEDDING_DIM,
        seed=seed,
        precision=precision,
        resolved_precision=policy,
    )
    run_dir.claim(config)
    items = Vocabulary([item_id(i) for i in range(NUM_ITEMS)])
    items.save(run_dir.vocabulary)
    Vocabulary(["user-a", "user-b"]).save(run_dir.users)
    recommender = build_model(
        config.method,
        backbone=model,
        num_items=len(items),
        num_users=3,
        embedding_dim=EMBEDDING_DIM,
        hidden_units=EMBEDDING_DIM,
    )
    if recommender.flag_embedding is not None:
        recommender.flag_embedding.embeddings.assign(
            np.random.default_rng(seed).normal(0, 0.3, (2, EMBEDDING_DIM))
        )
    if recommender.skip_head is not None:
        recommender.skip_head.item_bias.assign(
            np.random.default_rng(seed + 1).normal(0, 2.0, len(items))
        )
    save_weights_atomic(recommender, run_dir.best_weights)
    return run_dir


def padded(rows: list[list[str]], width: int | None = None) -> np.ndarray:
    """String rows as a dense object array [len(rows), width] padded with ""."""
    width = max([len(r) for r in rows] + [1]) if width is None else width
    return np.array([r + [""] * (width - len(r)) for r in rows], dtype=object)


def reference_top_k(
    model, sessions: list[list[str]], skipped: list[list[str]], *, k: int, positives_only: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k ids [B, k] and float32 scores [B, k] computed one session at a time in Python with the
    Keras model.

    Independent of the serving graph: prefix prepared with the vocabulary's lookup, the skipped
    items removed (positives-only) or flagged, the last ``MAX_PREFIX`` events kept; an empty prefix
    has a zero embedding; skipped items and padding never ranked; ties keep the lower index. A
    model with a skip head reranks the best ``max(k, 100)`` unskipped items by
    ``score + log P(not skipped)``.
    """
    from fpam_tf.serving.module import RERANK_CANDIDATES
    from fpam_tf.windows import MAX_PREFIX

    index = {item_id(i): i + 1 for i in range(NUM_ITEMS)}
    table = np.asarray(model.item_embedding.embeddings, dtype=np.float32)
    all_ids, all_scores = [], []
    for session, skip in zip(sessions, skipped):
        skip_indices = {index[i] for i in skip if i in index}
        prefix = [
            index[i]
            for i in session
            if i in index and not (positives_only and index[i] in skip_indices)
        ]
        prefix = prefix[-MAX_PREFIX:]
        if prefix:
            items = np.array([prefix], np.int32)
            features = {
                "items": items,
                "flags": np.isin(items, list(skip_indices)).astype(np.int32),
            }
            features.update(
                {
                    k_: np.asarray(v)
                    for k_, v in model.encoder.prefix_features(items, items != 0).items()
                }
            )
            e_seq = np.asarray(model.session_embedding(features), dtype=np.float32)[0]
        else:
            e_seq = np.zeros(table.shape[1], np.float32)
        scores = table @ e_seq
        scores[0] = -np.inf
        scores[list(skip_indices)] = -np.inf
        if model.skip_head is not None:
            candidates = np.argsort(-scores, kind="stable")[: max(k, RERANK_CANDIDATES)]
            skip_logits = np.asarray(model.skip_head.all_items(e_seq[None], table))[0]
            reranked = np.full_like(scores, -np.inf)
            reranked[candidates] = scores[candidates] - np.logaddexp(0.0, skip_logits[candidates])
            scores = reranked
        best = np.argsort(-scores, kind="stable")[:k]
        all_ids.append([item_id(i - 1) for i in best])
        all_scores.append(scores[best])
    return np.array(all_ids), np.array(all_scores, np.float32)
