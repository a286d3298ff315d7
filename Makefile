# One-command set-up: each target creates .venv and installs on first use.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PEER_VENV := .venv-peer
PEER_PY := $(PEER_VENV)/bin/python
PEER_STAMP := $(PEER_VENV)/.installed

.PHONY: demo test test-slow bench bench-peer reproduce pipeline clean-venv

$(STAMP): requirements.txt requirements-dev.txt pipelines/requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

$(PEER_STAMP): benchmarks/peer/requirements.txt
	$(PYTHON) -m venv $(PEER_VENV)
	$(PEER_PY) -m pip install --quiet --upgrade pip
	$(PEER_PY) -m pip install --quiet -r benchmarks/peer/requirements.txt
	touch $(PEER_STAMP)

## The main job on the embedded default: train NARM with the paper's FP-AdaMetric on the synthetic log,
## test, export.
demo: $(STAMP)
	$(PY) -m fpam_tf.train --dataset synthetic --model narm --method fp-adametric --epochs 5 \
		--run-dir runs/demo-synthetic-narm-fpam --export

## Lint (ruff: errors, import order, line length, formatting), then the test suite (what CI runs).
## Heavier checks: make test-slow.
test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -q

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

bench: $(STAMP)
	$(PY) -m benchmarks.data_throughput
	$(PY) -m benchmarks.train_throughput
	$(PY) -m benchmarks.serving_latency
	$(PY) -m benchmarks.pipeline_scaling --replicas 1 4 16
	$(PY) -m benchmarks.data_scaling

## Opt-in: builds .venv-peer (PyTorch 2.13 CPU, RecBole 1.2.1); then `python -m benchmarks.train_throughput`
## times RecBole's NARM on our windows beside ours (benchmarks/peer/ runs it by hand too).
bench-peer: $(PEER_STAMP)

## The Beam / tensorflow-transform pipeline on the embedded default (DirectRunner): raw log -> pushed SavedModel.
## A small model and 3 epochs keep it to a few minutes on 2 cores; the flags are fpam_tf.train's.
pipeline: $(STAMP)
	$(PY) -m pipelines.run --dataset synthetic --epochs 3 --batch-size 256 --embedding-dim 32 --hidden-units 32

## The converged study of docs/REPRODUCTION.md on the Spotify sample: many hours on 2 CPU cores; rerun to
## continue (finished runs are recorded in results/study/ to be committed, and a fresh clone restores them instead of
## training again; a killed run resumes from its last checkpoint while its run directory exists).
reproduce: $(STAMP)
	$(PY) -m benchmarks.reproduce --datasets spotify
	$(PY) -m benchmarks.reproduce --datasets yoochoose --backbones narm

clean-venv:
	rm -rf $(VENV) $(PEER_VENV)
