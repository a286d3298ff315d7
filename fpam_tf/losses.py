"""The FPAdaMetric false-positive metric-learning term (Jeong et al., AAAI 2022, eqs. 8-11)."""

from __future__ import annotations

import functools

import keras
from keras import ops

from fpam_tf.registry import Registry
from fpam_tf.scoring import after, chunk_bounds, chunk_entries, item_logits, ordered_block

AGGREGATIONS: Registry[None] = Registry("FP aggregation")
AGGREGATIONS.register("mean", None, "FP-Metric, eq. 8: the mean FP embedding")
AGGREGATIONS.register("adaptive", None, "FP-AdaMetric, eqs. 10-11: FPs weighted by f_FPA")
WEIGHTINGS: Registry[None] = Registry("FP weighting")
WEIGHTINGS.register("softmax", None, "softmax over a window's FPs")
WEIGHTINGS.register("sigmoid", None, "the paper's literal sigmoid gate (eq. 11)")
_NEG = -1e9


def softmax_cross_entropy(targets, logits, *, differentiable: bool = True):
    """Per-window softmax cross-entropy over all items: float32 [B] from int [B] ``targets`` and
    float32 [B, V] ``logits`` (paper eq. 1; ``-log softmax(logits)[target]``).

    On the TensorFlow backend one XLA-compiled pass computes the loss and its gradient together:
    TensorFlow's own kernel for it runs on one core of a CPU and took as long as the output layer's
    three matrix products (BUILD.md, "Performance"). ``differentiable=False`` (evaluation) computes
    the loss alone, without the [B, V] gradient. Other backends (JAX compiles the whole step anyway)
    use ``keras.losses.sparse_categorical_crossentropy``.
    """
    if keras.backend.backend() != "tensorflow":
        return keras.losses.sparse_categorical_crossentropy(targets, logits, from_logits=True)
    with_gradient, loss_only = _tensorflow_softmax_cross_entropy()
    return (with_gradient if differentiable else loss_only)(targets, logits)


@functools.cache
def _tensorflow_softmax_cross_entropy():
    """``(cross_entropy, loss_only)``: the loss with its XLA-computed custom gradient, and the loss
    alone."""
    import tensorflow as tf

    def loss_and_log_normalizer(targets, logits):
        log_normalizer = tf.reduce_logsumexp(logits, axis=1)
        return log_normalizer - tf.gather(logits, targets, batch_dims=1), log_normalizer

    @tf.function(jit_compile=True)
    def loss_and_gradient(targets, logits):
        loss, log_normalizer = loss_and_log_normalizer(targets, logits)
        labels = tf.one_hot(targets, tf.shape(logits)[1], dtype=logits.dtype)
        return loss, tf.exp(logits - log_normalizer[:, None]) - labels

    @tf.function(jit_compile=True)
    def loss_only(targets, logits):
        return loss_and_log_normalizer(tf.cast(targets, tf.int32), logits)[0]

    @tf.custom_gradient
    def cross_entropy(targets, logits):
        loss, gradient = loss_and_gradient(tf.cast(targets, tf.int32), logits)

        def backward(upstream):
            return None, upstream[:, None] * gradient

        return loss, backward

    return cross_entropy, loss_only


def chunked_softmax_cross_entropy(
    targets, session_embedding, table, chunk_items: int, *, differentiable: bool = True
):
    """Per-window softmax cross-entropy over all V items of ``table`` [V, D], scored
    ``chunk_items`` rows at a time: float32 [B] from int [B] ``targets`` and ``session_embedding``
    [B, D] (the products run in its dtype). The value of
    ``softmax_cross_entropy(targets, item_logits(session_embedding, table, 0))``, but no [B, V]
    tensor is ever held, forward or backward: the forward pass keeps a log-sum-exp per block, and
    the gradient recomputes each block's logits (one product more than a whole-table pass), so
    memory holds one [B, chunk_items] block at a time (:mod:`fpam_tf.scoring`).
    ``differentiable=False`` (evaluation) computes the loss alone.
    """
    bounds = chunk_bounds(table.shape[0], chunk_items)
    targets = ops.cast(targets, "int32")

    def loss_and_log_normalizer(embedding, rows):
        block_normalizers, target_logit = [None], ops.zeros(ops.shape(targets), "float32")
        for start, stop in bounds:
            block_embedding, block_rows = ordered_block(
                embedding, rows, start, stop, target_logit, block_normalizers[-1]
            )
            logits = item_logits(block_embedding, block_rows, start)
            block_normalizers.append(ops.logsumexp(logits, axis=1))
            target_logit = chunk_entries(logits, targets, start, stop, target_logit)
        log_normalizer = ops.logsumexp(ops.stack(block_normalizers[1:], axis=1), axis=1)
        return log_normalizer - target_logit, log_normalizer

    if not differentiable:
        return loss_and_log_normalizer(session_embedding, table)[0]

    @ops.custom_gradient
    def cross_entropy(embedding, rows):
        loss, log_normalizer = loss_and_log_normalizer(embedding, rows)

        def backward(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            embedding_gradient, row_gradients = None, [None]
            for start, stop in bounds:
                block_embedding, block_rows = ordered_block(
                    embedding, rows, start, stop, embedding_gradient, row_gradients[-1]
                )
                logits = item_logits(block_embedding, block_rows, start)
                # d loss / d logits = upstream * (softmax - one_hot(target)); a target outside the
                # block has an all-zero one-hot row here. Made with the block, not all at once.
                labels = ops.one_hot(after(targets, logits) - start, stop - start, dtype="float32")
                probabilities = ops.exp(logits - log_normalizer[:, None])
                logit_gradient = ops.cast(
                    (probabilities - labels) * upstream[:, None], embedding.dtype
                )
                block = ops.matmul(logit_gradient, ops.cast(block_rows, embedding.dtype))
                embedding_gradient = (
                    block if embedding_gradient is None else embedding_gradient + block
                )
                row_gradients.append(ops.matmul(ops.transpose(logit_gradient), embedding))
            row_gradient = ops.concatenate(row_gradients[1:], axis=0)
            return embedding_gradient, ops.cast(row_gradient, rows.dtype)

        return loss, backward

    return cross_entropy(session_embedding, table)


@keras.saving.register_keras_serializable(package="fpam_tf")
class FPAdaMetricLoss(keras.layers.Layer):
    """Hinge term pushing a window's false positives (FPs) below its positive target.

    For window b with session embedding e_seq [D], positive (target) embedding e_pos [D] and
    FP embeddings e_fp_1..e_fp_F [F, D] (``fp_mask`` marks the real ones, n_fp of them):

    - ``aggregation="mean"`` (FP-Metric, eq. 8): ē_fp = (1 / n_fp) sum_k e_fp_k.
    - ``aggregation="adaptive"`` (FP-AdaMetric, eqs. 10-11): s_k = f_FPA(e_u, e_fp_k, e_seq),
      a small MLP on concat[e_u (if ``use_user``), e_fp_k, e_seq, e_fp_k * e_seq (if
      ``include_product``)] -> ``hidden_units`` relu -> 1. Then

      * ``weighting="softmax"`` (default): w = softmax_k(s_k) over the window's real FPs, so ē_fp
        stays a weighted expectation of the FPs and the module cannot switch every FP off;
      * ``weighting="sigmoid"`` (eq. 11, literal): w_k = sigmoid(s_k) / n_fp.

      ē_fp = sum_k w_k e_fp_k.

    Then (eq. 9) ``L_b = max(0, -<e_pos, e_seq> + <ē_fp, e_seq> + margin)``.

    ``call(session_embedding [B, D], positive_embedding [B, D], fp_embeddings [B, F, D],
    fp_mask bool [B, F], user_embedding [B, D] or None, window_mask bool [B] or None)`` returns
    a dict of float32 tensors:

    - ``"fp_term"`` scalar: mean of L_b over the windows with window_mask True and n_fp >= 1;
      exactly 0.0 when no window qualifies (also when F = 0);
    - ``"per_window"`` [B]: L_b, 0 where the window is not counted;
    - ``"count"`` scalar: the number of windows counted (what a mean over several batches, or
      over the replicas' slices of one, divides by);
    - ``"fp_weights"`` [B, F]: the aggregation weights w, 0 on padding (and in windows without FPs).

    λ (the weight of this term in the total loss) is applied by the caller. The f_FPA MLP runs
    in ``self.compute_dtype``; aggregation weights and dot products are computed in float32.
    """

    def __init__(
        self,
        aggregation: str = "adaptive",
        weighting: str = "softmax",
        margin: float = 1.0,
        hidden_units: int = 100,
        use_user: bool = False,
        include_product: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if aggregation not in AGGREGATIONS:
            raise ValueError(
                f"aggregation must be one of {tuple(AGGREGATIONS)}, got {aggregation!r}"
            )
        if weighting not in WEIGHTINGS:
            raise ValueError(f"weighting must be one of {tuple(WEIGHTINGS)}, got {weighting!r}")
        self.aggregation = aggregation
        self.weighting = weighting
        self.margin = float(margin)
        self.hidden_units = int(hidden_units)
        self.use_user = bool(use_user)
        self.include_product = bool(include_product)
        self.fpa_hidden = self.fpa_out = None
        if aggregation == "adaptive":
            p = self.dtype_policy
            self.fpa_hidden = keras.layers.Dense(
                self.hidden_units, activation="relu", dtype=p, name="fpa_hidden"
            )
            self.fpa_out = keras.layers.Dense(1, dtype=p, name="fpa_out")

    def build(self, session_embedding_shape):
        d = session_embedding_shape[-1]
        if self.fpa_hidden is not None:
            if d is None:
                raise ValueError("the embedding dim (last axis of session_embedding) must be known")
            n_in = int(d) * (2 + int(self.use_user) + int(self.include_product))
            self.fpa_hidden.build((None, None, n_in))
            self.fpa_out.build((None, None, self.hidden_units))
        self.built = True

    def fpa_scores(self, session_embedding, fp_embeddings, user_embedding=None):
        """f_FPA scores s_k (eq. 10): [B, F] float32 (before masking)."""
        dt = self.compute_dtype
        e_fp = ops.cast(fp_embeddings, dt)
        f = ops.shape(e_fp)[1]
        e_seq = ops.repeat(ops.expand_dims(ops.cast(session_embedding, dt), 1), f, axis=1)
        parts = []
        if self.use_user:
            parts.append(ops.repeat(ops.expand_dims(ops.cast(user_embedding, dt), 1), f, axis=1))
        parts += [e_fp, e_seq]
        if self.include_product:
            parts.append(e_fp * e_seq)
        s = self.fpa_out(self.fpa_hidden(ops.concatenate(parts, axis=-1)))
        return ops.cast(ops.squeeze(s, -1), "float32")

    def call(
        self,
        session_embedding,
        positive_embedding,
        fp_embeddings,
        fp_mask,
        user_embedding=None,
        window_mask=None,
        training=False,
    ):
        if self.use_user and user_embedding is None:
            raise ValueError("FPAdaMetricLoss(use_user=True) needs user_embedding")
        if not self.use_user and user_embedding is not None:
            raise ValueError(
                "user_embedding given but FPAdaMetricLoss was built with use_user=False"
            )
        e_seq = ops.cast(session_embedding, "float32")
        e_pos = ops.cast(positive_embedding, "float32")
        fp_mask = ops.cast(fp_mask, "bool")
        batch = ops.shape(e_seq)[0]
        if fp_embeddings.shape[1] == 0:  # static F = 0: no FP anywhere
            zeros = ops.zeros((batch,), "float32")
            return {
                "fp_term": ops.zeros((), "float32"),
                "per_window": zeros,
                "count": ops.zeros((), "float32"),
                "fp_weights": ops.zeros((batch, 0), "float32"),
            }
        m3 = ops.expand_dims(fp_mask, -1)
        fp_embeddings = ops.where(
            m3, fp_embeddings, ops.zeros_like(fp_embeddings)
        )  # no garbage leaks
        maskf = ops.cast(fp_mask, "float32")
        n_fp = ops.sum(maskf, axis=1)  # [B]
        if self.aggregation == "mean":
            weights = maskf / ops.maximum(n_fp, 1.0)[:, None]
        else:
            scores = self.fpa_scores(session_embedding, fp_embeddings, user_embedding)
            if self.weighting == "softmax":
                weights = ops.softmax(ops.where(fp_mask, scores, _NEG), axis=-1) * maskf
            else:
                weights = ops.sigmoid(scores) * maskf / ops.maximum(n_fp, 1.0)[:, None]
        e_fp_bar = ops.sum(weights[..., None] * ops.cast(fp_embeddings, "float32"), axis=1)  # [B,D]
        pos_score = ops.sum(e_pos * e_seq, axis=-1)
        fp_score = ops.sum(e_fp_bar * e_seq, axis=-1)
        hinge = ops.relu(fp_score - pos_score + self.margin)
        valid = n_fp > 0
        if window_mask is not None:
            valid = ops.logical_and(valid, ops.cast(window_mask, "bool"))
        per_window = ops.where(valid, hinge, 0.0)
        count = ops.sum(ops.cast(valid, "float32"))
        fp_term = ops.sum(per_window) / ops.maximum(count, 1.0)
        return {
            "fp_term": fp_term,
            "per_window": per_window,
            "count": count,
            "fp_weights": weights,
        }

    def get_config(self):
        config = super().get_config()
        config.update(
            aggregation=self.aggregation,
            weighting=self.weighting,
            margin=self.margin,
            hidden_units=self.hidden_units,
            use_user=self.use_user,
            include_product=self.include_product,
        )
        return config
