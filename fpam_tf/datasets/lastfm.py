"""Last.fm 1K reader: scrobbles -> sessions with skips inferred from play time (PROTOCOL §1).

Input: ``userid-timestamp-artid-artname-traid-traname.tsv`` (6 tab-separated fields, no header,
ISO-8601 UTC timestamps, sorted by user then timestamp descending), given as the file, a directory
holding it (directly or in ``lastfm-dataset-1K/``), or the official ``lastfm-dataset-1K.tar.gz``.

Item key: the track MBID when present, else ``artist name + " - " + track name``. The separator is
ambiguous only when a name itself contains `` - ``, which we accept for readable item ids.
"""

from __future__ import annotations

import array
import contextlib
import dataclasses
import datetime as dt
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import numpy as np

from fpam_tf.datasets.badrows import BadRows
from fpam_tf.datasets.sources import CheckedText, existing_path, open_text, require_nonempty
from fpam_tf.errors import DataError
from fpam_tf.events import Sessions, grades_from_fp

TSV_NAME = "userid-timestamp-artid-artname-traid-traname.tsv"
TAR_NAME = "lastfm-dataset-1K.tar.gz"
URL = "http://mtg.upf.edu/static/datasets/last.fm/lastfm-dataset-1K.tar.gz"
NUM_FIELDS = 6
ITEM_NAME_SEPARATOR = " - "
FIX = (
    f"download {URL} (2.4 GB unpacked; it cannot be fetched automatically here), put {TAR_NAME} "
    f"or its extracted {TSV_NAME} in a directory and pass that directory as --data-dir / data_dir"
)


def find_source(data_dir) -> Path:
    """The TSV or tar.gz to read for ``data_dir`` (a file, or a directory holding one)."""
    path = existing_path(data_dir, what="Last.fm 1K data", fix=FIX)
    if path.is_dir():
        candidates = [path / TSV_NAME, path / "lastfm-dataset-1K" / TSV_NAME, path / TAR_NAME]
        found = [candidate for candidate in candidates if candidate.is_file()]
        if not found:
            raise DataError(f"no {TSV_NAME} or {TAR_NAME} in this directory", path=path, fix=FIX)
        path = found[0]
    return require_nonempty(path, what="Last.fm 1K file", fix=FIX)


@contextlib.contextmanager
def _open_lines(source: Path) -> Iterator[tuple[str, TextIO]]:
    """Yields (name for messages, text stream) of the TSV, reading it from inside the tar when
    needed."""
    if source.name.endswith((".tar.gz", ".tgz", ".tar")):
        with tarfile.open(source) as tar:
            member = next((m for m in tar.getmembers() if m.name.endswith(TSV_NAME)), None)
            if member is None:
                raise DataError(f"the archive holds no {TSV_NAME}", path=source, fix=FIX)
            name = f"{source}[{member.name}]"
            yield name, CheckedText(tar.extractfile(member), name)
    else:
        with open_text(source) as stream:
            yield str(source), stream


def parse_timestamp(text: str) -> int:
    """Seconds since the epoch of an ISO-8601 timestamp; one without a zone is taken as UTC."""
    moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp())


@dataclasses.dataclass
class Plays:
    """Every valid row of the file as compact columns: per user, in file order, the play times
    (int64 seconds) and item codes (int32 indices into ``keys``, the distinct item keys in order of
    first appearance). About 12 bytes a play plus each distinct key once, where Python objects per
    row cost over 100 bytes (the full Last.fm 1K log has 19M rows)."""

    times: dict[str, array.array] = dataclasses.field(default_factory=dict)
    items: dict[str, array.array] = dataclasses.field(default_factory=dict)
    keys: list[str] = dataclasses.field(default_factory=list)
    codes: dict[str, int] = dataclasses.field(default_factory=dict)

    def add(self, user: str, seconds: int, key: str) -> None:
        if user not in self.times:
            self.times[user], self.items[user] = array.array("q"), array.array("i")
        code = self.codes.setdefault(key, len(self.keys))
        if code == len(self.keys):
            self.keys.append(key)
        self.times[user].append(seconds)
        self.items[user].append(code)


def read_plays(source: Path, bad_rows: BadRows) -> Plays:
    """The valid rows of the file (:class:`Plays`); malformed rows go to ``bad_rows``."""
    plays = Plays()
    with _open_lines(source) as (name, stream):
        for line_number, line in enumerate(stream, start=1):
            fields = line.rstrip("\r\n").split("\t")
            if len(fields) != NUM_FIELDS:
                bad_rows.add(
                    name,
                    line_number,
                    "wrong column count",
                    f"expected {NUM_FIELDS} tab-separated fields, found {len(fields)}",
                    "each row must be: user id, timestamp, artist MBID, artist name, "
                    "track MBID, track name",
                )
                continue
            user, stamp, _artist_id, artist, track_id, track = fields
            try:
                seconds = parse_timestamp(stamp)
            except ValueError:
                bad_rows.add(
                    name,
                    line_number,
                    "bad timestamp",
                    f"unparsable timestamp {stamp!r}",
                    "write timestamps as ISO-8601 UTC, e.g. 2009-05-04T23:08:57Z",
                )
                continue
            plays.add(user, seconds, track_id or f"{artist}{ITEM_NAME_SEPARATOR}{track}")
    return plays


def sessionize(plays: Plays, *, gap_seconds: float, skip_seconds: float) -> Sessions:
    """The sessions of ``plays``, column-wise: users in order of first appearance, each user's plays
    in ascending time, split at gaps > ``gap_seconds``; FP = play time < ``skip_seconds``.

    The file lists a user's plays newest first, so each user's rows are reversed before the stable
    sort: plays with equal timestamps then keep their chronological (reverse file) order.
    """
    lengths = np.array([len(times) for times in plays.times.values()], dtype=np.int64)
    times = np.concatenate([np.frombuffer(t, dtype=np.int64)[::-1] for t in plays.times.values()])
    codes = np.concatenate([np.frombuffer(c, dtype=np.int32)[::-1] for c in plays.items.values()])
    user_of_play = np.repeat(np.arange(len(lengths), dtype=np.int32), lengths)
    order = np.lexsort((times, user_of_play))  # stable
    times, user_of_play = times[order], user_of_play[order]
    # Items as one string object per distinct key (8 bytes an event).
    items = np.array(plays.keys, dtype=object)[codes[order]]
    del codes, order
    new_user = np.concatenate([[True], user_of_play[1:] != user_of_play[:-1]])
    play_time = np.diff(times)
    starts_session = new_user | np.concatenate([[True], play_time > gap_seconds])
    # The last play of a session has no observable play time: never FP.
    is_last = np.concatenate([starts_session[1:], [True]])
    is_fp = np.concatenate([play_time < skip_seconds, [False]]) & ~is_last
    starts = np.flatnonzero(starts_session)
    users = np.array(list(plays.times), dtype=object)[user_of_play[starts]]
    start_times = times[starts]
    return Sessions(
        session_ids=np.array([f"{u}:{t}" for u, t in zip(users, start_times.tolist())], dtype=str),
        user_ids=users.astype(str),
        start_times=start_times,
        row_splits=np.append(starts, len(times)).astype(np.int64),
        items=items,
        is_fp=is_fp,
        grades=grades_from_fp(is_fp),
    )


def read_sessions(
    source: Path,
    *,
    session_gap_minutes: float = 30,
    skip_seconds: float = 30,
    bad_rows: BadRows | None = None,
) -> Sessions:
    """All sessions of a Last.fm 1K file (see the module docstring), users in file order."""
    bad_rows = bad_rows if bad_rows is not None else BadRows()
    plays = read_plays(source, bad_rows)
    if not plays.times:
        raise bad_rows.no_valid_rows(source, FIX)
    return sessionize(plays, gap_seconds=session_gap_minutes * 60, skip_seconds=skip_seconds)
