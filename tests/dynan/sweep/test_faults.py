"""Faults during a sweep: a worker killed mid-task, the sweep itself killed with SIGKILL.

Every cluster here listens on 127.0.0.1 only and is stopped by the test (with timeouts).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from dynan.report.jobs import FAST, Settings, _changed
from dynan.sweep import run_sweep
from tests.dynan.sweep.conftest import ZOO

#: The zoo without the ARUNs (their joint spectra take longest): seven checkpoints.
FILES = sorted(p for p in ZOO.glob("*.safetensors") if not p.name.startswith("arun"))
REPO = ZOO.parents[1]

#: Tasks of about a second each: long enough to kill a worker inside one.
LYAPUNOV = Settings(
    name="faults", analyses=_changed(FAST, {"lyapunov": {"k": 4, "joint_k": 4, "examples": 8}})
)


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:.0f} s for {what}")
        time.sleep(0.05)


def _outcomes(out: Path) -> list[Path]:
    return list((out / ".cache" / "sweep-lyapunov").glob("*.json"))


def _stop(procs: list[subprocess.Popen]) -> None:
    """SIGTERM each process group, then SIGKILL what is left after 10 s."""
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.fixture
def dask_processes(tmp_path):
    """A `dask scheduler` and two `dask worker` processes (no nanny) on 127.0.0.1."""
    dask = str(Path(sys.executable).with_name("dask"))
    file = tmp_path / "scheduler.json"
    log = open(tmp_path / "dask.log", "wb")
    common = {"stdout": log, "stderr": subprocess.STDOUT, "start_new_session": True, "cwd": REPO}
    scheduler = [dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                 "--scheduler-file", str(file)]  # fmt: skip
    procs = [subprocess.Popen(scheduler, **common)]
    try:
        _wait_for(file.is_file, 60, "the scheduler file")
        address = json.loads(file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:"), address
        worker = [dask, "worker", address, "--host", "127.0.0.1", "--nthreads", "1",
                  "--no-nanny", "--no-dashboard", "--death-timeout", "60"]  # fmt: skip
        procs += [subprocess.Popen(worker, **common) for _ in range(2)]
        yield address
    finally:
        _stop(procs)
        log.close()


@pytest.mark.slow
def test_sweep_worker_killed_mid_task_still_gives_every_row(dask_processes, tmp_path):
    from distributed import Client

    out = tmp_path / "out"
    killed: list[int] = []

    def kill_a_busy_worker(client: Client) -> None:
        _wait_for(lambda: len(_outcomes(out)) >= 1, 120, "the first finished task")
        pids = client.run(os.getpid)
        for _ in range(200):  # a worker with a task in progress
            busy = [w for w, keys in client.processing().items() if keys and w in pids]
            if busy:
                os.kill(pids[busy[0]], signal.SIGKILL)
                killed.append(pids[busy[0]])
                return
            time.sleep(0.02)

    with Client(dask_processes, timeout=60) as client:
        client.wait_for_workers(2, timeout=60)
        killer = threading.Thread(target=kill_a_busy_worker, args=(client,), daemon=True)
        killer.start()
        result = run_sweep(
            FILES,
            analyses=["lyapunov"],
            preset=LYAPUNOV,
            out=out,
            scheduler=str(tmp_path / "scheduler.json"),  # the scheduler file, as on SLURM
            progress=False,
            figures=False,
        )
        killer.join(timeout=30)
        assert killed, "no worker was busy when the killer looked"
        assert len(client.scheduler_info()["workers"]) == 1  # the other one did the rest
    assert result.ok, result.failures
    assert len(result.table) == len(FILES) and result.table["lambda1"].notna().all()
    assert result.computed == len(FILES)


def _loadable(path: Path) -> None:
    if path.suffix == ".json":
        json.loads(path.read_text())
    elif path.suffix == ".parquet":
        pd.read_parquet(path)
    elif path.suffix == ".csv":
        pd.read_csv(path)
    elif path.suffix == ".png":
        assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    else:
        assert path.stat().st_size > 0


@pytest.mark.slow
def test_sweep_killed_leaves_loadable_files_and_resumes(dask_client, tmp_path):
    out = tmp_path / "out"
    # the sweep in a process of its own, with the settings of this module
    script = (
        "import sys; from dynan.sweep import run_sweep; "
        "from tests.dynan.sweep.test_faults import FILES, LYAPUNOV; "
        "run_sweep(FILES, analyses=['lyapunov'], preset=LYAPUNOV, out=sys.argv[1], "
        "scheduler=sys.argv[2], progress=False)"
    )
    command = [sys.executable, "-c", script, str(out), dask_client.scheduler.address]
    proc = subprocess.Popen(command, start_new_session=True, cwd=REPO)
    try:
        _wait_for(lambda: len(_outcomes(out)) >= 2, 240, "two finished tasks")
        assert proc.poll() is None, "the sweep ended before it could be killed"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    files = [p for p in out.rglob("*") if p.is_file() and not p.name.endswith(".tmp")]
    assert any(p.name == "results.parquet" for p in files)
    for path in files:
        _loadable(path)
    done = len(_outcomes(out))
    result = run_sweep(
        FILES, analyses=["lyapunov"], preset=LYAPUNOV, out=out, scheduler=dask_client,
        progress=False, figures=False,
    )  # fmt: skip
    assert result.ok and result.cached >= done >= 2
    assert result.computed + result.cached == len(FILES)
