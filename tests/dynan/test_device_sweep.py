"""Sweeps and --device: each Dask worker takes its own GPU; a task on a missing GPU is a row
error; `dynan sweep --device cuda` without CUDA stops before any cluster starts."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from dynan._device import worker_device, worker_rank
from dynan.cli import main
from dynan.report.jobs import FAST, Settings, _changed
from dynan.sweep.table import sha256_file
from dynan.sweep.tasks import TaskSpec, compute_task

ZOO = Path(__file__).resolve().parents[2] / "models" / "zoo"
RELU = ZOO / "relu-digits-s0.safetensors"
SETTINGS = Settings(
    name="test-device",
    examples=4,
    trace_amplitudes=(0.0, 1.0),
    analyses=_changed(FAST, {"lyapunov": {"k": 2, "joint_k": 2, "examples": 2, "transient": 8}}),
)


@pytest.fixture(scope="module")
def threads_cluster():
    """Two single-thread workers in this process (so a monkeypatched torch.cuda reaches them)."""
    from distributed import Client, LocalCluster

    options = {"threads_per_worker": 1, "dashboard_address": None, "silence_logs": logging.ERROR}
    with LocalCluster(n_workers=2, processes=False, **options) as cluster, Client(cluster) as c:
        yield c


def test_each_worker_takes_its_own_gpu(threads_cluster, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    addresses = sorted(threads_cluster.scheduler_info()["workers"])

    def on_each(fn):  # run fn as a task (where get_worker() works) on each worker
        futures = [threads_cluster.submit(fn, workers=[a], pure=False) for a in addresses]
        return threads_cluster.gather(futures)

    ranks = on_each(worker_rank)
    assert sorted(ranks) == [0, 1]
    devices = on_each(lambda: str(worker_device("cuda")))
    assert dict(zip(ranks, devices, strict=True)) == {0: "cuda:0", 1: "cuda:1"}
    assert on_each(lambda: str(worker_device("cpu"))) == ["cpu", "cpu"]


def test_worker_rank_outside_a_worker_is_none():
    assert worker_rank() is None


def _spec(tmp_path, device: str) -> TaskSpec:
    return TaskSpec(
        str(RELU), sha256_file(RELU), "lyapunov", str(tmp_path), SETTINGS, False, "", device
    )


def test_task_runs_on_the_cpu_and_records_the_values(tmp_path):
    outcome = compute_task(_spec(tmp_path, "cpu"))
    assert outcome.error == ""
    assert outcome.values["lambda1"] == outcome.values["lambda1"]  # not NaN


def test_task_on_a_missing_gpu_is_a_row_error(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    outcome = compute_task(_spec(tmp_path, "cuda"))
    assert outcome.error.startswith("ValueError: --device cuda: CUDA is not available")
    assert outcome.values == {}


def test_cli_sweep_cuda_without_cuda_stops_before_the_cluster(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code = main(["sweep", str(RELU), "--out", str(tmp_path / "s"), "--device", "cuda"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("dynan sweep: error: --device cuda: CUDA is not available")
    assert not (tmp_path / "s").exists()
