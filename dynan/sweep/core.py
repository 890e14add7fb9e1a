"""``run_sweep``: analyses over many checkpoints on Dask, one tidy table.

Layout of ``out``::

    results.parquet  results.csv        the table, one row per checkpoint (dynan.sweep.table)
    json/<name>.json                    every analysis' full results for one checkpoint
    comparison.html (+ .json, .md)      rows grouped by architecture, seeds as points
    figures/comparison/*.png            its figures
    .cache/<analysis>/...json           cached results (shared with ``dynan report``)

Every file is written atomically, so killing a sweep at any moment leaves each file either as
it was or complete; the table is rewritten every few seconds while tasks finish, and at the end.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from dynan.report.builder import write_atomic
from dynan.report.cache import AnalysisCache
from dynan.report.jobs import Settings, get_settings, unique_names
from dynan.sweep.engine import Scheduler, TaskRun, default_workers, run_tasks
from dynan.sweep.table import describe, make_table, read_table, write_table
from dynan.sweep.tasks import (
    TaskOutcome,
    TaskSpec,
    check_analyses,
    compute_task,
    outcome_path,
)

__all__ = ["SweepResult", "expand_paths", "run_sweep"]

#: Seconds between rewrites of the partial table while tasks finish.
FLUSH_SECONDS = 5.0


@dataclass(frozen=True)
class SweepResult:
    """What a sweep produced.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per checkpoint (columns: :func:`dynan.sweep.table.columns`); ``error`` is ""
        where every analysis succeeded.
    out : pathlib.Path
        The output directory.
    analyses : tuple of str
    preset : str
    tasks : int
        (checkpoint, analysis) tasks of the sweep (files with the same bytes count once).
    computed : int
        Tasks run on workers in this call (0 for a complete rerun).
    cached : int
        Tasks whose outcome was read from the cache.
    seconds : float
        Wall time.
    """

    table: pd.DataFrame
    out: Path
    analyses: tuple[str, ...]
    preset: str
    tasks: int
    computed: int
    cached: int
    seconds: float

    @property
    def failures(self) -> list[tuple[str, str]]:
        """(file, error) of every row with an error."""
        bad = self.table[self.table["error"] != ""]
        return list(zip(bad["file"], bad["error"], strict=True))

    @property
    def ok(self) -> bool:
        """True when no row has an error."""
        return not self.failures

    def summary(self) -> str:
        """One line: checkpoints, tasks computed / cached, failures, time."""
        failed = len(self.failures)
        return (
            f"{len(self.table)} checkpoint(s) × {len(self.analyses)} analyses: "
            f"{self.computed} task(s) computed, {self.cached} cached, {failed} checkpoint(s) "
            f"failed; {self.seconds:.1f} s; table {self.out / 'results.parquet'}"
        )


def expand_paths(paths: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Path]:
    """Absolute checkpoint paths; a directory stands for its ``*.safetensors`` (sorted).

    Raises
    ------
    ValueError
        No paths, or a directory without checkpoints.
    """
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            inside = sorted(p.glob("*.safetensors"))
            if not inside:
                raise ValueError(f"{p}: directory holds no *.safetensors checkpoints")
            found += inside
        else:
            found.append(p)
    if not found:
        raise ValueError("no checkpoints given")
    return [p.resolve() for p in found]


def _checkpoint_json(row: dict[str, Any], outcomes: dict[str, TaskOutcome], preset: str) -> str:
    return json.dumps(
        {
            "file": row["file"],
            "sha256": row.get("sha256", ""),
            "preset": preset,
            "analyses": {
                name: {
                    "values": o.values,
                    "error": o.error,
                    "seconds": o.seconds,
                    "results": json.loads(o.detail),
                }
                for name, o in outcomes.items()
            },
        },
        indent=1,
    )


def run_sweep(
    paths: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    analyses: Sequence[str] | None = None,
    preset: str | Settings = "fast",
    out: str | os.PathLike,
    scheduler: Scheduler = None,
    workers: int | None = None,
    progress: bool = True,
    cache: bool = True,
    figures: bool = True,
    device: str = "cpu",
) -> SweepResult:
    """Run ``analyses`` over every checkpoint on Dask; write one table into ``out``.

    Parameters
    ----------
    paths : path or sequence of paths
        ``.safetensors`` checkpoints; a directory stands for its ``*.safetensors``.
    analyses : sequence of str, optional
        Keys of :data:`dynan.sweep.ANALYSES` (default all: accuracy, shape, lyapunov,
        fixed-points, fractional).
    preset : str or Settings
        "fast" (default) or "full", as ``dynan report``; or a ``Settings``.
    out : path
        Output directory (created). Must be reachable by the workers at the same path, as must
        the checkpoints (a shared filesystem on a cluster).
    scheduler : None, str, Client or cluster object
        None: an embedded ``LocalCluster``; an address (``tcp://host:8786``); a
        ``distributed.Client``; or a cluster such as ``dask_jobqueue.SLURMCluster``.
    workers : int, optional
        Processes of the embedded cluster (default: the cores); ignored otherwise.
    progress : bool
        A progress bar of tasks done / total with the failures.
    cache : bool
        Reuse results cached in ``out/.cache`` (fresh ones are always written there).
    figures : bool
        Also write the comparison page (``comparison.html``).
    device : str
        cpu (default), cuda, cuda:N or auto, resolved on each worker by
        :func:`dynan._device.worker_device`: with ``cuda`` or ``auto`` every worker that
        sees GPUs takes its own (``cuda:rank % count``). Results are cached independently of it.

    Returns
    -------
    SweepResult
        The table (``.table``) and what was computed; ``.ok`` is False when a row has an error.

    Raises
    ------
    ValueError
        No checkpoints, an unknown analysis or preset, ``workers`` below 1, a scheduler that
        does not answer.

    Notes
    -----
    One task per (checkpoint, analysis); a task's outcome is cached by the checkpoint's bytes
    (SHA-256), the analysis' settings and the code (:class:`dynan.report.cache.AnalysisCache`),
    so a rerun sends only what is missing, and none at all starts no cluster. A file that is
    not a checkpoint, or an analysis that raises, gives its row an ``error`` and the rest runs.
    Cost: the sum of the tasks divided among the workers (fast preset: about 1–5 s per zoo
    checkpoint and analysis on one core), plus the cluster's start (seconds).

    Examples
    --------
    >>> import dynan.sweep  # doctest: +SKIP
    >>> result = dynan.sweep.run_sweep("models/zoo", analyses=["lyapunov"], out="sweep", workers=2)
    >>> result.table.groupby("architecture")["lambda1"].mean()  # doctest: +SKIP
    """
    started = time.perf_counter()
    settings = get_settings(preset)
    names = check_analyses(analyses)
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    files = expand_paths(paths)
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    rows = [describe(p) for p in files]
    row_names = unique_names([r["name"] for r in rows], [r.get("sha256", "") for r in rows])
    for row, name in zip(rows, row_names, strict=True):
        row["name"] = name
    store = AnalysisCache(out, enabled=cache)
    outcomes: dict[tuple[str, str], TaskOutcome] = {}
    specs: dict[tuple[str, str], TaskSpec] = {}
    for row in rows:
        if row["error"]:
            continue
        for name in names:
            key = (row["sha256"], name)
            if key in outcomes or key in specs:
                continue
            path = outcome_path(store, row["sha256"], name, settings)
            cached = _cached_outcome(path) if cache else None
            if cached is not None:
                outcomes[key] = cached
            else:
                specs[key] = TaskSpec(
                    row["file"], row["sha256"], name, str(out), settings, cache, str(path),
                    device,
                )  # fmt: skip
    n_cached = len(outcomes)
    writer = _Writer(rows, names, outcomes, out, settings.name)
    pending = list(specs.values())
    previous = _previous_table(out)
    writer.flush(force=True)  # the table as far as the cache goes, before any task

    def on_result(index: int, run: TaskRun) -> None:
        spec = pending[index]
        outcome = run.value if run.ok else TaskOutcome(spec.analysis, spec.sha256, error=run.error)
        outcomes[(spec.sha256, spec.analysis)] = outcome
        writer.fresh.add(spec.sha256)
        writer.flush()

    if scheduler is None and pending:  # no more local workers than tasks (each costs a start)
        workers = min(workers or default_workers(), len(pending))
    run_tasks(
        compute_task,
        pending,
        labels=[f"{Path(s.path).stem}/{s.analysis}" for s in pending],
        scheduler=scheduler,
        workers=workers,
        progress=progress,
        desc="dynan sweep",
        on_result=on_result,
        initial=n_cached,
    )
    table = writer.flush(force=True)
    unchanged = previous is not None and previous.equals(table)
    if figures and not (unchanged and (out / "comparison.html").is_file()):
        from dynan.report.sweep_figures import comparison_page

        comparison_page(table, out, preset=settings.name)
    return SweepResult(
        table=table,
        out=out,
        analyses=names,
        preset=settings.name,
        tasks=len(outcomes),
        computed=len(pending),
        cached=n_cached,
        seconds=round(time.perf_counter() - started, 3),
    )


def _previous_table(out: Path) -> pd.DataFrame | None:
    """The table an earlier sweep left in ``out`` (None if there is none or it is unreadable)."""
    try:
        return read_table(out)
    except (OSError, ValueError):
        return None


def _cached_outcome(path: Path) -> TaskOutcome | None:
    """The stored outcome of a task, or None (not there, or unreadable)."""
    if not path.is_file():
        return None
    try:
        outcome = TaskOutcome.from_json(path)
    except (ValueError, TypeError, KeyError, OSError):
        return None  # recomputed and overwritten
    return None if outcome.error else outcome


class _Writer:
    """Rows, per-checkpoint JSON and the table, rewritten as outcomes arrive (atomically)."""

    def __init__(self, rows, names, outcomes, out: Path, preset: str):
        self.rows, self.names, self.outcomes = rows, names, outcomes
        self.out, self.preset = out, preset
        self.written: set[str] = set()
        self.fresh: set[str] = set()  # checkpoints with an outcome computed in this run
        self.last = 0.0

    def _row(self, row: dict[str, Any]) -> dict[str, Any]:
        merged = dict(row)
        if row["error"]:
            return merged
        errors = []
        for name in self.names:
            outcome = self.outcomes.get((row["sha256"], name))
            if outcome is None:
                errors.append(f"{name}: not computed (the sweep stopped before it)")
            elif outcome.error:
                errors.append(f"{name}: {outcome.error}")
            else:
                merged.update(outcome.values)
        merged["error"] = " | ".join(errors)
        return merged

    def _write_json(self, row: dict[str, Any]) -> None:
        if row["error"] or row["name"] in self.written:
            return
        mine = {n: self.outcomes.get((row["sha256"], n)) for n in self.names}
        if any(o is None for o in mine.values()):
            return
        path = self.out / "json" / f"{row['name']}.json"
        if row["sha256"] not in self.fresh and path.is_file():
            return  # all read from the cache, and written by an earlier run
        write_atomic(path, _checkpoint_json(row, mine, self.preset))
        self.written.add(row["name"])

    def flush(self, *, force: bool = False) -> pd.DataFrame | None:
        now = time.monotonic()
        if not force and now - self.last < FLUSH_SECONDS:
            return None
        self.last = now
        for row in self.rows:
            self._write_json(row)
        table = make_table([self._row(r) for r in self.rows], self.names)
        write_table(table, self.out)
        return table
