"""`dynan fixed-points` on checkpoints, and the fixed-point figures."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from matplotlib.axes import Axes

from dynan.cli import main
from dynan.fixed_points import FixedPoints, find_fixed_points
from dynan.report.fixed_point_figures import (
    plot_fixed_point_graph,
    plot_fixed_points,
    plot_fixed_points_by_input,
)
from dynan.system import CallableSystem
from dynan_models import build, save_checkpoint

PNG = b"\x89PNG\r\n\x1a\n"
FAST = ["--sequences", "4", "--inits", "24", "--no-progress"]
TASK = {"name": "flipflop", "bits": 2, "steps": 20, "p_pulse": 0.1, "seed": 0}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("zoo")
    torch.manual_seed(0)
    nets = {
        "arun": build("arun", input_size=2, hidden_size=5, output_size=2, controller_size=3),
        "gru": build("gru", input_size=2, hidden_size=6, output_size=2),
        "relu": build("relu", input_size=2, hidden_size=4, output_size=2),
    }
    paths = {
        k: save_checkpoint(n, folder / f"{k}.safetensors", task=TASK, seed=0)
        for k, n in nets.items()
    }
    paths["no-task"] = save_checkpoint(nets["gru"], folder / "no-task.safetensors", seed=0)
    return paths


def _png(path) -> bool:
    return path.read_bytes().startswith(PNG) and path.stat().st_size > 1000


def test_cli_writes_json_figures_and_summary(checkpoints, tmp_path, capsys):
    code = main(["fixed-points", str(checkpoints["gru"]), "--out", str(tmp_path), *FAST])
    assert code == 0
    prefix = tmp_path / "gru-fixed-points-joint"
    result = FixedPoints.from_json(prefix.with_suffix(".json"))
    assert result.parameters["network"]["mode"] == "joint"
    assert result.parameters["network"]["checkpoint"].endswith("gru.safetensors")
    assert result.parameters["n_candidates"] == 24 and result.states.shape[1] == 6
    assert len(result) >= 1 and np.all(result.q < 1e-12)
    for key in ("pca", "graph"):
        assert _png(tmp_path / f"gru-fixed-points-joint-{key}.png")
    out = capsys.readouterr().out
    assert "wrote" in out and re.search(r"\d+ fixed points? \(", out) and "saddle→attractor" in out


def test_cli_arun_frozen_with_input_and_controller(checkpoints, tmp_path):
    args = ["fixed-points", str(checkpoints["arun"]), "--out", str(tmp_path), *FAST]
    assert main([*args, "--mode", "frozen", "--input", "0.5", "-0.5", "--controller"]) == 0
    result = FixedPoints.from_json(tmp_path / "arun-fixed-points-frozen.json")
    assert result.parameters["network"]["input"] == [0.5, -0.5]
    assert result.states.shape[1] == 5
    controller = FixedPoints.from_json(tmp_path / "arun-controller-fixed-points.json")
    np.testing.assert_allclose(np.unique(controller.inputs[:, 0]), np.linspace(-4, 4, 17))
    assert _png(tmp_path / "arun-controller-fixed-points-inputs.png")


def test_cli_static_network_frozen_runs_joint(checkpoints, tmp_path, capsys):
    args = ["fixed-points", str(checkpoints["relu"]), "--out", str(tmp_path), "--mode", "frozen"]
    assert main([*args, *FAST]) == 0
    assert (tmp_path / "relu-fixed-points-joint.json").is_file()
    assert "no shape parameters to freeze" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("which", "extra", "message"),
    [
        ("gru", ["--inits", "0"], "--inits must be >= 1"),
        ("gru", ["--input", "1.0"], r"input must be 2 finite number\(s\)"),
        ("gru", ["--controller"], "--controller needs an ARUN checkpoint"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(checkpoints, tmp_path, capsys, which, extra, message):
    args = ["fixed-points", str(checkpoints[which]), "--out", str(tmp_path), *FAST, *extra]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("dynan fixed-points: error:") and len(err.splitlines()) == 1
    assert re.search(message, err)


def test_cli_without_task_seeds_from_stand_in_inputs_and_says_so(checkpoints, tmp_path, capsys):
    args = ["fixed-points", str(checkpoints["no-task"]), "--out", str(tmp_path), *FAST]
    assert main(args) == 0
    assert "random N(0, 1) inputs stand in for task data" in capsys.readouterr().out
    assert (tmp_path / "no-task-fixed-points-joint.json").is_file()


def test_cli_missing_checkpoint_exits_2(tmp_path, capsys):
    assert main(["fixed-points", str(tmp_path / "none.safetensors"), "--out", str(tmp_path)]) == 2
    assert "none.safetensors" in capsys.readouterr().err


# -- the figure functions ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def double_well():
    def step(x, u):
        return torch.stack([x[:, 0] + 0.1 * (x[:, 0] - x[:, 0] ** 3), 0.5 * x[:, 1]], 1)

    return find_fixed_points(CallableSystem(step, dim=2, name="double well"), n_inits=64)


def test_plot_fixed_points_draws_points_by_kind_and_trajectories(double_well):
    orbits = np.random.default_rng(0).normal(size=(3, 10, 2))
    ax = plot_fixed_points(double_well, trajectories=orbits)
    assert isinstance(ax, Axes)
    labels = ax.get_legend_handles_labels()[1]
    assert "stable (2)" in labels and "saddle (1)" in labels
    assert len(ax.lines) == 2 * 3  # each orbit: its path and its start
    assert ax.get_xlabel().startswith("PC1")
    with pytest.raises(ValueError, match=r"trajectories must have shape \(B, T, 2\)"):
        plot_fixed_points(double_well, trajectories=np.zeros((3, 10, 5)))


def test_plot_graph_draws_one_arrow_per_edge(double_well):
    ax = plot_fixed_point_graph(double_well)
    assert len(ax.patches) == double_well.graph().number_of_edges() == 2
    assert ax.get_title() == "Skeleton: 2 connections"


def test_plot_by_input_needs_inputs(double_well):
    with pytest.raises(ValueError, match="needs a result with inputs"):
        plot_fixed_points_by_input(double_well)
    tilted = CallableSystem(lambda x, u: x + 0.1 * (x - x**3 + u), dim=1, input_dim=1)
    fp = find_fixed_points(tilted, inputs=[[-0.2], [0.0], [0.2]], n_inits=32)
    ax = plot_fixed_points_by_input(fp)
    offsets = np.concatenate([c.get_offsets()[:, 0] for c in ax.collections])
    assert sorted(set(np.round(offsets, 6))) == [-0.2, 0.0, 0.2]


def test_plots_of_an_empty_result_say_so():
    empty = FixedPoints(np.zeros((0, 2)), np.zeros((0, 0)), np.zeros(0), np.zeros((0, 2), complex),
                        np.zeros((0, 2, 2), complex))  # fmt: skip
    assert plot_fixed_points(empty).texts[0].get_text() == "no fixed points"
    assert plot_fixed_point_graph(empty).texts[0].get_text() == "no fixed points"
    # slow_points None (a hand-made result): no slow points, not a crash
    expected = "0 fixed points (none), 0 slow points, 0 saddle→attractor connections"
    assert empty.summary() == expected
