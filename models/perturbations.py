"""The robustness perturbations of Geadah et al. (REFERENCES.md §1).

(a) sinusoidal modulation of the positive inputs by 1 + A sin(2π f t / T + φ);
(b) a step drive of amplitude ξ added to every pre-activation inside a time window;
(c) a noise drive N(0, ξ²) in the same window.
The paper's window is 200 < t < 400 of 784 steps; for other lengths it scales to the same
fractions of the sequence. Cost: O(B T N) time and memory for the drives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = [
    "PERTURBATIONS",
    "Perturbation",
    "default_window",
    "noise_drive",
    "sinusoidal_modulation",
    "step_drive",
]


def default_window(steps: int) -> tuple[int, int]:
    """The paper's drive window (200, 400) of 784 steps, scaled to ``steps``: [start, stop)."""
    return round(steps * 201 / 784), round(steps * 400 / 784)


def sinusoidal_modulation(
    x: Tensor, *, amplitude: float = 0.5, frequency: float = 1.0, phase: float = 0.0
) -> Tensor:
    """Multiply positive entries of x (B, T, D) by 1 + A sin(2π f t / T + φ)."""
    steps = x.shape[1]
    t = torch.arange(steps, dtype=x.dtype, device=x.device)
    factor = 1 + amplitude * torch.sin(2 * math.pi * frequency * t / steps + phase)
    return torch.where(x > 0, x * factor[None, :, None], x)


def _window_mask(steps: int, window: tuple[int, int] | None, like: Tensor) -> Tensor:
    start, stop = default_window(steps) if window is None else window
    if not 0 <= start < stop <= steps:
        raise ValueError(f"drive window must satisfy 0 <= start < stop <= {steps}, got {window}")
    t = torch.arange(steps, device=like.device)
    return ((t >= start) & (t < stop)).to(like.dtype)


def step_drive(
    batch: int,
    steps: int,
    hidden: int,
    *,
    amplitude: float,
    window: tuple[int, int] | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """A drive (B, T, N) equal to ``amplitude`` inside the window, 0 outside."""
    drive = torch.zeros(batch, steps, hidden, dtype=dtype)
    return drive + amplitude * _window_mask(steps, window, drive)[None, :, None]


def noise_drive(
    batch: int,
    steps: int,
    hidden: int,
    *,
    amplitude: float,
    window: tuple[int, int] | None = None,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """A drive (B, T, N) of N(0, amplitude²) noise inside the window, 0 outside."""
    noise = torch.randn(batch, steps, hidden, generator=generator, dtype=dtype)
    return amplitude * noise * _window_mask(steps, window, noise)[None, :, None]


@dataclass(frozen=True)
class Perturbation:
    """A named perturbation: how to change the inputs and which drive to add."""

    name: str
    kind: str  # "clean" | "sinusoid" | "step" | "noise"
    amplitude: float = 0.0

    def apply(
        self, x: Tensor, hidden: int, *, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """(inputs, drive) for a batch x (B, T, D) of a network with ``hidden`` units."""
        batch, steps = x.shape[:2]
        if self.kind == "clean":
            return x, None
        if self.kind == "sinusoid":
            return sinusoidal_modulation(x, amplitude=self.amplitude), None
        if self.kind == "step":
            return x, step_drive(batch, steps, hidden, amplitude=self.amplitude, dtype=x.dtype)
        if self.kind == "noise":
            drive = noise_drive(
                batch, steps, hidden, amplitude=self.amplitude, generator=generator, dtype=x.dtype
            )
            return x, drive
        raise ValueError(f"unknown perturbation kind {self.kind!r}")


#: The perturbations every checkpoint is evaluated under (metrics in the checkpoint config).
PERTURBATIONS = (
    Perturbation("clean", "clean"),
    Perturbation("sinusoid", "sinusoid", 0.5),
    Perturbation("step", "step", 1.0),
    Perturbation("noise", "noise", 1.0),
)
