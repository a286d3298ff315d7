"""ExampleGen: raw logs -> sessions with FP flags -> SequenceExample shards split train /
validation / test.

Beam graph::

    input files -> FlatMap(read fragments, per file) -> GroupByKey(session id) -> merge -> sessions
    sessions -> keys (start time, session id) -> CombineGlobally(split boundaries)      PROTOCOL §2
    sessions -> Partition(by boundary, side input) -> SequenceExample -> TFRecord shards per split

Outputs: ``examples`` (``Split-<split>/data-*.tfrecord.gz``, ``split_counts.json``,
``bad_rows.json``, ``input_schema.json``).
"""

from __future__ import annotations

import json
from pathlib import Path

import apache_beam as beam

from fpam_tf.events import SPLITS
from pipelines import filesystem, raw_sources, records
from pipelines.errors import PipelineError

COMPONENT = "ExampleGen"
SCHEMA_FILE = (
    "schema.json"  # <root>/ExampleGen/schema.json: the input schema every run is checked against.
)


class SplitBoundaries(beam.CombineFn):
    """Global combine of session keys -> the first validation key and the first test key
    (PROTOCOL §2).

    With n sessions ordered by (start time, session id), train is the first floor(0.8 n), validation
    up to floor(0.9 n), test the rest. The accumulator holds only the keys (a timestamp and an id,
    tens of bytes per session), sorted once in ``extract_output``.
    """

    def create_accumulator(self):
        return []

    def add_input(self, keys, key):
        keys.append(key)
        return keys

    def merge_accumulators(self, accumulators):
        return [key for keys in accumulators for key in keys]

    def extract_output(self, keys):
        keys.sort()
        n = len(keys)
        if n == 0:
            return {"sessions": 0, "first_validation": None, "first_test": None}
        # Integer arithmetic, as fpam_tf.events.split_sessions: floor(0.8 n), floor(0.9 n).
        return {
            "sessions": n,
            "first_validation": list(keys[n * 8 // 10]),
            "first_test": list(keys[n * 9 // 10]),
        }


def session_key(record) -> tuple:
    """The chronological sort key of PROTOCOL §2."""
    return (record.start_time, record.session_id)


def split_of(record, num_partitions: int, bounds: dict) -> int:
    """Index in ``SPLITS`` of the split a session belongs to, given the boundaries."""
    key = session_key(record)
    if key < tuple(bounds["first_validation"]):
        return 0
    return 1 if key < tuple(bounds["first_test"]) else 2


def split_counts(bounds: dict) -> dict:
    """Sessions per split implied by the boundaries."""
    n = bounds["sessions"]
    return {"train": n * 8 // 10, "validation": n * 9 // 10 - n * 8 // 10, "test": n - n * 9 // 10}


def check_schema(component_dir: str, raw, schema: dict, update: bool) -> None:
    """Compares the input files' columns with the pinned schema (written by the first run, or on
    ``update``).

    Raises:
      PipelineError: a file's columns differ from the pinned ones (naming the file and the columns).
    """
    pinned_path = filesystem.join(component_dir, SCHEMA_FILE)
    pinned = filesystem.read_json(pinned_path) if filesystem.exists(pinned_path) else None
    if pinned is not None and not update and pinned["dataset"] == raw.dataset:
        for path, columns in schema.items():
            if columns != pinned["columns"]:
                added = [c for c in columns if c not in pinned["columns"]]
                removed = [c for c in pinned["columns"] if c not in columns]
                raise PipelineError(
                    COMPONENT,
                    f"the input schema changed since the pinned one ({pinned_path}): "
                    f"columns added {added or 'none'}, removed {removed or 'none'}"
                    + ("" if added or removed else ", order changed"),
                    path=path,
                    fix="restore the file's columns, "
                    "or rerun with --update-schema to accept the new schema",
                )
    if pinned is None or update or pinned["dataset"] != raw.dataset:
        filesystem.write_json(
            pinned_path, {"dataset": raw.dataset, "columns": next(iter(schema.values()))}
        )


def build(pipeline, raw, strict: bool, output: Path) -> None:
    """Adds ExampleGen's transforms to ``pipeline``, writing into the ``examples`` folder
    ``output``."""
    read = (
        pipeline
        | "InputFiles" >> beam.Create(list(raw.files))
        | "ReadFragments" >> beam.FlatMap(raw_sources.read_fragments, raw, strict)
    )
    reports = read | "BadRowReports" >> beam.Filter(lambda kv: kv[0] == "") | beam.Values()
    sessions = (
        read
        | "Fragments" >> beam.Filter(lambda kv: kv[0] != "")
        | "GroupBySession" >> beam.GroupByKey()
        | "MergeSession" >> beam.MapTuple(raw_sources.merge_fragments)
    )
    bounds = (
        sessions
        | "SessionKeys" >> beam.Map(session_key)
        | "SplitBoundaries" >> beam.CombineGlobally(SplitBoundaries())
    )
    parts = sessions | "RouteToSplit" >> beam.Partition(
        split_of, len(SPLITS), beam.pvalue.AsSingleton(bounds)
    )
    for split, part in zip(SPLITS, parts):
        (
            part
            | f"Encode[{split}]" >> beam.Map(records.encode_session)
            | f"Write[{split}]"
            >> beam.io.WriteToTFRecord(
                records.shard_prefix(output, split), file_name_suffix=records.SHARD_SUFFIX
            )
        )
    (
        bounds
        | "CountsJson" >> beam.Map(lambda b: json.dumps({**split_counts(b), "boundaries": b}))
        | "WriteCounts"
        >> beam.io.WriteToText(
            str(output / "split_counts"), file_name_suffix=".json", shard_name_template=""
        )
    )
    (
        reports
        | "MergeReports" >> beam.combiners.ToList()
        | "ReportJson" >> beam.Map(lambda r: json.dumps(raw_sources.merge_reports(r)))
        | "WriteReport"
        >> beam.io.WriteToText(
            str(output / "bad_rows"), file_name_suffix=".json", shard_name_template=""
        )
    )


def run(raw, output: Path, *, options, strict: bool = False) -> dict:
    """Runs ExampleGen's Beam pipeline into ``output``; returns the sessions per split and the
    bad-row report.

    Raises:
      PipelineError: no sessions, or a split is empty (naming the input files).
    """
    with beam.Pipeline(options=options) as pipeline:
        build(pipeline, raw, strict, output)
    counts = json.loads((output / "split_counts.json").read_text())
    bad_rows = json.loads((output / "bad_rows.json").read_text())
    empty = [split for split in SPLITS if counts[split] == 0]
    if empty:
        raise PipelineError(
            COMPONENT,
            f"split(s) {', '.join(empty)} are empty: the input holds "
            f"{counts['boundaries']['sessions']} session(s), and a chronological 80/10/10 split "
            "needs at least 10",
            path=", ".join(raw.files),
            fix="give a larger log",
        )
    return {"sessions": {split: counts[split] for split in SPLITS}, "bad_rows": bad_rows}
