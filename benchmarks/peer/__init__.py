"""Opt-in peer benchmark: RecBole 1.2.1's NARM timed on exactly our training windows.

Two scripts, two environments (RecBole needs PyTorch and numpy<2; the project needs TensorFlow):

    make bench-peer    # builds .venv-peer/ from benchmarks/peer/requirements.txt
    .venv/bin/python -m benchmarks.peer.export_windows    # windows -> RecBole benchmark files
    .venv-peer/bin/python benchmarks/peer/recbole_narm_epoch.py --data runs/peer/spotify_vanilla

The last prints one JSON line (RecBole's seconds per training epoch and per validation pass).
Nothing here is imported by the project or its tests; the RecBole script never imports the
project (its venv has no TensorFlow).
"""
