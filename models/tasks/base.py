"""What a task hands to training and evaluation: fixed splits of input sequences and targets."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["SequenceTask", "Split"]


@dataclass(frozen=True)
class Split:
    """One split: inputs x (n, T, D) float32 and targets y ((n,) class labels, or (n, T, K))."""

    x: Tensor
    y: Tensor

    def __len__(self) -> int:
        return self.x.shape[0]

    def batches(self, batch_size: int, *, generator: torch.Generator | None = None):
        """Yield (x, y) minibatches; shuffled when a generator is given."""
        n = len(self)
        order = torch.randperm(n, generator=generator) if generator is not None else None
        for start in range(0, n, batch_size):
            idx = (
                slice(start, start + batch_size)
                if order is None
                else order[start : start + batch_size]
            )
            yield self.x[idx], self.y[idx]


@dataclass(frozen=True)
class SequenceTask:
    """A task: its spec (JSON, stored in checkpoints to rebuild it) and its three splits.

    ``objective`` is "classify" (cross-entropy on the last step, accuracy) or "regress"
    (mean squared error on every step, sign accuracy), which also fixes ``output_mode``.
    """

    spec: dict
    train: Split
    val: Split
    test: Split
    input_size: int
    output_size: int
    objective: str

    @property
    def name(self) -> str:
        return self.spec["name"]

    @property
    def steps(self) -> int:
        return self.train.x.shape[1]

    @property
    def output_mode(self) -> str:
        return "last" if self.objective == "classify" else "all"
