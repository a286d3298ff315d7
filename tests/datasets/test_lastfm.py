"""Last.fm 1K reader: parsing, sessionization, skip inference, item keys, bad rows."""

import tarfile

import numpy as np
import pytest
from dataset_files import write_lines

from fpam_tf.datasets import lastfm
from fpam_tf.datasets.badrows import BadRows
from fpam_tf.errors import DataError


def row(user, stamp, track_id="", artist="Artist", track="Song"):
    return "\t".join([user, stamp, "artist-mbid", artist, track_id, track])


# Newest first, as in the real file. Gaps: 10 s (skip), 200 s, then 2 h (new session), 5 s, 60 s.
TINY = [
    row("u1", "2009-01-01T12:04:35Z", "t5"),
    row("u1", "2009-01-01T12:03:35Z", "t4"),
    row("u1", "2009-01-01T12:03:30Z", "t3"),
    row("u1", "2009-01-01T10:03:30Z", "t2"),
    row("u1", "2009-01-01T10:00:10Z", "t1"),
    row("u1", "2009-01-01T10:00:00Z", "", artist="Band", track="Tune"),
    row("u2", "2009-01-02T00:00:00Z", "x1"),
]


def records(path, **options):
    """The reader's sessions, one record each."""
    return list(lastfm.read_sessions(path, **options).records())


def test_tiny_sessions_exact(tmp_path):
    sessions = records(write_lines(tmp_path / lastfm.TSV_NAME, TINY))
    assert [s.session_id for s in sessions] == ["u1:1230804000", "u1:1230811410", "u2:1230854400"]
    first, second, third = sessions
    assert list(first.items) == ["Band - Tune", "t1", "t2"]
    assert list(first.is_fp) == [
        True,
        False,
        False,
    ]  # 10 s play; last play of a session is never FP
    assert list(second.items) == ["t3", "t4", "t5"]
    assert list(second.is_fp) == [True, False, False]
    assert first.start_time == 1230804000 and first.user_id == "u1"
    assert list(third.items) == ["x1"] and list(third.is_fp) == [False]


def test_thresholds_change_sessions_and_skips(tmp_path):
    path = write_lines(tmp_path / "log.tsv", TINY)
    one_session = records(path, session_gap_minutes=180, skip_seconds=5)
    assert len(one_session) == 2
    assert list(one_session[0].is_fp) == [False] * 6  # no play shorter than 5 s


def test_equal_timestamps_keep_chronological_order(tmp_path):
    # In a newest-first file the lower row of a tie is the earlier play.
    lines = [row("u", "2009-01-01T10:00:00Z", "later"), row("u", "2009-01-01T10:00:00Z", "earlier")]
    (session,) = records(write_lines(tmp_path / "log.tsv", lines))
    assert list(session.items) == ["earlier", "later"]
    assert list(session.is_fp) == [True, False]


def test_directory_and_tar_sources(tmp_path):
    write_lines(tmp_path / lastfm.TSV_NAME, TINY)
    assert lastfm.find_source(tmp_path) == tmp_path / lastfm.TSV_NAME
    archive = tmp_path / "pack" / lastfm.TAR_NAME
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / lastfm.TSV_NAME, arcname=f"lastfm-dataset-1K/{lastfm.TSV_NAME}")
    source = lastfm.find_source(archive.parent)
    assert source == archive
    assert [s.items for s in records(source)] == [
        s.items for s in records(tmp_path / lastfm.TSV_NAME)
    ]


def test_bad_rows_counted_and_skipped(tmp_path):
    lines = [
        TINY[0],
        "u1\t2009-01-01T12:00:00Z\tonly three",
        row("u1", "yesterday", "t9"),
        *TINY[1:],
    ]
    bad_rows = BadRows()
    sessions = lastfm.read_sessions(write_lines(tmp_path / "log.tsv", lines), bad_rows=bad_rows)
    report = bad_rows.report()
    assert report.counts == {"wrong column count": 1, "bad timestamp": 1}
    assert [(r.line, r.kind) for r in report.examples] == [
        (2, "wrong column count"),
        (3, "bad timestamp"),
    ]
    assert sessions.num_events == len(TINY)


def test_block_boundaries_and_line_endings_do_not_change_the_sessions(tmp_path, monkeypatch):
    lines = [*TINY, "", row("u3", "2009-01-03T00:00:00Z", "y1"), "u3\tonly two"]
    expected = records(write_lines(tmp_path / "log.tsv", lines))
    crlf = tmp_path / "crlf.tsv"
    crlf.write_bytes("\r\n".join(lines).encode())  # Windows endings, no final newline
    for block_bytes in (7, 100, 1 << 20):  # a block shorter than a line, a few lines, all
        monkeypatch.setattr(lastfm, "BLOCK_BYTES", block_bytes)
        for path in (tmp_path / "log.tsv", crlf):
            bad_rows = BadRows()
            assert records(path, bad_rows=bad_rows) == expected
            assert [(r.line, r.kind) for r in bad_rows.report().examples] == [
                (8, "wrong column count"),  # the empty line
                (10, "wrong column count"),
            ]


def test_a_carriage_return_inside_a_row_is_a_bad_row(tmp_path):
    lines = [TINY[0], row("u1", "2009-01-01T12:00:00Z", "t9", track="Half\rway"), *TINY[1:]]
    bad_rows = BadRows()
    sessions = lastfm.read_sessions(write_lines(tmp_path / "log.tsv", lines), bad_rows=bad_rows)
    (bad,) = bad_rows.report().examples
    assert (bad.line, bad.kind) == (2, "carriage return inside a row") and "tr -d" in bad.fix
    assert sessions.num_events == len(TINY)


def test_timestamps_in_other_iso_forms_are_read(tmp_path):
    lines = [row("u", "2009-01-01T11:00:20+01:00", "b"), row("u", "2009-01-01 10:00:00", "a")]
    (session,) = records(write_lines(tmp_path / "log.tsv", lines))
    assert list(session.items) == ["a", "b"] and session.start_time == 1230804000
    assert list(session.is_fp) == [True, False]  # 20 s apart


def test_strict_raises_at_first_bad_row(tmp_path):
    path = write_lines(tmp_path / "log.tsv", [TINY[0], row("u1", "not-a-time")])
    with pytest.raises(DataError) as error:
        lastfm.read_sessions(path, bad_rows=BadRows(strict=True))
    assert error.value.line == 2 and error.value.path == str(path)
    assert "not-a-time" in error.value.problem and "ISO-8601" in error.value.fix


def test_missing_and_empty_inputs(tmp_path):
    with pytest.raises(DataError, match="lastfm-dataset-1K.tar.gz"):
        lastfm.find_source(tmp_path / "nowhere")
    with pytest.raises(DataError, match="no userid-timestamp"):
        lastfm.find_source(tmp_path)
    (tmp_path / lastfm.TSV_NAME).write_text("")
    with pytest.raises(DataError, match="empty"):
        lastfm.find_source(tmp_path)


def test_head5000_sessions_and_skip_rate(shared_datasets):
    sessions = records(lastfm.find_source(shared_datasets("lastfm1k_head5000")))
    user1 = [s for s in sessions if s.user_id == "user_000001"]
    assert len(user1) == 322
    assert sum(len(s.items) for s in sessions) == 5000
    transitions = sum(len(s.items) - 1 for s in user1)
    fp_rate = sum(sum(s.is_fp) for s in user1) / transitions
    assert transitions == 4675
    assert abs(fp_rate - 0.0428) < 0.001
    starts = np.array([s.start_time for s in user1])
    assert (np.diff(starts) > 30 * 60).all()  # ascending, sessions more than 30 min apart
    # Item key falls back to "artist - track" where the track MBID is empty (first row of
    # SOURCE.md).
    assert "Deep Dish - Fuck Me Im Famous (Pacha Ibiza)-09-28-2007" in user1[-1].items
    assert all(len(s.session_id.split(":")) == 2 for s in sessions)
    assert len({s.session_id for s in sessions}) == len(sessions)
