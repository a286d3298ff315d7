"""YOOCHOOSE (RecSys Challenge 2015) clicks reader: click sessions with FPs inferred from dwell
time (PROTOCOL §1).

Input: session-rec's prepared RSC15 files (``yoochoose-clicks-*_train_full.txt`` and
``yoochoose-clicks-*_test.txt``): tab-separated, header ``SessionId ItemId Time``, ``Time`` in Unix
seconds with milliseconds (e.g. ``1396437466.94``). Given as one file, or a directory whose
``*.txt`` files are all read, in name order (train_full and test together; PROTOCOL's split comes
later), except session-rec's ``*_train_tr.txt`` / ``*_train_valid.txt`` re-split of train_full
when that is there. Rows of one session may be spread over files and out of order: they are
grouped by ``SessionId`` and ordered by ``Time`` (equal times keep file order). The log has no
users.

The log has no skip flag either. The dwell time of a click is the time until the next click of its
session; a click is a false positive (FP) when its dwell time is below ``dwell_seconds``, and the
last click of a session, which has no dwell time, is a positive. The default of 30 s is the usual
"satisfied click" cut-off of dwell-time studies (Fox et al. 2005, "Evaluating implicit measures to
improve web search", ACM TOIS; Kim et al. 2014, "Modeling dwell time to predict click-level
satisfaction", WSDM) and the same 30 s as the Last.fm skip rule. On the 100k sample it flags about
30% of the clicks that have a next click (30.1% of train_full, 33.6% of test; SOURCE.md of the
sample). Short dwell is a weak proxy for a false click.
"""

from __future__ import annotations

import math
import numbers
from pathlib import Path

import numpy as np

from fpam_tf.datasets.badrows import BadRows
from fpam_tf.datasets.sources import existing_path, open_text, require_nonempty
from fpam_tf.errors import ConfigError, DataError
from fpam_tf.events import SessionRecord

URL = "https://github.com/rn5l/session-rec"
COLUMNS = ("SessionId", "ItemId", "Time")
FIX = (
    f"get session-rec's prepared RSC15 clicks ({URL}, data/rsc15/prepared/"
    "yoochoose-clicks-*_train_full.txt and *_test.txt: tab-separated, header SessionId, ItemId, "
    "Time), put them in one directory and pass it (or one file) as --data-dir / data_dir"
)
# session-rec re-splits train_full into train_tr + train_valid for its own tuning: read beside
# train_full they would count every training click twice.
TRAIN_FULL_SUFFIX = "_train_full.txt"
RESPLIT_SUFFIXES = ("_train_tr.txt", "_train_valid.txt")
MILLISECONDS_PER_SECOND = 1000


def find_sources(data_dir) -> list[Path]:
    """The click files of ``data_dir``: the file itself, or the directory's ``*.txt`` in name
    order (without session-rec's train_tr / train_valid re-split when train_full is there)."""
    path = existing_path(data_dir, what="YOOCHOOSE clicks", fix=FIX)
    if path.is_dir():
        files = sorted(file for file in path.glob("*.txt") if file.is_file())
        if any(file.name.endswith(TRAIN_FULL_SUFFIX) for file in files):
            files = [file for file in files if not file.name.endswith(RESPLIT_SUFFIXES)]
        if not files:
            raise DataError("no *.txt files in this directory", path=path, fix=FIX)
    else:
        files = [path]
    return [require_nonempty(file, what="YOOCHOOSE clicks file", fix=FIX) for file in files]


def check_dwell_seconds(dwell_seconds) -> None:
    """Raises :class:`ConfigError` unless ``dwell_seconds`` is a finite number >= 0."""
    is_number = isinstance(dwell_seconds, numbers.Real) and not isinstance(dwell_seconds, bool)
    if not (is_number and math.isfinite(dwell_seconds) and dwell_seconds >= 0):
        raise ConfigError(
            f"dwell_seconds must be a finite number of seconds >= 0, not {dwell_seconds!r} "
            "(e.g. --dataset-option dwell_seconds=10)"
        )


def threshold_milliseconds(dwell_seconds: float) -> int:
    """``dwell_seconds`` in milliseconds, rounded up to a whole number: a dwell time of whole
    milliseconds is below ``dwell_seconds`` exactly when it is below this."""
    # Rounding first drops the float error of the product (2.007 * 1000 = 2007.0000000000002),
    # which would flag a dwell time of exactly 2.007 s.
    return math.ceil(round(dwell_seconds * MILLISECONDS_PER_SECOND, 6))


def read_clicks(
    source: Path,
    bad_rows: BadRows,
    session_ids: list[str],
    item_ids: list[str],
    times: list[int],
) -> None:
    """Appends ``source``'s clicks in file order to the columns ``session_ids``, ``item_ids`` and
    ``times`` (Unix milliseconds); malformed rows go to ``bad_rows``."""
    with open_text(source) as stream:
        header = stream.readline().rstrip("\r\n").split("\t")
        missing = [name for name in COLUMNS if name not in header]
        if missing:
            raise DataError(
                f"header lacks column(s) {', '.join(missing)}",
                path=source,
                line=1,
                fix="give session-rec's RSC15 click files, whose first line is the tab-separated "
                "header SessionId, ItemId, Time",
            )
        session_at, item_at, time_at = (header.index(name) for name in COLUMNS)
        width = len(header)
        for line_number, line in enumerate(stream, start=2):
            fields = line.rstrip("\r\n").split("\t")
            if len(fields) != width:
                bad_rows.add(
                    source,
                    line_number,
                    "wrong column count",
                    f"expected {width} tab-separated fields, found {len(fields)}",
                    "each row needs one value per header column",
                )
                continue
            try:
                # Whole milliseconds: differences of float seconds are inexact (1396437466.1 -
                # 1396437466.0 = 0.0999999 s, an FP under dwell_seconds=0.1).
                millis = round(float(fields[time_at]) * MILLISECONDS_PER_SECOND)
            except (ValueError, OverflowError):
                bad_rows.add(
                    source,
                    line_number,
                    "bad timestamp",
                    f"unparsable Time {fields[time_at]!r}",
                    "write Time as Unix seconds, e.g. 1396437466.94",
                )
                continue
            session_ids.append(fields[session_at])
            item_ids.append(fields[item_at])
            times.append(millis)


def click_sessions(
    session_ids: list[str], item_ids: list[str], times: list[int], *, dwell_seconds: float
) -> list[SessionRecord]:
    """Sessions of the clicks (columns as :func:`read_clicks` fills them), in order of first
    appearance: clicks by time (ties keep input order), FP = dwell time < ``dwell_seconds``."""
    first_seen: dict[str, int] = {}
    codes = np.fromiter(
        (first_seen.setdefault(session, len(first_seen)) for session in session_ids),
        dtype=np.int64,
        count=len(session_ids),
    )
    stamps = np.asarray(times, dtype=np.int64)
    order = np.lexsort((stamps, codes))  # stable: equal (session, time) keep input order
    codes, stamps = codes[order], stamps[order]
    items = np.asarray(item_ids, dtype=object)[order]
    starts_session = np.concatenate([[True], codes[1:] != codes[:-1]])
    # The last click of a session has no dwell time: never FP.
    is_last = np.concatenate([starts_session[1:], [True]])
    dwell = np.diff(stamps, append=stamps[-1:])
    is_fp = (dwell < threshold_milliseconds(dwell_seconds)) & ~is_last
    bounds = np.concatenate([np.flatnonzero(starts_session), [len(stamps)]])
    return [
        SessionRecord(
            session,
            "",
            int(stamps[lo] // MILLISECONDS_PER_SECOND),
            items[lo:hi].tolist(),
            is_fp[lo:hi].tolist(),
        )
        for session, lo, hi in zip(first_seen, bounds[:-1], bounds[1:])
    ]


def read_sessions(
    sources: list[Path], *, dwell_seconds: float = 30, bad_rows: BadRows | None = None
) -> list[SessionRecord]:
    """All sessions of the click files (see the module docstring), in order of first appearance.

    start_time is the whole second of the session's first click.
    """
    check_dwell_seconds(dwell_seconds)
    bad_rows = bad_rows if bad_rows is not None else BadRows()
    session_ids: list[str] = []
    item_ids: list[str] = []
    times: list[int] = []
    for source in sources:
        read_clicks(source, bad_rows, session_ids, item_ids, times)
    if not session_ids:
        raise bad_rows.no_valid_rows(sources[0], FIX)
    return click_sessions(session_ids, item_ids, times, dwell_seconds=dwell_seconds)
