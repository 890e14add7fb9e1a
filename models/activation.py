"""The adaptive activation family γ(x; n, s) of Geadah et al. and its derivatives.

    γ(x; n, s) = (1 − s) · softplus_n(x) + s · σ(n x),   softplus_n(x) = log(1 + e^{n x}) / n

s = 0, n = 1 is softplus; s = 0, n → ∞ is ReLU; s = 1 is a sigmoid of gain n.

References
----------
Geadah, Horoi, Kerg, Wolf, Lajoie (2024). Neural networks with optimized single-neuron
adaptation uncover biologically plausible regularization. PLOS Comp. Biol.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

__all__ = ["gamma", "gamma_dn", "gamma_ds", "gamma_dx", "softplus_n"]


def softplus_n(x: Tensor, n: Tensor | float) -> Tensor:
    """Softplus of gain ``n``: log(1 + exp(n x)) / n, stable for any ``n x``.

    Uses ``F.softplus(n x) / n`` which switches to the identity for large ``n x``
    (no overflow) and to ``exp`` for very negative ``n x`` (no underflow to a wrong 0·∞).
    Cost: O(numel) time and memory.
    """
    n = torch.as_tensor(n, dtype=x.dtype, device=x.device)
    return F.softplus(n * x, beta=1.0, threshold=20.0) / n


def gamma(x: Tensor, n: Tensor | float, s: Tensor | float) -> Tensor:
    """γ(x; n, s) = (1 − s) softplus_n(x) + s σ(n x), broadcasting ``x``, ``n``, ``s``.

    Examples
    --------
    >>> import torch
    >>> from models.activation import gamma
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
