"""TFDS builders through ``load``: splits, read-back, config fingerprints, bad rows, atomic
preparation."""

import logging

import numpy as np
import pytest
from dataset_files import write_lines

import fpam_tf.datasets as datasets
from fpam_tf.datasets import lastfm, spotify
from fpam_tf.datasets.tfds_base import SessionsBuilder
from fpam_tf.errors import ConfigError, DataError
from fpam_tf.events import SPLITS

SMALL = dict(num_users=40, num_items=200, num_sessions=300)


def lastfm_log(path, sessions=12, bad_line=None):
    """A Last.fm TSV with ``sessions`` sessions of 3 plays (10 s skip, then 200 s) for one user,
    newest first."""
    rows = []
    for s in range(sessions):
        base = 1230768000 + s * 7200
        for offset, track in ((0, "a"), (10, "b"), (210, "c")):
            stamp = np.datetime_as_string(np.datetime64(base + offset, "s")) + "Z"
            rows.append(f"u1\t{stamp}\tartist\tArtist\t{track}{s % 3}\tSong")
    rows.reverse()
    if bad_line is not None:
        rows.insert(bad_line, "u1\tnot a time\tartist\tArtist\tx\tSong")
    return write_lines(path, rows)


def test_spotify_sample_splits(spotify_sample):
    sizes = {split: len(spotify_sample.splits[split]) for split in SPLITS}
    # The file holds 40,043 distinct session ids (PROTOCOL §6 says 40,044 / 32,035: see the module
    # report).
    assert sizes == {"train": 32034, "validation": 4004, "test": 4005}
    events = sum(s.num_events for s in spotify_sample.splits.values())
    assert events == 664570
    fp_ratio = sum(s.is_fp.sum() for s in spotify_sample.splits.values()) / events
    assert abs(fp_ratio - 0.511) < 0.005
    assert not spotify_sample.has_users and spotify_sample.config == {"skip_field": "skip_2"}
    assert spotify_sample.bad_rows.total == 0
    train, test = spotify_sample.splits["train"], spotify_sample.splits["test"]
    order = np.lexsort((train.session_ids, train.start_times))
    assert (order == np.arange(len(train))).all()  # chronological order preserved
    assert train.start_times.max() <= test.start_times.min()
    assert set(train.lengths.tolist()) <= set(range(10, 21))


def test_spotify_sample_is_reused_once_prepared(spotify_sample, shared_datasets):
    again = datasets.load(
        "spotify",
        shared_datasets("spotify_mssd_sample"),
        tfds_dir=spotify_sample.tfds_path.split("/fpam_spotify/")[0],
    )
    assert again.tfds_path == spotify_sample.tfds_path
    np.testing.assert_array_equal(again.splits["test"].items, spotify_sample.splits["test"].items)


def test_lastfm_load_round_trip(tmp_path):
    log = lastfm_log(tmp_path / "raw" / lastfm.TSV_NAME)
    records = list(lastfm.read_sessions(log).records())
    prepared = datasets.load("lastfm", tmp_path / "raw", tfds_dir=tmp_path / "tfds")
    assert prepared.has_users and prepared.config == {"session_gap_minutes": 30, "skip_seconds": 30}
    assert {split: len(s) for split, s in prepared.splits.items()} == {
        "train": 9,
        "validation": 1,
        "test": 2,
    }
    back = {s.session_id: s for part in prepared.splits.values() for s in part.records()}
    for record in records:
        assert list(back[record.session_id].items) == list(record.items)
        assert list(back[record.session_id].is_fp) == list(record.is_fp)
        assert back[record.session_id].start_time == record.start_time
        # Last.fm has no skip depth: an FP's grade is the strongest.
        assert list(back[record.session_id].grades) == [3 if fp else 0 for fp in record.is_fp]


def test_spotify_skip_grades_survive_preparation_and_read_back(tmp_path):
    header = "session_id,session_position,track_id_clean,skip_1,skip_2,skip_3,hour_of_day,date"
    # skip_1, skip_2, skip_3 of the grades 0-3 (nested: a shorter play sets the longer flags too).
    skips = {
        0: "false,false,false",
        1: "false,false,true",
        2: "false,true,true",
        3: "true,true,true",
    }
    rows = [
        f"s{s:02d},{p},t{(s + p) % 5},{skips[(s + p) % 4]},{s % 24},2018-07-14"
        for s in range(12)
        for p in range(1, 5)
    ]
    raw = write_lines(tmp_path / "raw" / "log.csv", [header, *rows]).parent
    records = spotify.read_sessions(spotify.find_sources(raw))
    prepared = datasets.load("spotify", raw, tfds_dir=tmp_path / "tfds")
    # A format change is a new TFDS version: a dataset prepared before it is not read back.
    assert prepared.tfds_path.endswith(f"/{SessionsBuilder.VERSION}")
    assert all(part.grades.dtype == np.int8 for part in prepared.splits.values())
    back = {s.session_id: s for part in prepared.splits.values() for s in part.records()}
    assert {g for r in records for g in r.grades} == {0, 1, 2, 3}
    for record in records:
        assert list(back[record.session_id].grades) == list(record.grades)
        assert list(back[record.session_id].is_fp) == list(record.is_fp)


def test_config_name_follows_input_and_thresholds(tmp_path):
    raw = tmp_path / "raw"
    lastfm_log(raw / lastfm.TSV_NAME)
    tfds_dir = tmp_path / "tfds"
    base = datasets.load("lastfm", raw, tfds_dir=tfds_dir).tfds_path
    assert datasets.load("lastfm", raw, tfds_dir=tfds_dir).tfds_path == base
    other_threshold = datasets.load("lastfm", raw, tfds_dir=tfds_dir, skip_seconds=5)
    assert other_threshold.tfds_path != base and other_threshold.splits["train"].is_fp.sum() == 0
    lastfm_log(raw / lastfm.TSV_NAME, sessions=20)  # the input changes: a new prepared dataset
    changed = datasets.load("lastfm", raw, tfds_dir=tfds_dir)
    assert changed.tfds_path != base and sum(len(s) for s in changed.splits.values()) == 20


def test_amazon_movies_load(tmp_path):
    rows = [
        f"U{u},m{(u + d) % 7},{1 + (u + d) % 5}.0,{1362960000 + d * 86400 + u}"
        for u in range(3)
        for d in range(5)
    ]
    write_lines(tmp_path / "Movies_and_TV.csv", rows)
    prepared = datasets.load(
        "amazon-movies", tmp_path, tfds_dir=tmp_path / "tfds", rating_threshold=3
    )
    assert sum(len(s) for s in prepared.splits.values()) == 15
    assert prepared.config == {"rating_threshold": 3, "columns": "user,item,rating,timestamp"}


def test_synthetic_load_without_data_dir(tmp_path):
    prepared = datasets.load("synthetic", tfds_dir=tmp_path / "tfds", fp_rate=0.2, **SMALL)
    assert sum(len(s) for s in prepared.splits.values()) == 300
    events = sum(s.num_events for s in prepared.splits.values())
    assert abs(sum(s.is_fp.sum() for s in prepared.splits.values()) / events - 0.2) < 0.02
    assert prepared.config["fp_rate"] == 0.2 and prepared.config["num_sessions"] == 300
    assert list((tmp_path / "tfds" / "synthetic_raw").rglob(lastfm.TSV_NAME))


def test_batched_read_back_is_what_tfds_itself_decodes(tmp_path):
    from fpam_tf.datasets.tfds_base import READ_BATCH, SESSIONS_PER_EXAMPLE
    from fpam_tf.datasets.tfds_builders import make_config

    # More sessions than one read batch, and a last block shorter than the others.
    options = dict(SMALL, num_sessions=READ_BATCH * SESSIONS_PER_EXAMPLE + 700)
    prepared = datasets.load("synthetic", tfds_dir=tmp_path / "tfds", **options)
    builder = datasets.builder_of("synthetic")(
        data_dir=str(tmp_path / "tfds"),
        config=make_config("synthetic", None, (tmp_path / "tfds").resolve(), options),
    )
    for split, sessions in prepared.splits.items():
        blocks = list(builder.as_dataset(split=split, shuffle_files=False).as_numpy_iterator())
        assert {len(block["session_id"]) for block in blocks[:-1]} <= {SESSIONS_PER_EXAMPLE}

        def column(key):
            values = np.concatenate([block[key] for block in blocks])
            return [value.decode() for value in values] if values.dtype == object else values

        assert sessions.session_ids.tolist() == column("session_id")
        assert sessions.user_ids.tolist() == column("user_id")
        assert sessions.items.tolist() == column("items")
        assert sessions.lengths.tolist() == column("session_length").tolist()
        assert sessions.start_times.tolist() == column("start_time").tolist()
        assert sessions.is_fp.tolist() == column("is_fp").tolist()
        assert sessions.grades.tolist() == column("grades").tolist()
        assert sessions.items.dtype == object


def test_an_item_column_holds_each_distinct_id_once():
    from fpam_tf.events import item_column

    shared = {}
    from_text = item_column(["ab", "c", "ab"], shared)
    from_bytes = item_column(np.array([b"ab", "é".encode(), b"ab"]), shared)
    assert from_text.tolist() == ["ab", "c", "ab"] and from_bytes.tolist() == ["ab", "é", "ab"]
    # One string object per distinct id, across calls sharing a table.
    assert from_text[0] is from_text[2] is from_bytes[0] is from_bytes[2]
    assert item_column([]).shape == (0,) and item_column(np.zeros(0, "S1")).dtype == object


def test_bad_rows_warned_and_strict(tmp_path, caplog):
    raw = tmp_path / "raw"
    lastfm_log(raw / lastfm.TSV_NAME, bad_line=4)
    with caplog.at_level(logging.WARNING, logger="fpam_tf.datasets"):
        prepared = datasets.load("lastfm", raw, tfds_dir=tmp_path / "tfds")
    assert prepared.bad_rows.counts == {"bad timestamp": 1}
    assert prepared.bad_rows.examples[0].line == 5
    assert f"{raw / lastfm.TSV_NAME}:5:" in caplog.text and "skipped 1 malformed row" in caplog.text
    # Strict: raises whether the dataset is prepared already or not.
    for tfds_dir in (tmp_path / "tfds", tmp_path / "fresh"):
        with pytest.raises(DataError) as error:
            datasets.load("lastfm", raw, tfds_dir=tfds_dir, strict=True)
        assert error.value.line == 5 and "not a time" in str(error.value)
    assert not list((tmp_path / "fresh").rglob("dataset_info.json"))


def test_unknown_name_option_and_missing_data(tmp_path):
    with pytest.raises(ConfigError, match="lastfm, spotify, amazon-movies, yoochoose, synthetic"):
        datasets.load("movielens", tmp_path)
    with pytest.raises(ConfigError, match="skip_seconds"):
        datasets.load("lastfm", tmp_path, tfds_dir=tmp_path, skip_secs=3)
    with pytest.raises(ConfigError, match="skip_2"):
        datasets.load("spotify", tmp_path, tfds_dir=tmp_path, skip_field="skip_9")
    with pytest.raises(DataError, match="mtg.upf.edu"):
        datasets.load("lastfm", None, tfds_dir=tmp_path)
    with pytest.raises(DataError, match="aicrowd"):
        datasets.load("spotify", tmp_path / "missing", tfds_dir=tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "log.csv").write_text("")
    with pytest.raises(DataError, match="empty"):
        datasets.load("spotify", empty, tfds_dir=tmp_path)


def test_too_few_sessions(tmp_path):
    lastfm_log(tmp_path / lastfm.TSV_NAME, sessions=3)
    with pytest.raises(DataError, match="at least 10"):
        datasets.load("lastfm", tmp_path, tfds_dir=tmp_path / "tfds")


def test_interrupted_preparation_leaves_nothing_complete(tmp_path, monkeypatch):
    raw = tmp_path / "raw"
    lastfm_log(raw / lastfm.TSV_NAME, sessions=30)
    tfds_dir = tmp_path / "tfds"
    original = SessionsBuilder._generate_examples

    def failing(self, sessions):  # the first split's examples, then the process dies
        yield from original(self, sessions)
        raise RuntimeError("interrupted")

    monkeypatch.setattr(SessionsBuilder, "_generate_examples", failing)
    with pytest.raises(RuntimeError, match="interrupted"):
        datasets.load("lastfm", raw, tfds_dir=tfds_dir)
    assert not list(tfds_dir.rglob("dataset_info.json"))
    assert not [p for p in tfds_dir.rglob("*") if "incomplete" in p.name]
    monkeypatch.setattr(SessionsBuilder, "_generate_examples", original)
    prepared = datasets.load("lastfm", raw, tfds_dir=tfds_dir)
    assert sum(len(s) for s in prepared.splits.values()) == 30


def test_default_tfds_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("FPAM_TFDS_DIR", str(tmp_path))
    assert datasets.default_tfds_dir() == tmp_path
    monkeypatch.delenv("FPAM_TFDS_DIR")
    assert str(datasets.default_tfds_dir()).endswith(".cache/fpam_tf/tfds")


def test_two_processes_preparing_one_dataset_at_once_both_read_it(tmp_path):
    """Two runs started together on a fresh cache: the second waits for the first's preparation
    instead of failing to rename its own copy into place."""
    import subprocess
    import sys

    code = (
        "import sys, fpam_tf; from fpam_tf import datasets; "
        "d = datasets.load('synthetic', tfds_dir=sys.argv[1], num_sessions=300, num_users=30, "
        "num_items=100); print(sum(len(s) for s in d.splits.values()))"
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=600) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], [err[-2000:] for _, err in outputs]
    assert outputs[0][0].split()[-1] == outputs[1][0].split()[-1] == "300"
