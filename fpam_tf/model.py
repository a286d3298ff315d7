"""The session recommender: a backbone over a shared item table, trained with cross-entropy over all
items plus the FP metric term (paper eqs. 1-2, 8-11).

Written with ``keras.ops`` only, so the same model trains under the TensorFlow and JAX backends.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from fpam_tf import backbones
from fpam_tf.losses import (
    FPAdaMetricLoss,
    chunked_softmax_cross_entropy,
    softmax_cross_entropy,
)
from fpam_tf.methods import MethodConfig
from fpam_tf.metrics import RankingMetrics, chunked_target_ranks
from fpam_tf.optimizer import Adam
from fpam_tf.scoring import chunk_bounds, default_chunk_items, item_logits, ordered_block
from fpam_tf.skip_head import SkipHead


@keras.saving.register_keras_serializable(package="fpam_tf")
class SessionRecommender(keras.Model):
    """Scores every item for a session prefix: ``logits[b, i] = e_seq[b] · E[i]``.

    The item table ``E`` [V, D] embeds the prefix and scores the output (shared, as in the paper).
    Inputs are a dict of padded batches (see :func:`fpam_tf.input_pipeline.make_dataset`): ``items``
    int32 [B, T] (0 = padding) and, per configuration, ``flags`` [B, T], ``users`` [B], the
    backbone's own features (:attr:`~fpam_tf.backbones.base.SessionEncoder.FEATURES`), and for
    training with the FP term ``fp_items`` [B, F], and with any loss on FP targets
    ``target_is_fp`` [B].
    ``call`` returns ``{"logits": float32 [B, V], "session_embedding": float32 [B, D]}``; column 0
    (padding) of the logits is masked out. With a skip head, evaluation calls
    (``training=False``) also return ``"ranking_scores"`` [B, V] (:meth:`ranking_scores`), what
    the ranking metrics rank.

    With ``output_chunk_items`` set (a table too large to score whole, see
    :func:`fpam_tf.scoring.default_chunk_items`), ``call`` returns the session embedding alone:
    the loss and the ranking metrics score the table that many rows at a time
    (:func:`~fpam_tf.losses.chunked_softmax_cross_entropy`,
    :func:`~fpam_tf.metrics.chunked_target_ranks`), with the same values, and :meth:`score` gives
    the logits when a caller wants them whole.

    The training loss is the (FP-target-weighted) softmax cross-entropy over all items plus
    ``λ ·`` :class:`~fpam_tf.losses.FPAdaMetricLoss`, plus the skip terms: ``α ·`` the mean
    unlikelihood ``-log(1 - p_target)`` of windows whose target is an FP, and the skip head's
    binary cross-entropy on every window's target (label: the target is an FP). They are tracked
    as ``ce_loss``, ``fp_loss`` and ``skip_loss`` (the skip terms as added to the loss). Ranking
    metrics (:class:`~fpam_tf.metrics.RankingMetrics`) are computed on
    evaluation steps only: in training they would cost a pass over the [B, V] logits per step and
    nobody selects a model on them.
    """

    def __init__(
        self,
        num_items: int,
        num_users: int = 1,
        backbone: str = "narm",
        embedding_dim: int = 100,
        hidden_units: int = 100,
        flags: bool = False,
        fp_lambda: float = 0.0,
        aggregation: str = "mean",
        fp_weighting: str = "softmax",
        margin: float = 1.0,
        unlikelihood: float = 0.0,
        skip_head: bool = False,
        output_chunk_items: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.output_chunk_items = None if output_chunk_items is None else int(output_chunk_items)
        # Validated here, once: the loss and metrics cut the table by these bounds.
        self.output_blocks = chunk_bounds(num_items, self.output_chunk_items)
        self.num_items = num_items
        self.num_users = num_users
        self.backbone_name = backbone
        self.embedding_dim = embedding_dim
        self.hidden_units = hidden_units
        self.use_flags = flags
        self.fp_lambda = float(fp_lambda)
        self.aggregation = aggregation
        self.fp_weighting = fp_weighting
        self.margin = margin
        self.unlikelihood = float(unlikelihood)

        # Small uniform init as in the reference implementations (NARM/SR-GNN use 1/sqrt(D)).
        init = keras.initializers.RandomUniform(-(embedding_dim**-0.5), embedding_dim**-0.5)
        self.item_embedding = keras.layers.Embedding(
            num_items, embedding_dim, embeddings_initializer=init, name="item_embedding"
        )
        self.flag_embedding = (
            keras.layers.Embedding(
                2, embedding_dim, embeddings_initializer="zeros", name="flag_embedding"
            )
            if flags
            else None
        )
        self.encoder = backbones.create(backbone, hidden_units=hidden_units)
        self.fp_term = None
        self.user_embedding = None
        if self.fp_lambda > 0:
            if aggregation == "adaptive" and num_users > 1:
                self.user_embedding = keras.layers.Embedding(
                    num_users, embedding_dim, embeddings_initializer=init, name="user_embedding"
                )
            self.fp_term = FPAdaMetricLoss(
                aggregation=aggregation,
                weighting=fp_weighting,
                margin=margin,
                use_user=self.user_embedding is not None,
                name="fp_term",
            )
            # Built now: these run only inside the training loss, after the optimizer has been
            # built.
            self.fp_term.build((None, embedding_dim))
            if self.user_embedding is not None:
                self.user_embedding.build()
        self.skip_head = None
        if skip_head:
            self.skip_head = SkipHead(num_items, name="skip_head")
            self.skip_head.build((None, embedding_dim))
        self.ranking = RankingMetrics(name="ranking")
        self.ce_tracker = keras.metrics.Mean(name="ce_loss")
        self.fp_tracker = keras.metrics.Mean(name="fp_loss")
        self.skip_tracker = keras.metrics.Mean(name="skip_loss")

    def session_embedding(self, features, training=False):
        """``e_seq`` [B, D] in the compute dtype."""
        items = features["items"]
        mask = ops.not_equal(items, 0)
        inputs = {"sequence": self.item_embedding(items), "mask": mask}
        if self.flag_embedding is not None:
            inputs["context"] = self.flag_embedding(features["flags"])
        inputs.update(self.encoder.feature_inputs(features, self.item_embedding))
        return self.encoder(inputs, training=training)

    def score(self, session_embedding):
        """float32 logits [B, V] of every item; padding masked
        (:func:`fpam_tf.scoring.item_logits`)."""
        return item_logits(session_embedding, self.item_embedding.embeddings, 0)

    def ranking_scores(self, session_embedding, logits, rows=None, start: int = 0):
        """float32 [B, R]: ``logits`` of the R items from item ``start`` on, whose table rows are
        ``rows`` [R, D] (default: the whole table), (log P(item) up to a constant) plus
        ``log P(not skipped | item)`` of the skip head; ``logits`` unchanged without one.

        So items are ranked by the probability of being played next and kept.
        """
        if self.skip_head is None:
            return logits
        rows = self.item_embedding.embeddings if rows is None else rows
        skip_logits = self.skip_head.all_items(session_embedding, rows, start)
        return logits + ops.log_sigmoid(-skip_logits)

    def call(self, features, training=False):
        session_embedding = self.session_embedding(features, training=training)
        outputs = {"session_embedding": ops.cast(session_embedding, "float32")}
        if self.output_chunk_items is not None:
            return outputs
        outputs["logits"] = logits = self.score(session_embedding)
        if self.skip_head is not None and not training:
            outputs["ranking_scores"] = self.ranking_scores(session_embedding, logits)
        return outputs

    def block_ranks(self, targets, session_embedding):
        """int32 [B]: the targets' ranks by :meth:`ranking_scores`, scoring the table
        ``output_chunk_items`` rows at a time (:func:`~fpam_tf.metrics.chunked_target_ranks`)."""
        # Read once, as the loss reads it: every block slices the same tensor.
        table = ops.convert_to_tensor(self.item_embedding.embeddings)

        def score_block(start, stop, dependency):
            embedding, rows = ordered_block(session_embedding, table, start, stop, dependency)
            return self.ranking_scores(embedding, item_logits(embedding, rows, start), rows, start)

        return chunked_target_ranks(score_block, self.output_blocks, targets)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Weighted cross-entropy over all items + λ · FP term (+ any regularisation losses).

        Keras calls this on training steps (``training=True``) and evaluation steps
        (``training=False``); the ranking metrics are updated on the latter only.
        """
        return self.loss_terms(x, y, y_pred, sample_weight, compute_metrics=not training)

    def loss_terms(self, x, y, y_pred, sample_weight=None, *, compute_metrics: bool):
        """The total loss of a batch; updates the loss trackers and, when ``compute_metrics``,
        the ranking metrics.

        Every term is a sum over windows divided by a count of windows. Under a
        ``tf.distribute`` strategy with several replicas the sums are this replica's and the
        counts the whole global batch's (one all-reduce), so the replicas' totals add up to the
        one-device loss of the global batch however it was split (unevenly, or with an empty
        slice, on a last partial batch) and their summed gradients are its gradient.
        """
        # Evaluation steps (the ones that compute metrics) need no gradient.
        if "logits" in y_pred:
            cross_entropy = softmax_cross_entropy(
                y, y_pred["logits"], differentiable=not compute_metrics
            )
        else:
            # Back in the compute dtype (exactly: call cast it up) for the blocks' products.
            session_embedding = ops.cast(y_pred["session_embedding"], self.compute_dtype)
            cross_entropy = chunked_softmax_cross_entropy(
                y,
                session_embedding,
                ops.convert_to_tensor(self.item_embedding.embeddings),
                self.output_chunk_items,
                differentiable=not compute_metrics,
            )
        weight = (
            ops.ones_like(cross_entropy)
            if sample_weight is None
            else ops.cast(sample_weight, "float32")
        )
        # name -> (sum over this replica's windows, its count of windows, the count's floor)
        parts = {"ce": (ops.sum(cross_entropy * weight), ops.sum(weight), 1e-6)}
        if self.fp_term is not None and x is not None and "fp_items" in x:
            fp_items = x["fp_items"]
            user = self.user_embedding(x["users"]) if self.user_embedding is not None else None
            fp = self.fp_term(
                y_pred["session_embedding"],
                self.item_embedding(y),
                self.item_embedding(fp_items),
                ops.not_equal(fp_items, 0),
                user,
                ops.logical_not(x["target_is_fp"]),
            )
            parts["fp"] = (ops.sum(fp["per_window"]), fp["count"], 1.0)
        if x is not None and "target_is_fp" in x:
            parts.update(self.skip_parts(y, y_pred, cross_entropy, x["target_is_fp"]))
        counts = replica_sum(ops.stack([count for _, count, _ in parts.values()]))
        means = {
            name: total / ops.maximum(counts[i], floor)
            for i, (name, (total, _, floor)) in enumerate(parts.items())
        }
        zero = ops.zeros((), "float32")
        ce_loss = means["ce"]
        fp_loss = means.get("fp", zero)
        skip_loss = means.get("unlikelihood", zero) + means.get("skip_head", zero)
        total = ce_loss + self.fp_lambda * fp_loss + skip_loss
        if self.losses:
            total = total + per_replica(
                ops.sum(ops.stack([ops.cast(loss, "float32") for loss in self.losses]))
            )
        # Each replica's trackers are averaged over the replicas when read: scaled by their number
        # they report the global batch's terms.
        replicas = replicas_in_sync()
        self.ce_tracker.update_state(ce_loss * replicas)
        self.fp_tracker.update_state(fp_loss * replicas)
        self.skip_tracker.update_state(skip_loss * replicas)
        if compute_metrics and "logits" in y_pred:
            self.ranking.update_state(y, y_pred.get("ranking_scores", y_pred["logits"]))
        elif compute_metrics:
            self.ranking.update_ranks(self.block_ranks(y, session_embedding))
        return total

    def skip_parts(self, targets, y_pred, cross_entropy, target_is_fp) -> dict:
        """The skip terms as :meth:`loss_terms` parts, those the model has: ``"unlikelihood"``,
        ``α ·`` the unlikelihood ``-log(1 - p_target)`` over the windows whose target is an FP,
        and ``"skip_head"``, the skip head's binary cross-entropy over every window.

        The unlikelihood uses ``p = exp(-cross_entropy)``, the softmax probability of the target,
        so it adds no pass over the [B, V] logits. The skip head learns on a stopped gradient: it
        reads the session and item embeddings but does not shape them, so the recommender
        underneath is trained exactly as without the head.
        """
        is_fp = ops.cast(target_is_fp, "float32")
        parts = {}
        if self.unlikelihood > 0:
            # 1 - p = -expm1(-CE); floored so a target already at p ~ 1 gives a finite loss.
            unlikelihood = -ops.log(ops.maximum(-ops.expm1(-cross_entropy), 1e-6))
            parts["unlikelihood"] = (
                self.unlikelihood * ops.sum(unlikelihood * is_fp),
                ops.sum(is_fp),
                1.0,
            )
        if self.skip_head is not None:
            session = ops.stop_gradient(y_pred["session_embedding"])
            target_embedding = ops.stop_gradient(self.item_embedding(targets))
            skip_logits = self.skip_head(
                session, target_embedding[:, None, :], ops.reshape(targets, (-1, 1))
            )[:, 0]
            bce = ops.binary_crossentropy(is_fp, skip_logits, from_logits=True)
            parts["skip_head"] = (ops.sum(bce), ops.sum(ops.ones_like(bce)), 1.0)
        return parts

    def get_config(self):
        config = super().get_config()
        config.update(
            num_items=self.num_items,
            num_users=self.num_users,
            backbone=self.backbone_name,
            embedding_dim=self.embedding_dim,
            hidden_units=self.hidden_units,
            flags=self.use_flags,
            fp_lambda=self.fp_lambda,
            aggregation=self.aggregation,
            fp_weighting=self.fp_weighting,
            margin=self.margin,
            unlikelihood=self.unlikelihood,
            skip_head=self.skip_head is not None,
            output_chunk_items=self.output_chunk_items,
        )
        return config


def replicas_in_sync() -> int:
    """How many replicas run this step: those of the ``tf.distribute`` strategy when called in
    one of its replicas, else 1 (also under other backends)."""
    if keras.backend.backend() != "tensorflow":
        return 1
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    return 1 if context is None else context.num_replicas_in_sync


def replica_sum(value):
    """``value`` summed over the replicas of the step (see :func:`replicas_in_sync`)."""
    if replicas_in_sync() > 1:
        import tensorflow as tf

        return tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, value)
    return value


def per_replica(loss):
    """``loss`` divided by the replica count, so that the replicas' summed gradients are its
    gradient (what Keras does for compiled losses)."""
    replicas = replicas_in_sync()
    return loss / replicas if replicas > 1 else loss


def build_model(
    method: MethodConfig,
    *,
    backbone: str,
    num_items: int,
    num_users: int,
    embedding_dim: int = 100,
    hidden_units: int = 100,
    learning_rate: float = 1e-3,
) -> SessionRecommender:
    """The model of a method configuration, compiled with Adam and with every variable (the
    optimizer's too) created, so weights can be loaded into it or training can start.

    An unknown backbone name is a ConfigError of the backbone registry.
    """
    model = SessionRecommender(
        num_items=num_items,
        num_users=num_users,
        backbone=backbone,
        embedding_dim=embedding_dim,
        hidden_units=hidden_units,
        flags=method.flags,
        fp_lambda=method.fp_lambda,
        aggregation=method.aggregation,
        fp_weighting=method.fp_weighting,
        margin=method.margin,
        unlikelihood=method.unlikelihood,
        skip_head=method.skip_head,
        output_chunk_items=default_chunk_items(num_items),
        name="session_recommender",
    )
    model.compile(optimizer=Adam(learning_rate))
    items = np.array([[1, min(2, num_items - 1)]], np.int32)
    sample = {"items": items, "flags": np.zeros_like(items), "users": np.zeros(1, np.int32)}
    sample.update(
        {
            name: np.asarray(value)
            for name, value in model.encoder.prefix_features(items, items != 0).items()
        }
    )
    model(sample)
    model.optimizer.build(model.trainable_variables)
    return model
