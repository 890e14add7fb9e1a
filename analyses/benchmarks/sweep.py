"""Sweep speed: the zoo on 1 and 2 Dask workers, against a serial loop, and a cached rerun.

Runs in one process, over the shipped zoo (models/zoo/*.safetensors, 9 checkpoints), for two
workloads: "fast" (every analysis, the fast preset: seconds of work per task, about as much
as a worker's start) and "heavy" (fixed points with the full preset: 1024 starts per network),
each into a fresh directory except the cached one:

- serial: every (checkpoint, analysis) task in this process, one after another (no Dask), the
  reference;
- 1 worker and 2 workers: ``run_sweep`` on an embedded LocalCluster (its start included; no
  comparison page, which the serial loop does not draw either), ``--repeat`` times each,
  interleaved, the fastest kept;
- start: an embedded LocalCluster of 1 and 2 workers running one trivial task;
- cached: ``run_sweep`` again into a 2-worker directory (nothing to compute, no cluster).

Ratios: serial / 1 worker (Dask's overhead), 1 worker / 2 workers (the speed-up), cached / 2
workers; each sweep also records the CPU seconds it and its (closed) workers used, which other
jobs on the machine do not inflate as they inflate wall time. The machine's load average is
recorded before and after: on a shared 2-core machine other work steals time from the
workers, so the speed-up is a lower bound of what two free cores give. Writes
reports/benchmarks/sweep.json.

Usage: ``python -m analyses.benchmarks.sweep [--repeat 3]``
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import torch

from analyses.benchmarks._output import save
from dynan.report.jobs import get_settings
from dynan.sweep import run_sweep, run_tasks
from dynan.sweep.table import sha256_file
from dynan.sweep.tasks import TaskSpec, check_analyses, compute_task

ROOT = Path(__file__).resolve().parents[2]
ZOO = sorted((ROOT / "models" / "zoo").glob("*.safetensors"))


def _serial(paths: list[Path], analyses: tuple[str, ...], preset: str, out: Path) -> float:
    """Every task in this process, no cache: the reference."""
    settings = get_settings(preset)
    started = time.perf_counter()
    for path in paths:
        sha = sha256_file(path)
        for name in analyses:
            outcome = compute_task(TaskSpec(str(path), sha, name, str(out), settings, False))
            if outcome.error:
                raise RuntimeError(f"{path.name}/{name}: {outcome.error}")
    return time.perf_counter() - started


def _start(workers: int) -> float:
    """Seconds to start an embedded cluster of ``workers`` and run one trivial task on it."""
    started = time.perf_counter()
    run_tasks(abs, [-1], workers=workers, progress=False)
    return round(time.perf_counter() - started, 2)


def _cpu() -> float:
    """CPU seconds of this process and its ended children (the cluster's workers, once closed)."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _sweep(paths, analyses, preset, out, workers) -> dict:
    started, cpu = time.perf_counter(), _cpu()
    result = run_sweep(
        paths,
        analyses=analyses,
        preset=preset,
        out=out,
        workers=workers,
        progress=False,
        figures=False,
    )
    if not result.ok:
        raise RuntimeError(f"sweep failed: {result.failures}")
    return {
        "seconds": round(time.perf_counter() - started, 2),
        "cpu_seconds": round(_cpu() - cpu, 2),
        "workers": workers,
        "tasks": result.tasks,
        "computed": result.computed,
        "cached": result.cached,
    }


def _workload(analyses, preset, repeat: int, tmp: Path) -> dict:
    """Serial, then 1 and 2 workers ``repeat`` times interleaved (fastest kept), then cached."""
    serial = _serial(ZOO, analyses, preset, tmp / "serial")
    print(f"  serial: {serial:.1f} s")
    runs: dict[int, list[dict]] = {1: [], 2: []}
    for k in range(repeat):
        for workers in (1, 2):
            run = _sweep(ZOO, analyses, preset, tmp / f"{workers}-{k}", workers)
            runs[workers].append(run)
            print(f"  {workers} worker(s): {run['seconds']:.1f} s, {run['cpu_seconds']:.1f} CPU s")
    one = min(runs[1], key=lambda r: r["seconds"])
    two = min(runs[2], key=lambda r: r["seconds"])
    cached = _sweep(ZOO, analyses, preset, tmp / "2-0", 2)
    print(f"  cached rerun: {cached['seconds']:.2f} s ({cached['computed']} computed)")
    return {
        "analyses": list(analyses),
        "preset": preset,
        "runs": {
            "serial": {"seconds": round(serial, 2), "tasks": len(ZOO) * len(analyses)},
            "one_worker": one,
            "two_workers": two,
            "all_seconds": {f"{w}_workers": [r["seconds"] for r in runs[w]] for w in runs},
            "cached_rerun": cached,
        },
        "ratios": {
            "serial_over_one_worker": round(serial / one["seconds"], 3),
            "speedup_two_over_one_worker": round(one["seconds"] / two["seconds"], 3),
            "cached_over_two_workers": round(cached["seconds"] / two["seconds"], 4),
        },
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="fast sweeps per worker count")
    parser.add_argument("--out", default=str(ROOT / "reports" / "benchmarks" / "sweep.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        start = {1: _start(1), 2: _start(2)}
        print(f"cluster start + one task: {start}")
        print("fast: every analysis, fast preset")
        fast = _workload(check_analyses(None), "fast", args.repeat, tmp / "fast")
        print("heavy: fixed points, full preset (1024 starts from 64 test sequences)")
        heavy = _workload(("fixed-points",), "full", 1, tmp / "heavy")
    load_after = os.getloadavg()
    save(
        args.out,
        meta={
            "cpus": os.cpu_count(),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in load_after],
            "note": "2-core machine shared with other jobs: the load average says how shared",
        },
        checkpoints=[p.name for p in ZOO],
        cluster_start_seconds={f"{w}_workers": s for w, s in start.items()},
        fast=fast,
        heavy=heavy,
    )


if __name__ == "__main__":
    main()
