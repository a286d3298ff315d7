"""The Beam path (ExampleGen + Transform) and the in-memory path (``datasets.load`` +
``ProtocolData``) give the same splits, vocabulary, FP flags, skip grades and window counts
(PROTOCOL §2-4)."""

from __future__ import annotations

import pytest

# The pipeline extras (pipelines/requirements.txt) are not part of the core environment.
pytest.importorskip(
    "tensorflow_transform", reason="install pipelines/requirements.txt to test the pipelines"
)

import json
from pathlib import Path

import numpy as np
from pipeline_inputs import SHARED_DATASETS, TINY_SYNTHETIC, spotify_rows, write_spotify_log

from fpam_tf import datasets
from fpam_tf.protocol import ProtocolData
from fpam_tf.training.run_dir import RunConfig
from pipelines import trainer
from pipelines.artifacts import PipelineRoot
from pipelines.beam_options import pipeline_options
from pipelines.run import Settings, run_example_gen, run_transform

# PROTOCOL §6 on the Spotify sample (40,043 sessions; the protocol's 40,044 counted the CSV header).
SPOTIFY_SAMPLE_FIGURES = {
    "vocab_size": 17101,
    "train_windows_vanilla": 343959,
    "train_windows_fp": 153938,
    "train_windows_fp_all": 164692,
    "valid_windows": 16861,
    "test_windows": 15941,
}
WINDOW_FIGURES = (
    "vocab_size",
    "events_in_vocabulary",
    "train_windows_vanilla",
    "train_windows_fp",
    "train_windows_fp_all",
    "valid_windows",
    "test_windows",
)


def beam_path(tmp_path, settings: Settings, beam_args=()):
    """ProtocolData from the pipeline's ExampleGen and Transform; and ExampleGen's sessions per
    split."""
    root = PipelineRoot(tmp_path / "root")
    options = pipeline_options("DirectRunner", beam_args)
    examples = run_example_gen(root, settings, options)["examples"]
    graph = run_transform(root, examples, options)
    data = trainer.protocol_data(graph["transform_graph"].path, graph["transformed_examples"].path)
    counts = json.loads((Path(examples.path) / "split_counts.json").read_text())
    return data, {split: counts[split] for split in ("train", "validation", "test")}


def assert_same(beam_data: ProtocolData, beam_sessions: dict, prepared) -> dict:
    """Checks both paths agree; returns the in-memory path's PROTOCOL figures."""
    memory = ProtocolData.from_sessions(prepared.splits)
    assert beam_sessions == {split: len(s) for split, s in prepared.splits.items()}
    np.testing.assert_array_equal(beam_data.items.ids, memory.items.ids)
    np.testing.assert_array_equal(beam_data.users.ids, memory.users.ids)
    for split in ("train", "validation", "test"):
        np.testing.assert_array_equal(
            beam_data.splits[split].session_ids, memory.splits[split].session_ids
        )
        np.testing.assert_array_equal(beam_data.splits[split].items, memory.splits[split].items)
        np.testing.assert_array_equal(beam_data.splits[split].is_fp, memory.splits[split].is_fp)
        np.testing.assert_array_equal(beam_data.splits[split].grades, memory.splits[split].grades)
    figures = memory.stats(prepared.splits)
    beam_figures = beam_data.stats(prepared.splits)
    assert {k: beam_figures[k] for k in WINDOW_FIGURES} == {k: figures[k] for k in WINDOW_FIGURES}
    return figures


def test_parity_on_a_small_synthetic_log(tmp_path):
    settings = Settings(run=RunConfig(dataset="synthetic", dataset_options=dict(TINY_SYNTHETIC)))
    beam_data, beam_sessions = beam_path(tmp_path, settings)
    prepared = datasets.load(
        "synthetic", tmp_path / "raw", tfds_dir=tmp_path / "tfds", **TINY_SYNTHETIC
    )
    figures = assert_same(beam_data, beam_sessions, prepared)
    assert figures["train_windows_vanilla"] > 0 and figures["test_windows"] > 0


def test_sessions_spread_over_files_are_merged(tmp_path):
    # Every session has rows in both files, the second file's in reverse order: grouping by session
    # id and ordering by session_position must give what the in-memory reader gives.
    rows = spotify_rows(60, length=8)
    write_spotify_log(tmp_path / "logs" / "log_a.csv.gz", rows[0::2])
    write_spotify_log(tmp_path / "logs" / "log_b.csv.gz", rows[1::2][::-1])
    settings = Settings(run=RunConfig(dataset="spotify", data_dir=str(tmp_path / "logs")))
    beam_data, beam_sessions = beam_path(tmp_path, settings)
    assert_same(
        beam_data,
        beam_sessions,
        datasets.load("spotify", tmp_path / "logs", tfds_dir=tmp_path / "tfds"),
    )


def test_parity_on_the_tiny_spotify_log(tmp_path):
    data_dir = SHARED_DATASETS / "spotify_mssd_tiny"
    if not data_dir.exists():
        pytest.skip(f"real data {data_dir} is absent")
    beam_data, beam_sessions = beam_path(
        tmp_path, Settings(run=RunConfig(dataset="spotify", data_dir=str(data_dir)))
    )
    assert_same(
        beam_data, beam_sessions, datasets.load("spotify", data_dir, tfds_dir=tmp_path / "tfds")
    )


@pytest.mark.slow
def test_parity_on_the_spotify_sample(tmp_path):
    data_dir = SHARED_DATASETS / "spotify_mssd_sample"
    if not data_dir.exists():
        pytest.skip(f"real data {data_dir} is absent")
    beam_data, beam_sessions = beam_path(
        tmp_path, Settings(run=RunConfig(dataset="spotify", data_dir=str(data_dir)))
    )
    assert beam_sessions == {"train": 32034, "validation": 4004, "test": 4005}
    figures = assert_same(
        beam_data, beam_sessions, datasets.load("spotify", data_dir, tfds_dir=tmp_path / "tfds")
    )
    assert {k: figures[k] for k in SPOTIFY_SAMPLE_FIGURES} == SPOTIFY_SAMPLE_FIGURES


def test_parity_on_a_small_yoochoose_folder(tmp_path):
    # session-rec's two files, sessions in neither order nor sorted by time within the file: the
    # dwell times (FP flags) and the sessions must come out as the in-memory reader makes them.
    rng = np.random.default_rng(0)
    folder = tmp_path / "clicks"
    folder.mkdir()
    for name, first_session in (("x_train_full.txt", 0), ("x_test.txt", 100)):
        rows = []
        for session in range(first_session, first_session + 40):
            time = 1.4e9 + session * 3600.0
            for _ in range(rng.integers(2, 7)):
                rows.append(f"{session}\t{rng.integers(1, 30)}\t{time:.3f}")
                time += float(rng.choice([3.0, 12.5, 45.0, 120.0]))
        rng.shuffle(rows)
        (folder / name).write_text("SessionId\tItemId\tTime\n" + "\n".join(rows) + "\n")
    settings = Settings(run=RunConfig(dataset="yoochoose", data_dir=str(folder)))
    beam_data, beam_sessions = beam_path(tmp_path, settings)
    prepared = datasets.load("yoochoose", folder, tfds_dir=tmp_path / "tfds")
    assert_same(beam_data, beam_sessions, prepared)
    assert 0 < sum(int(s.is_fp.sum()) for s in prepared.splits.values())
