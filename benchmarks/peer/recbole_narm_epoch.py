"""RecBole 1.2.1's NARM on our exported windows: seconds per training epoch and per validation.

    .venv-peer/bin/python benchmarks/peer/recbole_narm_epoch.py --data runs/peer/spotify_vanilla \
        [--epochs 1] [--threads N] [--run-dir runs/peer]

Run with the peer venv (``make bench-peer``) on the folder written by
``python -m benchmarks.peer.export_windows`` (main venv). It never imports the project.

Settings: embedding and hidden size 100, batch 512, full softmax cross-entropy (``loss_type: CE``,
no negative sampling), Adam at lr 1e-3, CPU, ``MAX_ITEM_LIST_LENGTH`` 50; NARM's own dropout
(0.25, 0.5) and one GRU layer as in RecBole's defaults. The files are read as RecBole benchmark
files (``benchmark_filename``): each row is a window taken as given, with no filtering, re-split
or augmentation; the script checks that RecBole saw exactly the exported window counts.

Timing: each epoch is ``trainer._train_epoch`` (what ``Trainer.fit`` times as "training"),
then one ``trainer._valid_epoch`` (full ranking of the validation windows, MRR@20 and
Recall@20) after the last epoch. Prints one JSON line on stdout; RecBole's log goes to stderr
and to ``<run-dir>/log/``. Everything RecBole writes (``log/``, ``log_tensorboard/``,
``saved/``) lands under ``--run-dir``, which is also the working directory while it runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SPLITS = ["train", "valid", "test"]


def recbole_config(data: Path, run_dir: Path, epochs: int) -> dict:
    """RecBole's ``config_dict``: benchmark files of ``data``, the throughput benchmark's NARM."""
    return {
        # Data: one window per row, taken as given.
        "data_path": str(data.parent),
        "benchmark_filename": SPLITS,
        "USER_ID_FIELD": "session_id",
        "ITEM_ID_FIELD": "item_id",
        "LIST_SUFFIX": "_list",
        "MAX_ITEM_LIST_LENGTH": 50,
        "load_col": {"inter": ["session_id", "item_id_list", "item_id"], "item": ["item_id"]},
        "alias_of_item_id": ["item_id_list"],
        # Model and training.
        "embedding_size": 100,
        "hidden_size": 100,
        "loss_type": "CE",
        "train_neg_sample_args": None,
        "train_batch_size": 512,
        "learner": "adam",
        "learning_rate": 1e-3,
        "epochs": epochs,
        "shuffle": True,
        # Evaluation: full ranking; the order must be "TO" for sequential datasets (ignored
        # with benchmark files, which are never re-split).
        "eval_args": {"split": {"RS": [0.8, 0.1, 0.1]}, "order": "TO", "mode": "full"},
        "metrics": ["Recall", "MRR"],
        "topk": [20],
        "valid_metric": "MRR@20",
        "eval_batch_size": 4096,
        # Environment: CPU, no worker processes, nothing written outside run_dir.
        "use_gpu": False,
        "gpu_id": "",
        "worker": 0,
        "seed": 0,
        "reproducibility": True,
        "show_progress": False,
        "checkpoint_dir": str(run_dir / "saved"),
        "save_dataset": False,
        "save_dataloaders": False,
        "log_wandb": False,
        "state": "INFO",
    }


def busy_cpu_seconds() -> tuple[float, float]:
    """(CPU seconds the whole machine has been busy, CPU seconds of this process) so far; the
    machine's figure is 0 where ``/proc/stat`` is missing (not Linux)."""
    mine = sum(os.times()[:4])
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return 0.0, mine
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK"), mine


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="folder written by export_windows")
    parser.add_argument("--epochs", type=int, default=1, help="timed training epochs")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (its default)")
    parser.add_argument("--run-dir", default=str(ROOT / "runs" / "peer"), help="RecBole's files")
    args = parser.parse_args(argv)
    data, run_dir = Path(args.data).resolve(), Path(args.run_dir).resolve()
    manifest = json.loads((data / "export.json").read_text())
    run_dir.mkdir(parents=True, exist_ok=True)
    os.chdir(run_dir)  # RecBole writes ./log and ./log_tensorboard relative to the cwd
    # RecBole 1.2.1 on pandas 2.3 / torch 2.13: chained inplace fillna, Series.agg(len),
    # torch.cuda.amp.GradScaler; harmless here, and they would bury RecBole's log.
    warnings.filterwarnings("ignore", category=FutureWarning)

    import recbole
    import torch
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import get_model, get_trainer, init_logger, init_seed

    if args.threads:
        torch.set_num_threads(args.threads)
    sys.argv[1:] = []  # Config() parses "--key=value" command-line arguments as its own settings
    config = Config(
        model="NARM", dataset=data.name, config_dict=recbole_config(data, run_dir, args.epochs)
    )
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    dataset = create_dataset(config)
    logging.getLogger().info(dataset)
    train_data, valid_data, _ = data_preparation(config, dataset)
    seen = {
        "train": len(train_data.dataset),
        "valid": len(valid_data.dataset),
        "items": dataset.item_num - 1,  # without RecBole's [PAD]
    }
    expected = {**manifest["windows"], "items": manifest["items"]}
    mismatched = {k: (v, expected[k]) for k, v in seen.items() if v != expected[k]}
    if mismatched:
        sys.exit(f"RecBole did not take the windows as given: {mismatched} (seen, exported)")

    init_seed(config["seed"], config["reproducibility"])
    model = get_model(config["model"])(config, train_data.dataset).to(config["device"])
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)

    busy_before, mine_before = busy_cpu_seconds()
    epoch_seconds, losses = [], []
    for epoch in range(args.epochs):
        started = time.perf_counter()
        loss = trainer._train_epoch(train_data, epoch_idx=epoch, show_progress=False)
        epoch_seconds.append(time.perf_counter() - started)
        losses.append(loss / len(train_data))
    busy_after, mine_after = busy_cpu_seconds()
    started = time.perf_counter()
    _, valid_result = trainer._valid_epoch(valid_data, show_progress=False)
    valid_seconds = time.perf_counter() - started

    result = {
        "epoch_train_s": round(statistics.median(epoch_seconds), 2),
        "epochs_train_s": [round(s, 2) for s in epoch_seconds],
        "valid_s": round(valid_seconds, 2),
        "windows": seen["train"],
        "valid_windows": seen["valid"],
        "items": seen["items"],
        "mean_batch_loss": [round(v, 4) for v in losses],
        "valid": {k: round(float(v), 4) for k, v in valid_result.items()},
        "torch_threads": torch.get_num_threads(),
        "recbole": recbole.__version__,
        "torch": torch.__version__,
        "device": str(config["device"]),
        "cpus": os.cpu_count(),
        # CPU seconds other processes used while the epochs ran (contention: near 0 on an idle
        # machine; up to cpus * epoch time).
        "others_cpu_s": round(max(busy_after - busy_before - (mine_after - mine_before), 0.0), 1),
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
