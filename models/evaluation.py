"""Loss and accuracy of a network on a task split, clean and under each perturbation.

Classification: cross-entropy on the last step, accuracy = argmax agreement. Flip-flop
regression: mean squared error on every step, accuracy = sign agreement on the steps whose
target is non-zero. Cost: one forward pass over the split, O(n T (N² + D N)) time.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from dynan_models.base import RecurrentNetwork
from dynan_models.perturbations import PERTURBATIONS, Perturbation
from dynan_models.tasks.base import SequenceTask, Split

__all__ = ["accuracy", "evaluate", "evaluate_all", "loss_fn"]


def loss_fn(objective: str, output: Tensor, target: Tensor) -> Tensor:
    """The training loss of a task objective ("classify" or "regress")."""
    if objective == "classify":
        return F.cross_entropy(output, target)
    return F.mse_loss(output, target)


def accuracy(objective: str, output: Tensor, target: Tensor) -> Tensor:
    """Fraction correct: class agreement, or sign agreement where the target is non-zero."""
    if objective == "classify":
        return (output.argmax(-1) == target).to(torch.float64).mean()
    mask = target != 0
    if not mask.any():
        return torch.tensor(float("nan"), dtype=torch.float64)
    return (torch.sign(output[mask]) == target[mask]).to(torch.float64).mean()


@torch.no_grad()
def evaluate(
    model: RecurrentNetwork,
    split: Split,
    objective: str,
    *,
    perturbation: Perturbation = PERTURBATIONS[0],
    batch_size: int = 512,
    seed: int = 0,
) -> tuple[float, float]:
    """(mean loss, accuracy) of ``model`` on ``split`` under ``perturbation``."""
    was_training = model.training
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    first = next(model.parameters())
    dtype, device = first.dtype, first.device
    total_loss, correct, count = 0.0, 0.0, 0
    for x, y in split.batches(batch_size):
        # perturbations drawn on the CPU (the same noise on every device), then moved
        x, drive = perturbation.apply(x.to(dtype), model.hidden_size, generator=gen)
        x, y = x.to(device), y.to(device)
        drive = None if drive is None else drive.to(device)
        out = model(x, drive).logits
        y = y.to(out.dtype) if objective == "regress" else y
        k = x.shape[0]
        total_loss += float(loss_fn(objective, out, y)) * k
        correct += float(accuracy(objective, out, y)) * k
        count += k
    model.train(was_training)
    return total_loss / count, correct / count


def evaluate_all(
    model: RecurrentNetwork,
    task: SequenceTask,
    *,
    perturbations: tuple[Perturbation, ...] = PERTURBATIONS,
    split: str = "test",
) -> dict[str, float]:
    """Accuracy on a split of ``task`` under each perturbation, by perturbation name."""
    data = getattr(task, split)
    return {
        p.name: evaluate(model, data, task.objective, perturbation=p)[1] for p in perturbations
    }
