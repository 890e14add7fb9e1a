"""SIGKILL during ``dynan train`` and ``dynan report``: every artifact written before stays
loadable (each file is written to a temporary name and renamed into place with ``os.replace``,
so a reader sees the old file or the new one, never a torn one).

Each test starts the real CLI in a subprocess, waits until it is rewriting its artifacts, kills
it with SIGKILL (no handler runs) and loads everything it left.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import dynan
from dynan.report.builder import PageResult
from dynan.report.jobs import ReportSummary
from dynan_models import build, save_checkpoint

pytestmark = pytest.mark.slow  # each test runs the CLI in a fresh interpreter (torch import)

PNG_START, PNG_END = b"\x89PNG\r\n\x1a\n", b"IEND\xaeB`\x82"


def _dynan(*args: str, log: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with open(log, "wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "dynan", *args], stdout=err, stderr=subprocess.STDOUT, env=env
        )
    process.log = log
    return process


def _wait_for(condition, process: subprocess.Popen, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            output = process.log.read_text()[-600:]
            pytest.fail(f"the command ended (status {process.returncode}) first: {output}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("timed out waiting for the command to write")
        time.sleep(0.02)


def _kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL


def test_sigkill_during_train_leaves_a_loadable_checkpoint(tmp_path):
    out = tmp_path / "net.safetensors"
    process = _dynan(
        "train", "relu", "--task", "digits", "--hidden-size", "8", "--epochs", "400",
        "--patience", "400", "--batch-size", "32", "--lr", "0.01", "--seed", "0",
        "--out", str(out), log=tmp_path / "train.log",
    )  # fmt: skip
    _wait_for(out.exists, process)
    first = out.stat().st_mtime_ns
    # kill while it keeps improving and rewriting the file (or shortly after a rewrite)
    _wait_for(lambda: out.stat().st_mtime_ns != first, process)
    _kill(process)
    net = dynan.load(out)
    assert net.checkpoint.architecture == "relu" and net.hidden_size == 8


def _check_report_files(out: Path, names: set[str]) -> None:
    """Every page, JSON, Markdown and figure under ``out`` is whole."""
    for name in names:
        assert (out / f"{name}.html").read_text().rstrip().endswith("</html>"), name
        PageResult.from_json(out / f"{name}.json")
        assert (out / f"{name}.md").read_text().startswith("# ")
    ReportSummary.from_json(out / "index.json")
    for png in out.glob("figures/*/*.png"):
        data = png.read_bytes()
        assert data.startswith(PNG_START) and data.endswith(PNG_END), png
    for entry in (out / ".cache").rglob("*.json"):
        json.loads(entry.read_text())


def test_sigkill_during_report_leaves_every_earlier_page_whole(tmp_path):
    paths = []
    for arch, extra in (("arun", {"controller_size": 4}), ("relu", {})):
        net = build(arch, input_size=1, hidden_size=8, output_size=10, **extra)
        task = {"name": "digits", "permuted": True, "seed": 0}
        metrics = {"accuracy": {"clean": 0.9, "step": 0.8}, "test_accuracy": 0.9}
        path = tmp_path / f"{arch}.safetensors"
        paths.append(str(save_checkpoint(net, path, task=task, metrics=metrics)))
    out = tmp_path / "out"
    args = ("report", *paths, "--out", str(out), "--sections", "config,accuracy,shape")
    first = _dynan(*args, "--no-compare", log=tmp_path / "first.log")
    assert first.wait(timeout=600) == 0, first.log.read_text()[-600:]
    names = {"arun", "relu"}
    _check_report_files(out, names)
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    # rebuild without the cache (every file rewritten); kill once it has rewritten some
    process = _dynan(*args, "--no-compare", "--no-cache", log=tmp_path / "again.log")
    _wait_for(lambda: any(p.stat().st_mtime_ns != t for p, t in stamps.items()), process)
    _kill(process)
    _check_report_files(out, names)
