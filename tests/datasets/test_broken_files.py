"""Broken raw files: a truncated or corrupt gzip and bytes that are not UTF-8 are DataErrors that
name the file, the line and the byte offset, through every reader and through the CLI (no
traceback), and leave no prepared dataset behind."""

import gzip
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_spotify import HEADER, row

from fpam_tf import datasets
from fpam_tf.datasets import lastfm, ratings, spotify, yoochoose
from fpam_tf.datasets.sources import open_text
from fpam_tf.errors import DataError

ROOT = Path(__file__).resolve().parents[2]
LINES = [HEADER] + [row(f"s{i}", p, f"t{i}{p}") for i in range(40) for p in (1, 2, 3)]


def truncated_gzip(path: Path) -> Path:
    data = gzip.compress(("\n".join(LINES) + "\n").encode())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data[: len(data) // 2])
    return path


def test_a_truncated_gzip_names_the_file_and_how_far_it_got(tmp_path):
    path = truncated_gzip(tmp_path / "logs" / "log_0.csv.gz")
    with pytest.raises(DataError) as error:
        spotify.read_sessions([path])
    message = str(error.value)
    assert str(path) in message and "truncated or not valid gzip after" in message
    assert "gzip -t" in message


def test_a_file_that_is_not_gzip_at_all_is_a_data_error(tmp_path):
    path = tmp_path / "log_0.csv.gz"
    path.write_bytes(b"session_id,session_position\n" * 3)
    with pytest.raises(DataError, match="truncated or not valid gzip after 0 bytes"):
        with open_text(path) as stream:
            list(stream)


@pytest.mark.parametrize("compressed", [False, True])
def test_bytes_that_are_not_utf8_name_the_line_the_offset_and_what_was_found(tmp_path, compressed):
    body = ("\n".join(LINES[:3]) + "\n").encode() + b"s9,1,3,caf\xe9,false,x\n"
    path = tmp_path / ("log.csv.gz" if compressed else "log.csv")
    path.write_bytes(gzip.compress(body) if compressed else body)
    with pytest.raises(DataError) as error:
        with open_text(path) as stream:
            list(stream)
    assert error.value.line == 4 and error.value.path == str(path)
    offset = body.index(b"\xe9")
    assert f"b'\\xe9' at byte {offset:,} are not UTF-8" in str(error.value)
    assert "caf" in str(error.value) and "iconv" in error.value.fix


def test_every_reader_reports_a_broken_file_as_a_data_error(tmp_path):
    broken = b"\xff\xfe broken \xff\n" * 3
    for name, read in {
        "lastfm.tsv": lambda p: lastfm.read_sessions(p),
        "ratings.csv": lambda p: ratings.read_sessions(p),
        "clicks.txt": lambda p: yoochoose.read_sessions([p]),
    }.items():
        path = tmp_path / name
        path.write_bytes(broken)
        with pytest.raises(DataError, match="are not UTF-8"):
            read(path)


def test_the_cli_prints_the_error_without_a_traceback_and_prepares_nothing(tmp_path):
    truncated_gzip(tmp_path / "logs" / "log_0.csv.gz")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "fpam_tf.data",
            "stats",
            "--dataset",
            "spotify",
            "--data-dir",
            str(tmp_path / "logs"),
            "--tfds-dir",
            str(tmp_path / "tfds"),
        ],
        cwd=ROOT,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "log_0.csv.gz" in result.stderr and "truncated or not valid gzip" in result.stderr
    assert not list((tmp_path / "tfds").rglob("dataset_info.json"))
    assert result.stdout == ""
    # the load path says the same
    with pytest.raises(DataError, match="truncated"):
        datasets.load("spotify", tmp_path / "logs", tfds_dir=tmp_path / "tfds2")


def test_a_file_whose_rows_all_fail_shows_the_first_three_with_what_was_expected(tmp_path):
    rows = ["a,b,c", "d,e,f", "g,h,i", "j,k,l"]
    for name, read in {
        "ratings.csv": lambda p: ratings.read_sessions(p),
        "plays.tsv": lambda p: lastfm.read_sessions(p),
    }.items():
        path = tmp_path / name
        path.write_text("\n".join(rows) + "\n")
        with pytest.raises(DataError) as error:
            read(path)
        message = str(error.value)
        assert "no valid rows: all 4 rows are malformed" in message and str(path) in message
        assert "line 1:" in message and "line 3:" in message and "line 4:" not in message
        assert "expected" in message and error.value.fix


def test_a_quote_that_never_closes_is_a_data_error_naming_where_it_starts(tmp_path):
    runaway = "x" * 140_000  # past the csv module's field size limit
    cases = {
        "ratings.csv": (
            ["userId,movieId,rating,timestamp", '1,"31,2,1362960000', runaway],
            lambda p: ratings.read_sessions(p),
        ),
        "log_0.csv": (
            [HEADER, row("s1", 1, "t1"), '"' + runaway],
            lambda p: spotify.read_sessions([p]),
        ),
    }
    for name, (lines, read) in cases.items():
        path = tmp_path / name
        path.write_text("\n".join(lines) + "\n")
        with pytest.raises(DataError) as error:
            read(path)
        assert error.value.line == (2 if name == "ratings.csv" else 3)
        assert "unreadable CSV from this line on" in str(error.value) and "quote" in error.value.fix
