"""drive_sweep: λ₁ against drive amplitude, against closed forms on networks of identical neurons.

With identical neurons (equal rows of U, equal biases, equal controllers) and W = c·11ᵀ/N,
every neuron has the same pre-activation a_t, so J_t = φ'(a_t)·W maps every tangent onto 1,
which W multiplies by c: λ₁ = log c + mean_t log φ'(a_t) over the measured steps, exactly.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dynan.errors import SystemError_
from dynan.report.drive_sweep import DriveSweep, drive_sweep
from dynan.report.lyapunov_figures import plot_drive_sweep
from dynan_models import build
from dynan_models.activation import gamma, gamma_dx

F64 = torch.float64
N, B, T, TRANSIENT = 5, 3, 50, 20
XI = [0.0, 1.0, 3.0]


def _identical(arch: str, c: float, **controller):
    kwargs = {"controller_size": 3} if arch == "arun" else {}
    torch.manual_seed(4)
    net = build(arch, input_size=1, hidden_size=N, output_size=2, **kwargs).double()
    with torch.no_grad():
        net.input_weight.fill_(0.8)
        net.bias.fill_(0.1)
        net.recurrent_weight.fill_(c / N)
        if arch == "gamma-heterogeneous":  # one (n, s) for all neurons
            net.n.fill_(3.0)
            net.s.fill_(0.4)
        for name, value in controller.items():
            getattr(net.controller, name).copy_(torch.as_tensor(value))
    return net


def _inputs():
    return torch.rand(B, T, 1, generator=torch.Generator().manual_seed(5), dtype=F64)


def _closed_form(net, x, xi, phi, dphi) -> np.ndarray:
    """Per-sequence log c + mean_{t ≥ TRANSIENT} log |φ'(a_t)|, h_t = φ(a_t) from h_0 = 0."""
    c = float(net.recurrent_weight.detach()[0, 0]) * N
    logs = []
    with torch.no_grad():
        inp = net.input_projection(x) + xi
        h = torch.zeros(B, N, dtype=F64)
        for t in range(T):
            a = inp[:, t] + h @ net.recurrent_weight.T
            logs.append(dphi(a, t)[:, 0].abs().log())
            h = phi(a, t)
    return math.log(c) + torch.stack(logs[TRANSIENT:], 1).mean(1).numpy()


def _shape_trajectories(net, x, xi):
    with torch.no_grad():
        out = net(x, torch.full((B, T, N), xi, dtype=F64), return_trajectories=True)
    return out.n, out.s


def test_arun_adaptive_and_fixed_match_the_closed_form():
    # strong read-outs: s and n follow the drive, so adapting changes λ₁
    net = _identical("arun", 0.9, s_weight=[3.0, -2.0, 1.0], n_weight=[2.0, 1.0, -1.0])
    x = _inputs()
    sweep = drive_sweep(net, x, amplitudes=XI, transient=TRANSIENT)
    assert sweep.conditions == ("joint", "adaptive", "fixed")
    assert sweep.modes == ("joint", "frozen", "frozen")
    n0, s0 = _shape_trajectories(net, x, 0.0)
    for j, xi in enumerate(XI):
        for condition, (n, s) in (
            ("adaptive", _shape_trajectories(net, x, xi)),
            ("fixed", (n0, s0)),
        ):
            expected = _closed_form(
                net,
                x,
                xi,
                lambda a, t, n=n, s=s: gamma(a, n[:, t], s[:, t]),
                lambda a, t, n=n, s=s: gamma_dx(a, n[:, t], s[:, t]),
            )
            got = sweep.trial_lambda1[sweep.condition(condition), j]
            np.testing.assert_allclose(got, expected, rtol=0, atol=1e-10)
    adaptive, fixed = sweep.lambda1[1], sweep.lambda1[2]
    assert adaptive[0] == pytest.approx(fixed[0], abs=1e-10)  # ξ = 0: the same n_t, s_t
    assert abs(adaptive[2] - fixed[2]) > 0.05  # ξ = 3: the controllers' response matters
    np.testing.assert_allclose(sweep.lambda1, sweep.trial_lambda1.mean(2))
    assert np.all(sweep.ci_low <= sweep.lambda1) and np.all(sweep.lambda1 <= sweep.ci_high)


def test_joint_equals_frozen_when_the_controller_is_constant():
    # w_n = w_s = 0: n, s are the read-out biases; u_g = 0 and a contracting W_g decouple g
    net = _identical("arun", 0.9, n_weight=[0.0] * 3, s_weight=[0.0] * 3, input_weight=[0.0] * 3)
    with torch.no_grad():
        net.controller.recurrent_weight.mul_(0.05)
        net.controller.s_bias.fill_(0.3)
    x = _inputs()
    sweep = drive_sweep(net, x, amplitudes=XI, transient=TRANSIENT)
    n, s = float(net.controller.n_bias.detach()), 0.3
    for j, xi in enumerate(XI):
        expected = _closed_form(
            net, x, xi, lambda a, t: gamma(a, n, s), lambda a, t: gamma_dx(a, n, s)
        )
        # joint: the start's controller components of the tangent decay at the controller's
        # own rate during the tangent transient (10 steps: gone to 1e-16; 5 steps: ~1e-7)
        for row in range(3):
            np.testing.assert_allclose(sweep.trial_lambda1[row, j], expected, rtol=0, atol=1e-10)


@pytest.mark.parametrize("arch", ["relu", "softplus", "gamma-heterogeneous"])
def test_static_networks_match_the_closed_form(arch):
    net = _identical(arch, 0.6)
    x = _inputs()
    sweep = drive_sweep(net, x, amplitudes=XI, transient=TRANSIENT)
    assert sweep.conditions == ("static",) and sweep.modes == ("joint",)
    for j, xi in enumerate(XI):
        expected = _closed_form(
            net, x, xi, lambda a, t: net.activation(a), lambda a, t: net.activation_derivative(a)
        )
        np.testing.assert_allclose(sweep.trial_lambda1[0, j], expected, rtol=0, atol=1e-10)
    if arch == "relu":  # a > 0 throughout: the linear map, λ₁ = log c whatever the drive
        np.testing.assert_allclose(sweep.lambda1[0], math.log(0.6), rtol=0, atol=1e-12)


def test_gated_network_runs_its_whole_state():
    net = build("lstm", input_size=1, hidden_size=N, output_size=2)
    sweep = drive_sweep(net, _inputs(), amplitudes=[0.0, 2.0], transient=TRANSIENT, seed=3)
    assert sweep.conditions == ("static",) and sweep.lambda1.shape == (1, 2)
    assert np.isfinite(sweep.lambda1).all() and sweep.seed == 3


def test_result_json_round_trip_and_condition_lookup():
    net = build("arun", input_size=1, hidden_size=N, output_size=2, controller_size=3)
    sweep = drive_sweep(net, _inputs(), amplitudes=[0.0, 1.0], transient=TRANSIENT)
    back = DriveSweep.from_json(sweep.to_json())
    assert back.conditions == sweep.conditions and back.modes == sweep.modes
    for name in ("amplitudes", "lambda1", "ci_low", "ci_high", "trial_lambda1"):
        np.testing.assert_array_equal(getattr(back, name), getattr(sweep, name))
    assert (back.trials, back.transient, back.n_steps) == (B, TRANSIENT, T - TRANSIENT)
    assert back.condition("fixed") == 2
    with pytest.raises(ValueError, match="no condition 'static'"):
        back.condition("static")


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"amplitudes": []}, ValueError, "non-empty list of finite numbers"),
        ({"amplitudes": [0.0, math.nan]}, ValueError, "non-empty list of finite numbers"),
        ({"transient": T}, SystemError_, r"transient must be in \[0, 50\)"),
        ({"x": torch.zeros(B, T, 2)}, ValueError, r"expects inputs \(batch, time, 1\)"),
    ],
)
def test_bad_arguments_raise(options, error, message):
    net = build("relu", input_size=1, hidden_size=N, output_size=2)
    arguments = {"x": _inputs(), "amplitudes": XI, "transient": TRANSIENT} | options
    with pytest.raises(error, match=message):
        drive_sweep(net, **arguments)
    with pytest.raises(SystemError_, match="expects a dynan_models network"):
        drive_sweep(torch.nn.GRU(1, N), _inputs(), amplitudes=XI, transient=TRANSIENT)


def test_plot_draws_one_line_per_network_and_condition():
    import matplotlib.pyplot as plt

    x = _inputs()
    arun = build("arun", input_size=1, hidden_size=N, output_size=2, controller_size=3)
    relu = build("relu", input_size=1, hidden_size=N, output_size=2)
    sweeps = [drive_sweep(net, x, amplitudes=XI, transient=TRANSIENT) for net in (arun, relu)]
    ax = plot_drive_sweep(sweeps)
    lines = [line for line in ax.get_lines() if line.get_label()[0] != "_"]
    assert [line.get_label() for line in lines] == [
        "arun (joint)", "arun (adaptive)", "arun (fixed)", "relu",
    ]  # fmt: skip
    assert [line.get_linestyle() for line in lines] == [":", "-", "--", "-"]
    np.testing.assert_allclose(lines[2].get_ydata(), sweeps[0].lambda1[2])
    _, other = plt.subplots()
    only = plot_drive_sweep(sweeps[0], other, conditions=["adaptive"])
    assert only is other and len([ln for ln in other.get_lines() if ln.get_marker() == "o"]) == 1
    plt.close("all")
