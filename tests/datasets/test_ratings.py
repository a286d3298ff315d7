"""Ratings reader (amazon-movies): format detection, daily sessions, rating threshold, bad rows."""

import pytest
from dataset_files import write_lines

from fpam_tf.datasets import ratings
from fpam_tf.datasets.badrows import BadRows
from fpam_tf.errors import ConfigError, DataError

DAY = 86400
T0 = 1362960000  # 2013-03-11 00:00 UTC


def test_amazon_csv_daily_sessions(tmp_path):
    path = write_lines(
        tmp_path / "Movies_and_TV.csv",
        [
            f"A1,m2,5.0,{T0 + 50}",
            f"A1,m1,1.0,{T0 + 10}",
            f"A1,m3,2.0,{T0 + 50}",
            f"A1,m4,4.0,{T0 + DAY + 5}",
            f"B7,m1,3.0,{T0 * 1000}",  # milliseconds
        ],
    )
    assert ratings.find_source(tmp_path) == path
    sessions = ratings.read_sessions(path)
    assert [s.session_id for s in sessions] == ["A1:2013-03-11", "A1:2013-03-12", "B7:2013-03-11"]
    first = sessions[0]
    assert list(first.items) == ["m1", "m2", "m3"]  # by time, the tie keeps file order
    assert list(first.is_fp) == [True, False, False]  # rating < 2
    assert first.start_time == T0 + 10 and first.user_id == "A1"
    assert sessions[2].start_time == T0
    assert [list(s.is_fp) for s in ratings.read_sessions(path, rating_threshold=3)][0] == [
        True,
        False,
        True,
    ]


def test_item_first_column_order(tmp_path):
    path = write_lines(tmp_path / "r.csv", [f"m1,A1,5.0,{T0}", f"m2,A1,1.0,{T0 + 1}"])
    (session,) = ratings.read_sessions(path, columns="item,user,rating,timestamp")
    assert session.user_id == "A1" and list(session.items) == ["m1", "m2"]
    with pytest.raises(ConfigError):
        ratings.read_sessions(path, columns="item,user,rating")


def test_movielens_csv_and_dat(tmp_path):
    csv_path = write_lines(
        tmp_path / "ratings.csv",
        ["userId,movieId,rating,timestamp", f"1,31,2.5,{T0}", f"1,1029,1.5,{T0 + 60}"],
    )
    (session,) = ratings.read_sessions(csv_path)
    assert session.session_id == "1:2013-03-11" and list(session.is_fp) == [False, True]
    dat_dir = tmp_path / "ml-1m"
    dat_dir.mkdir()
    write_lines(dat_dir / "ratings.dat", [f"1::1193::5::{T0}", f"1::661::1::{T0 + 3}"])
    (session,) = ratings.read_sessions(ratings.find_source(dat_dir))
    assert list(session.items) == ["1193", "661"] and list(session.is_fp) == [False, True]


def test_bad_rows_and_strict(tmp_path):
    path = write_lines(
        tmp_path / "r.csv", [f"A1,m1,5.0,{T0}", "A1,m2,5.0", f"A1,m3,five,{T0}", "A1,m4,4.0,soon"]
    )
    bad_rows = BadRows()
    (session,) = ratings.read_sessions(path, bad_rows=bad_rows)
    assert list(session.items) == ["m1"]
    assert bad_rows.report().counts == {
        "wrong column count": 1,
        "bad number": 1,
        "bad timestamp": 1,
    }
    with pytest.raises(DataError) as error:
        ratings.read_sessions(path, bad_rows=BadRows(strict=True))
    assert error.value.line == 2


def test_missing_and_empty(tmp_path):
    with pytest.raises(DataError, match="ratings_Movies_and_TV.csv"):
        ratings.find_source(tmp_path / "nowhere")
    with pytest.raises(DataError, match="Movies_and_TV.csv"):
        ratings.find_source(tmp_path)
    (tmp_path / "ratings.csv").write_text("")
    with pytest.raises(DataError, match="empty"):
        ratings.find_source(tmp_path)


@pytest.mark.parametrize(
    "name, lines",
    [
        ("u.data", [f"1\t31\t2\t{T0}", f"1\t1029\t1\t{T0 + 60}", f"1\t7\t4\t{T0 + 90}"]),
        ("ratings.dat", [f"1::31::2::{T0}", f"1::1029::1::{T0 + 60}", f"1::7::4::{T0 + 90}"]),
        (
            "ratings.csv",
            ["userId,movieId,rating,timestamp", f"1,31,2,{T0}", f"1,1029,1,{T0 + 60}"]
            + [f"1,7,4,{T0 + 90}"],
        ),
        (
            "ml-100k.inter",
            ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
            + [f"1\t31\t2\t{T0}", f"1\t1029\t1\t{T0 + 60}", f"1\t7\t4\t{T0 + 90}"],
        ),
        (
            "extra_columns.tsv",
            ["timestamp\tmovieId\tgenre\tuserId\trating"]
            + [f"{T0}\t31\tx\t1\t2", f"{T0 + 60}\t1029\ty\t1\t1", f"{T0 + 90}\t7\tz\t1\t4"],
        ),
        ("amazon.csv", [f"1,31,2,{T0}", f"1,1029,1,{T0 + 60}", f"1,7,4,{T0 + 90}"]),
    ],
)
def test_every_common_ratings_format_reads_the_same_sessions_whatever_its_name(
    tmp_path, name, lines
):
    # Detected from the content: the same rows under a neutral name read the same.
    for path in (write_lines(tmp_path / name, lines), write_lines(tmp_path / "data.txt", lines)):
        (session,) = ratings.read_sessions(path)
        assert session.user_id == "1" and list(session.items) == ["31", "1029", "7"]
        assert list(session.is_fp) == [False, True, False]


def test_a_folder_with_a_recbole_inter_file_is_found(tmp_path):
    write_lines(
        tmp_path / "ml" / "ml-100k.inter",
        ["user_id:token\titem_id:token\trating:float\ttimestamp:float", f"1\t31\t2\t{T0}"],
    )
    assert ratings.find_source(tmp_path / "ml").name == "ml-100k.inter"
