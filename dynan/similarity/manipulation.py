"""The CKA-map manipulation experiment: move a network's CKA map, keep what it computes.

Fine-tune a network f (initialised at f₀) so that its time × time CKA map against a reference
network moves toward a target map, while its outputs stay those of f₀:

    loss = KL(softmax f₀(x) ‖ softmax f(x)) + λ · mean log cosh(M(x) − M_target)

with M(x) the HSIC₁ CKA map of the batch x (hidden states at the chosen steps of f against those
of the reference), differentiable in f's weights. Regression tasks use the squared error to
f₀'s outputs instead of the KL term. Accuracy before and after, the agreement of the
predictions, and the full-data (test split, debiased) maps before and after are reported.
Davari et al. show that maps can be driven to arbitrary targets this way with accuracy kept: a
CKA map alone does not establish what a network computes.

References
----------
Davari, Horoi, Natik, Lajoie, Wolf, Belilovsky (2023), ICLR, §5. Hinton, Vinyals, Dean (2015),
"Distilling the knowledge in a neural network" (KL distillation). Nguyen et al. (2021), ICLR
(HSIC₁ per batch). REFERENCES.md §5.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from dynan.results import Result
from dynan.similarity._checks import SimilarityError, check_choice, check_positive
from dynan.similarity.hsic import feature_side, pair_hsic
from dynan.similarity.maps import cka_map, select_steps
from dynan.similarity.representations import network_representations

__all__ = ["TARGETS", "ManipulationResult", "manipulate_checkpoint", "manipulate_cka_map"]

#: Named target maps (an explicit (S, S) array is accepted too).
TARGETS = ("zeros", "ones", "flip")


@dataclass(frozen=True)
class ManipulationResult(Result):
    """Before/after of one manipulation run; maps are (steps × steps), rows = the tuned model."""

    name: str
    reference: str
    steps: tuple[int, ...]
    target: np.ndarray
    map_before: np.ndarray
    map_after: np.ndarray
    accuracy_before: float
    accuracy_after: float
    agreement: float
    history: np.ndarray  # (iterations, 3): total, output, map loss
    lam: float
    iterations: int
    lr: float
    batch_size: int
    seed: int

    @property
    def distance_before(self) -> float:
        """Mean |M − M_target| before fine-tuning."""
        return float(np.nanmean(np.abs(self.map_before - self.target)))

    @property
    def distance_after(self) -> float:
        """Mean |M − M_target| after fine-tuning."""
        return float(np.nanmean(np.abs(self.map_after - self.target)))


def batch_cka_map(xs: Sequence[Tensor], ys: Sequence[Tensor]) -> Tensor:
    """Differentiable HSIC₁ CKA map (len(xs), len(ys)) of one batch (b ≥ 4 rows each).

    Uses the feature-space HSIC₁ of :mod:`dynan.similarity.hsic`; self-HSICs are clamped at
    1e-12 × their scale (and the dtype's smallest normal number) so that a degenerate batch,
    e.g. a step where every unit is silent, gives a finite value (0 for a constant side), never
    NaN. Cost O(b (Σp² + Σq² + Σ_ij p_i q_j)).
    """
    sa, sb = [feature_side(x) for x in xs], [feature_side(y) for y in ys]

    def selfs(sides):
        return torch.stack([
            pair_hsic(s, s, debiased=True).clamp_min(
                1e-12 * (s.sum_d / (s.n - 1)) ** 2 + torch.finfo(s.x.dtype).tiny
            )
            for s in sides
        ])  # fmt: skip

    cross = torch.stack([torch.stack([pair_hsic(a, b, debiased=True) for b in sb]) for a in sa])
    return cross / torch.sqrt(selfs(sa)[:, None] * selfs(sb)[None, :])


def log_cosh(z: Tensor) -> Tensor:
    """log cosh z, stable for large |z|: |z| + log1p(e^{−2|z|}) − log 2."""
    a = z.abs()
    return a + torch.log1p(torch.exp(-2 * a)) - math.log(2.0)


def _target(target: str | Any, before: np.ndarray) -> np.ndarray:
    if isinstance(target, str):
        check_choice(target, "target", TARGETS)
        return {
            "zeros": np.zeros_like(before),
            "ones": np.ones_like(before),
            "flip": 1.0 - before,
        }[target]
    arr = np.asarray(target, dtype=np.float64)
    if arr.shape != before.shape or not np.all(np.isfinite(arr)):
        raise SimilarityError(
            f"target map must be a finite array of shape {before.shape}, got {arr.shape}"
        )
    return arr


def _predictions(net: nn.Module, x: Tensor) -> Tensor:
    weight = next(net.parameters())
    with torch.no_grad():
        return net(x.to(weight.device, weight.dtype)).logits


def manipulate_cka_map(
    model: nn.Module,
    task: Any,
    *,
    reference: nn.Module | None = None,
    target: str | Any = "zeros",
    steps: int | Sequence[int] = 4,
    lam: float = 1.0,
    iterations: int = 200,
    lr: float = 1e-3,
    batch_size: int = 64,
    seed: int = 0,
    inplace: bool = False,
    progress: bool = True,
) -> ManipulationResult:
    """Fine-tune ``model`` so its CKA map against ``reference`` approaches ``target``.

    Parameters
    ----------
    model : dynan_models.RecurrentNetwork
        The network to fine-tune (a copy unless ``inplace``); trained in float32.
    task : dynan_models.tasks.SequenceTask
        Batches come from its train split; accuracies and maps from its test split.
    reference : network, optional
        The network compared against; the untouched ``model`` by default.
    target : {"zeros", "ones", "flip"} or (S, S) array
        The map to reach ("flip" = 1 − the map before).
    steps : int or sequence of int
        Time steps of the map (see :func:`dynan.similarity.maps.select_steps`).
    lam : float
        λ, the weight of the map loss.
    iterations, lr, batch_size, seed
        Adam steps, learning rate, batch size (≥ 4), seed of the batches.
    inplace : bool
        Fine-tune ``model`` itself.
    progress : bool
        Show a progress bar.

    Returns
    -------
    ManipulationResult

    Raises
    ------
    SimilarityError
        A bad target, steps, batch size or option.

    Notes
    -----
    Per iteration: one forward/backward pass of the model on a batch, a forward pass of f₀ and
    of the reference, and an S × S HSIC₁ map in feature space, O(b N² S²) on top of the
    network's O(b T (N² + N G²)). Gradients are clipped at norm 1.

    References
    ----------
    Davari et al. (2023), ICLR, §5. REFERENCES.md §5.

    Examples
    --------
    >>> import torch
    >>> from dynan_models import build
    >>> from dynan_models.tasks import SequenceTask, Split
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> split = Split(torch.rand(64, 6, 1), torch.randint(0, 3, (64,)))
    >>> task = SequenceTask({"name": "toy"}, split, split, split, 1, 3, "classify")
    >>> net = build("relu", input_size=1, hidden_size=8, output_size=3)
    >>> r = manipulate_cka_map(net, task, steps=2, iterations=20, lam=5.0, progress=False)
    >>> r.distance_after < r.distance_before
    True
    """
    check_positive(lam, "lam")
    check_positive(iterations, "iterations", integer=True)
    check_positive(lr, "lr")
    check_positive(batch_size, "batch_size", integer=True)
    if batch_size < 4:
        raise SimilarityError(f"batch_size must be >= 4 for HSIC₁, got {batch_size}")
    name = getattr(getattr(model, "checkpoint", None), "name", "") or model.architecture
    ref_name = (
        f"{name} (original)"
        if reference is None
        else getattr(getattr(reference, "checkpoint", None), "name", "") or "reference"
    )
    original = copy.deepcopy(model).float().eval()
    reference = original if reference is None else copy.deepcopy(reference).float().eval()
    tuned = model if inplace else copy.deepcopy(model)
    tuned.float()
    idx = select_steps(task.steps, steps)
    x_test = task.test.x

    ref_states = list(network_representations(reference, x_test, steps=idx).arrays)

    def full_map(net: nn.Module) -> np.ndarray:
        a = network_representations(net, x_test, steps=idx)
        return cka_map(list(a.arrays), ref_states, debiased=True).matrix

    def accuracy(net: nn.Module) -> float:
        from dynan_models.evaluation import evaluate

        return evaluate(net, task.test, task.objective)[1]

    before = full_map(tuned)
    goal = _target(target, before)
    device = next(tuned.parameters()).device  # the run follows the model's device
    goal_t = torch.as_tensor(goal, dtype=torch.float32, device=device)
    acc_before = accuracy(tuned)
    opt = torch.optim.Adam(tuned.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    x_train = task.train.x.float()
    history = np.zeros((iterations, 3))
    tuned.train()
    bar = tqdm(range(iterations), desc="CKA-map manipulation", disable=not progress)
    for it in bar:
        xb = x_train[torch.randint(0, x_train.shape[0], (batch_size,), generator=gen)].to(device)
        with torch.no_grad():
            orig = original(xb).logits
            ref_h = reference(xb, return_trajectories=True).hidden[:, idx]
        out = tuned(xb, return_trajectories=True)
        if task.objective == "classify":
            keep = F.kl_div(
                F.log_softmax(out.logits, -1), F.log_softmax(orig, -1),
                log_target=True, reduction="batchmean",
            )  # fmt: skip
        else:
            keep = F.mse_loss(out.logits, orig)
        h = out.hidden[:, idx]
        m = batch_cka_map(
            [h[:, i] for i in range(len(idx))], [ref_h[:, j] for j in range(len(idx))]
        )
        map_loss = log_cosh(m - goal_t).mean()
        loss = keep + lam * map_loss
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(tuned.parameters(), 1.0)
        opt.step()
        history[it] = [float(loss.detach()), float(keep.detach()), float(map_loss.detach())]
        bar.set_postfix(keep=f"{history[it, 1]:.3g}", map=f"{history[it, 2]:.3g}")
    tuned.eval()
    agree = _predictions(tuned, x_test), _predictions(original, x_test)
    if task.objective == "classify":
        agreement = float((agree[0].argmax(-1) == agree[1].argmax(-1)).double().mean())
    else:
        agreement = float((torch.sign(agree[0]) == torch.sign(agree[1])).double().mean())
    return ManipulationResult(
        name=name,
        reference=ref_name,
        steps=tuple(idx),
        target=goal,
        map_before=before,
        map_after=full_map(tuned),
        accuracy_before=float(acc_before),
        accuracy_after=float(accuracy(tuned)),
        agreement=agreement,
        history=history,
        lam=float(lam),
        iterations=int(iterations),
        lr=float(lr),
        batch_size=int(batch_size),
        seed=int(seed),
    )


def manipulate_checkpoint(
    checkpoint: str | os.PathLike,
    *,
    reference: str | os.PathLike | None = None,
    device: Any = "cpu",
    **options: Any,
) -> ManipulationResult:
    """:func:`manipulate_cka_map` on a checkpoint and its own task (reference: another one),
    both loaded on ``device`` (the fine-tuning runs there).

    Examples
    --------
    See :func:`manipulate_cka_map`; the CLI runs it as ``dynan cka CKPT --manipulate``.
    """
    from dynan.checkpoint import load
    from dynan_models.tasks import load_task

    net = load(checkpoint, device=device)
    if not net.checkpoint.task:
        raise SimilarityError(f"{checkpoint}: no task spec in the checkpoint")
    ref = None if reference is None else load(reference, device=device)
    if ref is not None and ref.checkpoint.task != net.checkpoint.task:
        raise SimilarityError(
            f"{checkpoint} and {reference} were trained on different tasks "
            f"({net.checkpoint.task} vs {ref.checkpoint.task})"
        )
    return manipulate_cka_map(net, load_task(net.checkpoint.task), reference=ref, **options)
