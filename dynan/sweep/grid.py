"""Command grids on the sweep engine: independent command lines (training runs) as Dask tasks.

A training grid (architectures × seeds × tasks, e.g. ``models/zoo/psmnist/grid.json``) is a
list of ``dynan train`` command lines that do not depend on each other. :func:`run_commands`
runs each as one task: a worker starts the command as a subprocess (its output appended to
the command's log) and waits for it, so ``workers`` processes train ``workers`` networks at
once, on this machine (an embedded ``LocalCluster``) or on a cluster (``scheduler=``; the
command's paths must exist on the workers, e.g. a shared filesystem).

A command that exits non-zero is that task's error (the others go on); a worker that dies
mid-command has its task rerun elsewhere by Dask, from the same command line.

From a shell (how ``models/zoo/train_grid.py`` calls it, so the networks' folder imports
nothing from ``dynan``)::

    python -m dynan.sweep.grid COMMANDS.json [--workers N | --scheduler ADDRESS] [--quiet]

where COMMANDS.json is a list of :class:`Command` fields (``name``, ``argv``, ``cwd``,
``log``, ``progress_log``). Exit status 1 when a command failed (one line each on stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from dynan.sweep.engine import Scheduler, TaskRun, run_tasks

__all__ = ["Command", "run_command", "run_commands"]


@dataclass(frozen=True)
class Command:
    """One command line of a grid.

    Attributes
    ----------
    name : str
        Label (progress, errors).
    argv : tuple of str
        The command and its arguments (no shell).
    cwd : str
        Working directory.
    log : str
        File the command's stdout and stderr are appended to ("" to discard them).
    progress_log : str
        File that gets one "start" and one "end" line per command ("" for none).
    """

    name: str
    argv: tuple[str, ...]
    cwd: str = "."
    log: str = ""
    progress_log: str = ""


def _note(path: str, text: str) -> None:
    if path:
        with open(path, "a") as handle:
            handle.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}\n")


def _environ() -> dict[str, str]:
    """This worker's environment less Dask's malloc setting (MALLOC_TRIM_THRESHOLD_ fixes
    glibc's mmap threshold at 128 KiB: fresh page faults for every larger tensor)."""
    return {k: v for k, v in os.environ.items() if k != "MALLOC_TRIM_THRESHOLD_"}


def run_command(command: Command) -> float:
    """Run one command to its end on this process; return its wall time in seconds.

    Raises
    ------
    RuntimeError
        The command exited non-zero (the message names the log).
    """
    started = time.monotonic()
    _note(command.progress_log, f"start {command.name}: {shlex.join(command.argv)}")
    if command.log:
        os.makedirs(os.path.dirname(os.path.abspath(command.log)), exist_ok=True)
    with open(command.log or os.devnull, "a") as out:
        rc = subprocess.call(
            command.argv, cwd=command.cwd, stdout=out, stderr=subprocess.STDOUT, env=_environ()
        )
    seconds = time.monotonic() - started
    _note(command.progress_log, f"end {command.name}: exit {rc}, {seconds:.0f} s")
    if rc != 0:
        where = f"; see {command.log}" if command.log else ""
        raise RuntimeError(f"{command.name}: exit status {rc}{where}")
    return seconds


def run_commands(
    commands: Sequence[Command],
    *,
    scheduler: Scheduler = None,
    workers: int | None = None,
    progress: bool = True,
    desc: str = "dynan grid",
) -> list[TaskRun]:
    """Run ``commands`` as Dask tasks (see :func:`dynan.sweep.engine.run_tasks`).

    Returns
    -------
    list of TaskRun
        One per command, in order: ``value`` its seconds, or ``error`` ("RuntimeError: NAME:
        exit status 1; see LOG", or the worker's death).

    Notes
    -----
    Cost: the commands themselves, ``workers`` at a time; give each command one thread of its
    own (``dynan train --threads 1``) so ``workers`` commands fill ``workers`` cores.

    Examples
    --------
    >>> runs = run_commands([Command("hello", ("echo", "hi"))], workers=1)  # doctest: +SKIP
    >>> runs[0].ok  # doctest: +SKIP
    True
    """
    return run_tasks(
        run_command,
        list(commands),
        labels=[c.name for c in commands],
        scheduler=scheduler,
        workers=workers,
        progress=progress,
        desc=desc,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m dynan.sweep.grid COMMANDS.json``: run a command list on the engine."""
    parser = argparse.ArgumentParser(prog="python -m dynan.sweep.grid", description=__doc__)
    parser.add_argument("commands", help="JSON list of {name, argv, cwd, log, progress_log}")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=None, help="local worker processes")
    where.add_argument("--scheduler", default=None, help="a running Dask scheduler's address")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    with open(args.commands) as handle:
        commands = [Command(**{**c, "argv": tuple(c["argv"])}) for c in json.load(handle)]
    runs = run_commands(
        commands, scheduler=args.scheduler, workers=args.workers, progress=not args.quiet
    )
    failed = [run for run in runs if not run.ok]
    for run in failed:
        print(f"{run.label}: {run.error}", file=sys.stderr)
    print(f"{len(runs) - len(failed)} of {len(runs)} run(s) finished")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
