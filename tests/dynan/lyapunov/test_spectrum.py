"""dynan.lyapunov: the QR method against known spectra (REFERENCES.md §2) and exact identities."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

import dynan
from dynan.adapters.network import network_system
from dynan.errors import SystemError_
from dynan.lyapunov import (
    FiniteTimeLyapunov,
    LyapunovSpectrum,
    finite_time_lyapunov,
    kaplan_yorke_dimension,
    lyapunov_spectrum,
    network_finite_time_lyapunov,
    network_lyapunov,
)
from dynan.lyapunov._benettin import orthonormalize
from dynan.system import CallableSystem, DynamicalSystem
from dynan.systems import henon, logistic, lorenz, random_rnn
from dynan_models import build

F64 = torch.float64
LORENZ = (0.9056, 0.0, -14.5723)  # Sprott (2003), per unit time
LORENZ_SUM = -(10 + 1 + 8 / 3)
HENON_LAMBDA1 = 0.41922  # Sprott (2003)


def _run(system, **options):
    options.setdefault("progress", False)
    return lyapunov_spectrum(system, **options)


class _Recording(DynamicalSystem):
    """Wraps a system and keeps every pre-step state and input the algorithm visits."""

    def __init__(self, inner: DynamicalSystem):
        self.inner, self.seen = inner, []
        self.dim, self.input_dim, self.dt = inner.dim, inner.input_dim, inner.dt
        self.name, self.dtype = inner.name, inner.dtype

    def step(self, x, u=None):
        return self.inner.step(x, u)

    def initial_state(self, batch, *, generator=None):
        return self.inner.initial_state(batch, generator=generator)

    def step_and_jvp(self, x, u, tangents):
        self.seen.append((x, u))
        return self.inner.step_and_jvp(x, u, tangents)


# -- known values ------------------------------------------------------------------------------


def test_logistic_r4_gives_ln2():
    result = _run(logistic(4.0), n_steps=3000, transient=100, trials=8)
    assert result.exponents[0] == pytest.approx(math.log(2), abs=2e-3)
    assert result.units == "nats/step" and result.dt is None
    assert result.entropy_rate == pytest.approx(result.exponents[0])


def test_henon_largest_exponent_and_sum_ln_b():
    result = _run(henon(1.4, 0.3), n_steps=3000, transient=200, trials=32)
    assert result.exponents[0] == pytest.approx(HENON_LAMBDA1, abs=5e-3)
    assert result.exponents.sum() == pytest.approx(math.log(0.3), abs=1e-12)
    assert result.kaplan_yorke == pytest.approx(
        1 + HENON_LAMBDA1 / (HENON_LAMBDA1 - math.log(0.3)), abs=0.01
    )
    assert result.ci_low[0] < result.exponents[0] < result.ci_high[0]


def test_lorenz_spectrum_within_one_percent():
    # 512 trajectories × 20 time units; QR every 5 steps (|λ₃| dt · 5 ≈ 0.7: no loss of rank)
    result = _run(lorenz(), n_steps=2000, transient=1000, trials=512, qr_every=5)
    lam = result.exponents
    assert result.units == "nats/time" and result.dt == 0.01
    assert lam[0] == pytest.approx(LORENZ[0], rel=0.01)
    assert abs(lam[1]) < 0.01 * LORENZ[0]
    assert lam[2] == pytest.approx(LORENZ[2], rel=0.01)
    # the flow's divergence is −(σ+1+β) everywhere; one RK4 step's log det J equals
    # −(σ+1+β) dt up to O(dt⁵) (measured: 1.0e-4 per unit time at dt = 0.01)
    assert lam.sum() == pytest.approx(LORENZ_SUM, abs=2e-4)
    assert result.kaplan_yorke == pytest.approx(2 + LORENZ[0] / -LORENZ[2], abs=0.01)


def test_diagonal_linear_map_gives_log_abs_p():
    p = torch.tensor([2.0, -0.5, 0.1, 1.0], dtype=F64)
    system = CallableSystem(
        lambda x, u: x * p, dim=4, jacobian=lambda x, u: torch.diag(p).expand(len(x), 4, 4)
    )
    expected = np.sort(np.log(np.abs(p.numpy())))[::-1]
    for qr_every in (1, 5):
        result = _run(system, n_steps=100, transient=100, trials=2, qr_every=qr_every)
        np.testing.assert_allclose(result.exponents, expected, atol=1e-10)


def test_orthonormalize_keeps_the_small_diagonal_of_graded_tangents():
    # V = diag(d) W Q₀ with d over 30 decades in shuffled rows (saturated units): |det V| = Π d;
    # unsorted Householder QR misses log |det V| by ~4 here
    gen = torch.Generator().manual_seed(0)
    d = torch.logspace(-30, 0, 6, dtype=F64)[torch.randperm(6, generator=gen)]
    w, q0 = torch.linalg.qr(torch.randn(2, 6, 6, generator=gen, dtype=F64))[0]
    v = (d[:, None] * w @ q0).expand(3, 6, 6)
    q, log_r = orthonormalize(v)
    assert log_r.sum(1).tolist() == pytest.approx([float(d.log().sum())] * 3, abs=1e-10)
    assert torch.allclose(q.mT @ q, torch.eye(6, dtype=F64), atol=1e-14)
    r = q.mT @ v  # upper triangular with |diag| = exp(log_r)
    assert torch.allclose(r.tril(-1), torch.zeros(6, 6, dtype=F64), atol=1e-15)
    assert torch.allclose(r.diagonal(dim1=-2, dim2=-1).abs().log(), log_r, atol=1e-10)


def test_contracting_random_rnn_gives_log_abs_eigenvalues():
    system = random_rnn(10, 0.5, seed=4)
    expected = np.sort(np.log(np.abs(np.linalg.eigvals(system.weight.numpy()))))[::-1]
    result = _run(system, n_steps=2000, transient=300, trials=2)
    np.testing.assert_allclose(result.exponents, expected, atol=5e-3)


def _torch_module(kind):
    torch.manual_seed(11)
    module = getattr(torch.nn, kind)(2, 4).double()
    with torch.no_grad():
        module.weight_hh_l0.mul_(3.0)
    system = dynan.as_system(module)
    return system, torch.randn(3, 350, 2, dtype=F64)


def _zoo_network(arch, mode):
    torch.manual_seed(12)
    kwargs = {"controller_size": 3} if arch == "arun" else {}
    net = build(arch, input_size=2, hidden_size=4, output_size=2, **kwargs)
    system = network_system(net, mode=mode)
    return system, system.inputs(torch.randn(3, 350, 2, dtype=F64))


MAPS = {
    "henon": lambda: (henon(), None),
    "logistic": lambda: (logistic(), None),
    "lorenz": lambda: (lorenz(), None),
    "random_rnn": lambda: (random_rnn(8, 2.0, seed=1), None),
    **{f"torch-{kind}": lambda kind=kind: _torch_module(kind) for kind in ("RNN", "GRU", "LSTM")},
    **{
        f"{arch}-{mode}": lambda arch=arch, mode=mode: _zoo_network(arch, mode)
        for arch, mode in [
            ("softplus", "joint"),
            ("gamma-heterogeneous", "frozen"),
            ("arun", "frozen"),
            ("arun", "joint"),
            ("gru", "joint"),
            ("lstm", "joint"),
        ]
    },
}


@pytest.mark.parametrize("name", list(MAPS))
def test_full_spectrum_sum_equals_mean_log_det(name):
    inner, inputs = MAPS[name]()
    system = _Recording(inner)
    result = _run(system, n_steps=300, transient=50, tangent_transient=20, trials=3, inputs=inputs)
    assert result.complete
    xs, us = zip(*system.seen[-300:], strict=True)
    x = torch.stack(xs, 1).reshape(-1, system.dim)  # (trials · steps, dim), trial-major
    u = None if inputs is None else torch.stack(us, 1).reshape(len(x), -1)
    log_det = torch.linalg.slogdet(inner.jacobian(x, u))[1].reshape(3, 300).mean(1).numpy()
    assert np.isfinite(log_det).all()
    scale = system.dt or 1.0
    np.testing.assert_allclose(result.trial_exponents.sum(1), log_det / scale, atol=1e-9)


def test_driven_map_gives_mean_log_input():
    system = CallableSystem(
        lambda x, u: u * x, dim=1, input_dim=1, jacobian=lambda x, u: u[:, :, None]
    )
    inputs = 0.5 + 1.5 * torch.rand(3, 80, 1, dtype=F64)
    result = _run(system, n_steps=60, transient=20, inputs=inputs)
    expected = inputs[:, 20:, 0].log().mean(1).numpy()
    np.testing.assert_allclose(result.trial_exponents[:, 0], expected, atol=1e-12)
    assert result.trials == 3
    t = stats.t.ppf(0.975, 2) * expected.std(ddof=1) / math.sqrt(3)
    np.testing.assert_allclose(
        [result.ci_low[0], result.ci_high[0]], expected.mean() + np.array([-t, t])
    )


def test_matrix_free_autograd_equals_analytic():
    analytic = random_rnn(12, 2.0, seed=5)
    autograd = CallableSystem(analytic.step, dim=12)
    options = {"n_steps": 200, "transient": 40, "k": 3, "trials": 2, "seed": 9}
    np.testing.assert_allclose(
        _run(autograd, **options).trial_exponents,
        _run(analytic, **options).trial_exponents,
        atol=1e-10,
    )


# -- the result record ------------------------------------------------------------------------


def test_running_estimate_ends_at_the_exponents():
    result = _run(random_rnn(6, 1.5), n_steps=450, transient=20, trials=2, qr_every=3)
    assert result.running.shape == (len(result.running_steps), 2, 6)
    assert result.running_steps[-1] == 450 and np.all(np.diff(result.running_steps) > 0)
    np.testing.assert_allclose(result.running[-1], result.trial_exponents)


def test_result_json_round_trip(tmp_path):
    result = _run(henon(), n_steps=100, transient=10, trials=2)
    path = tmp_path / "spectrum.json"
    result.to_json(path)
    back = LyapunovSpectrum.from_json(path)
    for name in ("exponents", "trial_exponents", "ci_low", "ci_high", "running"):
        np.testing.assert_array_equal(getattr(back, name), getattr(result, name))
    assert back.running_steps.dtype == np.int64
    assert (back.k, back.dim, back.system, back.dt, back.units) == (
        2,
        2,
        result.system,
        None,
        "nats/step",
    )
    assert back.kaplan_yorke == result.kaplan_yorke


def test_single_trial_has_nan_confidence_interval():
    result = _run(logistic(), n_steps=50, transient=10)
    assert result.trials == 1 and np.isnan(result.ci_low).all() and np.isnan(result.ci_high).all()


# -- Kaplan–Yorke ------------------------------------------------------------------------------


def test_kaplan_yorke_of_known_spectra():
    assert kaplan_yorke_dimension(LORENZ) == pytest.approx(2 + 0.9056 / 14.5723)
    assert kaplan_yorke_dimension([-1.62319, 0.41922]) == pytest.approx(1 + 0.41922 / 1.62319)
    assert kaplan_yorke_dimension([-0.1, -0.5]) == 0.0
    assert kaplan_yorke_dimension([0.5, 0.2]) == 2.0
    assert math.isnan(kaplan_yorke_dimension([0.5, 0.2], complete=False))
    assert kaplan_yorke_dimension([0.3, -math.inf]) == 1.0
    with pytest.raises(ValueError, match="NaN"):
        kaplan_yorke_dimension([0.1, math.nan])


# -- errors ------------------------------------------------------------------------------------


def test_nan_start_raises():
    with pytest.raises(SystemError_, match="h0 contains NaN"):
        _run(henon(), n_steps=10, transient=0, h0=torch.tensor([math.nan, 0.0]))


@pytest.mark.parametrize("transient", [0, 1500])
def test_overflow_names_the_step(transient):
    # x_t = 2^t overflows float64 exactly at t = 1024
    system = CallableSystem(
        lambda x, u: 2 * x, dim=1, jacobian=lambda x, u: torch.full((len(x), 1, 1), 2.0, dtype=F64)
    )
    with pytest.raises(SystemError_, match=r"non-finite .* at step 1024$"):
        _run(system, n_steps=2000, transient=transient, h0=torch.ones(1, 1, dtype=F64))


def test_nan_jacobian_names_the_step():
    system = CallableSystem(
        lambda x, u: 0.5 * x,
        dim=2,
        jacobian=lambda x, u: torch.full((len(x), 2, 2), math.nan, dtype=F64),
    )
    with pytest.raises(SystemError_, match="tangent vectors became non-finite at step 6"):
        _run(system, n_steps=10, transient=5, tangent_transient=0)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"k": 3}, "k=3 exceeds the state dimension 2"),
        ({"k": 0}, "k must be an integer >= 1"),
        ({"n_steps": 0}, "n_steps must be an integer >= 1"),
        ({"transient": -1}, "transient must be an integer >= 0"),
        ({"tangent_transient": 20}, r"tangent_transient \(20\) cannot exceed transient \(10\)"),
        ({"inputs": torch.zeros(1, 30, 1)}, "autonomous"),
        ({"h0": torch.zeros(3)}, r"h0 must have shape \(batch, 2\)"),
        ({"h0": torch.zeros(3, 2), "trials": 2}, "h0 has 3 states but trials=2"),
        ({"confidence": 1.5}, "confidence must lie in"),
        ({"dt": -1.0}, "dt must be a positive finite number"),
        ({"qr_every": 0}, "qr_every must be an integer >= 1"),
    ],
)
def test_bad_arguments_raise(options, message):
    arguments = {"n_steps": 20, "transient": 10, "progress": False} | options
    with pytest.raises(SystemError_, match=message):
        lyapunov_spectrum(henon(), **arguments)


def test_short_or_mismatched_inputs_raise():
    system = CallableSystem(lambda x, u: u * x, dim=1, input_dim=1)
    with pytest.raises(SystemError_, match=r"inputs must have shape \(batch, >= 30, 1\)"):
        _run(system, n_steps=20, transient=10, inputs=torch.ones(2, 25, 1))
    with pytest.raises(SystemError_, match="inputs has 2 sequences but trials=3"):
        _run(system, n_steps=20, transient=10, inputs=torch.ones(2, 30, 1), trials=3)


# -- networks and torch modules ---------------------------------------------------------------


def test_frozen_and_joint_agree_when_the_controller_is_constant():
    """ARUN with w_n = w_s = 0: n, s are constant, h no longer depends on g."""
    torch.manual_seed(3)
    net = build("arun", input_size=1, hidden_size=6, output_size=2, controller_size=4).double()
    with torch.no_grad():
        net.controller.n_weight.zero_()
        net.controller.s_weight.zero_()
        net.controller.recurrent_weight.mul_(0.02)  # controller exponents ≲ log 0.02
        net.controller.input_weight.mul_(0.02)
        net.recurrent_weight.mul_(3.0)
        net.bias.normal_()
    ctrl = net.controller
    frozen = network_system(net, mode="frozen", n=ctrl.n_bias.item(), s=ctrl.s_bias.item())
    joint = network_system(net, mode="joint")
    h0 = 0.3 * torch.randn(2, 6, dtype=F64)
    g0 = torch.zeros(2, 24, dtype=F64)
    options = {"n_steps": 600, "transient": 200, "k": 3, "seed": 1}
    a = _run(frozen, h0=h0, **options)
    b = _run(joint, h0=torch.cat([h0, g0], 1), **options)
    assert a.exponents[-1] > math.log(0.02) + 1  # the hidden exponents lead the joint spectrum
    # λ₁ and the k-volume growth rate (sum) match tightly; the remaining two exponents form a
    # complex pair whose individual QR columns still oscillate by O(1/n_steps)
    np.testing.assert_allclose(b.trial_exponents[:, 0], a.trial_exponents[:, 0], atol=1e-8)
    np.testing.assert_allclose(b.trial_exponents.sum(1), a.trial_exponents.sum(1), atol=1e-8)
    np.testing.assert_allclose(b.trial_exponents, a.trial_exponents, atol=1e-3)


def _module_step(module):
    size = module.hidden_size

    def step(x, u):
        if isinstance(module, torch.nn.LSTM):
            state = (x[None, :, :size].contiguous(), x[None, :, size:].contiguous())
            return torch.cat(module(u[:, None], state)[1], -1)[0]
        return module(u[:, None], x[None].contiguous())[1][0]

    return step


@pytest.mark.parametrize("kind", ["RNN", "GRU", "LSTM"])
def test_torch_modules_agree_with_autograd_on_the_same_module(kind):
    torch.manual_seed(0)
    module = getattr(torch.nn, kind)(2, 5, batch_first=True).double()
    with torch.no_grad():
        module.weight_hh_l0.mul_(4.0)
    system = dynan.as_system(module)
    reference = CallableSystem(_module_step(module), dim=system.dim, input_dim=2)
    inputs = torch.randn(2, 150, 2, dtype=F64)
    h0 = 0.5 * torch.randn(2, system.dim, dtype=F64)
    options = {"n_steps": 100, "transient": 50, "inputs": inputs, "h0": h0, "seed": 4}
    analytic = _run(system, **options)
    np.testing.assert_allclose(
        analytic.trial_exponents, _run(reference, **options).trial_exponents, atol=1e-9
    )


def test_network_lyapunov_on_an_adaptive_network():
    net = build("arun", input_size=1, hidden_size=8, output_size=3, controller_size=4)
    frozen = network_lyapunov(net, k=4, n_steps=60, transient=20, progress=False)
    joint = network_lyapunov(net, mode="joint", k=50, n_steps=60, transient=20, progress=False)
    assert frozen.exponents.shape == (4,) and frozen.trials == 4
    assert frozen.metadata | {"mode": "frozen"} == frozen.metadata
    assert joint.k == 40 and joint.dim == 40 and joint.metadata["mode"] == "joint"
    digits = torch.rand(3, 64, 1)
    driven = network_lyapunov(
        net, k=2, x=digits, transient=16, drive_amplitude=0.5, progress=False
    )
    assert (driven.trials, driven.n_steps) == (3, 48)
    assert driven.metadata["input"] == "given" and driven.metadata["drive_amplitude"] == 0.5


def test_network_lyapunov_static_network_runs_joint_when_asked_frozen():
    net = build("relu", input_size=1, hidden_size=5, output_size=2)
    result = network_lyapunov(net, k=None, n_steps=30, transient=10, progress=False)
    assert result.k == 5
    assert result.metadata["mode"] == "joint" and result.metadata["requested_mode"] == "frozen"
    with pytest.raises(SystemError_, match="unknown mode 'fast'"):
        network_lyapunov(net, mode="fast")


# -- finite-time exponents ---------------------------------------------------------------------


def _gain_system(dim):
    return CallableSystem(
        lambda x, u: u * x,
        dim=dim,
        input_dim=dim,
        jacobian=lambda x, u: torch.diag_embed(u),
    )


def test_finite_time_windows_switch_at_the_event():
    # gains (0.5, 0.25) before step 37 and (2, 1) from it: windows give the logs exactly
    before = torch.tensor([0.5, 0.25], dtype=F64).expand(2, 37, 2)
    after = torch.tensor([2.0, 1.0], dtype=F64).expand(2, 53, 2)
    result = finite_time_lyapunov(
        _gain_system(2), inputs=torch.cat([before, after], 1), event=37, window=8, k=2,
        progress=False,
    )  # fmt: skip
    # boundaries at 37 + 8j; the first start ≥ the tangent transient (8) is 13, the last end ≤ 90
    assert result.times.tolist() == list(range(-24, 41, 8))
    expected = np.where(result.times[:, None] < 0, np.log([0.5, 0.25]), np.log([2.0, 1.0]))
    np.testing.assert_allclose(result.exponents, expected, atol=1e-12)
    np.testing.assert_allclose(result.centers, result.times + 4)


def test_finite_time_mean_equals_the_spectrum_over_the_same_span():
    system = henon()
    result = finite_time_lyapunov(
        system, n_steps=130, event=50, window=10, k=2, trials=3, tangent_transient=25,
        progress=False,
    )  # fmt: skip
    first = 50 + int(result.times[0])
    span = len(result.times) * 10
    whole = _run(system, n_steps=span, transient=first, tangent_transient=first, k=2, trials=3)
    np.testing.assert_allclose(result.trial_exponents.mean(1), whole.trial_exponents, atol=1e-12)


def test_finite_time_result_json_round_trip():
    result = finite_time_lyapunov(henon(), n_steps=60, event=30, window=10, progress=False)
    back = FiniteTimeLyapunov.from_json(result.to_json())
    np.testing.assert_array_equal(back.times, result.times)
    np.testing.assert_array_equal(back.trial_exponents, result.trial_exponents)
    assert (back.window, back.event, back.k) == (10, 30, 1)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"window": 7, "qr_every": 2}, r"window \(7\) must be a multiple of qr_every \(2\)"),
        ({"event": 100}, "lies after the last step"),
        ({"window": 45}, "no complete window of 45 steps"),
        ({"n_steps": None}, "give n_steps, or inputs"),
    ],
)
def test_finite_time_bad_arguments_raise(options, message):
    arguments = {"n_steps": 60, "event": 30, "window": 10, "progress": False} | options
    with pytest.raises(SystemError_, match=message):
        finite_time_lyapunov(henon(), **arguments)


def test_network_finite_time_on_a_step_drive():
    net = build("arun", input_size=1, hidden_size=8, output_size=3, controller_size=4)
    result = network_finite_time_lyapunov(
        net, amplitude=2.0, onset=40, offset=70, n_steps=90, window=10, progress=False
    )
    assert result.times.tolist() == [-30, -20, -10, 0, 10, 20, 30, 40]
    assert result.exponents.shape == (8, 1) and result.trials == 4
    assert result.metadata["drive_window"] == [40, 70]
    with pytest.raises(SystemError_, match=r"drive window \[40, 120\) must lie within"):
        network_finite_time_lyapunov(
            net, amplitude=1.0, onset=40, offset=120, n_steps=90, progress=False
        )
