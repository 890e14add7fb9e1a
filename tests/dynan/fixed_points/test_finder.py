"""find_fixed_points against known answers: tanh networks, linear maps, slow points, bad calls."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
from scipy.optimize import brentq

import dynan
from dynan.errors import SystemError_
from dynan.fixed_points import Connections, FixedPoints, find_fixed_points
from dynan.fixed_points.solvers import _damped_step
from dynan.system import CallableSystem, DynamicalSystem

F64 = torch.float64


def _roll_network(n: int) -> CallableSystem:
    """h' = tanh(W h), W[i, :] = −roll(linspace(−1, 1, n), −i) (REFERENCES.md §3)."""
    base = torch.linspace(-1.0, 1.0, n, dtype=F64)
    weight = -torch.stack([torch.roll(base, -i) for i in range(n)])
    return CallableSystem(lambda h, u: torch.tanh(h @ weight.T), dim=n, name=f"roll-{n}")


def _linear(matrix: np.ndarray, offset: np.ndarray) -> CallableSystem:
    a, b = torch.as_tensor(matrix, dtype=F64), torch.as_tensor(offset, dtype=F64)
    return CallableSystem(lambda x, u: x @ a.T + b, dim=len(offset), name="linear")


# -- known fixed points ----------------------------------------------------------------------
def test_roll_network_n2_exact_points_and_stability():
    fp = find_fixed_points(_roll_network(2))
    root = brentq(lambda x: np.tanh(2 * x) - x, 0.5, 1.5, xtol=1e-15)  # x = tanh(2x)
    assert abs(root - 0.957504) < 1e-6
    assert len(fp) == 3 and len(fp.slow_points) == 0
    assert fp.kinds == ("stable", "stable", "saddle-1")
    assert fp.is_stable.tolist() == [True, True, False]
    assert np.all(fp.q < 1e-28)
    stable = fp.states[:2][np.argsort(fp.states[:2, 0])]
    np.testing.assert_allclose(stable, [[-root, root], [root, -root]], rtol=0, atol=1e-14)
    np.testing.assert_allclose(fp.states[2], [0.0, 0.0], atol=1e-14)
    # J(0) = W: eigenvalues 2 and 0; J(x*) = diag(1 − x*²) W: 2(1 − x*²) and 0
    np.testing.assert_allclose(np.abs(fp.eigenvalues[2]), [2.0, 0.0], atol=1e-14)
    for row in fp.eigenvalues[:2]:
        np.testing.assert_allclose(np.abs(row), [2 * (1 - root**2), 0.0], atol=1e-12)
    unstable = fp.eigenvectors[2, :, 0]
    assert abs(abs(unstable[0]) - np.sqrt(0.5)) < 1e-12 and abs(unstable[0] + unstable[1]) < 1e-12


def test_linear_map_fixed_point_and_eigenvalues():
    rng = np.random.default_rng(1)
    basis = rng.normal(size=(4, 4))
    values = np.array([1.5, -0.8, 0.5, 0.1])
    a = basis @ np.diag(values) @ np.linalg.inv(basis)
    b = rng.normal(size=4)
    expected = np.linalg.solve(np.eye(4) - a, b)
    inits = expected + rng.normal(size=(16, 4))
    fp = find_fixed_points(_linear(a, b), inits=inits)
    assert len(fp) == 1 and fp.kinds == ("saddle-1",)
    np.testing.assert_allclose(fp.states[0], expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fp.eigenvalues[0], values, atol=1e-10)
    v = fp.eigenvectors[0, :, 0].real  # the eigenvector of 1.5
    np.testing.assert_allclose(a @ v, 1.5 * v, atol=1e-10)


def test_linear_rotation_complex_pair_found_from_trajectories():
    theta, r = 0.3, 0.9
    a = r * np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    b = np.array([0.2, -0.1])
    fp = find_fixed_points(_linear(a, b), n_inits=64)
    assert len(fp) == 1 and fp.kinds == ("stable",)
    np.testing.assert_allclose(fp.states[0], np.linalg.solve(np.eye(2) - a, b), atol=1e-13)
    expected = np.sort_complex(r * np.exp([-1j * theta, 1j * theta]))
    np.testing.assert_allclose(np.sort_complex(fp.eigenvalues[0]), expected, atol=1e-12)


def test_three_bistable_units_all_27_points_with_kinds():
    """h' = tanh(2h) per unit: each coordinate in {−x*, 0, x*}; k zeros ⇒ k unstable directions."""
    system = CallableSystem(lambda h, u: torch.tanh(2 * h), dim=3)
    fp = find_fixed_points(system)
    assert Counter(fp.kinds) == {"stable": 8, "saddle-1": 12, "saddle-2": 6, "unstable": 1}
    root = brentq(lambda x: np.tanh(2 * x) - x, 0.5, 1.5, xtol=1e-15)
    zeros = (np.abs(fp.states) < 1e-12).sum(1)
    np.testing.assert_allclose(np.abs(fp.states)[np.abs(fp.states) > 1e-12], root, atol=1e-13)
    assert zeros.tolist() == fp.n_unstable.tolist()


@pytest.mark.parametrize("method", ["lm", "krylov"])
def test_methods_agree_on_random_tanh_network(method):
    gen = torch.Generator().manual_seed(3)
    weight = 1.5 * torch.randn(12, 12, generator=gen, dtype=F64) / np.sqrt(12)
    system = CallableSystem(lambda h, u: torch.tanh(h @ weight.T), dim=12)
    fp = find_fixed_points(system, method=method, n_inits=128, connect=False)
    ref = find_fixed_points(system, method="lm", n_inits=128, connect=False)
    assert fp.parameters["method"] == method and len(fp) >= 1
    residual = (system.step(torch.as_tensor(fp.states)) - torch.as_tensor(fp.states)).abs()
    assert float(residual.max()) < 1e-13
    ref_points = {tuple(np.round(s, 8)) for s in ref.states}
    assert {tuple(np.round(s, 8)) for s in fp.states} <= ref_points | {(0.0,) * 12}


def test_large_system_uses_matrix_free_path():
    """dim > 1024: Krylov LM and ARPACK; x' = D x + b has x* = b / (1 − D), eigenvalues D."""
    dim = 1030
    diag = torch.full((dim,), 0.1, dtype=F64)
    diag[0], diag[1:16] = 1.5, torch.linspace(0.95, 0.5, 15, dtype=F64)
    b = torch.linspace(-1.0, 1.0, dim, dtype=F64)
    system = CallableSystem(lambda x, u: x * diag + b, dim=dim)
    x_star = (b / (1 - diag)).numpy()
    gen = torch.Generator().manual_seed(0)
    inits = torch.as_tensor(x_star) + 0.1 * torch.randn(4, dim, generator=gen, dtype=F64)
    fp = find_fixed_points(system, inits=inits, connect=False)
    assert fp.parameters["method"] == "krylov" and fp.eigenvalues.shape == (1, 16)
    np.testing.assert_allclose(fp.states[0], x_star, atol=1e-12)
    np.testing.assert_allclose(fp.eigenvalues[0].real, diag[:16].numpy(), atol=1e-10)
    assert fp.kinds == ("saddle-1",)


def test_constant_inputs_each_give_their_point():
    system = CallableSystem(lambda x, u: 0.5 * x + u, dim=1, input_dim=1)
    fp = find_fixed_points(system, inputs=[[-1.0], [0.0], [1e-3]], n_inits=32)
    assert fp.inputs[:, 0].tolist() == [-1.0, 0.0, 1e-3]  # 0 and 1e-3: not merged in (x, u)
    np.testing.assert_allclose(fp.states[:, 0], [-2.0, 0.0, 2e-3], atol=1e-14)
    assert fp.kinds == ("stable",) * 3


# -- slow points -----------------------------------------------------------------------------
def test_slow_points_kept_apart_from_fixed_points():
    """x' = x + dt (x − 1)(x² + c): a fixed point at 1, and a ghost (slow point) near 0 where
    |F(x) − x| has a local minimum dt (1 − x)(x² + c) ≈ dt c, i.e. q ≈ ½ (dt c)² = 5e-9."""
    dt, c = 0.1, 1e-3
    system = CallableSystem(lambda x, u: x + dt * (x - 1) * (x**2 + c), dim=1)
    fp = find_fixed_points(system, inits=np.linspace(-0.5, 1.5, 41)[:, None])
    assert fp.kinds == ("unstable",)
    np.testing.assert_allclose(fp.states[:, 0], [1.0], atol=1e-15)
    np.testing.assert_allclose(fp.eigenvalues[0], [1 + dt * (1 + c)], atol=1e-12)
    slow = fp.slow_points
    assert len(slow) >= 1 and slow.slow_points is None
    ghost = (2 - np.sqrt(4 - 12 * c)) / 6  # where (x − 1)(x² + c) has zero slope
    assert np.all(np.abs(slow.states[:, 0] - ghost) < 0.02)
    assert np.all((slow.q > 4e-9) & (slow.q < 7e-9))
    assert np.all(fp.q < 1e-12) and np.all(slow.q >= 1e-12)
    # no attractor: the unstable point's orbits leave for ever, so the skeleton has no edge
    assert fp.summary() == (
        f"1 fixed point (1 unstable), max q {fp.q.max():.1e}, "
        f"{len(slow)} slow point{'' if len(slow) == 1 else 's'}, "
        "0 saddle→attractor connections"
    )


# -- the damping schedule ----------------------------------------------------------------------
def test_damping_kept_after_a_retry_divided_after_a_first_try_success():
    """F(x) = 2x (r = x, q = ½x²) with N = 1 and a tenfold gradient g = −10x: the step
    y = −10x/(1 + μ) lowers q iff 10/(1 + μ) < 2, i.e. μ > 4. From x = 1: μ = 1 fails and 10
    succeeds (x = 1/11, μ stays 10); μ = 10 succeeds at once (μ → 1); μ = 1e-3 fails for
    1e-3 … 1 (four tries) and comes back as 1e-3 · 10⁴ = 10 with x unchanged."""
    system = CallableSystem(lambda x, u: 2 * x, dim=1)
    x = torch.ones(3, 1, dtype=F64)
    q = 0.5 * x[:, 0] ** 2
    mu = torch.tensor([1.0, 10.0, 1e-3], dtype=F64)
    normal, rhs = torch.ones(3, 1, 1, dtype=F64), -10 * x
    new, q_new, mu_new, ok = _damped_step(system, x, None, q, mu, normal, rhs, lambda y, s: y)
    assert ok.tolist() == [True, True, False]
    np.testing.assert_allclose(new[:, 0], [1 / 11, 1 / 11, 1.0], rtol=1e-14)
    np.testing.assert_allclose(q_new, [0.5 / 121, 0.5 / 121, 0.5], rtol=1e-14)
    np.testing.assert_allclose(mu_new, [10.0, 1.0, 10.0], rtol=1e-12)


# -- result record -----------------------------------------------------------------------------
def test_result_json_round_trip(tmp_path):
    fp = find_fixed_points(CallableSystem(lambda h, u: torch.tanh(2 * h), dim=2), n_inits=64)
    path = tmp_path / "fp.json"
    fp.to_json(path)
    back = FixedPoints.from_json(path)
    assert isinstance(back.connections, Connections) and isinstance(back.slow_points, FixedPoints)
    for name in ("states", "inputs", "q", "eigenvalues", "eigenvectors"):
        np.testing.assert_array_equal(getattr(back, name), getattr(fp, name))
    assert back.eigenvalues.dtype == complex and back.kinds == fp.kinds
    assert back.parameters == fp.parameters and back.scale == fp.scale
    assert sorted(back.graph().edges) == sorted(fp.graph().edges)
    np.testing.assert_array_equal(back.connections.target, fp.connections.target)


def test_public_api_and_select():
    fp = dynan.find_fixed_points(_roll_network(2), n_inits=64)
    stable = fp.select(fp.is_stable)
    assert len(stable) == 2 and stable.connections is None and stable.kinds == ("stable",) * 2


# -- bad calls ---------------------------------------------------------------------------------
class _NoStep(DynamicalSystem):
    dim = 2


def _numpy_step(x, u):
    return torch.as_tensor(np.tanh(x.detach().numpy()))


def _no_jacobian(x, u):
    raise NotImplementedError("no closed form")


HALF = CallableSystem(lambda x, u: 0.5 * x, dim=2, name="half")
DRIVEN = CallableSystem(lambda x, u: 0.5 * x + u, dim=2, input_dim=2, name="driven")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: find_fixed_points(CallableSystem(_numpy_step, dim=2)), "no usable step Jacobian"),
        (
            lambda: find_fixed_points(
                CallableSystem(lambda x, u: 0.5 * x, dim=2, jacobian=_no_jacobian)
            ),
            "no usable step Jacobian",
        ),
        (lambda: find_fixed_points(_NoStep()), "no usable step Jacobian"),
        (lambda: find_fixed_points(lambda x, u: x), "needs a DynamicalSystem"),
        (lambda: find_fixed_points(HALF, inits=[[np.nan, 0.0]]), "inits contains NaN or inf"),
        (lambda: find_fixed_points(HALF, inits=np.zeros((3, 3))), r"inits must have shape"),
        (lambda: find_fixed_points(HALF, inputs=[1.0]), "takes no input"),
        (lambda: find_fixed_points(DRIVEN, inputs=[1.0, 2.0, 3.0]), r"\(2,\) or \(M, 2\)"),
        (lambda: find_fixed_points(DRIVEN, inputs=np.zeros((2, 2, 2))), r"got \(2, 2, 2\)"),
        (lambda: find_fixed_points(DRIVEN, inputs=[1.0, np.inf]), "inputs contain NaN"),
        (lambda: find_fixed_points(_linear(2 * np.eye(2), np.ones(2))), "diverge"),
    ],
)
def test_bad_calls_raise_clear_system_errors(call, message):
    with pytest.raises(SystemError_, match=message):
        call()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"method": "newton"}, "valid names: auto, lm, krylov, adam"),
        ({"n_inits": 0}, "n_inits must be a positive integer"),
        ({"tol_q": -1.0}, "tol_q must be a non-negative finite number"),
        ({"tol_unique": 0.0}, "tol_unique must be positive"),
        ({"tol_q": 1e-6, "tol_slow": 1e-9}, "tol_slow"),
        ({"noise": float("nan")}, "noise must be"),
    ],
)
def test_bad_options_raise_value_errors(options, message):
    with pytest.raises(ValueError, match=message):
        find_fixed_points(HALF, **options)
