"""Initialisations used by the networks (REFERENCES.md §1, the paper's public code)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["henaff_orthogonal_", "xavier_normal_vector_"]


def henaff_orthogonal_(weight: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Fill a square matrix in place with exp(A), A skew-symmetric with A[2i, 2i+1] ~ U(−π, 0).

    The entries sit on alternating super-diagonal positions (2i, 2i+1) and their mirror, so
    exp(A) is a block-diagonal rotation: orthogonal, with eigenvalues on the unit circle
    (Henaff, Szlam, LeCun 2016; used for W and W_g by Geadah et al. 2024).
    Cost: one matrix exponential, O(n³).
    """
    n = weight.shape[0]
    if weight.ndim != 2 or weight.shape[1] != n:
        raise ValueError(f"henaff_orthogonal_ needs a square matrix, got {tuple(weight.shape)}")
    angles = -math.pi * torch.rand(n // 2, generator=generator, dtype=torch.float64)
    skew = torch.zeros(n, n, dtype=torch.float64)
    idx = torch.arange(0, 2 * (n // 2), 2)
    skew[idx, idx + 1] = angles
    skew[idx + 1, idx] = -angles
    with torch.no_grad():
        weight.copy_(torch.linalg.matrix_exp(skew).to(weight.dtype))
    return weight


def xavier_normal_vector_(vector: Tensor, gain: float) -> Tensor:
    """Xavier-normal fill of a vector seen as a (1, len) matrix: std = gain·√(2/(1 + len))."""
    std = gain * math.sqrt(2.0 / (1 + vector.numel()))
    with torch.no_grad():
        vector.normal_(0.0, std)
    return vector
