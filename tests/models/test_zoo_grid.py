"""The zoo grid runner (models/zoo/train_grid.py) and the psMNIST tier it produced."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

import dynan
from dynan_models import save_checkpoint
from dynan_models.evaluation import evaluate_all
from dynan_models.tasks import load_task
from dynan_models.training import TrainConfig, train

ROOT = Path(__file__).resolve().parents[2]
TIER = ROOT / "models" / "zoo" / "psmnist"
# finished runs only: a run in progress (make zoo-psmnist) leaves a checkpoint without test
# metrics next to them, never committed
CHECKPOINTS = sorted(
    p for p in TIER.glob("*.safetensors") if "accuracy" in dynan.load(p).checkpoint.metrics
)
SEEDED = ("relu", "softplus", "gamma-homogeneous", "gamma-heterogeneous", "arun")


def _runner():
    spec = importlib.util.spec_from_file_location("train_grid", ROOT / "models/zoo/train_grid.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_grid_commands_train_missing_resume_partial_skip_finished(tmp_path, monkeypatch):
    runner = _runner()
    monkeypatch.setattr(runner, "ROOT", tmp_path)
    grid = {
        "out_dir": "zoo",
        "name": "{architecture}-s{seed}",
        "defaults": {"task": "digits", "hidden-size": 4, "epochs": 3, "quiet": True},
        "runs": [{"architecture": "relu", "seed": 0}, {"architecture": "arun", "seed": 1,
                 "options": {"controller-size": 2}}],
    }  # fmt: skip
    (tmp_path / "grid.json").write_text(json.dumps(grid))
    grid = runner.load_grid(tmp_path / "grid.json")
    fresh = runner.command(grid, grid["runs"][1])
    assert fresh[1:3] == ["train", "arun"] and "--resume" not in fresh
    assert fresh[fresh.index("--controller-size") + 1] == "2" and fresh[-2:] == ["--epochs", "3"]
    assert "--quiet" in fresh and fresh[fresh.index("--seed") + 1] == "1"
    # a finished run is skipped; an interrupted one resumes for the epochs it lacks
    path = tmp_path / "zoo" / "relu-s0.safetensors"
    cfg = TrainConfig(architecture="relu", task={"name": "digits"}, out=str(path),
                      hidden_size=4, epochs=1)  # fmt: skip
    train(cfg, progress=False)
    assert runner.status(path) == ("done", 1)
    assert runner.command(grid, grid["runs"][0]) is None
    net = dynan.load(path)
    training = {**net.checkpoint.training, "interrupted": True}
    save_checkpoint(net, path, task=net.checkpoint.task, metrics={}, training=training)
    partial = runner.command(grid, grid["runs"][0])
    assert partial[partial.index("--resume") + 1] == "zoo/relu-s0.safetensors"
    assert partial[-2:] == ["--epochs", "2"]
    assert [e["architecture"] for e, _ in runner.pending(grid)] == ["relu", "arun"]


def test_grid_manifest_errors_name_the_file(tmp_path):
    runner = _runner()
    (tmp_path / "g.json").write_text(json.dumps({"out_dir": "x", "name": "n", "defaults": {}}))
    with pytest.raises(ValueError, match=r"g\.json: grid manifest has no 'runs'"):
        runner.load_grid(tmp_path / "g.json")


def test_psmnist_grid_has_three_seeds_per_variant_and_the_references():
    grid = json.loads((TIER / "grid.json").read_text())
    seeds: dict[str, set] = {}
    for entry in grid["runs"]:
        seeds.setdefault(entry["architecture"], set()).add(entry["seed"])
    assert all(len(seeds[v]) >= 3 for v in SEEDED)
    assert {"gru", "lstm"} <= set(seeds)
    assert grid["defaults"]["hidden-size"] >= 64
    assert all(e.get("options", {}).get("controller-size", 16) >= 16 for e in grid["runs"])


def test_psmnist_checkpoints_load_are_well_above_chance_and_on_the_card():
    if not CHECKPOINTS:
        pytest.skip("no psMNIST checkpoint trained yet (make zoo-psmnist)")
    card = (ROOT / "models" / "zoo" / "README.md").read_text()
    total = sum(p.stat().st_size for p in (ROOT / "models" / "zoo").rglob("*.safetensors"))
    assert total < 5e6
    for path in CHECKPOINTS:
        info = dynan.load(path).checkpoint
        accuracy = info.metrics["accuracy"]
        assert set(accuracy) == {"clean", "sinusoid", "step", "noise"}, path.name
        assert accuracy["clean"] >= 0.5, path.name  # chance is 0.1
        assert info.task["name"] == "mnist" and info.task["permuted"], path.name
        assert f"`{path.name}`" in card


@pytest.mark.slow
@pytest.mark.parametrize("path", CHECKPOINTS, ids=lambda p: p.stem)
def test_psmnist_checkpoint_reproduces_recorded_accuracy(path):
    if not (ROOT / "data" / "t10k-images-idx3-ubyte").is_file():
        pytest.skip("MNIST not in data/ (make data)")
    net = dynan.load(path)
    task = load_task({**net.checkpoint.task, "root": ROOT / "data"})
    measured = evaluate_all(net, task)
    for name, value in net.checkpoint.metrics["accuracy"].items():
        assert abs(measured[name] - value) <= 1.0 / len(task.test) + 1e-9, name
