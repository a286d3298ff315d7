"""Property-based: every reader, fed random bytes or a valid file mutated at random, either reads
sessions cleanly or raises the project's DataError (what, where, how to fix), never anything else.

Each reader gets ``EXAMPLES`` inputs of each kind (hypothesis; a fixed seed, so a failure
reproduces).
"""

import gzip
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from test_lastfm import TINY as LASTFM_LINES
from test_spotify import HEADER as SPOTIFY_HEADER
from test_spotify import row as spotify_row

from fpam_tf.datasets import lastfm, ratings, spotify, yoochoose
from fpam_tf.errors import DataError
from fpam_tf.events import SessionRecord

EXAMPLES = 150
T0 = 1362960000
READERS = {
    "spotify": (
        "log_0.csv",
        lambda path: spotify.read_sessions([path]),
        [SPOTIFY_HEADER] + [spotify_row(f"s{i}", p, f"t{p}") for i in range(3) for p in (1, 2, 3)],
    ),
    "lastfm": ("plays.tsv", lambda path: list(lastfm.read_sessions(path).records()), LASTFM_LINES),
    "ratings": (
        "ratings.csv",
        lambda path: ratings.read_sessions(path),
        ["userId,movieId,rating,timestamp"] + [f"1,{i},{i % 5},{T0 + 60 * i}" for i in range(6)],
    ),
    "yoochoose": (
        "clicks.txt",
        lambda path: yoochoose.read_sessions([path]),
        ["SessionId\tItemId\tTime"] + [f"{i // 3}\t{i}\t{T0 + 7.5 * i:.3f}" for i in range(9)],
    ),
}
PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def read_or_data_error(reader, path: Path) -> None:
    """The property: a list of SessionRecords, or a DataError; any other exception fails."""
    try:
        sessions = reader(path)
    except DataError as error:
        assert str(error).strip(), "a DataError must say what is wrong"
        return
    assert isinstance(sessions, list) and sessions
    assert all(isinstance(s, SessionRecord) and len(s.items) == len(s.is_fp) for s in sessions)


@st.composite
def mutated(draw, lines: list[str]) -> bytes:
    """A valid file with a few random edits: bytes inserted, deleted or replaced, lines dropped,
    duplicated or cut short, the whole truncated."""
    data = bytearray(("\n".join(lines) + "\n").encode())
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["insert", "delete", "replace", "truncate", "line"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 20))]
        elif kind == "replace" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "truncate":
            del data[at:]
        else:
            split = bytes(data).split(b"\n")
            index = draw(st.integers(0, len(split) - 1))
            split.insert(
                index, split[draw(st.integers(0, len(split) - 1))] * draw(st.integers(0, 3))
            )
            data = bytearray(b"\n".join(split))
    return bytes(data)


@pytest.mark.parametrize("name", list(READERS))
@seed(20261201)
@PROPERTY
@given(data=st.data())
def test_a_mutated_file_reads_cleanly_or_is_a_data_error(tmp_path, name, data):
    file_name, reader, lines = READERS[name]
    content = data.draw(mutated(lines))
    path = tmp_path / file_name
    path.write_bytes(content)
    read_or_data_error(reader, path)
    gzipped = tmp_path / (file_name + ".gz")
    packed = gzip.compress(content)
    gzipped.write_bytes(packed[: data.draw(st.integers(0, len(packed)))])  # maybe cut short
    if name != "lastfm":  # the Last.fm reader takes a .tsv or a .tar.gz, not a gzipped TSV
        read_or_data_error(reader, gzipped)


@pytest.mark.parametrize("name", list(READERS))
@seed(20261201)
@PROPERTY
@given(content=st.binary(max_size=400))
def test_random_bytes_read_cleanly_or_are_a_data_error(tmp_path, name, content):
    file_name, reader, _ = READERS[name]
    path = tmp_path / file_name
    path.write_bytes(content)
    read_or_data_error(reader, path)
