"""A user's own events table (``--dataset events``): every file format, the session and FP options,
ISO and epoch times, the mapping's errors, malformed rows, and the README example through
``load``."""

import datetime as dt
import gzip
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dataset_files import write_lines
from hypothesis import given, seed
from hypothesis import strategies as st
from test_reader_properties import PROPERTY, mutated

import fpam_tf.datasets as datasets
from fpam_tf.cli import parse_options
from fpam_tf.datasets import events_table
from fpam_tf.datasets.badrows import BadRows
from fpam_tf.datasets.events_table import events_mapping
from fpam_tf.datasets.sources import detect_delimiter, epoch_milliseconds, parse_boolean
from fpam_tf.errors import ConfigError, DataError

T0 = 1700000000  # 2023-11-14T22:13:20Z
HEADER = ("session_id", "user", "track", "ts", "skipped", "played", "rating")
# (session, user, item, seconds after T0, skipped, seconds played, rating), in file order. s1's
# events are out of time order; c and d tie (file order kept); u1's f comes 2,000 s (> 30 min)
# after d.
EVENTS = [
    ("s2", "u1", "c", 3600, "false", 200, 5),
    ("s1", "u2", "a", 20, "TRUE", 5, 1),
    ("s1", "u2", "b", 0, "no", 180, 4),
    ("s2", "u1", "d", 3600, "Yes", 29.9, 2),
    ("s1", "u2", "e", 10, "0", 30, 1.5),
    ("s3", "u1", "f", 5600, "1", 31, 2),
]
BY_SESSION = {"session": "session_id", "item": "track", "time": "ts"}
WITH_SKIPS = {**BY_SESSION, "skip": "skipped"}
# (session id, user id, start time, items) from session=session_id, in order of first appearance.
SESSIONS = [
    ("s2", "", T0 + 3600, ["c", "d"]),
    ("s1", "", T0, ["b", "e", "a"]),
    ("s3", "", T0 + 5600, ["f"]),
]
SKIPPED = [[False, True], [False, False, True], [True]]


def iso(seconds: int, form: str = "%Y-%m-%dT%H:%M:%SZ") -> str:
    """Epoch ``seconds`` as an ISO-8601 UTC time, written by strftime ``form``."""
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime(form)


def rows(events=EVENTS, time=lambda offset: str(T0 + offset)):
    """The events as text rows (with ``time`` writing the times)."""
    return [
        [session, user, item, time(offset), skipped, str(played), str(rating)]
        for session, user, item, offset, skipped, played, rating in events
    ]


def write_table(path, delimiter=",", header=True, events=EVENTS, **time):
    """The events as a delimited text file (``time``: as in :func:`rows`)."""
    lines = ([HEADER] if header else []) + rows(events, **time)
    return write_lines(path, [delimiter.join(fields) for fields in lines])


def write_parquet(path, **columns):
    """The events as a Parquet file, typed: int times, bool skips, float seconds and ratings
    (``columns`` replaces some)."""
    table = {
        "session_id": [e[0] for e in EVENTS],
        "user": [e[1] for e in EVENTS],
        "track": [e[2] for e in EVENTS],
        "ts": [T0 + e[3] for e in EVENTS],
        "skipped": [parse_boolean(e[4]) for e in EVENTS],
        "played": [float(e[5]) for e in EVENTS],
        "rating": [float(e[6]) for e in EVENTS],
    }
    pq.write_table(pa.table({**table, **columns}), path)
    return path


def read(path_or_dir, bad_rows=None, **options):
    return events_table.read_sessions(
        events_table.find_sources(path_or_dir), events_mapping(**options), bad_rows=bad_rows
    )


def summary(sessions):
    return [(s.session_id, s.user_id, s.start_time, list(s.items)) for s in sessions]


def flags(sessions):
    return [list(s.is_fp) for s in sessions]


def csv_with_header(tmp_path):
    return write_table(tmp_path / "log.csv"), WITH_SKIPS


def tsv_with_header(tmp_path):
    return write_table(tmp_path / "log.tsv", "\t"), WITH_SKIPS


def semicolon_csv(tmp_path):
    return write_table(tmp_path / "log.csv", ";"), WITH_SKIPS


def csv_without_header_by_position(tmp_path):
    # What --dataset-option session=1 item=3 time=4 skip=5 gives: whole numbers are positions.
    options = parse_options(["session=1", "item=3", "time=4", "skip=5"])
    return write_table(tmp_path / "log.csv", header=False), options


def gzipped_csv(tmp_path):
    path = tmp_path / "log.csv.gz"
    path.write_bytes(gzip.compress(write_table(tmp_path / "plain.csv").read_bytes()))
    (tmp_path / "plain.csv").unlink()
    return path, WITH_SKIPS


def parquet(tmp_path):
    return write_parquet(tmp_path / "log.parquet"), WITH_SKIPS


def folder_of_two_csv_files(tmp_path):
    # s1 and s2 have events in both files.
    write_table(tmp_path / "log" / "part-1.csv", events=EVENTS[:3])
    write_table(tmp_path / "log" / "part-2.csv", events=EVENTS[3:])
    (tmp_path / "log" / "README.md").write_text("not a table")
    return tmp_path / "log", WITH_SKIPS


@pytest.mark.parametrize(
    "table",
    [
        csv_with_header,
        tsv_with_header,
        semicolon_csv,
        csv_without_header_by_position,
        gzipped_csv,
        parquet,
        folder_of_two_csv_files,
    ],
)
def test_every_format_reads_the_same_sessions(tmp_path, table):
    path, options = table(tmp_path)
    sessions = read(path, **options)
    # By time within a session (s1: b, e, a), ties in file order (c before d), start time = the
    # first event's; sessions in order of first appearance.
    assert summary(sessions) == SESSIONS
    assert flags(sessions) == SKIPPED


def test_each_fp_signal(tmp_path):
    path = write_table(tmp_path / "log.csv")
    assert flags(read(path, **WITH_SKIPS)) == SKIPPED
    # Played less than 30 s: 5 and 29.9 s are FPs, 30 and 31 s are not.
    assert flags(read(path, **BY_SESSION, play_seconds="played")) == [
        [False, True],
        [False, False, True],
        [False],
    ]
    assert flags(read(path, **BY_SESSION, play_seconds="played", skip_seconds=31)) == [
        [False, True],
        [False, True, True],
        [False],
    ]
    # Rated below 2: 1 and 1.5 are FPs, 2 is not.
    assert flags(read(path, **BY_SESSION, rating="rating")) == [
        [False, False],
        [False, True, True],
        [False],
    ]
    assert flags(read(path, **BY_SESSION, rating="rating", rating_threshold=4.5)) == [
        [False, True],
        [True, True, True],
        [True],
    ]
    # No signal: every event a positive.
    assert flags(read(path, **BY_SESSION)) == [[False, False], [False, False, False], [False]]


def test_sessions_from_a_user_and_a_gap(tmp_path):
    path = write_table(tmp_path / "log.csv")
    options = {"user": "user", "item": "track", "time": "ts", "skip": "skipped"}
    sessions = read(path, **options)
    # u1's f comes 2,000 s after d: a new session at the default 30 min gap. Users in order of
    # first appearance, a user's sessions numbered from 1.
    assert summary(sessions) == [
        ("u1:1", "u1", T0 + 3600, ["c", "d"]),
        ("u1:2", "u1", T0 + 5600, ["f"]),
        ("u2:1", "u2", T0, ["b", "e", "a"]),
    ]
    assert flags(sessions) == [[False, True], [True], [False, False, True]]
    longer = read(path, **options, session_gap_minutes=34)  # 2,040 s > 2,000 s
    assert summary(longer) == [
        ("u1:1", "u1", T0 + 3600, ["c", "d", "f"]),
        ("u2:1", "u2", T0, ["b", "e", "a"]),
    ]
    # Gaps are strictly above: a gap of exactly 10 s (b -> e -> a) stays in its session.
    assert [s.session_id for s in read(path, **options, session_gap_minutes=10 / 60)] == [
        "u1:1",
        "u1:2",
        "u2:1",
    ]
    assert [s.session_id for s in read(path, **options, session_gap_minutes=9 / 60)] == [
        "u1:1",
        "u1:2",
        "u2:1",
        "u2:2",
        "u2:3",
    ]


def test_session_column_with_a_user_column(tmp_path):
    path = write_table(tmp_path / "log.csv")
    sessions = read(path, **BY_SESSION, user="user")
    assert [(s.session_id, s.user_id) for s in sessions] == [
        ("s2", "u1"),
        ("s1", "u2"),
        ("s3", "u1"),
    ]


@pytest.mark.parametrize(
    "time",
    [
        lambda offset: str(T0 + offset),  # epoch seconds
        lambda offset: str((T0 + offset) * 1000),  # epoch milliseconds
        lambda offset: f"{T0 + offset}.000",
        lambda offset: iso(T0 + offset),
        lambda offset: iso(T0 + offset, "%Y-%m-%d %H:%M:%S"),  # no zone: UTC
    ],
)
def test_epoch_and_iso_times(tmp_path, time):
    path = write_table(tmp_path / "log.csv", time=time)
    assert summary(read(path, **BY_SESSION)) == SESSIONS


def test_iso_times_with_a_zone_without_one_and_milliseconds(tmp_path):
    # The same instants: UTC with Z, an offset, no zone (taken as UTC), and milliseconds; mixed.
    events = [
        ("s1", "u", "x", "2023-11-14T22:13:20Z", "false", 0, 0),
        ("s1", "u", "y", "2023-11-14T23:13:19.500+01:00", "false", 0, 0),
        ("s1", "u", "z", "2023-11-14 22:13:19", "false", 0, 0),
        ("s1", "u", "w", "1699999999250", "false", 0, 0),
    ]
    path = write_table(tmp_path / "log.csv", events=events, time=lambda stamp: stamp)
    (session,) = read(path, **BY_SESSION)
    assert list(session.items) == ["z", "w", "y", "x"] and session.start_time == T0 - 1


def test_parquet_timestamp_columns(tmp_path):
    instants = [T0 + e[3] for e in EVENTS]
    for unit, tz in [("s", None), ("ms", "UTC"), ("ns", "Europe/Berlin")]:
        scale = {"s": 1, "ms": 1000, "ns": 10**9}[unit]
        ts = pa.array([t * scale for t in instants], pa.timestamp(unit, tz))
        path = write_parquet(tmp_path / f"log-{unit}.parquet", ts=ts)
        assert summary(read(path, **BY_SESSION)) == SESSIONS
    as_text = write_parquet(tmp_path / "iso.parquet", ts=[iso(t) for t in instants])
    assert summary(read(as_text, **BY_SESSION)) == SESSIONS
    by_position = write_parquet(tmp_path / "by-position.parquet")
    assert summary(read(by_position, session=1, item=3, time=4)) == SESSIONS


def test_parquet_nulls_and_bad_values_are_bad_rows(tmp_path):
    skips = pa.array([False, True, None, True, False, True])
    times = pa.array([str(T0 + e[3]) for e in EVENTS[:4]] + ["later", str(T0 + 5600)])
    path = write_parquet(tmp_path / "log.parquet", skipped=skips, ts=times)
    bad_rows = BadRows()
    sessions = read(path, bad_rows=bad_rows, **WITH_SKIPS)
    assert summary(sessions) == [
        ("s2", "", T0 + 3600, ["c", "d"]),
        ("s1", "", T0 + 20, ["a"]),
        ("s3", "", T0 + 5600, ["f"]),
    ]
    # The line of a Parquet row is its 1-based row number.
    assert [(row.line, row.problem) for row in bad_rows.report().examples] == [
        (3, "skip column 'skipped': expected true/false, yes/no or 1/0, found None"),
        (
            5,
            "time column 'ts': expected epoch seconds or milliseconds, or an ISO-8601 time, "
            "found 'later'",
        ),
    ]


def test_a_header_mapped_by_position_is_skipped(tmp_path):
    path = write_table(tmp_path / "log.csv")
    bad_rows = BadRows()
    assert summary(read(path, bad_rows=bad_rows, session=1, item=3, time=4)) == SESSIONS
    assert bad_rows.report().total == 0


def test_mapping_errors_list_what_is_allowed():
    cases = [
        ({"session": "s", "time": "t"}, "no item column"),
        ({"session": "s"}, "no item or time column"),
        ({"item": "i", "time": "t"}, "no sessions: give --dataset-option session=COLUMN"),
        ({"session": "s", "item": 2, "time": "t"}, "every column by header name or every"),
        ({**BY_SESSION, "skip": "x", "rating": "r"}, "two FP signals at once"),
        ({**BY_SESSION, "skip": "x", "skip_seconds": 10}, "skip_seconds=10 has no effect"),
        ({**BY_SESSION, "rating_threshold": 3}, "rating_threshold=3 has no effect"),
        ({**BY_SESSION, "session_gap_minutes": 5}, "session_gap_minutes=5 has no effect"),
        ({**BY_SESSION, "item": True}, "a column is a header name or a 1-based position"),
        ({"session": 0, "item": 1, "time": 2}, "a column is a header name or a 1-based position"),
        ({**BY_SESSION, "rating": "r", "rating_threshold": "low"}, "rating_threshold must be"),
        ({"user": "u", "item": "i", "time": "t", "session_gap_minutes": -1}, "must be a finite"),
    ]
    for options, message in cases:
        with pytest.raises(ConfigError, match=message):
            events_mapping(**options)
    with pytest.raises(ConfigError) as error:
        events_mapping(**BY_SESSION, skip="x", play_seconds="p")
    assert "skip=COLUMN (true/false), play_seconds=COLUMN (with skip_seconds=S)" in str(error.value)


def test_a_mapping_that_does_not_fit_the_file_lists_its_columns(tmp_path):
    path = write_table(tmp_path / "log.csv")
    with pytest.raises(ConfigError) as error:
        read(path, session="session", item="track", time="ts")
    message = str(error.value)
    assert str(path) in message and "no column for session='session'" in message
    assert "'session_id', 'user', 'track', 'ts', 'skipped', 'played', 'rating'" in message
    headerless = write_table(tmp_path / "headerless.csv", header=False)
    with pytest.raises(ConfigError, match="mapped by 1-based positions"):
        read(headerless, **BY_SESSION)
    with pytest.raises(ConfigError, match="no column for item=9; the file's 7 column"):
        read(headerless, session=1, item=9, time=4)
    without_time = write_parquet(tmp_path / "log.parquet")
    pq.write_table(pq.read_table(without_time).drop(["ts"]), without_time)
    with pytest.raises(ConfigError, match="no column for time='ts'.* are 'session_id', 'user'"):
        read(without_time, **BY_SESSION)


def test_load_raises_config_errors_before_preparing_anything(tmp_path):
    write_table(tmp_path / "raw" / "log.csv")
    tfds_dir = tmp_path / "tfds"
    with pytest.raises(ConfigError, match="unknown option.*valid options: session, user, item"):
        datasets.load("events", tmp_path / "raw", tfds_dir=tfds_dir, **BY_SESSION, skipped="x")
    with pytest.raises(ConfigError, match="no column"):
        datasets.load("events", tmp_path / "raw", tfds_dir=tfds_dir, **BY_SESSION, skip="skip")
    with pytest.raises(ConfigError, match="no sessions"):
        datasets.load("events", tmp_path / "raw", tfds_dir=tfds_dir, item="track", time="ts")
    assert not tfds_dir.exists()


def test_malformed_rows_are_counted_named_and_strict(tmp_path):
    lines = [
        ",".join(HEADER),
        ",".join(rows()[0]),
        "s2,u1,x,1700000001,false,10",  # 6 fields
        "s2,u1,x,yesterday,false,10,1",
        f"s2,u1,x,{T0},maybe,10,1",
        f"s2,u1,x,{T0},true,long,1",
        f"s2,u1,x,{T0},true,10,five",
        f"s2,u1,,{T0},true,10,1",  # no item
        ",".join(rows()[3]),
    ]
    path = write_lines(tmp_path / "log.csv", lines)
    bad_rows = BadRows()
    (session,) = read(path, bad_rows=bad_rows, **WITH_SKIPS)
    # Rows 6 and 7 are valid under a skip signal: their bad numbers are in columns it does not read.
    assert list(session.items) == ["x", "x", "c", "d"]
    assert list(session.is_fp) == [True, True, False, True]
    report = bad_rows.report()
    assert report.counts == {
        "wrong column count": 1,
        "bad timestamp": 1,
        "bad boolean": 1,
        "missing value": 1,
    }
    assert [(row.path, row.line, row.problem) for row in report.examples] == [
        (str(path), 3, "expected 7 fields (as the first line), found 6"),
        (
            str(path),
            4,
            "time column 'ts': expected epoch seconds or milliseconds, or an ISO-8601 time, "
            "found 'yesterday'",
        ),
        (str(path), 5, "skip column 'skipped': expected true/false, yes/no or 1/0, found 'maybe'"),
        (str(path), 8, "item column 'track': expected an item id, found ''"),
    ]
    numbers = BadRows()
    read(path, bad_rows=numbers, **BY_SESSION, play_seconds="played")
    assert [(row.line, row.kind, row.problem) for row in numbers.report().examples][2] == (
        6,
        "bad number",
        "play_seconds column 'played': expected a number of seconds, found 'long'",
    )
    ratings = BadRows()
    read(path, bad_rows=ratings, **BY_SESSION, rating="rating")
    assert [(row.line, row.problem) for row in ratings.report().examples][2] == (
        7,
        "rating column 'rating': expected a number, found 'five'",
    )
    with pytest.raises(DataError) as error:
        read(path, bad_rows=BadRows(strict=True), **WITH_SKIPS)
    assert error.value.line == 3 and error.value.path == str(path)


def test_no_valid_rows_and_missing_or_broken_files(tmp_path):
    header_only = write_lines(tmp_path / "header.csv", [",".join(HEADER)])
    with pytest.raises(DataError, match="no valid rows: the file holds no data rows"):
        read(header_only, **BY_SESSION)
    all_bad = write_lines(tmp_path / "bad.csv", [",".join(HEADER), "s,u,i,never,1,1,1"])
    with pytest.raises(DataError, match="all 1 rows are malformed.*line 2: time column 'ts'"):
        read(all_bad, **BY_SESSION)
    with pytest.raises(DataError, match="events table not found"):
        events_table.find_sources(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"no table files \(\*.csv"):
        events_table.find_sources(tmp_path / "empty")
    (tmp_path / "empty" / "log.csv").write_text("")
    with pytest.raises(DataError, match="events table file is empty"):
        events_table.find_sources(tmp_path / "empty")
    stray_quote = [",".join(HEADER), 's1,u,"a,1700000000,false,1,1']
    stray_quote += ["s1,u,b,1700000000,false,1,1"] * 20000  # past the csv module's field limit
    with pytest.raises(DataError, match="unreadable CSV from this line on") as error:
        read(write_lines(tmp_path / "quote.csv", stray_quote), **BY_SESSION)
    assert error.value.line == 2 and "stray quote" in error.value.fix
    corrupt = tmp_path / "corrupt.parquet"
    data = write_parquet(tmp_path / "good.parquet").read_bytes()
    corrupt.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="not a readable Parquet file") as error:
        read(corrupt, **BY_SESSION)
    assert error.value.path == str(corrupt)
    # ... and through load, before anything is prepared.
    with pytest.raises(DataError, match="not a readable Parquet file"):
        datasets.load("events", corrupt, tfds_dir=tmp_path / "tfds", **BY_SESSION)
    assert not (tmp_path / "tfds").exists()


def test_shared_field_parsers():
    assert [parse_boolean(text) for text in ("true", " FALSE", "Yes", "no", "1", "0")] == [
        True,
        False,
        True,
        False,
        True,
        False,
    ]
    with pytest.raises(ValueError):
        parse_boolean("maybe")
    assert [detect_delimiter(line) for line in ("a,b", "a\tb\tc,d", "a;b;3,5", "one")] == [
        ",",
        "\t",
        ";",
        ",",
    ]
    assert epoch_milliseconds("1700000000") == epoch_milliseconds("1700000000000") == T0 * 1000
    assert epoch_milliseconds("2023-11-14T22:13:20.25Z") == T0 * 1000 + 250
    for text in ("nan", "inf", "", "soon", "1e300", "9999-12-31T23:59:59-01:00"):
        with pytest.raises(ValueError):
            epoch_milliseconds(text)


def write_listening_log(path, num_sessions=300, seed=0):
    """The README's example table: ``session_id,track,ts,skipped``, a few hundred rows."""
    generator = random.Random(seed)
    lines = ["session_id,track,ts,skipped"]
    for session in range(num_sessions):
        start = T0 + 3600 * session
        for position in range(generator.randint(2, 6)):
            track = f"t{generator.randint(1, 40)}"
            skipped = "true" if generator.random() < 0.3 else "false"
            lines.append(f"s{session},{track},{start + 60 * position},{skipped}")
    return write_lines(path, lines)


def test_readme_example_through_load(tmp_path):
    log = write_listening_log(tmp_path / "my_log.csv")
    # The README's command: --dataset-option session=session_id item=track time=ts skip=skipped
    options = parse_options(["session=session_id", "item=track", "time=ts", "skip=skipped"])
    prepared = datasets.load("events", log, tfds_dir=tmp_path / "tfds", **options)
    assert {split: len(part) for split, part in prepared.splits.items()} == {
        "train": 240,
        "validation": 30,
        "test": 30,
    }
    assert not prepared.has_users and prepared.bad_rows.total == 0
    assert prepared.config == {
        "session": "session_id",
        "user": "",
        "item": "track",
        "time": "ts",
        "session_gap_minutes": 30,
        "skip": "skipped",
        "play_seconds": "",
        "skip_seconds": 30,
        "rating": "",
        "rating_threshold": 2,
    }
    test = prepared.splits["test"]
    assert test.session_ids[0] == "s270" and test.start_times[0] == T0 + 3600 * 270
    assert 0.2 < sum(part.is_fp.mean() for part in prepared.splits.values()) / 3 < 0.4
    by_user = datasets.load(
        "events", log, tfds_dir=tmp_path / "tfds", user="session_id", item="track", time="ts"
    )
    assert by_user.has_users and set(by_user.splits["train"].user_ids) >= {"s0", "s1"}


def test_the_pipeline_says_it_does_not_read_events_yet(tmp_path):
    from pipelines import raw_sources

    with pytest.raises(ConfigError, match="use python -m fpam_tf.train"):
        raw_sources.resolve_input("events", tmp_path, BY_SESSION, tmp_path / "raw")


def read_or_error(path) -> None:
    """The property: sessions, or the project's DataError / ConfigError (a mangled header); any
    other exception fails."""
    try:
        sessions = read(path, **WITH_SKIPS)
    except (DataError, ConfigError) as error:
        assert str(error).strip(), "an error must say what is wrong"
        return
    assert sessions and all(len(s.items) == len(s.is_fp) for s in sessions)


@seed(20261201)
@PROPERTY
@given(data=st.data())
def test_a_mutated_table_reads_cleanly_or_is_an_error(tmp_path, data):
    lines = [",".join(HEADER)] + [",".join(row) for row in rows()]
    content = data.draw(mutated(lines))
    path = tmp_path / "log.csv"
    path.write_bytes(content)
    read_or_error(path)
    parquet_bytes = write_parquet(tmp_path / "log.parquet").read_bytes()
    cut = data.draw(st.integers(0, len(parquet_bytes) - 1))
    path = tmp_path / "cut.parquet"
    path.write_bytes(parquet_bytes[:cut] + data.draw(st.binary(max_size=8)))
    read_or_error(path)
