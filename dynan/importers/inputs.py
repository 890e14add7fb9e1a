"""Inputs for analyses of a checkpoint: its task's test inputs, or stand-ins when it has none.

A network imported without a task (``dynan import`` with no ``--task``) has no data of its own.
Analyses that need one input (Lyapunov spectra, fixed points) use zero input; those that need an
ensemble of sequences (states to start fixed-point searches from, representations for CKA) use
N(0, 1) inputs of the length recorded at import, drawn from a fixed seed so every run and every
analysis sees the same ones.
"""

from __future__ import annotations

import torch
from torch import Tensor

from dynan.errors import CheckpointError
from dynan_models import RecurrentNetwork

__all__ = ["DEFAULT_STEPS", "STAND_IN_NOTE", "analysis_inputs", "stand_in_steps"]

#: Length of the random input sequences analyses use for an imported network without a task.
DEFAULT_STEPS = 100

#: Said beside every result computed on stand-in inputs.
STAND_IN_NOTE = "no task in the checkpoint: random N(0, 1) inputs stand in for task data"


def stand_in_steps(net: RecurrentNetwork) -> int | None:
    """The stand-in sequence length recorded at import; None for a checkpoint with a task or
    one that was not imported."""
    info = getattr(net, "checkpoint", None)
    if info is None or info.task:
        return None
    imported = (info.training or {}).get("imported")
    steps = imported.get("steps") if isinstance(imported, dict) else None
    return steps if isinstance(steps, int) and steps > 0 else None


def analysis_inputs(
    net: RecurrentNetwork,
    count: int,
    *,
    zero: bool = False,
    steps: int | None = None,
    seed: int = 0,
) -> Tensor:
    """The first ``count`` test inputs (count, T, D) of the checkpoint's task, in float64, or, for
    a checkpoint without a task, ``count`` N(0, 1) sequences of ``steps`` steps (default: the
    length recorded at import, else :data:`DEFAULT_STEPS`), seeded (the first k sequences are the
    same for every ``count``) — zeros with ``zero=True`` (for analyses of the autonomous
    dynamics, such as Lyapunov spectra).

    Raises
    ------
    CheckpointError
        For a non-positive ``count``.

    Notes
    -----
    O(count · T · D) time and memory (plus building the task once, for a task).

    Examples
    --------
    >>> from dynan_models import build
    >>> analysis_inputs(build("gru", input_size=2, hidden_size=4, output_size=3), 5).shape
    torch.Size([5, 100, 2])
    """
    if not isinstance(count, int) or count < 1:
        raise CheckpointError(f"count must be a positive integer, got {count!r}")
    info = getattr(net, "checkpoint", None)
    if info is not None and info.task:
        from dynan_models.tasks import load_task

        return load_task(info.task).test.x[:count].to(torch.float64)
    steps = steps or stand_in_steps(net) or DEFAULT_STEPS
    if zero:
        return torch.zeros(count, steps, net.input_size, dtype=torch.float64)
    gen = torch.Generator().manual_seed(seed)
    # one draw per sequence, so that the first k of any count are the same k sequences
    shape = (steps, net.input_size)
    draws = [torch.randn(shape, generator=gen, dtype=torch.float64) for _ in range(count)]
    return torch.stack(draws)
