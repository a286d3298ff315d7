"""Transform (tensorflow-transform on Beam): the item and user vocabularies as analyzers, and raw
ids -> indices.

The vocabulary is PROTOCOL §3's: items occurring at least 5 times in train, index 0 padding /
out-of-vocabulary, ordered by descending train frequency, ties by id. ``tft.vocabulary`` orders
ties by *descending* id, so the analysis writes a second vocabulary with frequencies and the
transform graph's ``items`` asset is rewritten in PROTOCOL order before any split is transformed
(the lookup table reads the asset when the graph is loaded, so the graph and the file agree).

The users of PROTOCOL §3 (the non-empty user ids of train) are the graph's ``user_frequencies``
asset, so that a Trainer knows them without reading train's shards (a worker of a multi-worker
Trainer reads its own shards only).

Two Beam pipelines: (1) analyse train and write the transform graph; (2) read the graph and
transform every split. Outputs: ``transform_graph`` (``transform_fn/``, ``transformed_metadata/``;
``tft.TFTransformOutput`` reads it) and ``transformed_examples`` (``Split-<split>/`` shards of
``tf.train.Example``: ``item_index``, ``is_fp``, ``grades``, ``session_id``, ``user_id``,
``start_time``), as many shards per split as ``num_shards`` asks (0: the runner decides).
"""

from __future__ import annotations

from pathlib import Path

import apache_beam as beam

from fpam_tf.events import SPLITS
from fpam_tf.vocabulary import MIN_ITEM_COUNT, PADDING
from pipelines import records
from pipelines.errors import PipelineError

COMPONENT = "Transform"
VOCABULARY = "items"
FREQUENCIES = "item_frequencies"
USER_FREQUENCIES = "user_frequencies"


def preprocessing_fn(inputs):
    """Raw session features -> ``item_index`` (vocabulary index, 0 outside it); the other features
    pass through."""
    import tensorflow as tf
    import tensorflow_transform as tft

    items = inputs["items"]
    vocabulary = tft.vocabulary(
        items, frequency_threshold=MIN_ITEM_COUNT, vocab_filename=VOCABULARY
    )
    # Not used by the graph: its counts let protocol_order() re-sort ties (see the module
    # docstring).
    tft.vocabulary(
        items, frequency_threshold=MIN_ITEM_COUNT, vocab_filename=FREQUENCIES, store_frequency=True
    )
    # Sessions per user id (one id per session): read by the Trainer, not used by the graph.
    tft.vocabulary(inputs["user_id"], vocab_filename=USER_FREQUENCIES, store_frequency=True)
    positions = tft.apply_vocabulary(items, vocabulary, default_value=-1)
    index = tf.SparseTensor(
        positions.indices, positions.values + 1, positions.dense_shape
    )  # -1 -> PADDING (0)
    return {
        "item_index": index,
        "is_fp": inputs["is_fp"],
        "grades": inputs["grades"],
        "session_id": inputs["session_id"],
        "user_id": inputs["user_id"],
        "start_time": inputs["start_time"],
    }


def protocol_order(frequency_lines: list[str]) -> list[str]:
    """Item ids of a ``store_frequency`` vocabulary (``"<count> <id>"`` lines) by descending count,
    ties by id."""
    pairs = []
    for line in frequency_lines:
        count, item = line.split(" ", 1)
        pairs.append((-int(count), item))
    return [item for _, item in sorted(pairs)]


def rewrite_vocabulary(graph_dir: Path) -> int:
    """Rewrites the graph's ``items`` asset in PROTOCOL order; returns the vocabulary size."""
    assets = graph_dir / "transform_fn" / "assets"
    frequencies = (assets / FREQUENCIES).read_text(encoding="utf-8").splitlines()
    ordered = protocol_order(frequencies)
    current = (assets / VOCABULARY).read_text(encoding="utf-8").splitlines()
    if sorted(current) != sorted(ordered):
        raise PipelineError(
            COMPONENT, "the two vocabulary analyzers disagree on the item set", path=assets
        )
    (assets / VOCABULARY).write_text("".join(item + "\n" for item in ordered), encoding="utf-8")
    return len(ordered)


def raw_metadata():
    from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

    return dataset_metadata.DatasetMetadata(
        schema_utils.schema_from_feature_spec(records.raw_feature_spec())
    )


def read_split(pipeline, examples: Path, split: str):
    """A split of the examples artifact as tensorflow-transform instance dicts."""
    return (
        pipeline
        | f"Read[{split}]" >> beam.io.ReadFromTFRecord(records.shard_pattern(examples, split))
        | f"Parse[{split}]" >> beam.Map(records.to_instance)
    )


def run(
    examples: Path,
    graph_dir: Path,
    transformed: Path,
    *,
    options,
    temp_dir: Path,
    num_shards: int = 0,
) -> dict:
    """Analyses train into ``graph_dir`` and writes every transformed split into ``transformed``,
    in ``num_shards`` shards per split (0: as many as the runner decides).

    Raises:
      PipelineError: the train split yields an empty vocabulary.
    """
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform import coders

    with beam.Pipeline(options=options) as pipeline, tft_beam.Context(temp_dir=str(temp_dir)):
        train = read_split(pipeline, examples, "train")
        transform_fn = (train, raw_metadata()) | "Analyze" >> tft_beam.AnalyzeDataset(
            preprocessing_fn
        )
        _ = transform_fn | "WriteGraph" >> tft_beam.WriteTransformFn(str(graph_dir))
    size = rewrite_vocabulary(graph_dir)
    if size == 0:
        raise PipelineError(
            COMPONENT,
            f"no item occurs {MIN_ITEM_COUNT} times in train: the vocabulary is empty",
            path=records.split_dir(examples, "train"),
            fix="give a larger log",
        )

    with beam.Pipeline(options=options) as pipeline, tft_beam.Context(temp_dir=str(temp_dir)):
        transform_fn = pipeline | "ReadGraph" >> tft_beam.ReadTransformFn(str(graph_dir))
        for split in SPLITS:
            raw = read_split(pipeline, examples, split)
            data, metadata = (
                (raw, raw_metadata()),
                transform_fn,
            ) | f"Transform[{split}]" >> tft_beam.TransformDataset()
            encoder = coders.ExampleProtoCoder(metadata.schema)
            (
                data
                | f"Encode[{split}]" >> beam.Map(encoder.encode)
                | f"Write[{split}]"
                >> beam.io.WriteToTFRecord(
                    records.shard_prefix(transformed, split),
                    file_name_suffix=records.SHARD_SUFFIX,
                    num_shards=num_shards,
                )
            )
    return {"vocabulary_size": size, "padding_index": PADDING}
