"""`dynan lyapunov` on checkpoints, and the Lyapunov figures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.axes import Axes

from dynan.checkpoint import load
from dynan.cli import main
from dynan.lyapunov import LyapunovSpectrum, finite_time_lyapunov, lyapunov_spectrum
from dynan.report.lyapunov_figures import plot_convergence, plot_finite_time, plot_spectrum
from dynan.system import CallableSystem
from dynan.systems import henon
from dynan_models import ARUN, ElmanRNN, LSTMNet, build, save_checkpoint

ZOO = Path(__file__).resolve().parents[2] / "models" / "zoo"
FAST = ["--steps", "30", "--transient", "10", "--k", "3", "--trials", "2", "--no-progress"]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("zoo")
    arun = build("arun", input_size=1, hidden_size=6, output_size=3, controller_size=4)
    relu = build("relu", input_size=1, hidden_size=5, output_size=3)
    return {
        "arun": save_checkpoint(arun, folder / "arun.safetensors", task={"name": "t"}, seed=0),
        "relu": save_checkpoint(relu, folder / "relu.safetensors", task={"name": "t"}, seed=0),
    }


@pytest.mark.parametrize("mode", ["frozen", "joint"])
def test_cli_writes_json_and_figures(checkpoints, tmp_path, capsys, mode):
    code = main(
        ["lyapunov", str(checkpoints["arun"]), "--mode", mode, "--out", str(tmp_path), *FAST]
    )
    assert code == 0
    prefix = tmp_path / f"arun-lyapunov-{mode}"
    result = LyapunovSpectrum.from_json(prefix.with_suffix(".json"))
    assert result.k == 3 and result.trials == 2 and result.n_steps == 30
    assert result.metadata["mode"] == mode and result.metadata["checkpoint"].endswith(
        "arun.safetensors"
    )
    assert result.dim == (6 if mode == "frozen" else 6 * 5)
    for key in ("spectrum", "convergence"):
        assert (tmp_path / f"arun-lyapunov-{mode}-{key}.png").stat().st_size > 1000
    out = capsys.readouterr().out
    assert "λ₁ =" in out and f"{mode} mode" in out and "wrote" in out


def test_cli_static_network_in_frozen_mode_runs_joint(checkpoints, tmp_path, capsys):
    assert main(["lyapunov", str(checkpoints["relu"]), "--out", str(tmp_path), *FAST]) == 0
    data = json.loads((tmp_path / "relu-lyapunov-joint.json").read_text())
    assert data["metadata"]["requested_mode"] == "frozen"
    assert "no shape parameters to freeze" in capsys.readouterr().out


def test_cli_all_exponents_with_drive(checkpoints, tmp_path):
    args = ["lyapunov", str(checkpoints["relu"]), "--out", str(tmp_path), *FAST]
    assert main([*args, "--k", "0", "--drive", "0.5"]) == 0
    result = LyapunovSpectrum.from_json(tmp_path / "relu-lyapunov-joint.json")
    assert result.k == result.dim == 5 and result.metadata["drive_amplitude"] == 0.5


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--k", "-1"], "--k must be >= 0"),
        (["--steps", "0"], "--steps must be >= 1"),
    ],
)
def test_cli_bad_options_exit_2(checkpoints, tmp_path, capsys, extra, message):
    args = ["lyapunov", str(checkpoints["arun"]), "--out", str(tmp_path), *FAST, *extra]
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_cli_missing_checkpoint_exit_2(tmp_path, capsys):
    assert main(["lyapunov", str(tmp_path / "none.safetensors"), "--out", str(tmp_path)]) == 2
    assert "no such checkpoint file" in capsys.readouterr().err


@pytest.mark.parametrize("mode", ["frozen", "joint"])
def test_cli_runs_on_every_zoo_network(tmp_path, capsys, mode):
    paths = sorted(ZOO.glob("*.safetensors"))
    assert paths, f"no checkpoints in {ZOO}"
    options = ["--steps", "12", "--transient", "4", "--k", "2", "--trials", "2", "--no-progress"]
    if mode == "joint":
        options.append("--no-figures")  # drawing dominates the cost; the frozen run draws them
    args = ["lyapunov", *map(str, paths), "--mode", mode, "--out", str(tmp_path), *options]
    assert main(args) == 0
    for path in paths:
        net = load(path)
        size = net.hidden_size
        shaped = isinstance(net, ARUN) or (isinstance(net, ElmanRNN) and net.variant != "relu")
        used = mode if shaped else "joint"
        result = LyapunovSpectrum.from_json(tmp_path / f"{path.stem}-lyapunov-{used}.json")
        assert result.metadata["sha256"] == net.checkpoint.sha256
        if used == "frozen" or isinstance(net, ElmanRNN):
            assert result.dim == size
        elif isinstance(net, ARUN):
            assert result.dim == size * (1 + net.controller_size)
        else:
            assert result.dim == size * (2 if isinstance(net, LSTMNet) else 1)
        assert result.exponents.shape == (2,) and not np.isnan(result.exponents).any()
        assert result.exponents[0] < 5  # a stable or weakly chaotic trained network
        figures = list(tmp_path.glob(f"{path.stem}-lyapunov-{used}-*.png"))
        assert len(figures) == (2 if mode == "frozen" else 0)
    assert capsys.readouterr().out.count("λ₁ =") == len(paths)


# -- figures ------------------------------------------------------------------------------------


def test_spectrum_and_convergence_plots_handle_minus_infinity():
    # a direction mapped to zero has exponent −inf; the plots skip it rather than fail
    system = CallableSystem(
        lambda x, u: x * torch.tensor([1.5, 0.0], dtype=torch.float64),
        dim=2,
        jacobian=lambda x, u: torch.diag(torch.tensor([1.5, 0.0], dtype=torch.float64)).expand(
            len(x), 2, 2
        ),
    )
    result = lyapunov_spectrum(system, n_steps=20, transient=5, trials=2, progress=False)
    assert result.exponents[1] == -np.inf
    ax = plot_spectrum(result)
    assert isinstance(ax, Axes) and "−inf not shown" in ax.get_legend().get_texts()[0].get_text()
    assert isinstance(plot_convergence(result), Axes)


def test_finite_time_plot_draws_on_given_axes():
    import matplotlib.pyplot as plt

    result = finite_time_lyapunov(
        henon(), n_steps=80, event=40, window=10, trials=3, progress=False
    )
    _, ax = plt.subplots()
    assert plot_finite_time(result, ax, label="henon") is ax
    xs = ax.get_lines()[-1].get_xdata()
    np.testing.assert_allclose(xs, result.centers)
    plt.close(ax.figure)
