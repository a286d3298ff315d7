"""TF Serving folder layout: version numbering, atomic placement, and the errors of a bad export."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from serving_runs import make_run_dir  # noqa: E402

from fpam_tf import export as export_cli  # noqa: E402
from fpam_tf.errors import ConfigError  # noqa: E402
from fpam_tf.serving.versions import latest_version, versions, write_new_version  # noqa: E402
from fpam_tf.training.run_dir import RunDir  # noqa: E402


def write_marker(staging):
    (staging / "saved_model.pb").write_text("stand-in")


def test_versions_count_up_from_one_above_the_highest_even_with_gaps(tmp_path):
    model_dir = tmp_path / "models" / "m"
    assert write_new_version(model_dir, write_marker) == model_dir / "1"
    assert write_new_version(model_dir, write_marker) == model_dir / "2"
    (model_dir / "7").mkdir()
    (model_dir / "notes").mkdir()  # not an integer: ignored, as TF Serving does
    assert write_new_version(model_dir, write_marker) == model_dir / "8"
    assert versions(model_dir) == [1, 2, 7, 8]
    assert latest_version(model_dir) == model_dir / "8"
    assert sorted(p.name for p in model_dir.iterdir()) == [
        "1",
        "2",
        "7",
        "8",
        "notes",
    ]  # no staging folder left
    assert (model_dir / "8" / "saved_model.pb").is_file()


def test_staging_folder_is_not_an_integer_and_inside_the_model_folder(tmp_path):
    model_dir = tmp_path / "m"
    seen = []
    write_new_version(model_dir, seen.append)
    assert seen[0].parent == model_dir and not seen[0].name.isdigit()


def test_a_failed_write_leaves_nothing(tmp_path):
    model_dir = tmp_path / "models" / "m"

    def fail(staging):
        write_marker(staging)
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_new_version(model_dir, fail)
    assert not model_dir.exists()  # created by this export, so removed again
    write_new_version(model_dir, write_marker)
    with pytest.raises(RuntimeError):
        write_new_version(model_dir, fail)
    assert [p.name for p in model_dir.iterdir()] == ["1"]


def test_a_failed_export_leaves_no_version_folder(tmp_path, monkeypatch):
    import tensorflow as tf

    run_dir = make_run_dir(tmp_path / "run")

    def broken_save(obj, path, **kwargs):
        (tmp_path / "marker").write_text(path)
        open(os.path.join(path, "saved_model.pb"), "w").close()
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tf.saved_model, "save", broken_save)
    with pytest.raises(ConfigError, match="No space left on device"):
        export_cli.export(run_dir, k=5, export_base=tmp_path / "models")
    assert not (tmp_path / "models" / "run").exists()
    assert not os.path.exists((tmp_path / "marker").read_text())


def test_unwritable_export_base_is_a_clear_error(tmp_path):
    run_dir = make_run_dir(tmp_path / "run")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(
        ConfigError, match="cannot write the export to .*pass a writable --export-base"
    ):
        export_cli.export(run_dir, k=5, export_base=blocker / "models")
    assert blocker.read_text() == "not a folder"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_export_base_is_a_clear_error(tmp_path):
    run_dir = make_run_dir(tmp_path / "run")
    base = tmp_path / "models"
    base.mkdir(mode=0o555)
    with pytest.raises(ConfigError, match="cannot write the export"):
        export_cli.export(run_dir, k=5, export_base=base)
    assert list(base.iterdir()) == []


def test_run_dir_without_trained_model_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        export_cli.main(
            ["--run-dir", str(tmp_path / "nothing"), "--export-base", str(tmp_path / "models")]
        )
    assert exit_info.value.code == 2
    assert "holds no training run" in capsys.readouterr().err
    run_dir = make_run_dir(tmp_path / "run")
    RunDir(run_dir.path).best_weights.unlink()
    with pytest.raises(ConfigError, match="has no trained model"):
        export_cli.export(run_dir, export_base=tmp_path / "models")
    assert not (tmp_path / "models").exists()


def test_k_beyond_the_catalogue_is_a_clear_error(tmp_path):
    run_dir = make_run_dir(tmp_path / "run")
    with pytest.raises(ConfigError, match="--k 1000 is outside 1..300"):
        export_cli.export(run_dir, k=1000, export_base=tmp_path / "models")


def test_cli_names_the_model_after_the_run_dir_or_name(tmp_path, capsys):
    run_dir = make_run_dir(tmp_path / "my-run")
    base = tmp_path / "models"
    assert (
        export_cli.main(["--run-dir", str(run_dir.path), "--export-base", str(base), "--k", "5"])
        == base / "my-run" / "1"
    )
    assert (
        export_cli.main(
            [
                "--run-dir",
                str(run_dir.path),
                "--export-base",
                str(base),
                "--k",
                "5",
                "--name",
                "prod",
            ]
        )
        == base / "prod" / "1"
    )
    assert "saved_model_cli show" in capsys.readouterr().out
