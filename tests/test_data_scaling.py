"""``benchmarks/data_scaling.py``'s log writer: replicas of the synthetic log in Last.fm format,
generated once per work folder."""

from benchmarks import data_scaling
from fpam_tf.datasets import lastfm


def test_a_log_is_written_once_and_counted_when_reused(tmp_path, monkeypatch):
    monkeypatch.setattr(data_scaling, "BASE_SESSIONS", 20)
    monkeypatch.setattr(data_scaling, "BASE_USERS", 5)
    plays = data_scaling.write_log(tmp_path, 2)
    path = tmp_path / data_scaling.TSV_NAME
    assert plays == len(path.read_bytes().splitlines()) and not list(tmp_path.glob("*.partial"))
    sessions = lastfm.read_sessions(path)
    users = {user.split("_")[0] for user in sessions.user_ids}
    assert users == {"r0", "r1"}  # each replica its own users
    written = path.stat().st_mtime_ns

    def regenerate(*args, **kwargs):
        raise AssertionError("the log was generated again")

    monkeypatch.setattr("fpam_tf.datasets.synthetic.generate", regenerate)
    assert data_scaling.write_log(tmp_path, 2) == plays
    assert path.stat().st_mtime_ns == written
