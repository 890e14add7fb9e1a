"""The N-bit flip-flop task (Sussillo & Barak 2013, Neural Computation 25:626).

Each of N input channels carries rare pulses of ±1; the matching output must hold the sign of
the last pulse on its channel (0 before the first). A network that solves it stores 2^N memories,
so it has 2^N stable fixed points (the corners) plus saddles between them.
"""

from __future__ import annotations

import torch

from dynan_models.tasks.base import SequenceTask, Split

__all__ = ["flipflop", "flipflop_batch"]


def flipflop_batch(
    n: int, *, bits: int = 3, steps: int = 100, p_pulse: float = 0.05, generator=None
) -> Split:
    """n sequences: inputs (n, steps, bits) in {−1, 0, 1}, targets (n, steps, bits)."""
    if not 0 < p_pulse < 1:
        raise ValueError(f"p_pulse must be in (0, 1), got {p_pulse!r}")
    pulses = torch.rand(n, steps, bits, generator=generator) < p_pulse
    signs = torch.where(torch.rand(n, steps, bits, generator=generator) < 0.5, -1.0, 1.0)
    x = pulses * signs
    y = torch.zeros_like(x)
    state = torch.zeros(n, bits)
    for t in range(steps):
        state = torch.where(pulses[:, t], signs[:, t], state)
        y[:, t] = state
    return Split(x, y)


def flipflop(
    *, bits: int = 3, steps: int = 100, p_pulse: float = 0.05, seed: int = 0
) -> SequenceTask:
    """Fixed train/val/test sets (2,000 / 200 / 200 sequences) of the N-bit flip-flop."""
    gen = torch.Generator().manual_seed(seed)
    parts = [
        flipflop_batch(k, bits=bits, steps=steps, p_pulse=p_pulse, generator=gen)
        for k in (2000, 200, 200)
    ]
    return SequenceTask(
        spec={"name": "flipflop", "bits": bits, "steps": steps, "p_pulse": p_pulse, "seed": seed},
        train=parts[0],
        val=parts[1],
        test=parts[2],
        input_size=bits,
        output_size=bits,
        objective="regress",
    )
