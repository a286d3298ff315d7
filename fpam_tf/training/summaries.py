"""TensorBoard output of a run: per-step loss terms and learning rate, per-epoch validation metrics,
the HParams dashboard, and the embedding projector (the paper's Figure 3).

Layout under ``<run-dir>/logs``: ``train/`` (step scalars), ``validation/`` (epoch scalars),
``hparams/`` (one session per run, so several runs under one ``--logdir`` compare in one table),
``projector/`` (session, true-positive and FP embeddings of test windows).
"""

from __future__ import annotations

import concurrent.futures
from pathlib import Path

import numpy as np


class RunSummaries:
    """Writes a run's TensorBoard summaries (TensorFlow backend)."""

    def __init__(self, log_dir, *, log_every: int = 1):
        import tensorflow as tf

        self._tf = tf
        self.log_dir = Path(log_dir)
        self.log_every = log_every
        self.train_writer = tf.summary.create_file_writer(str(self.log_dir / "train"))
        self.validation_writer = tf.summary.create_file_writer(str(self.log_dir / "validation"))

    def train_step(self, step: int, logs: dict, optimizer) -> None:
        """The step's loss terms (as :func:`~fpam_tf.training.steps.batch_logs` reports them)
        and the learning rate."""
        if step % self.log_every:
            return
        tf = self._tf
        with self.train_writer.as_default(step=step):
            for name in ("loss", "ce_loss", "fp_loss", "skip_loss"):
                tf.summary.scalar(f"loss/{name}", float(logs[name]))
            tf.summary.scalar("learning_rate", float(np.asarray(optimizer.learning_rate)))

    def validation(self, epoch: int, metrics: dict) -> None:
        tf = self._tf
        with self.validation_writer.as_default(step=epoch):
            for name, value in metrics.items():
                group = "loss" if "loss" in name else "metrics"
                tf.summary.scalar(f"{group}/{name}", float(value))
        self.validation_writer.flush()

    def hparams(self, hparams: dict, test_metrics: dict) -> None:
        """One HParams session: the run's settings beside its test metrics."""
        from tensorboard.plugins.hparams import api as hp

        tf = self._tf
        with tf.summary.create_file_writer(str(self.log_dir / "hparams")).as_default():
            hp.hparams(hparams, trial_id=str(self.log_dir.parent.name))
            for name, value in test_metrics.items():
                tf.summary.scalar(f"test/{name}", float(value), step=0)

    def projector(
        self, session: np.ndarray, positive: np.ndarray, fp: np.ndarray, fp_window: np.ndarray
    ) -> Path:
        """Session embeddings of test windows with their true-positive targets and their FP items.

        Args:
          session: [n, D] ``e_seq`` of n windows; positive: [n, D] their targets' embeddings;
          fp: [m, D] embeddings of those windows' FP items; fp_window: [m] window of each FP row.
        """
        from tensorboard.plugins import projector

        tf = self._tf
        out = self.log_dir / "projector"
        out.mkdir(parents=True, exist_ok=True)
        vectors = np.concatenate([session, positive, fp]).astype(np.float32)
        n = len(session)
        kinds = ["session"] * n + ["true positive"] * n + ["false positive"] * len(fp)
        windows = list(range(n)) + list(range(n)) + [int(w) for w in fp_window]
        (out / "metadata.tsv").write_text(
            "kind\twindow\n" + "".join(f"{k}\t{w}\n" for k, w in zip(kinds, windows))
        )

        def save():
            checkpoint = tf.train.Checkpoint(embedding=tf.Variable(vectors))
            checkpoint.save(str(out / "embedding.ckpt"))

        # In a thread of its own, outside the caller's tf.distribute scope (scopes are per
        # thread): a plain variable. Under a multi-worker strategy a variable is mirrored, its
        # value broadcast to every worker, and workers that read their own shards have points of
        # their own.
        with concurrent.futures.ThreadPoolExecutor(1) as thread:
            thread.submit(save).result()
        config = projector.ProjectorConfig()
        embedding = config.embeddings.add()
        embedding.tensor_name = "embedding/.ATTRIBUTES/VARIABLE_VALUE"
        embedding.metadata_path = "metadata.tsv"
        projector.visualize_embeddings(str(out), config)
        # TensorBoard's projector looks for its config in the folders of *runs*, and a folder is a
        # run only if it holds an event file: without one, `--logdir <run>/logs` (or `runs`) shows
        # "No checkpoint was found".
        with tf.summary.create_file_writer(str(out)).as_default():
            tf.summary.text(
                "projector",
                f"{n} test windows: session embeddings, their true-positive targets and their "
                f"sessions' {len(fp)} FP items (the paper's Figure 3); see the Projector tab.",
                step=0,
            )
        return out

    def close(self) -> None:
        self.train_writer.close()
        self.validation_writer.close()
