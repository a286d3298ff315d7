"""Spotify MSSD reader: grouping, ordering, skip field, skip grades, start time, bad rows."""

import gzip

import pytest
from dataset_files import write_lines

from fpam_tf.datasets import spotify
from fpam_tf.datasets.badrows import BadRows
from fpam_tf.errors import ConfigError, DataError
from fpam_tf.events import Sessions

HEADER = (
    "session_id,session_position,session_length,track_id_clean,skip_1,skip_2,skip_3,not_skipped,"
    "context_switch,no_pause_before_play,short_pause_before_play,long_pause_before_play,"
    "hist_user_behavior_n_seekfwd,hist_user_behavior_n_seekback,hist_user_behavior_is_shuffle,"
    "hour_of_day,date,premium,context_type,hist_user_behavior_reason_start,hist_user_behavior_reason_end"
)


def row(
    session,
    position,
    track,
    skip_1="false",
    skip_2="false",
    skip_3="false",
    not_skipped="true",
    hour=21,
    date="2018-07-14",
):
    return (
        f"{session},{position},3,{track},{skip_1},{skip_2},{skip_3},{not_skipped},0,0,0,0,0,0,false,"
        f"{hour},{date},true,radio,fwdbtn,fwdbtn"
    )


def test_rows_grouped_across_files_and_sorted(tmp_path):
    write_lines(
        tmp_path / "a.csv",
        [
            HEADER,
            row("s1", 3, "t3"),
            row("s2", 1, "u1", skip_2="true", hour=0, date="2018-07-15"),
            row("s1", 1, "t1", skip_2="true"),
        ],
    )
    with gzip.open(tmp_path / "b.csv.gz", "wt") as stream:
        stream.write(
            HEADER + "\n" + row("s1", 2, "t2", skip_1="true", not_skipped="false", hour=22) + "\n"
        )
    (tmp_path / "notes.txt").write_text("ignored")
    sessions = spotify.read_sessions(spotify.find_sources(tmp_path))
    by_id = {s.session_id: s for s in sessions}
    assert list(by_id["s1"].items) == ["t1", "t2", "t3"]
    assert list(by_id["s1"].is_fp) == [True, False, False]
    assert by_id["s1"].start_time == 1531602000  # 2018-07-14 21:00 UTC, from position 1
    assert by_id["s2"].start_time == 1531612800 and by_id["s2"].user_id == ""
    skip_1 = {
        s.session_id: list(s.is_fp)
        for s in spotify.read_sessions(spotify.find_sources(tmp_path), skip_field="skip_1")
    }
    assert skip_1["s1"] == [False, True, False]
    negated = {
        s.session_id: list(s.is_fp)
        for s in spotify.read_sessions(spotify.find_sources(tmp_path), skip_field="not_skipped")
    }
    assert negated["s1"] == [False, True, False]


def test_skip_grades_come_from_the_nested_skip_columns_whatever_the_fp_flag(tmp_path):
    path = write_lines(
        tmp_path / "log.csv",
        [
            HEADER,
            row("s1", 1, "t1"),  # played to the end: grade 0
            row("s1", 2, "t2", skip_3="true", not_skipped="false"),  # most of it: 1
            row("s1", 3, "t3", skip_2="true", skip_3="true", not_skipped="false"),  # briefly: 2
            row(
                "s1", 4, "t4", skip_1="true", skip_2="true", skip_3="true", not_skipped="false"
            ),  # at once: 3
        ],
    )
    (session,) = spotify.read_sessions([path])
    assert list(session.grades) == [0, 1, 2, 3]
    assert list(session.is_fp) == [False, False, True, True]  # the FP flag is still skip_2
    (by_skip_3,) = spotify.read_sessions([path], skip_field="skip_3")
    assert list(by_skip_3.grades) == [0, 1, 2, 3]
    assert list(by_skip_3.is_fp) == [False, True, True, True]


def test_a_log_without_every_skip_column_gets_grades_from_its_fp_flags(tmp_path):
    header = "session_id,session_position,track_id_clean,skip_2,not_skipped,hour_of_day,date"
    write_lines(
        tmp_path / "a.csv",
        [
            header,
            "s1,1,t1,false,true,21,2018-07-14",
            "s1,2,t2,true,false,21,2018-07-14",
            "s2,1,u1,false,false,21,2018-07-14",
        ],
    )
    # s2's other row comes from a log with every column: a session's grades are all read or all
    # derived.
    write_lines(tmp_path / "b.csv", [HEADER, row("s2", 2, "u2", skip_3="true")])
    sessions = spotify.read_sessions(spotify.find_sources(tmp_path))
    by_id = {s.session_id: s for s in sessions}
    assert by_id["s1"].grades is None and list(by_id["s1"].is_fp) == [False, True]
    assert by_id["s2"].grades is None
    assert Sessions.from_records(sessions).grades.tolist() == [0, 3, 0, 0]


def test_a_non_boolean_in_a_grade_column_is_a_bad_row(tmp_path):
    path = write_lines(
        tmp_path / "log.csv",
        [HEADER, row("s1", 1, "t1"), row("s1", 2, "t2", skip_3="often"), row("s1", 3, "t3")],
    )
    bad_rows = BadRows()
    (session,) = spotify.read_sessions([path], bad_rows=bad_rows)
    assert list(session.items) == ["t1", "t3"] and list(session.grades) == [0, 0]
    report = bad_rows.report()
    assert report.counts == {"bad boolean": 1}
    assert report.examples[0].line == 3 and "skip_3 is 'often'" in report.examples[0].problem


def test_unknown_skip_field():
    with pytest.raises(ConfigError, match="skip_1, skip_2, skip_3, not_skipped"):
        spotify.check_skip_field("skipped")


def test_bad_rows_and_strict(tmp_path):
    path = write_lines(
        tmp_path / "log.csv",
        [
            HEADER,
            row("s1", 1, "t1"),
            row("s1", 2, "t2", skip_2="maybe"),
            "s1,3,3,t3",
            row("s1", "x", "t4"),
            row("s1", 4, "t4"),
        ],
    )
    bad_rows = BadRows()
    (session,) = spotify.read_sessions([path], bad_rows=bad_rows)
    assert list(session.items) == ["t1", "t4"]
    report = bad_rows.report()
    assert report.counts == {"bad boolean": 1, "wrong column count": 1, "bad number or date": 1}
    assert [r.line for r in report.examples] == [3, 4, 5]
    with pytest.raises(DataError) as error:
        spotify.read_sessions([path], bad_rows=BadRows(strict=True))
    assert (
        error.value.line == 3
        and "maybe" in error.value.problem
        and "true or false" in error.value.fix
    )


def test_missing_empty_and_wrong_files(tmp_path):
    with pytest.raises(DataError, match="aicrowd"):
        spotify.find_sources(tmp_path / "nowhere")
    with pytest.raises(DataError, match=r"no \*.csv"):
        spotify.find_sources(tmp_path)
    (tmp_path / "log.csv").write_text("")
    with pytest.raises(DataError, match="empty"):
        spotify.find_sources(tmp_path)
    features = write_lines(tmp_path / "tf.csv", ["track_id,duration", "t1,200"])
    with pytest.raises(DataError, match="header lacks"):
        spotify.read_sessions([features])


def test_tiny_sample(shared_datasets):
    sessions = spotify.read_sessions(spotify.find_sources(shared_datasets("spotify_mssd_tiny")))
    assert len(sessions) == 100
    events = sum(len(s.items) for s in sessions)
    assert events == 1676
    assert abs(sum(sum(s.is_fp) for s in sessions) / events - 0.5364) < 0.0005
    assert all(10 <= len(s.items) <= 20 and any(s.is_fp) and not all(s.is_fp) for s in sessions)
