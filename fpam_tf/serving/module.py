"""The exported serving graph: a trained session model, its vocabulary and a TFRS top-k index.

Signatures (all inputs dense string batches, "" = padding; see BUILD.md, "Deployment: TF Serving"):

- ``serving_default(item_ids [B, T], skipped_ids [B, S]) -> item_ids [B, k], scores float32 [B, k]``
- ``recommend(item_ids [B, T])``: the same with nothing skipped (TF Serving requires every input).
- ``session_embedding(item_ids [B, T], skipped_ids [B, S]) -> e_seq float32 [B, D]``.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs

from fpam_tf.serving.prefix import item_indices, model_features, vocabulary_table

SIGNATURE_INPUT = tf.TensorSpec([None, None], tf.string)
# A model with a skip head reranks at least this many of the index's best candidates.
RERANK_CANDIDATES = 100


class RecommenderModule(tf.Module):
    """Serves a :class:`fpam_tf.model.SessionRecommender`: the next ``k`` items of sessions given
    as string ids.

    A session with no known item (empty, or only unknown / removed ids) gets a zero session
    embedding: every score is 0 and, as ``tf.math.top_k`` breaks ties by the lower index and the
    vocabulary is ordered by descending training frequency, the result is the ``k`` most popular
    training items (minus the skipped ones).

    A model with a skip head (``fp-skiphead``) reranks the best ``max(k, 100)`` unskipped
    candidates of the index by ``score + log P(not skipped | item)``, what its evaluation ranks
    over all items (:meth:`~fpam_tf.model.SessionRecommender.ranking_scores`); an item outside
    those candidates is not served even if that score would have placed it in the top ``k``. For
    an empty session the candidates are the 100 most popular items, ranked by the head.

    Args:
      model: the trained model (Keras 3).
      vocabulary_path: its ``vocabulary.txt`` (embedded as an asset).
      item_ids: the vocabulary's ids, str [V - 1] (index i + 1 = item_ids[i]).
      k: number of results.
      positives_only: the model was trained on positive-only prefixes (context ``positives``).
    """

    def __init__(
        self, model, vocabulary_path: str, item_ids: np.ndarray, *, k: int, positives_only: bool
    ):
        super().__init__(name="fpam_recommender")
        self.model = model
        # The tf.Variables inside the Keras 3 variables, listed on the module itself: the graph-mode
        # loaders of TF Serving and saved_model_cli restore only variables the object graph holds,
        # and a Keras variable exports a copy of its tf.Variable, not the one the functions read
        # (keras-team/keras#20095; tf.saved_model.load is not affected).
        self.model_variables = [variable.value for variable in model.variables]
        self.k = int(k)
        self.positives_only = bool(positives_only)
        self.vocabulary = vocabulary_table(vocabulary_path)
        table = np.asarray(model.item_embedding.embeddings, dtype=np.float32)
        self.index = tfrs.layers.factorized_top_k.BruteForce(k=self.k, name="item_index")
        # Row 0 is padding: never a candidate.
        self.index.index(
            tf.constant(table[1:]), tf.constant(np.asarray(item_ids, dtype=str).astype(object))
        )
        self.num_candidates = len(table) - 1

    def embed(self, item_ids: tf.Tensor, skipped_ids: tf.Tensor):
        """float32 ``e_seq`` [B, D] of string sessions (zeros for a session with no known item)."""
        items = item_indices(self.vocabulary, item_ids)
        skipped = item_indices(self.vocabulary, skipped_ids)
        features, has_items = model_features(
            items,
            skipped,
            positives_only=self.positives_only,
            flags=self.model.use_flags,
            prefix_features=self.model.encoder.prefix_features,
        )
        e_seq = tf.cast(self.model.session_embedding(features, training=False), tf.float32)
        return tf.where(has_items[:, None], e_seq, tf.zeros_like(e_seq))

    def top_k(self, e_seq: tf.Tensor, skipped_ids: tf.Tensor) -> dict:
        """The ``k`` best items [B, k] and their float32 scores [B, k] for ``e_seq`` [B, D], skipped
        ids excluded.

        The index over-fetches ``k + S`` candidates (at most ``S`` of them can be skipped items),
        drops the skipped ones and keeps the best ``k`` (TFRS's ``query_with_exclusions`` needs a
        static ``S``, which a serving signature does not have). Slots left when fewer than ``k``
        items remain hold "" with score -inf.
        """
        depth = self.k if self.model.skip_head is None else max(self.k, RERANK_CANDIDATES)
        fetch = tf.minimum(depth + tf.shape(skipped_ids)[1], self.num_candidates)
        scores, ids = self.index(e_seq, k=fetch)
        excluded = tf.reduce_any(tf.equal(ids[:, :, None], skipped_ids[:, None, :]), axis=2)
        if self.model.skip_head is not None:
            # The candidates are the best `depth` items left once the skipped ones are out.
            kept = tf.cumsum(tf.cast(tf.logical_not(excluded), tf.int32), axis=1)
            excluded = tf.logical_or(excluded, kept > depth)
            scores = scores + self.log_not_skipped(e_seq, ids)
        scores = tf.where(excluded, -np.inf, scores)
        best_scores, best = tf.math.top_k(scores, k=self.k)
        best_ids = tf.gather(ids, best, batch_dims=1)
        return {
            "item_ids": tf.where(tf.equal(best_scores, -np.inf), "", best_ids),
            "scores": best_scores,
        }

    def log_not_skipped(self, e_seq: tf.Tensor, ids: tf.Tensor) -> tf.Tensor:
        """float32 [B, N]: the skip head's ``log P(not skipped)`` of candidates ``ids`` [B, N]."""
        items = item_indices(self.vocabulary, ids)
        embeddings = tf.gather(self.model.item_embedding.embeddings, items)
        return tf.math.log_sigmoid(-self.model.skip_head(e_seq, embeddings, items))

    @tf.function(input_signature=[SIGNATURE_INPUT, SIGNATURE_INPUT])
    def serve(self, item_ids, skipped_ids):
        """``serving_default``: top-k item ids and scores of sessions ``item_ids``,
        ``skipped_ids`` excluded."""
        return self.top_k(self.embed(item_ids, skipped_ids), skipped_ids)

    @tf.function(input_signature=[SIGNATURE_INPUT])
    def recommend(self, item_ids):
        """``recommend``: ``serve`` with nothing skipped."""
        nothing = tf.fill(tf.stack([tf.shape(item_ids)[0], 0]), "")
        return self.top_k(self.embed(item_ids, nothing), nothing)

    @tf.function(input_signature=[SIGNATURE_INPUT, SIGNATURE_INPUT])
    def session_embedding(self, item_ids, skipped_ids):
        """``session_embedding``: ``{"e_seq": float32 [B, D]}``."""
        return {"e_seq": self.embed(item_ids, skipped_ids)}

    def signatures(self) -> dict:
        """The concrete functions to export, by signature name (input names follow the
        arguments)."""
        return {
            "serving_default": self.serve.get_concrete_function(),
            "recommend": self.recommend.get_concrete_function(),
            "session_embedding": self.session_embedding.get_concrete_function(),
        }
