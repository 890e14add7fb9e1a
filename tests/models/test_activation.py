"""γ(x; n, s) and its derivatives against their analytic values (REFERENCES.md §1)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn import functional as F

from dynan_models.activation import gamma, gamma_dn, gamma_ds, gamma_dx, softplus_n

DTYPES = [torch.float32, torch.float64]
LOG2 = math.log(2.0)


def _random_args(size: int = 64, *, dtype=torch.float64):
    """x ∈ (−4, 4), n ∈ (0.2, 8), s ∈ [0, 1], leaf tensors requiring grad."""
    gen = torch.Generator().manual_seed(1)
    x = 8 * torch.rand(size, generator=gen, dtype=dtype) - 4
    n = 0.2 + 7.8 * torch.rand(size, generator=gen, dtype=dtype)
    s = torch.rand(size, generator=gen, dtype=dtype)
    return x.requires_grad_(), n.requires_grad_(), s.requires_grad_()


# -- limits of the family --------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_gamma_softplus_limit_equals_torch_softplus(dtype):
    # torch's softplus returns z itself above z = 20, a relative error up to e^{−20}/20 ≈ 1e-10
    x = torch.linspace(-30, 30, 2001, dtype=dtype)
    torch.testing.assert_close(gamma(x, 1.0, 0.0), F.softplus(x), rtol=2e-10, atol=0)


def test_softplus_n_float64_matches_logaddexp_to_rounding():
    # log(1 + e^z) = logaddexp(0, z), which numpy computes to within an ulp or two; a fixed
    # switch to the identity at z = 20 (float32's threshold) would be off by up to 1e-10.
    for n in (0.5, 1.0, 3.0):
        x = np.linspace(-60.0, 60.0, 24001) / n
        reference = np.logaddexp(0.0, n * x) / n
        got = softplus_n(torch.from_numpy(x), n).numpy()
        np.testing.assert_allclose(got, reference, rtol=4e-16, atol=0)


@pytest.mark.parametrize("n", [10.0, 1e2, 1e3, 1e4])
def test_gamma_relu_limit_error_bound(n):
    # softplus_n(x) − relu(x) = log(1 + e^{−n|x|})/n ∈ (0, log2/n], equal to log2/n at x = 0.
    x = torch.linspace(-3, 3, 6001, dtype=torch.float64)
    err = gamma(x, n, 0.0) - torch.relu(x)
    assert (err >= -4e-16 * x.abs()).all()  # positive up to the rounding of (n x)/n
    assert err.max().item() <= LOG2 / n * (1 + 1e-12)
    assert gamma(torch.zeros((), dtype=torch.float64), n, 0.0).item() == pytest.approx(
        LOG2 / n, rel=1e-15
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [0.3, 1.0, 7.0, 200.0])
def test_gamma_sigmoid_limit(dtype, n):
    x = torch.linspace(-5, 5, 1001, dtype=dtype)
    torch.testing.assert_close(gamma(x, n, 1.0), torch.sigmoid(n * x), rtol=0, atol=0)


@pytest.mark.parametrize("n", [1.0, 4.0, 50.0])
@pytest.mark.parametrize("s", [0.0, 0.3, 1.0])
def test_gamma_known_values_at_zero(n, s):
    # σ(0) = 1/2, softplus_n(0) = log2/n.
    zero = torch.zeros((), dtype=torch.float64)
    assert gamma(zero, n, s).item() == pytest.approx((1 - s) * LOG2 / n + s / 2, rel=1e-15)
    assert gamma_dx(zero, n, s).item() == pytest.approx((1 - s) / 2 + s * n / 4, rel=1e-15)
    assert gamma_ds(zero, n, s).item() == pytest.approx(0.5 - LOG2 / n, rel=1e-14)
    assert gamma_dn(zero, n, s).item() == pytest.approx(-(1 - s) * LOG2 / n**2, rel=1e-14)


def test_gamma_broadcasts_per_neuron_parameters():
    x = torch.randn(3, 5, dtype=torch.float64)
    n = torch.linspace(0.5, 6, 5, dtype=torch.float64)
    s = torch.linspace(0, 1, 5, dtype=torch.float64)
    out = gamma(x, n, s)
    assert out.shape == (3, 5)
    for i in range(5):
        torch.testing.assert_close(out[:, i], gamma(x[:, i], n[i].item(), s[i].item()))


# -- numerical stability ---------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1.0, 1e2, 1e4])
def test_gamma_stable_for_large_nx(dtype, n):
    # |n x| = 1e4 overflows a naive exp(n x); the limits are x (softplus), 0 and 1 (sigmoid).
    x = torch.tensor([-1e4 / n, 1e4 / n], dtype=dtype)
    big = x[1].item()
    for fn in (gamma, gamma_dx, gamma_dn, gamma_ds):
        for s in (0.0, 0.5, 1.0):
            assert torch.isfinite(fn(x, n, s)).all(), (fn.__name__, s)
    torch.testing.assert_close(gamma(x, n, 0.0), torch.tensor([0.0, big], dtype=dtype))
    torch.testing.assert_close(gamma(x, n, 1.0), torch.tensor([0.0, 1.0], dtype=dtype))
    torch.testing.assert_close(gamma(x, n, 0.5), torch.tensor([0.0, big / 2 + 0.5], dtype=dtype))
    torch.testing.assert_close(gamma_dx(x, n, 0.0), torch.tensor([0.0, 1.0], dtype=dtype))
    torch.testing.assert_close(gamma_dx(x, n, 1.0), torch.tensor([0.0, 0.0], dtype=dtype))
    torch.testing.assert_close(gamma_ds(x, n, 0.3), torch.tensor([0.0, 1.0 - big], dtype=dtype))
    torch.testing.assert_close(gamma_dn(x, n, 0.3), torch.tensor([0.0, 0.0], dtype=dtype))
    # autograd through γ (used for Jacobians) is finite there too, and equals the limits
    xg, ng, sg = (torch.as_tensor(v, dtype=dtype).requires_grad_() for v in (x, n, 0.3))
    grads = torch.autograd.grad(gamma(xg, ng, sg).sum(), (xg, ng, sg))
    assert all(torch.isfinite(g).all() for g in grads)
    torch.testing.assert_close(grads[0], torch.tensor([0.0, 0.7], dtype=dtype))


# -- derivatives -----------------------------------------------------------------------------


def test_gamma_gradcheck_float64():
    x, n, s = _random_args(32)
    assert torch.autograd.gradcheck(gamma, (x, n, s))
    assert torch.autograd.gradgradcheck(gamma, (x, n, s))


@pytest.mark.parametrize(
    ("which", "fn"), [(0, gamma_dx), (1, gamma_dn), (2, gamma_ds)], ids=["dx", "dn", "ds"]
)
def test_analytic_derivative_equals_autograd(which, fn):
    x, n, s = _random_args(256)
    (grad,) = torch.autograd.grad(gamma(x, n, s).sum(), (x, n, s)[which])
    torch.testing.assert_close(fn(x, n, s), grad, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("fn", [gamma_dx, gamma_dn, gamma_ds], ids=["dx", "dn", "ds"])
def test_analytic_derivatives_are_differentiable(fn):
    # the derivative formulas are used inside Jacobians; their own gradients must be sound
    x, n, s = _random_args(16)
    assert torch.autograd.gradcheck(fn, (x, n, s))


@settings(max_examples=60, deadline=None)
@given(
    x=st.floats(-50, 50),
    n=st.floats(0.05, 200),
    s=st.floats(0, 1),
)
def test_gamma_derivatives_property(x, n, s):
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    nt = torch.tensor(n, dtype=torch.float64, requires_grad=True)
    st_ = torch.tensor(s, dtype=torch.float64, requires_grad=True)
    value = gamma(xt, nt, st_)
    gx, gn, gs = torch.autograd.grad(value, (xt, nt, st_))
    for analytic, auto in ((gamma_dx, gx), (gamma_dn, gn), (gamma_ds, gs)):
        got = analytic(xt, nt, st_).item()
        assert got == pytest.approx(auto.item(), rel=1e-9, abs=1e-12)
    # γ is a convex mix of two non-decreasing functions: non-negative slope, bounded below by 0
    assert gx.item() >= 0
    assert value.item() >= 0
