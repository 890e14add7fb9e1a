"""Sweeps: analyses over many checkpoints on Dask distributed, one tidy table (``dynan sweep``).

Python API::

    from dynan.sweep import run_sweep
    result = run_sweep(paths, analyses=None, preset="fast", out="sweep",
                       scheduler=None, workers=None, progress=True)
    result.table          # pandas DataFrame, one row per checkpoint (also out/results.parquet)
    result.ok, result.summary()

- :func:`run_sweep` — one task per (checkpoint, analysis) on an embedded ``LocalCluster``
  (``workers`` processes), a running scheduler (``scheduler="tcp://host:8786"``), a
  ``distributed.Client`` or a cluster object (``dask_jobqueue.SLURMCluster``); results cached
  by checkpoint content, settings and code, so a rerun computes only what is missing.
- :data:`ANALYSES` — the analyses and the table columns each adds (:mod:`dynan.sweep.analyses`);
  :func:`dynan.sweep.table.columns` lists a table's columns.
- :func:`run_tasks` — the engine underneath (also ``dynan report``'s pages and training grids):
  any module-level function over items on the same kinds of cluster.
- :func:`read_table` — the table a sweep wrote.
"""

from __future__ import annotations

from dynan.sweep.analyses import ANALYSES, DEFAULT_ANALYSES
from dynan.sweep.core import SweepResult, run_sweep
from dynan.sweep.engine import TaskRun, cluster, run_tasks
from dynan.sweep.table import columns, read_table

__all__ = [
    "ANALYSES",
    "DEFAULT_ANALYSES",
    "SweepResult",
    "TaskRun",
    "cluster",
    "columns",
    "read_table",
    "run_sweep",
    "run_tasks",
]
