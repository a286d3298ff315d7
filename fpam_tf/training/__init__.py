"""Training runs: a run's config and directory (``run_dir``), its data and model (``experiment``),
the epoch loop (``loop``), test results (``results``), TensorBoard output (``summaries``), precision
(``precision``), and ``run``, which does all of it for ``python -m fpam_tf.train``."""
