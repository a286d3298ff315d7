"""Raw logs -> session fragments through the ``fpam_tf.datasets`` readers, one input file at a time.

A *fragment* is part of a session read from one file: ``(session_id, [event, ...])`` with
``event = (order, item, is_fp, grade, start_time, user_id)`` (``grade`` None: the log has no skip
grades, see ``fpam_tf.events``). Fragments of one session from several files (Spotify MSSD logs
may spread a session over files) are merged by :func:`merge_fragments` once Beam has grouped them
by session id. Parsing stays in the readers; this module only adapts their output to per-file
fragments.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from fpam_tf.datasets import lastfm, ratings, spotify, synthetic, yoochoose
from fpam_tf.datasets.badrows import MAX_EXAMPLES, BadRowReport, BadRows
from fpam_tf.datasets.sources import open_text
from fpam_tf.datasets.tfds_builders import make_config
from fpam_tf.errors import ConfigError
from fpam_tf.events import SessionRecord


@dataclasses.dataclass(frozen=True)
class RawInput:
    """A dataset's input: its files and the reader thresholds (validated by ``fpam_tf.datasets``).

    Attributes:
      dataset: one of ``fpam_tf.datasets.DATASETS``.
      files: the log files, as absolute path strings.
      thresholds: the reader options with their defaults filled in.
    """

    dataset: str
    files: tuple
    thresholds: dict


def resolve_input(dataset: str, data_dir, options: dict, synthetic_dir: Path) -> RawInput:
    """The input files and thresholds of a dataset; a synthetic log is generated into
    ``synthetic_dir`` if absent.

    Raises:
      ConfigError / DataError: unknown options, missing or empty files (from ``fpam_tf.datasets``);
        ``events``, which the pipeline does not read.
    """
    if dataset == "events":
        # ExampleGen reads one file at a time, but a user's gap sessions may span the files of an
        # events table.
        raise ConfigError(
            "the pipeline does not read --dataset events yet; use python -m fpam_tf.train"
        )
    config = make_config(
        dataset, data_dir if dataset != "synthetic" else synthetic_dir, synthetic_dir, options
    )
    thresholds = config.thresholds()
    if dataset == "synthetic":
        source = Path(config.source)
        if not source.is_file():
            synthetic.generate(source, **thresholds)
        files = [source]
    elif dataset == "spotify":
        files = spotify.find_sources(data_dir)
    elif dataset == "lastfm":
        files = [lastfm.find_source(data_dir)]
    elif dataset == "yoochoose":
        files = yoochoose.find_sources(data_dir)
    else:
        files = [ratings.find_source(data_dir)]
    return RawInput(dataset, tuple(str(Path(f).resolve()) for f in files), thresholds)


def file_stamps(raw: RawInput, root: Path | None = None) -> list:
    """(path, size, mtime) of each input file: what the ExampleGen fingerprint covers. A file
    inside the pipeline's ``root`` (the generated synthetic log) is named relative to it, so a
    copy of the root (with modification times kept) finds its ExampleGen cached."""

    root = None if root is None else Path(root).resolve()

    def name(file: str) -> str:
        path = Path(file)  # resolved already (resolve_input)
        return str(path.relative_to(root)) if root and path.is_relative_to(root) else file

    return [[name(f), Path(f).stat().st_size, Path(f).stat().st_mtime_ns] for f in raw.files]


def input_schema(raw: RawInput, path: str) -> list[str]:
    """The columns of one input file as its first line gives them (the header, or numbered fields).

    Spotify and Yoochoose logs and headed ratings CSVs name their columns; Last.fm TSVs have no
    header, so
    their schema is the number of fields (``field_1`` ... ``field_k``).
    """
    with open_text(Path(path)) as stream:
        first = stream.readline().rstrip("\r\n")
    fields = first.split("\t") if "\t" in first else first.split(",")
    if raw.dataset in ("spotify", "yoochoose") or (
        raw.dataset == "amazon-movies" and not _is_number(fields[-1])
    ):
        return fields
    return [f"field_{i + 1}" for i in range(len(fields))]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_fragments(path: str, raw: RawInput, strict: bool):
    """Yields ``(session_id, events)`` fragments of one file, then ``("", report)`` with its bad
    rows.

    The last item carries the :class:`BadRowReport` (as JSON) under the empty key, which no session
    has.
    """
    bad_rows = BadRows(strict=strict)
    source = Path(path)
    if raw.dataset == "spotify":
        rows: dict = {}
        spotify.read_rows(source, raw.thresholds["skip_field"], bad_rows, rows)
        for session_id, events in rows.items():
            yield (
                session_id,
                [
                    (position, track, flag, grade, start, "")
                    for position, track, flag, grade, start in events
                ],
            )
    else:
        for record in _read_whole_file(source, raw, bad_rows):
            yield (
                record.session_id,
                [
                    (i, item, bool(flag), grade, record.start_time, record.user_id)
                    for i, (item, flag, grade) in enumerate(
                        zip(record.items, record.is_fp, record.event_grades().tolist())
                    )
                ],
            )
    yield "", bad_rows.report().to_json()


def _read_whole_file(source: Path, raw: RawInput, bad_rows: BadRows) -> list[SessionRecord]:
    """Sessions of one file, by its dataset's reader (users are sessionised over the whole file; a
    Yoochoose session's dwell times are those within the file, and session-rec's files never share
    a session)."""
    t = raw.thresholds
    if raw.dataset == "yoochoose":
        return yoochoose.read_sessions(
            [source], dwell_seconds=t["dwell_seconds"], bad_rows=bad_rows
        )
    if raw.dataset == "amazon-movies":
        return ratings.read_sessions(
            source, rating_threshold=t["rating_threshold"], columns=t["columns"], bad_rows=bad_rows
        )
    if raw.dataset == "lastfm":
        sessions = lastfm.read_sessions(
            source,
            session_gap_minutes=t["session_gap_minutes"],
            skip_seconds=t["skip_seconds"],
            bad_rows=bad_rows,
        )
    else:
        # Synthetic: the generator's play times are built around the Last.fm reader's defaults.
        sessions = lastfm.read_sessions(source, bad_rows=bad_rows)
    return list(sessions.records())


def merge_fragments(session_id: str, fragments) -> SessionRecord:
    """One session from its fragments: events in order; start time and user of its first event.

    Same rules as ``spotify.read_sessions`` (the start of position 1; grades from the FP flags
    unless every event has one), applied after grouping.
    """
    # Sorted by order key only (stable), as the readers sort: equal positions keep their read order.
    events = sorted(
        (event for fragment in fragments for event in fragment), key=lambda event: event[0]
    )
    grades = [e[3] for e in events]
    return SessionRecord(
        session_id,
        events[0][5],
        events[0][4],
        [e[1] for e in events],
        [e[2] for e in events],
        None if None in grades else grades,
    )


def merge_reports(reports) -> dict:
    """The bad-row reports of all files as one report (JSON)."""
    counts: dict = {}
    examples: list = []
    for report in map(BadRowReport.from_json, reports):
        for kind, count in report.counts.items():
            counts[kind] = counts.get(kind, 0) + count
        examples.extend(report.examples)
    examples.sort(key=lambda row: (row.path, row.line))
    return BadRowReport(counts, tuple(examples[:MAX_EXAMPLES])).to_json()
