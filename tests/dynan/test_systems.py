"""dynan.systems: closed-form fixed points, exact Jacobians, RK4 order, validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

import dynan
from dynan.errors import SystemError_
from dynan.system import CallableSystem
from dynan.systems import henon, logistic, lorenz, random_rnn

F64 = torch.float64
SYSTEMS = {
    "henon": henon,
    "logistic": logistic,
    "lorenz": lorenz,
    "random_rnn": lambda: random_rnn(6, 1.8, seed=3),
}


def _lorenz_field(_t, s, sigma=10.0, rho=28.0, beta=8.0 / 3.0):
    x, y, z = s
    return [sigma * (y - x), x * (rho - z) - y, x * y - beta * z]


def test_henon_fixed_point_closed_form():
    a, b = 1.4, 0.3
    x = (-(1 - b) + math.sqrt((1 - b) ** 2 + 4 * a)) / (2 * a)
    point = torch.tensor([[x, b * x]], dtype=F64)
    assert torch.allclose(henon(a, b).step(point), point, atol=1e-15)


def test_henon_jacobian_determinant_is_minus_b():
    system = henon(1.4, 0.3)
    x = system.initial_state(5, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(torch.linalg.det(system.jacobian(x)), torch.full((5,), -0.3, dtype=F64))


def test_logistic_fixed_point_and_derivative():
    system = logistic(3.2)
    point = torch.tensor([[1 - 1 / 3.2]], dtype=F64)
    assert torch.allclose(system.step(point), point, atol=1e-15)
    # f'(x*) = 2 − r at the non-trivial fixed point
    assert system.jacobian(point).item() == pytest.approx(2 - 3.2, abs=1e-14)


def test_lorenz_keeps_its_fixed_points():
    beta, rho = 8.0 / 3.0, 28.0
    c = math.sqrt(beta * (rho - 1))
    points = torch.tensor([[0.0, 0.0, 0.0], [c, c, rho - 1], [-c, -c, rho - 1]], dtype=F64)
    assert torch.allclose(lorenz().step(points), points, atol=1e-12)


def test_lorenz_step_is_fourth_order():
    """The local error of one RK4 step against a tight integration falls like dt⁵ (ratio 32)."""
    start = np.array([1.0, 2.0, 20.0])
    errors = []
    for dt in (0.02, 0.01):
        exact = solve_ivp(_lorenz_field, (0, dt), start, rtol=1e-13, atol=1e-13).y[:, -1]
        step = lorenz(dt=dt).step(torch.tensor(start[None], dtype=F64))[0].numpy()
        errors.append(np.abs(step - exact).max())
    assert errors[1] < 1e-6
    assert 25 < errors[0] / errors[1] < 40


@pytest.mark.parametrize("name", SYSTEMS)
def test_jacobian_matches_autograd(name):
    system = SYSTEMS[name]()
    x = system.initial_state(4, generator=torch.Generator().manual_seed(1))
    reference = CallableSystem(system.step, system.dim).jacobian(x)
    assert torch.allclose(system.jacobian(x), reference, atol=1e-12, rtol=1e-12)
    tangents = torch.randn(4, system.dim, 2, dtype=F64)
    step, jv = system.step_and_jvp(x, None, tangents)
    assert torch.equal(step, system.step(x))
    assert torch.allclose(jv, reference @ tangents, atol=1e-12, rtol=1e-12)


def test_random_rnn_weights_are_seeded_with_variance_g2_over_n():
    first, again = random_rnn(400, 1.5, seed=7), random_rnn(400, 1.5, seed=7)
    assert torch.equal(first.weight, again.weight)
    assert not torch.equal(first.weight, random_rnn(400, 1.5, seed=8).weight)
    assert first.weight.std().item() == pytest.approx(1.5 / 20, rel=0.02)


def test_reference_systems_pass_through_as_system():
    system = lorenz()
    assert dynan.as_system(system) is system
    assert system.dt == 0.01 and system.analytic_jacobian


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: henon(a=float("nan")), "a must be finite"),
        (lambda: logistic(r="four"), "r must be a real number"),
        (lambda: lorenz(dt=0.0), "dt must be positive"),
        (lambda: random_rnn(0, 1.0), "n must be a positive integer"),
        (lambda: random_rnn(4, -1.0), "g must be non-negative"),
        (lambda: random_rnn(4, 1.0, seed=1.5), "seed must be an integer"),
    ],
)
def test_bad_parameters_raise(factory, message):
    with pytest.raises(SystemError_, match=message):
        factory()
