"""Serving: the exported TF Serving model (signatures, in-graph prefix handling, top-k index),
its version folders and warm-up requests. Entry points: :mod:`fpam_tf.export`,
:mod:`fpam_tf.recommend`."""
