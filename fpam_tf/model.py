"""The session recommender: a backbone over a shared item table, trained with cross-entropy over all
items plus the FP metric term (paper eqs. 1-2, 8-11).

Written with ``keras.ops`` only, so the same model trains under the TensorFlow and JAX backends.
"""

from __future__ import annotations

import dataclasses

import keras
from keras import ops
from keras.src.losses.loss import scale_loss_for_distribution  # Keras 3's own helper; no public alias

from fpam_tf import backbones
from fpam_tf.errors import ConfigError
from fpam_tf.losses import FPAdaMetricLoss
from fpam_tf.metrics import RankingMetrics
from fpam_tf.windows import BatchOptions

METHODS = ("vanilla", "fp-simple", "fp-metric", "fp-adametric")
FP_WEIGHTINGS = ("softmax", "sigmoid")
_MASKED_LOGIT = -1e9  # Padding's logit: never ranked, never in the softmax.


@dataclasses.dataclass(frozen=True)
class MethodConfig:
    """A point of the method space (paper's methods are presets, see :meth:`preset`).

    Attributes:
      method: the preset's name (kept for reports).
      context: ``"all"`` (prefix holds every event) or ``"positives"`` (FPs removed, paper eq. 2).
      flags: add a learned played/skipped embedding to each prefix item (``--context all`` of an FP-aware method).
      fp_target_weight: cross-entropy weight of windows whose target is an FP (0 drops those windows).
      fp_lambda: λ of the FP metric term (0 = no term).
      aggregation: ``"mean"`` (FP-Metric, eq. 9) or ``"adaptive"`` (FP-AdaMetric, eqs. 10-11).
      fp_weighting: adaptive weights: ``"softmax"`` over a window's FPs or the literal ``"sigmoid"`` gate.
      margin: m of the hinge.
      fp_scope: which FPs a training window's side sequence holds (``session`` | ``prefix`` | ``user``).
    """

    method: str = "vanilla"
    context: str = "all"
    flags: bool = False
    fp_target_weight: float = 1.0
    fp_lambda: float = 0.0
    aggregation: str = "mean"
    fp_weighting: str = "softmax"
    margin: float = 1.0
    fp_scope: str = "session"

    @classmethod
    def preset(cls, method: str, *, context: str | None = None, fp_target_weight: float | None = None,
               fp_lambda: float | None = None, margin: float | None = None, fp_weighting: str = "softmax",
               fp_scope: str = "session") -> "MethodConfig":
        """The paper's methods, with optional overrides of the context, FP target weight, λ and m.

        Vanilla = all context without flags, w = 1, λ = 0; FP-Simple = positives context, w = 0, λ = 0;
        FP-Metric / FP-AdaMetric = FP-Simple plus the FP term (mean / adaptive aggregate of FPs).
        An FP-aware method given ``context="all"`` sees every event, each with its skip flag.
        """
        if method not in METHODS:
            raise ConfigError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
        if fp_weighting not in FP_WEIGHTINGS:
            raise ConfigError(f"unknown FP weighting {fp_weighting!r}; choose one of {', '.join(FP_WEIGHTINGS)}")
        vanilla = method == "vanilla"
        with_term = method in ("fp-metric", "fp-adametric")
        context = context or ("all" if vanilla else "positives")
        if context not in ("all", "positives"):
            raise ConfigError(f"unknown context {context!r}; choose 'all' or 'positives'")
        weight = (1.0 if vanilla else 0.0) if fp_target_weight is None else float(fp_target_weight)
        if not 0.0 <= weight <= 1.0:
            raise ConfigError(f"--fp-target-weight must be in [0, 1], got {weight}")
        fp_lambda = (DEFAULT_LAMBDA if with_term else 0.0) if fp_lambda is None else float(fp_lambda)
        if fp_lambda < 0:
            raise ConfigError(f"--lambda must be >= 0, got {fp_lambda}")
        return cls(
            method=method,
            context=context,
            flags=context == "all" and not vanilla,
            fp_target_weight=weight,
            fp_lambda=fp_lambda,
            aggregation="adaptive" if method == "fp-adametric" else "mean",
            fp_weighting=fp_weighting,
            margin=DEFAULT_MARGIN if margin is None else float(margin),
            fp_scope=fp_scope,
        )

    @property
    def fp_targets(self) -> bool:
        """Whether training keeps windows whose target is an FP."""
        return self.fp_target_weight > 0

    def batch_options(self, requires_graph: bool) -> BatchOptions:
        return BatchOptions(flags=self.flags, fp_items=self.fp_lambda > 0, graph=requires_graph,
                            fp_target_weight=self.fp_target_weight)


# λ and m of the FP term. Validation MRR@20 (NARM / FP-AdaMetric, Spotify sample, positives context, 6 epochs,
# seed 0; docs/REPRODUCTION.md): λ = 0.01 / 0.1 / 1 at m = 1: 11.98 / 12.10 / 12.14; m = 0.5 / 1 / 2 at
# λ = 0.1: 12.04 / 12.10 / 12.12. A spread of 0.16 MRR@20 over two decades of λ and a 4x range of m: the term's
# strength barely matters there, so the middle point is kept (λ = 1 costs 2.2 test HR@20 at seed 0).
DEFAULT_LAMBDA = 0.1
DEFAULT_MARGIN = 1.0


@keras.saving.register_keras_serializable(package="fpam_tf")
class SessionRecommender(keras.Model):
    """Scores every item for a session prefix: ``logits[b, i] = e_seq[b] · E[i]``.

    The item table ``E`` [V, D] embeds the prefix and scores the output (shared, as in the paper).
    Inputs are a dict of padded batches (see :func:`fpam_tf.windows.make_dataset`): ``items`` int32
    [B, T] (0 = padding) and, per configuration, ``flags`` [B, T], ``users`` [B], the SR-GNN graph,
    and for training with the FP term ``fp_items`` [B, F] and ``target_is_fp`` [B].
    ``call`` returns ``{"logits": float32 [B, V], "session_embedding": float32 [B, D]}``; column 0
    (padding) of the logits is masked out.

    The training loss is the (FP-target-weighted) softmax cross-entropy over all items plus
    ``λ ·`` :class:`~fpam_tf.losses.FPAdaMetricLoss`; both terms are tracked as ``ce_loss`` and ``fp_loss``.
    """

    def __init__(self, num_items: int, num_users: int = 1, backbone: str = "narm", embedding_dim: int = 100,
                 hidden_units: int = 100, flags: bool = False, fp_lambda: float = 0.0, aggregation: str = "mean",
                 fp_weighting: str = "softmax", margin: float = 1.0, **kwargs):
        super().__init__(**kwargs)
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

        # Small uniform init as in the reference implementations (NARM/SR-GNN use 1/sqrt(D)).
        init = keras.initializers.RandomUniform(-(embedding_dim ** -0.5), embedding_dim ** -0.5)
        self.item_embedding = keras.layers.Embedding(num_items, embedding_dim, embeddings_initializer=init,
                                                     name="item_embedding")
        self.flag_embedding = (keras.layers.Embedding(2, embedding_dim, embeddings_initializer="zeros",
                                                      name="flag_embedding") if flags else None)
        self.encoder = backbones.get(backbone, hidden_units=hidden_units)
        self.fp_term = None
        self.user_embedding = None
        if self.fp_lambda > 0:
            if aggregation == "adaptive" and num_users > 1:
                self.user_embedding = keras.layers.Embedding(num_users, embedding_dim, embeddings_initializer=init,
                                                             name="user_embedding")
            self.fp_term = FPAdaMetricLoss(aggregation=aggregation, weighting=fp_weighting, margin=margin,
                                           use_user=self.user_embedding is not None, name="fp_term")
            # Built now: these run only inside the training loss, after the optimizer has been built.
            self.fp_term.build((None, embedding_dim))
            if self.user_embedding is not None:
                self.user_embedding.build()
        self.ranking = RankingMetrics(name="ranking")
        self.ce_tracker = keras.metrics.Mean(name="ce_loss")
        self.fp_tracker = keras.metrics.Mean(name="fp_loss")

    @property
    def requires_graph(self) -> bool:
        return self.encoder.requires_graph

    def session_embedding(self, features, training=False):
        """``e_seq`` [B, D] in the compute dtype."""
        items = features["items"]
        mask = ops.not_equal(items, 0)
        inputs = {"sequence": self.item_embedding(items), "mask": mask}
        if self.flag_embedding is not None:
            inputs["context"] = self.flag_embedding(features["flags"])
        if self.encoder.requires_graph:
            nodes = features["nodes"]
            inputs.update(nodes=self.item_embedding(nodes), node_mask=ops.not_equal(nodes, 0),
                          adj_in=features["adj_in"], adj_out=features["adj_out"], alias=features["alias"])
        return self.encoder(inputs, training=training)

    def score(self, session_embedding):
        """float32 logits [B, V] of every item; padding masked.

        The padding mask rides in the matrix product as one extra constant column (``1`` on the
        session side, ``-1e9`` for row 0 and ``0`` elsewhere on the item side), so masking costs
        no extra pass over the [B, V] logits, forward or backward.
        """
        dtype = session_embedding.dtype
        table = ops.cast(self.item_embedding.embeddings, dtype)
        padding_column = ops.cast(ops.where(ops.equal(ops.arange(self.num_items), 0), _MASKED_LOGIT, 0.0), dtype)
        batch_ones = ops.ones_like(session_embedding[:, :1])
        logits = ops.matmul(ops.concatenate([session_embedding, batch_ones], axis=1),
                            ops.transpose(ops.concatenate([table, padding_column[:, None]], axis=1)))
        return ops.cast(logits, "float32")

    def call(self, features, training=False):
        session_embedding = self.session_embedding(features, training=training)
        return {"logits": self.score(session_embedding),
                "session_embedding": ops.cast(session_embedding, "float32")}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Weighted cross-entropy over all items + λ · FP term (+ any regularisation losses)."""
        cross_entropy = keras.losses.sparse_categorical_crossentropy(y, y_pred["logits"], from_logits=True)
        if sample_weight is None:
            ce_loss = ops.mean(cross_entropy)
        else:
            weight = ops.cast(sample_weight, "float32")
            ce_loss = ops.sum(cross_entropy * weight) / ops.maximum(ops.sum(weight), 1e-6)
        total = ce_loss
        fp_loss = ops.zeros((), "float32")
        if self.fp_term is not None and x is not None and "fp_items" in x:
            fp_items = x["fp_items"]
            user = self.user_embedding(x["users"]) if self.user_embedding is not None else None
            fp_loss = self.fp_term(
                y_pred["session_embedding"], self.item_embedding(y), self.item_embedding(fp_items),
                ops.not_equal(fp_items, 0), user, ops.logical_not(x["target_is_fp"]))["fp_term"]
            total = total + self.fp_lambda * fp_loss
        if self.losses:
            total = total + ops.sum(ops.stack([ops.cast(loss, "float32") for loss in self.losses]))
        self.ce_tracker.update_state(ce_loss)
        self.fp_tracker.update_state(fp_loss)
        # Read by compute_metrics in the same step (Keras calls it right after compute_loss).
        self._ranking_this_step = not training
        # Under a tf.distribute strategy each replica's loss is divided by the replica count, so
        # summed gradients are averages (what Keras's own compute_loss does); a no-op otherwise.
        return scale_loss_for_distribution(total)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """Ranking metrics on evaluation steps only: in training they would cost a pass over
        the [B, V] logits per step and nobody selects a model on them."""
        if getattr(self, "_ranking_this_step", True):
            self.ranking.update_state(y, y_pred["logits"])
        return self.get_metrics_result()

    def get_config(self):
        config = super().get_config()
        config.update(num_items=self.num_items, num_users=self.num_users, backbone=self.backbone_name,
                      embedding_dim=self.embedding_dim, hidden_units=self.hidden_units, flags=self.use_flags,
                      fp_lambda=self.fp_lambda, aggregation=self.aggregation, fp_weighting=self.fp_weighting,
                      margin=self.margin)
        return config


def build_model(method: MethodConfig, *, backbone: str, num_items: int, num_users: int,
                embedding_dim: int = 100, hidden_units: int = 100) -> SessionRecommender:
    """The model of a method configuration (an unknown backbone name is a ConfigError of the registry)."""
    return SessionRecommender(num_items=num_items, num_users=num_users, backbone=backbone,
                              embedding_dim=embedding_dim, hidden_units=hidden_units, flags=method.flags,
                              fp_lambda=method.fp_lambda, aggregation=method.aggregation,
                              fp_weighting=method.fp_weighting, margin=method.margin, name="session_recommender")
