"""The reproduction grid of the paper's Tables 2-3 (``python -m benchmarks.reproduce``), by role:

- ``__main__``: the command line (its flags, the datasets to run, ``main``).
- ``grid``: the grid's constants and its cells (:class:`Cell`, ``grid``, ``sweep_grid``).
- ``runs``: training cells into run directories, resuming them, and collecting finished runs.
- ``statistics``: means over seeds, paired gaps between cells, the λ x m points' common seeds.
- ``tables``: the markdown tables and the bar chart.
- ``findings``: the sentences on what agrees with the paper and where FP-Simple's gap comes from.
- ``report``: each dataset's section and the sentences on the sweep and convergence; the files.
- ``peers``: the paper's and the peer framework's figures, read from data files.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository root
