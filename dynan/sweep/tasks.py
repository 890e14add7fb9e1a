"""One task of a sweep: an analysis of one checkpoint, run on a worker.

:func:`compute_task` is what a worker runs for one :class:`TaskSpec`: load the checkpoint (in
float64 unless the analysis keeps the saved dtype), check it is the file that was hashed,
compute (:data:`dynan.sweep.analyses.ANALYSES`), and store the :class:`TaskOutcome` (headline
values and the full results as JSON) in the cache, where a rerun finds it without starting a
worker. Any exception becomes the outcome's ``error`` (never cached).

The outcome's cache path is decided by the caller (:func:`outcome_path`), whose code version
is the sweep's: a worker whose sources differ (edited during the run, another install) still
stores where the caller looks next time.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dynan.report.cache import AnalysisCache
from dynan.report.jobs import Context, Settings
from dynan.results import Result
from dynan.sweep.analyses import ANALYSES, DEFAULT_ANALYSES, Analysis, check_analyses

__all__ = [
    "ANALYSES",
    "DEFAULT_ANALYSES",
    "Analysis",
    "TaskOutcome",
    "TaskSpec",
    "check_analyses",
    "compute_task",
    "outcome_params",
    "outcome_path",
    "prepare_worker",
]

NAN = math.nan


def outcome_params(analysis: str, settings: Settings) -> dict[str, Any]:
    """What the outcome of ``analysis`` depends on besides the checkpoint and the code."""
    return {"sweep": 1, "analysis": analysis, **ANALYSES[analysis].settings(settings)}


def outcome_path(cache: AnalysisCache, sha256: str, analysis: str, settings: Settings) -> Path:
    """Where the outcome of one task is cached in ``cache`` (``.cache/sweep-<analysis>/``)."""
    path = cache.path(f"sweep-{analysis}", sha256, outcome_params(analysis, settings), TaskOutcome)
    if path is None:
        raise ValueError("the sweep's cache needs an output directory")
    return path


@dataclass(frozen=True)
class TaskSpec:
    """One task: an analysis of one checkpoint (what travels to a worker)."""

    path: str
    sha256: str
    analysis: str
    out: str
    settings: Settings
    cache: bool = True
    #: where to store the outcome: the caller's cache key (its code version, not the worker's)
    outcome: str = ""
    #: the sweep's --device; each worker resolves it to its own (``worker_device``)
    device: str = "cpu"


@dataclass(frozen=True)
class TaskOutcome(Result):
    """What one task gives back (and what the cache keeps of it).

    Attributes
    ----------
    analysis, sha256 : str
    values : dict
        The headline columns of the analysis (``Analysis.columns``), NaN where not applicable.
    detail : str
        The analysis' full results as JSON text, ``{key: Result.to_dict()}``.
    seconds : float
        Wall time of the task on its worker.
    computed : int
        Analyses computed (not read from the cache) by the task; 0 for a cached outcome.
    error : str
        "" when the task succeeded, else ``Type: message`` (values then empty).
    """

    analysis: str
    sha256: str
    values: dict = field(default_factory=dict)
    detail: str = "{}"
    seconds: float = 0.0
    computed: int = 0
    error: str = ""


def prepare_worker() -> None:
    """One torch thread (one task per worker core) and glibc's malloc kept from mapping and
    unmapping every block: Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``,
    which fixes glibc's mmap threshold at 128 KiB, so every larger tensor costs fresh page
    faults (measured on zoo tasks: 1.4× the time without this for the fast preset's Lyapunov
    and fractional tasks, 3× for the full preset's fixed points).
    Idempotent; cost: two ``mallopt`` calls (see ``dynan_models.training.keep_freed_memory``).
    """
    import torch

    from dynan_models.training import keep_freed_memory

    torch.set_num_threads(1)
    keep_freed_memory()


def compute_task(spec: TaskSpec) -> TaskOutcome:
    """Run one task on this process (a Dask worker, or the caller), one torch thread.

    Never raises for a bad checkpoint or a failing analysis: the outcome carries the error.
    Cost: that of the analysis (see its section module) plus loading the checkpoint.
    """
    import torch

    from dynan._device import worker_device
    from dynan.checkpoint import load

    prepare_worker()
    started = time.perf_counter()
    cache = AnalysisCache(spec.out, enabled=spec.cache)
    analysis = ANALYSES[spec.analysis]
    try:
        device = worker_device(spec.device)  # this worker's own GPU with cuda/auto
        net = load(spec.path, dtype=torch.float64 if analysis.float64 else None, device=device)
        if net.checkpoint.sha256 != spec.sha256:
            raise ValueError(f"{spec.path} changed during the sweep (its sha256 differs)")
        results, values = analysis.run(net, Context(cache, spec.settings))
    except Exception as err:  # one task's failure is its row's error, never the sweep's
        from dynan.sweep.engine import describe_error

        return TaskOutcome(
            spec.analysis,
            spec.sha256,
            seconds=time.perf_counter() - started,
            computed=cache.misses,
            error=describe_error(err),
        )
    missing = [c for c in analysis.columns if c not in values]
    values = {c: values.get(c, NAN) for c in analysis.columns}
    outcome = TaskOutcome(
        spec.analysis,
        spec.sha256,
        values=values,
        detail=json.dumps({k: r.to_dict() for k, r in results.items()}, allow_nan=False),
        seconds=time.perf_counter() - started,
        computed=cache.misses,
        error=f"internal: columns {missing} not computed" if missing else "",
    )
    if spec.outcome and not outcome.error:
        path = Path(spec.outcome)
        path.parent.mkdir(parents=True, exist_ok=True)
        outcome.to_json(path)
    return outcome
