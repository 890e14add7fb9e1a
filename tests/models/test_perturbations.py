"""The paper's perturbations (REFERENCES.md §1)."""

from __future__ import annotations

import math

import pytest
import torch

from dynan_models.perturbations import (
    default_window,
    noise_drive,
    sinusoidal_modulation,
    step_drive,
)


def test_default_window_is_the_papers_at_784_steps():
    assert default_window(784) == (201, 400)  # 200 < t < 400
    start, stop = default_window(64)
    assert (start, stop) == (16, 33)


def test_sinusoid_modulates_positive_inputs_only():
    x = torch.tensor([[[1.0], [0.0], [-1.0], [2.0]]])
    y = sinusoidal_modulation(x, amplitude=0.5, frequency=1.0)
    t = torch.arange(4.0)
    factor = 1 + 0.5 * torch.sin(2 * math.pi * t / 4)
    assert torch.allclose(y[0, :, 0], torch.tensor([1.0 * factor[0], 0.0, -1.0, 2.0 * factor[3]]))


def test_step_and_noise_drives_live_in_the_window():
    step = step_drive(2, 64, 5, amplitude=1.5)
    assert torch.all(step[:, 16:33] == 1.5) and step[:, :16].abs().sum() == 0
    assert step[:, 33:].abs().sum() == 0
    gen = torch.Generator().manual_seed(0)
    noise = noise_drive(200, 64, 50, amplitude=2.0, generator=gen)
    inside = noise[:, 16:33]
    assert abs(float(inside.std()) - 2.0) < 0.05
    assert noise[:, :16].abs().sum() == 0


def test_bad_window_is_rejected():
    with pytest.raises(ValueError, match="drive window"):
        step_drive(1, 10, 2, amplitude=1.0, window=(5, 20))
