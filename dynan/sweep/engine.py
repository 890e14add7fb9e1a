"""The task engine of sweeps, reports and training grids: independent calls on Dask distributed.

:func:`run_tasks` maps a function over items on a Dask cluster and gives back one
:class:`TaskRun` per item, in order: the value, or the one-line error of a call that raised or
whose worker died more often than Dask allows. :func:`cluster` opens the client: an embedded
``LocalCluster`` of ``workers`` processes with one thread each (nothing to start), a running
scheduler by address (``dask scheduler`` + ``dask worker``), or a cluster object the caller
made (``dask_jobqueue.SLURMCluster``, a ``LocalCluster``) or a ``distributed.Client``.

Fault tolerance is Dask's: a task whose worker process dies is rerun on another worker
(up to ``distributed.scheduler.allowed-failures`` times, default 3, then ``KilledWorker``,
reported here as that item's error); an exception inside a call fails that item only.

Functions and items travel to workers by cloudpickle (Dask's transport between processes of
one job; nothing is unpickled from files). Functions must be importable module-level names so
that workers import them rather than receive their code.

References
----------
Rocklin, M. (2015). Dask: parallel computation with blocked algorithms and task scheduling.
Proc. 14th Python in Science Conf., 130–136. Dask distributed documentation, "Resilience".
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from tqdm.auto import tqdm

__all__ = ["Scheduler", "TaskRun", "cluster", "describe_error", "emit", "run_tasks"]

#: What ``scheduler=`` accepts: None (an embedded LocalCluster), an address such as
#: ``"tcp://10.0.0.5:8786"`` or a scheduler file's path, a ``distributed.Client``, or a
#: cluster object (``LocalCluster``, ``dask_jobqueue.SLURMCluster``, ...).
Scheduler = Any


@dataclass(frozen=True)
class TaskRun:
    """The outcome of one call: ``value`` (None when it failed) and ``error`` ("" when not)."""

    label: str
    value: Any = None
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


def describe_error(err: BaseException) -> str:
    """One line: ``Type: message`` (a ``KilledWorker`` says the worker died)."""
    name = type(err).__name__
    if name == "KilledWorker":
        return f"KilledWorker: the worker running this task died too often ({err})"
    text = str(err).strip().splitlines()
    return f"{name}: {text[0]}" if text else name


def default_workers() -> int:
    """The cores this process may use (``os.sched_getaffinity``), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def emit(topic: str, message: Any) -> None:
    """Send ``message`` to the caller of :func:`run_tasks` (its ``events`` handler for ``topic``)
    from inside a task; a no-op outside a Dask worker. Messages are small (labels, counts)."""
    if not topic:
        return
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):  # not running on a worker
        return
    worker.log_event(topic, message)


@contextlib.contextmanager
def cluster(scheduler: Scheduler = None, *, workers: int | None = None) -> Iterator[Any]:
    """A ``distributed.Client``: embedded, connected to ``scheduler``, or the one given.

    Parameters
    ----------
    scheduler : None, str, Client or cluster object
        None starts a ``LocalCluster`` (processes, one thread each, on 127.0.0.1) and closes
        it on exit; a string is a scheduler address, or the path of a scheduler file written
        by ``dask scheduler --scheduler-file``; a ``Client`` is used as it is (not closed);
        a cluster object (anything with ``scheduler_address``) gets a client closed on exit.
    workers : int, optional
        Processes of the embedded cluster (default: the cores this process may use); ignored
        when connecting elsewhere.

    Raises
    ------
    ValueError
        ``workers`` below 1, or no scheduler answers (after the
        ``distributed.comm.timeouts.connect`` timeout, 30 s by default).
    """
    from distributed import Client, LocalCluster

    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    if isinstance(scheduler, Client):
        yield scheduler
        return
    if scheduler is None:
        local = LocalCluster(
            n_workers=workers or default_workers(),
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # None still binds 8787: a second cluster warns
            silence_logs=logging.ERROR,
        )
        with local, Client(local) as client:
            yield client
        return
    if isinstance(scheduler, str | os.PathLike) and os.path.isfile(scheduler):
        # a scheduler file (``dask scheduler --scheduler-file F``), as on a shared filesystem
        where, kwargs = f"the scheduler of {os.fspath(scheduler)}", {"scheduler_file": scheduler}
    else:
        where, kwargs = f"a Dask scheduler at {scheduler}", {"address": scheduler}
    try:
        client = Client(**kwargs)
    except (OSError, TimeoutError) as err:  # one line for the CLI, not a traceback
        raise ValueError(f"cannot reach {where}: {describe_error(err)}") from err
    with client:
        yield client


def run_tasks(
    function: Callable[[Any], Any],
    items: Sequence[Any],
    *,
    labels: Sequence[str] | None = None,
    scheduler: Scheduler = None,
    workers: int | None = None,
    progress: bool = True,
    desc: str = "dynan",
    on_result: Callable[[int, TaskRun], None] | None = None,
    initial: int = 0,
    events: tuple[str, Callable[[Any], None]] | None = None,
) -> list[TaskRun]:
    """``function(item)`` for every item on a Dask cluster; one :class:`TaskRun` per item.

    Parameters
    ----------
    function : callable
        A module-level function (workers import it); one argument, the item.
    items : sequence
        Arguments, one task each (sent to workers by cloudpickle: small records, paths).
    labels : sequence of str, optional
        A name per item for errors and the progress bar (default: the index).
    scheduler, workers
        Where to run: see :func:`cluster`.
    progress : bool
        One bar: tasks done / total, with the number failed.
    desc : str
        The bar's label.
    on_result : callable, optional
        ``on_result(index, run)`` in this process as each task finishes (in completion order),
        e.g. to write a partial table; its exceptions propagate.
    initial : int
        Tasks already done before these (e.g. read from a cache): the bar starts there.
    events : (topic, handler), optional
        ``handler(message)`` in this process for each :func:`emit` of ``topic`` by a task
        (called on the client's event-loop thread; messages sent just before a task ends may
        arrive after this function returns, so count progress with ``on_result``).

    Returns
    -------
    list of TaskRun
        In the order of ``items``.

    Notes
    -----
    Cost: the calls themselves divided among the workers, plus Dask's overhead (about 1 ms a
    task) and, for the embedded cluster, its start (one to a few seconds: each worker process
    imports what the function needs). A task that raises is not retried (the error is the
    answer); one whose worker died is rerun by Dask on another worker. With no items no
    cluster is started.

    Examples
    --------
    >>> runs = run_tasks(abs, [-1, 2], workers=1, progress=False)  # doctest: +SKIP
    >>> [r.value for r in runs]  # doctest: +SKIP
    [1, 2]
    """
    items = list(items)
    labels = [str(i) for i in range(len(items))] if labels is None else list(labels)
    if len(labels) != len(items):
        raise ValueError(f"{len(labels)} labels for {len(items)} items")
    runs: list[TaskRun | None] = [None] * len(items)
    if not items:
        return []
    from distributed import as_completed

    bar = tqdm(
        total=initial + len(items), initial=initial, desc=desc, unit="task", disable=not progress
    )
    failed = 0
    try:
        with cluster(scheduler, workers=workers) as client:
            if events is not None:
                topic, handler = events
                client.subscribe_topic(topic, lambda event: handler(event[1]))
            futures = client.map(function, items, pure=False)
            index = {f.key: i for i, f in enumerate(futures)}
            for future in as_completed(futures):
                i = index[future.key]
                try:
                    run = TaskRun(labels[i], value=future.result())
                except Exception as err:  # a failed call or a dead worker: this item only
                    run = TaskRun(labels[i], error=describe_error(err))
                runs[i] = run
                failed += not run.ok
                bar.update(1)
                if failed:
                    bar.set_postfix_str(f"{failed} failed", refresh=False)
                if on_result is not None:
                    on_result(i, run)
                future.release()
            if events is not None:
                client.unsubscribe_topic(events[0])
    finally:
        bar.close()
    return [r for r in runs if r is not None]
