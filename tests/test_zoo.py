"""The shipped zoo: every checkpoint loads, re-evaluates to its recorded accuracy, is listed."""

from __future__ import annotations

from pathlib import Path

import pytest

import dynan
from dynan_models.evaluation import evaluate_all
from dynan_models.tasks import load_task

ZOO = Path(__file__).resolve().parents[1] / "models" / "zoo"
CHECKPOINTS = sorted(ZOO.glob("*.safetensors"))
VARIANTS = {"relu", "softplus", "gamma-homogeneous", "gamma-heterogeneous", "arun", "gru"}


def test_zoo_is_complete_and_small():
    nets = [dynan.load(p).checkpoint for p in CHECKPOINTS]
    digits = [c for c in nets if c.task["name"] == "digits"]
    assert {c.architecture for c in digits} >= VARIANTS
    seeds = {}
    for c in digits:
        seeds.setdefault(c.architecture, set()).add(c.seed)
    assert len(seeds["arun"]) >= 2
    assert any(len(s) >= 2 for a, s in seeds.items() if a != "arun")
    assert any(c.task["name"] == "flipflop" for c in nets)
    assert sum(p.stat().st_size for p in CHECKPOINTS) < 5e6


@pytest.mark.parametrize("path", CHECKPOINTS, ids=lambda p: p.stem)
def test_zoo_checkpoint_reproduces_recorded_accuracy(path):
    net = dynan.load(path)
    task = load_task(net.checkpoint.task)
    recorded = net.checkpoint.metrics["accuracy"]
    measured = evaluate_all(net, task)
    one_example = 1.0 / len(task.test) + 1e-9
    for name, value in measured.items():
        assert abs(value - recorded[name]) <= one_example, name
    if task.name == "digits":
        assert measured["clean"] >= 0.80


def test_model_card_lists_every_checkpoint():
    card = (ZOO / "README.md").read_text()
    for path in CHECKPOINTS:
        assert f"`{path.name}`" in card
