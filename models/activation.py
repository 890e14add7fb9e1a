"""The adaptive activation family γ(x; n, s) of Geadah et al. and its derivatives.

    γ(x; n, s) = (1 − s) · softplus_n(x) + s · σ(n x),   softplus_n(x) = log(1 + e^{n x}) / n

s = 0, n = 1 is softplus; s = 0, n → ∞ is ReLU; s = 1 is a sigmoid of gain n.

References
----------
Geadah, Horoi, Kerg, Wolf, Lajoie (2024). Neural networks with optimized single-neuron
adaptation uncover biologically plausible regularization. PLOS Comp. Biol.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.nn import functional as F

__all__ = ["gamma", "gamma_dn", "gamma_ds", "gamma_dx", "softplus_n"]


def _linear_threshold(dtype: torch.dtype) -> float:
    """z above which log(1 + e^z) rounds to z in ``dtype``: e^{−z} ≤ eps/2, z = log(2/eps).

    A fixed threshold of 20 (PyTorch's default) is right for float32 but leaves a relative
    error of e^{−20} ≈ 2e-9 in float64 — and a wrong gradient in n.
    """
    return math.log(2.0 / torch.finfo(dtype).eps)


def softplus_n(x: Tensor, n: Tensor | float) -> Tensor:
    """Softplus of gain ``n``: log(1 + exp(n x)) / n, stable for any ``n x``.

    Uses ``F.softplus(n x) / n``, which is log1p(exp(n x)) (no cancellation for very negative
    ``n x``) and switches to the identity once ``n x`` is so large that log1p(e^{n x}) rounds to
    ``n x`` in the working dtype (no overflow; the threshold depends on the dtype so that
    float64 keeps full precision). Cost: O(numel) time and memory.
    """
    n = torch.as_tensor(n, dtype=x.dtype, device=x.device)
    z = n * x
    return F.softplus(z, beta=1.0, threshold=_linear_threshold(z.dtype)) / n


def gamma(x: Tensor, n: Tensor | float, s: Tensor | float) -> Tensor:
    """γ(x; n, s) = (1 − s) softplus_n(x) + s σ(n x), broadcasting ``x``, ``n``, ``s``.

    Examples
    --------
    >>> import torch
    >>> from dynan_models.activation import gamma
    >>> x = torch.tensor([-1.0, 0.0, 2.0])
    >>> torch.allclose(gamma(x, 1.0, 0.0), torch.nn.functional.softplus(x))
    True
    """
    n = torch.as_tensor(n, dtype=x.dtype, device=x.device)
    s = torch.as_tensor(s, dtype=x.dtype, device=x.device)
    return (1 - s) * softplus_n(x, n) + s * torch.sigmoid(n * x)


def gamma_dx(x: Tensor, n: Tensor | float, s: Tensor | float) -> Tensor:
    """∂γ/∂x = (1 − s) σ(nx) + s n σ(nx)(1 − σ(nx))."""
    n = torch.as_tensor(n, dtype=x.dtype, device=x.device)
    s = torch.as_tensor(s, dtype=x.dtype, device=x.device)
    sig = torch.sigmoid(n * x)
    return (1 - s) * sig + s * n * sig * (1 - sig)


def gamma_ds(x: Tensor, n: Tensor | float, s: Tensor | float) -> Tensor:
    """∂γ/∂s = σ(nx) − softplus_n(x) (independent of s)."""
    n = torch.as_tensor(n, dtype=x.dtype, device=x.device)
    return torch.sigmoid(n * x) - softplus_n(x, n)


def gamma_dn(x: Tensor, n: Tensor | float, s: Tensor | float) -> Tensor:
    """∂γ/∂n = ((1 − s)/n)(x σ(nx) − softplus_n(x)) + s x σ(nx)(1 − σ(nx))."""
    n = torch.as_tensor(n, dtype=x.dtype, device=x.device)
    s = torch.as_tensor(s, dtype=x.dtype, device=x.device)
    sig = torch.sigmoid(n * x)
    return (1 - s) / n * (x * sig - softplus_n(x, n)) + s * x * sig * (1 - sig)
