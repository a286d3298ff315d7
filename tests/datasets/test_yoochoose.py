"""YOOCHOOSE clicks reader: sessions, FP flags from dwell time, the dwell_seconds option, bad
input, and the session-rec 100k sample through ``load``."""

import pytest
from dataset_files import write_lines

import fpam_tf.datasets as datasets
from fpam_tf.cli import parse_options
from fpam_tf.datasets import yoochoose
from fpam_tf.datasets.badrows import BadRows
from fpam_tf.errors import ConfigError, DataError

HEADER = "SessionId\tItemId\tTime"
T0 = 1396437466  # 2014-04-02 11:17:46 UTC


def click(session, item, seconds_after):
    """A row ``seconds_after`` T0, written with milliseconds as session-rec writes them."""
    return f"{session}\t{item}\t{T0 + seconds_after:.3f}"


# Session 3, out of time order: dwell times 10 s (i1), 30 s exactly (i2), 29.999 s (i3), then the
# last click i4. Session 1 interleaved: one dwell of 60 s.
CLICKS = [
    HEADER,
    click(3, "i3", 40),
    click(1, "j1", 1000),
    click(3, "i1", 0),
    click(3, "i4", 69.999),
    click(1, "j2", 1060),
    click(3, "i2", 10),
]


def test_sessions_ordered_by_time_with_dwell_flags(tmp_path):
    sessions = yoochoose.read_sessions([write_lines(tmp_path / "clicks.txt", CLICKS)])
    assert [s.session_id for s in sessions] == ["3", "1"]  # order of first appearance
    first, second = sessions
    assert list(first.items) == ["i1", "i2", "i3", "i4"]
    # 10 s < 30 s is FP, exactly 30 s is not, 29.999 s is; the last click has no dwell time.
    assert list(first.is_fp) == [True, False, True, False]
    assert first.start_time == T0 and first.user_id == ""
    assert list(second.items) == ["j1", "j2"] and list(second.is_fp) == [False, False]
    assert second.start_time == T0 + 1000


def test_single_click_session_and_equal_times(tmp_path):
    rows = [HEADER, click(5, "only", 0), click(7, "first", 0), click(7, "second", 0)]
    single, tie = yoochoose.read_sessions([write_lines(tmp_path / "clicks.txt", rows)])
    assert list(single.items) == ["only"] and list(single.is_fp) == [False]
    # Equal times keep file order; a dwell time of 0 s is FP.
    assert list(tie.items) == ["first", "second"] and list(tie.is_fp) == [True, False]


def test_dwell_seconds_changes_flags(tmp_path):
    path = write_lines(tmp_path / "clicks.txt", CLICKS)
    flags = {
        dwell: list(yoochoose.read_sessions([path], dwell_seconds=dwell)[0].is_fp)
        for dwell in (0, 10, 29.999, 30.001, 120)
    }
    assert flags == {
        0: [False, False, False, False],
        10: [False, False, False, False],  # the 10 s dwell is not below 10 s
        29.999: [True, False, False, False],
        30.001: [True, True, True, False],
        120: [True, True, True, False],
    }


def test_sub_second_threshold_is_exact(tmp_path):
    # Float arithmetic would flag both boundary clicks: 2.007 * 1000 > 2007, (T0 + 0.1) - T0 < 0.1.
    rows = [HEADER, click(1, "a", 0), click(1, "b", 2.007), click(2, "c", 0), click(2, "d", 0.1)]
    path = write_lines(tmp_path / "clicks.txt", rows)
    assert [list(s.is_fp) for s in yoochoose.read_sessions([path], dwell_seconds=2.007)] == [
        [False, False],
        [True, False],
    ]
    assert [list(s.is_fp) for s in yoochoose.read_sessions([path], dwell_seconds=0.1)] == [
        [False, False],
        [False, False],
    ]


@pytest.mark.parametrize("dwell_seconds", [-1, "ten", float("nan"), float("inf"), True])
def test_bad_dwell_seconds(tmp_path, dwell_seconds):
    path = write_lines(tmp_path / "clicks.txt", CLICKS)
    with pytest.raises(ConfigError, match="dwell_seconds must be a finite number"):
        yoochoose.read_sessions([path], dwell_seconds=dwell_seconds)
    with pytest.raises(ConfigError, match="dwell_seconds must be a finite number"):
        datasets.load(
            "yoochoose", tmp_path, tfds_dir=tmp_path / "tfds", dwell_seconds=dwell_seconds
        )


def test_directory_reads_every_txt_file_but_the_resplit(tmp_path):
    prefix = "yoochoose-clicks-100k"
    write_lines(tmp_path / f"{prefix}_train_full.txt", [HEADER, click(1, "a", 0), click(1, "b", 5)])
    write_lines(tmp_path / f"{prefix}_test.txt", [HEADER, click(2, "c", 900), click(1, "z", 100)])
    # session-rec's re-split of train_full: reading it too would count training clicks twice.
    write_lines(tmp_path / f"{prefix}_train_tr.txt", [HEADER, click(1, "a", 0)])
    write_lines(tmp_path / f"{prefix}_train_valid.txt", [HEADER, click(1, "b", 5)])
    (tmp_path / "SOURCE.md").write_text("notes")
    sources = yoochoose.find_sources(tmp_path)
    assert [path.name for path in sources] == [f"{prefix}_test.txt", f"{prefix}_train_full.txt"]
    by_id = {s.session_id: s for s in yoochoose.read_sessions(sources)}
    # A session spread over files is grouped and ordered by time.
    assert list(by_id["1"].items) == ["a", "b", "z"]
    assert list(by_id["1"].is_fp) == [True, False, False]
    assert list(by_id["2"].items) == ["c"]
    assert yoochoose.find_sources(tmp_path / f"{prefix}_train_tr.txt") == [
        tmp_path / f"{prefix}_train_tr.txt"
    ]


def test_load_with_dwell_seconds_option(tmp_path):
    rows = [HEADER] + [click(s, f"i{i}", 600 * s + 20 * i) for s in range(12) for i in range(3)]
    write_lines(tmp_path / "raw" / "clicks.txt", rows)
    tfds_dir = tmp_path / "tfds"
    default = datasets.load("yoochoose", tmp_path / "raw", tfds_dir=tfds_dir)
    assert not default.has_users and default.config == {"dwell_seconds": 30}
    assert sum(len(part) for part in default.splits.values()) == 12
    assert sum(part.is_fp.sum() for part in default.splits.values()) == 24  # 20 s dwell times
    options = parse_options(["dwell_seconds=10"])  # what --dataset-option dwell_seconds=10 gives
    shorter = datasets.load("yoochoose", tmp_path / "raw", tfds_dir=tfds_dir, **options)
    assert shorter.config == {"dwell_seconds": 10} and shorter.tfds_path != default.tfds_path
    assert sum(part.is_fp.sum() for part in shorter.splits.values()) == 0


def test_bad_rows_counted_and_strict(tmp_path):
    lines = [
        HEADER,
        click(1, "a", 0),
        "1\tb",
        "1\tc\tyesterday",
        click(1, "d", 5),
        "1\te\tnan",
    ]
    path = write_lines(tmp_path / "clicks.txt", lines)
    bad_rows = BadRows()
    (session,) = yoochoose.read_sessions([path], bad_rows=bad_rows)
    assert list(session.items) == ["a", "d"] and list(session.is_fp) == [True, False]
    report = bad_rows.report()
    assert report.counts == {"wrong column count": 1, "bad timestamp": 2}
    assert [(row.line, row.kind) for row in report.examples] == [
        (3, "wrong column count"),
        (4, "bad timestamp"),
        (6, "bad timestamp"),
    ]
    with pytest.raises(DataError) as error:
        yoochoose.read_sessions([path], bad_rows=BadRows(strict=True))
    assert error.value.line == 3 and error.value.path == str(path)
    assert "found 2" in error.value.problem and "header column" in error.value.fix


def test_missing_empty_and_wrong_files(tmp_path):
    with pytest.raises(DataError, match="session-rec"):
        yoochoose.find_sources(tmp_path / "nowhere")
    with pytest.raises(DataError, match=r"no \*.txt files"):
        yoochoose.find_sources(tmp_path)
    (tmp_path / "clicks.txt").write_text("")
    with pytest.raises(DataError, match="empty"):
        yoochoose.find_sources(tmp_path)
    headerless = write_lines(tmp_path / "clicks.txt", [click(1, "a", 0)])
    with pytest.raises(DataError, match="header lacks column") as error:
        yoochoose.read_sessions([headerless])
    assert error.value.line == 1 and "SessionId, ItemId, Time" in error.value.fix
    header_only = write_lines(tmp_path / "clicks.txt", [HEADER])
    with pytest.raises(DataError, match="no valid rows"):
        yoochoose.read_sessions([header_only])


def test_session_rec_100k_sample(shared_datasets, tmp_path):
    prepared = datasets.load(
        "yoochoose", shared_datasets("yoochoose_clicks_100k"), tfds_dir=tmp_path
    )
    sizes = {split: len(part) for split, part in prepared.splits.items()}
    # 17,794 train_full + 3,416 test sessions (SOURCE.md), no id in both files; the builder drops
    # none (only empty sessions are dropped) and splits them 80/10/10 by start time (PROTOCOL §2).
    assert sizes == {"train": 16968, "validation": 2121, "test": 2121}
    events = sum(part.num_events for part in prepared.splits.values())
    assert events == 70278 + 13568
    fp_ratio = sum(part.is_fp.sum() for part in prepared.splits.values()) / events
    assert 0.2 < fp_ratio < 0.35
    assert prepared.bad_rows.total == 0 and prepared.config == {"dwell_seconds": 30}
