"""A dataset read in blocks of sessions (the pipeline Trainer's) trains and evaluates as the same
data held whole: the same windows, the same metrics, one block in memory at a time; a part of it
(a worker's own shards) only under a strategy with as many workers, padded with empty batches
when it runs out (tests/test_distribution.py trains two workers on their parts)."""

import dataclasses

import numpy as np
import pytest

from fpam_tf import datasets
from fpam_tf.errors import ConfigError
from fpam_tf.methods import MethodConfig
from fpam_tf.protocol import DataPart, ProtocolData, StreamedProtocolData
from fpam_tf.training.experiment import Experiment
from fpam_tf.training.run_dir import RunConfig
from fpam_tf.training.steps import batch_logs, worker_batches
from fpam_tf.vocabulary import EncodedSessions

SMALL = {"num_sessions": 400, "num_users": 40, "num_items": 200}
BLOCK_SESSIONS = 37  # blocks of a few dozen windows: many blocks, a partial last one


@pytest.fixture(scope="module")
def small_data(tmp_path_factory):
    prepared = datasets.load("synthetic", tfds_dir=tmp_path_factory.mktemp("tfds"), **SMALL)
    return ProtocolData.from_sessions(prepared.splits)


def session_block(sessions: EncodedSessions, start: int, stop: int) -> EncodedSessions:
    first, last = sessions.row_splits[start], sessions.row_splits[stop]
    return EncodedSessions(
        row_splits=sessions.row_splits[start : stop + 1] - first,
        items=sessions.items[first:last],
        is_fp=sessions.is_fp[first:last],
        users=sessions.users[start:stop],
        session_ids=sessions.session_ids[start:stop],
        grades=sessions.grades[first:last],
    )


def streamed(
    data: ProtocolData, read_log: list | None = None, block_sessions: int = BLOCK_SESSIONS
) -> StreamedProtocolData:
    """``data`` read in blocks of ``block_sessions`` sessions; a training epoch reverses or keeps
    their order by its seed. ``read_log`` gets (split, block) for each block read."""

    def blocks(split, order_seed):
        sessions = data.splits[split]
        starts = list(range(0, len(sessions), block_sessions))
        if order_seed is not None and order_seed % 2:
            starts.reverse()
        for start in starts:
            if read_log is not None:
                read_log.append((split, start))
            yield session_block(sessions, start, min(start + block_sessions, len(sessions)))

    return StreamedProtocolData(data.items, data.users, blocks)


def config(method="fp-adametric", model="narm", **method_options):
    return RunConfig(
        dataset="synthetic",
        model=model,
        method=MethodConfig.preset(method, **method_options),
        batch_size=16,
        epochs=1,
        embedding_dim=8,
        hidden_units=8,
        precision="float32",
        dataset_options=SMALL,
    )


def window_multiset(batches) -> list:
    """(target, prefix, FP side sequence) of every window of ``batches``, sorted."""
    rows = []
    for features, targets, weights in batches:
        items = features["items"].numpy()
        fps = features["fp_items"].numpy() if "fp_items" in features else None
        for k, target in enumerate(targets.numpy()):
            prefix = tuple(items[k][items[k] != 0])
            fp = () if fps is None else tuple(fps[k][fps[k] != 0])
            rows.append((int(target), prefix, fp, float(weights[k])))
    return sorted(rows)


@pytest.mark.parametrize(
    "method, model", [("fp-adametric", "narm"), ("vanilla", "srgnn"), ("fp-graded", "stamp")]
)
def test_a_streamed_epoch_trains_on_every_window_of_the_whole_split_once(small_data, method, model):
    whole = Experiment.create(config(method, model), data=small_data)
    blocks = Experiment.create(config(method, model), data=streamed(small_data))
    batches = list(blocks.training_dataset(epoch=1))
    assert len(batches) == blocks.training_steps()
    assert window_multiset(batches) == window_multiset(whole.training_dataset(epoch=1))


def test_a_streamed_epoch_order_depends_only_on_its_epoch(small_data):
    experiment = Experiment.create(config(), data=streamed(small_data))

    def targets(epoch):
        return np.concatenate([t.numpy() for _, t, _ in experiment.training_dataset(epoch)])

    np.testing.assert_array_equal(targets(3), targets(3))
    assert not np.array_equal(targets(3), targets(4))


def test_a_streamed_experiment_evaluates_as_the_whole_one(small_data):
    whole = Experiment.create(config("fp-skiphead"), data=small_data)
    blocks = Experiment.create(config("fp-skiphead"), data=streamed(small_data))
    blocks.model.set_weights(whole.model.get_weights())
    expected = whole.evaluate("validation", skip_metrics=True)
    got = blocks.evaluate("validation", skip_metrics=True)
    assert got.keys() == expected.keys()
    for name, value in expected.items():
        # The loss is a mean of batch means, and the blocks cut batches of their own.
        assert got[name] == pytest.approx(value, rel=0.02 if "loss" in name else 1e-6), name
    for skips in (False, True):
        assert blocks.evaluation_window_count("test", skips=skips) == len(
            whole.skip_windows("test") if skips else whole.evaluation_windows("test")
        )


def test_a_streamed_split_is_read_one_block_at_a_time(small_data):
    read_log = []
    experiment = Experiment.create(config(), data=streamed(small_data, read_log, 4))
    windows = experiment.evaluation_window_count("test")  # counting reads the split once
    blocks_in_test = -(-len(small_data.splits["test"]) // 4)
    assert len(read_log) == blocks_in_test
    read_log.clear()
    batches = iter(experiment.evaluation_dataset("test", batch_size=2))
    _, first, _ = next(batches)
    assert 1 <= len(read_log) <= 3 < blocks_in_test  # the first block, and what prefetch asks
    assert len(first) + sum(len(targets) for _, targets, _ in batches) == windows


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(protocol_variant="random-split"), "protocol variant"),
        (dict(method=MethodConfig.preset("fp-adametric", fp_scope="user")), "'user' FP scope"),
    ],
)
def test_what_needs_a_whole_split_is_refused_for_streamed_data_before_any_work(
    small_data, change, message
):
    with pytest.raises(ConfigError, match=message):
        Experiment.create(dataclasses.replace(config(), **change), data=streamed(small_data))


def test_a_part_of_every_split_needs_a_strategy_with_as_many_workers(small_data):
    part = dataclasses.replace(streamed(small_data), part=DataPart(1, 2))
    with pytest.raises(ConfigError, match="part 1 of 2, but the strategy has 1 worker"):
        Experiment.create(config(), data=part)


@pytest.mark.parametrize("model", ["narm", "srgnn", "stamp", "gru4rec"])
def test_a_worker_that_runs_out_of_batches_trains_on_empty_ones(small_data, model):
    experiment = Experiment.create(config(model=model), data=streamed(small_data))
    own = experiment.training_dataset(epoch=0).take(2)
    batches = worker_batches(experiment.model, own, steps=4, start_step=1)
    assert batches.steps == 3
    rows = [len(targets) for _, targets, _ in batches.dataset]
    assert rows[0] > 0 and rows[1:] == [0, 0]
    logs = list(batch_logs(experiment.model, batches, batches.steps))
    assert all(np.isfinite(step["loss"]) for step in logs)
    assert [step["loss"] for step in logs[1:]] == [0.0, 0.0]
