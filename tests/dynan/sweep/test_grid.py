"""Training grids on the sweep engine: dynan.sweep.grid and models/zoo/train_grid.py."""

from __future__ import annotations

import importlib.util
import json
import shlex
import sys
from pathlib import Path

import pytest

from dynan.checkpoint import read_config
from dynan.sweep.grid import Command, run_commands

ROOT = Path(__file__).resolve().parents[3]


def _runner():
    spec = importlib.util.spec_from_file_location("train_grid", ROOT / "models/zoo/train_grid.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_run_commands_logs_and_fails_only_the_bad_command(dask_client, tmp_path):
    ok = Command("ok", (sys.executable, "-c", "print('trained')"), log=str(tmp_path / "ok.log"),
                 progress_log=str(tmp_path / "progress.log"))  # fmt: skip
    fail = (sys.executable, "-c", "raise SystemExit(3)")
    bad = Command("bad", fail, log=str(tmp_path / "b.log"))
    runs = run_commands([ok, bad], scheduler=dask_client, progress=False)
    assert runs[0].ok and runs[0].value >= 0
    assert runs[1].error == f"RuntimeError: bad: exit status 3; see {tmp_path / 'b.log'}"
    assert (tmp_path / "ok.log").read_text() == "trained\n"
    progress = (tmp_path / "progress.log").read_text().splitlines()
    assert [line.split()[2] for line in progress] == ["start", "end"]


def _flags(argv: list[str]) -> dict[str, str]:
    """--flag value pairs of a `dynan train` command (switches map to "")."""
    flags, i = {}, 3
    while i < len(argv):
        if i + 1 < len(argv) and not argv[i + 1].startswith("--"):
            flags[argv[i]] = argv[i + 1]
            i += 2
        else:
            flags[argv[i]] = ""
            i += 1
    return flags


def test_zoo_grid_reproduces_the_recorded_training_commands():
    runner = _runner()
    grid = runner.load_grid(ROOT / "models/zoo/grid.json")
    shipped = sorted((ROOT / "models/zoo").glob("*.safetensors"))
    assert len(grid["runs"]) == len(shipped)
    for entry, argv in runner.pending(grid, "dynan", retrain=True):
        path = runner.checkpoint_path(grid, entry)
        assert path in shipped, path.name
        recorded = shlex.split(read_config(path)["training"]["command"])
        assert argv[:3] == recorded[:3], path.name  # dynan train <architecture>
        ours, theirs = _flags(argv), _flags(recorded)
        for flag in set(ours) - {"--threads", "--quiet"}:
            assert ours[flag] == theirs[flag], (path.name, flag)


@pytest.mark.slow  # two `dynan train` processes behind a `python -m dynan.sweep.grid`
def test_train_grid_trains_on_the_engine_and_reruns_only_the_failed_run(
    dask_client, tmp_path, monkeypatch, capfd
):
    runner = _runner()
    monkeypatch.setattr(runner, "ROOT", tmp_path)
    grid = {
        "out_dir": "zoo",
        "name": "{architecture}-s{seed}",
        "log_dir": "logs",
        "defaults": {"task": "digits", "hidden-size": 4, "epochs": 1, "threads": 1, "quiet": True},
        "runs": [{"architecture": "relu", "seed": 1}, {"architecture": "nope", "seed": 0}],
    }
    (tmp_path / "grid.json").write_text(json.dumps(grid))
    dynan = str(Path(sys.executable).with_name("dynan"))
    argv = [str(tmp_path / "grid.json"), "--dynan", dynan, "--quiet", "--scheduler"]
    assert runner.main([*argv, dask_client.scheduler.address]) == 1
    captured = capfd.readouterr()
    assert "1 of 2 run(s) finished" in captured.out
    assert "nope-s0: RuntimeError: nope-s0: exit status 2; see" in captured.err
    config = read_config(tmp_path / "zoo" / "relu-s1.safetensors")
    assert config["seed"] == 1 and "accuracy" in config["metrics"]
    # finished runs are skipped: only the failed one is pending
    assert [e["architecture"] for e, _ in runner.pending(runner.load_grid(argv[0]))] == ["nope"]


@pytest.mark.parametrize("grid_file", ["models/zoo/grid.json", "models/zoo/psmnist/grid.json"])
def test_grid_manifests_load(grid_file):
    grid = _runner().load_grid(ROOT / grid_file)
    assert grid["runs"]
