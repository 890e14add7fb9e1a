"""Representations to compare: hidden states of networks on task inputs, or module outputs.

- :func:`network_representations` steps a ``dynan_models`` network through inputs (n, T, D) and
  keeps the hidden state h_t (and, on request, the controller states g_t of adaptive networks, or
  the shape parameters (n_t, s_t)) at chosen time steps — the final one by default.
- :func:`checkpoint_representations` does that for a checkpoint on its own task's test inputs.
- module outputs captured by forward hooks are in :mod:`dynan.similarity.hooks`.

Each representation is a float64 array (n examples, features), labelled, in a
:class:`Representations` mapping that :func:`~dynan.similarity.cka_map` accepts directly.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from dynan.results import Result
from dynan.similarity._checks import SimilarityError, check_choice, check_positive
from dynan.similarity.maps import select_steps

__all__ = ["INCLUDE", "Representations", "checkpoint_representations", "network_representations"]

#: What :func:`network_representations` can record at each chosen step.
INCLUDE = ("hidden", "controller", "shape")
_PREFIX = {"hidden": "h", "controller": "g", "shape": "ns"}


@dataclass(frozen=True)
class Representations(Result, Mapping):
    """Labelled representations of the same examples: ``reps[label]`` is an (n, features) array.

    ``task`` is the task spec the inputs came from (if any), ``source`` the checkpoint path or
    model name.
    """

    name: str
    labels: tuple[str, ...]
    arrays: tuple[np.ndarray, ...]
    architecture: str = ""
    source: str = ""
    task: dict = field(default_factory=dict)

    def __post_init__(self):
        if len(self.labels) != len(self.arrays):
            raise SimilarityError(f"{len(self.labels)} labels for {len(self.arrays)} arrays")

    def __getitem__(self, label: str) -> np.ndarray:
        try:
            return self.arrays[self.labels.index(label)]
        except ValueError:
            raise KeyError(f"{label!r} not in {self.name}: {', '.join(self.labels)}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.labels)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def n(self) -> int:
        """Number of examples."""
        return int(self.arrays[0].shape[0]) if self.arrays else 0


def _steps(total: int, steps: str | int | Sequence[int] | None) -> list[int]:
    if steps == "final":
        return [total - 1]
    if isinstance(steps, str):
        raise SimilarityError(f"steps must be 'final', a count, indices or None; got {steps!r}")
    return select_steps(total, steps)


def _record(net: Any, state: tuple, what: str) -> Tensor:
    if what == "hidden":
        return net.hidden(state)
    if what == "controller":
        g = net.controller_state(state)
        if g is None:
            raise SimilarityError(f"{net.architecture or type(net).__name__} has no controller")
        return g.reshape(g.shape[0], -1)
    shape = net.shape_parameters(state)
    if shape is None:
        raise SimilarityError(f"{net.architecture or type(net).__name__} has no shape parameters")
    h = net.hidden(state)
    return torch.cat(
        [torch.broadcast_to(shape[0], h.shape), torch.broadcast_to(shape[1], h.shape)], 1
    )


@torch.no_grad()
def network_representations(
    net: nn.Module,
    x: Any,
    *,
    steps: str | int | Sequence[int] | None = "final",
    include: Sequence[str] = ("hidden",),
    drive: Any | None = None,
    batch_size: int = 256,
    name: str | None = None,
) -> Representations:
    """States of a ``dynan_models`` network on inputs x (n, T, D) at chosen time steps.

    Parameters
    ----------
    net : dynan_models.RecurrentNetwork
    x : (n, T, D) array-like or tensor
        Input sequences (cast to the network's dtype).
    steps : "final", int, sequence of int, or None
        The last step, that many evenly spaced steps ending at the last, explicit indices
        (negative from the end), or every step.
    include : subset of ("hidden", "controller", "shape")
        h_t (N features); the controller states g_t of an adaptive network (N·G); the shape
        parameters (n_t, s_t) (2N).
    drive : (n, T, N) array-like, optional
        Additive drive on the pre-activations.
    batch_size : int
        Examples per forward chunk (memory O(batch_size · N · G)).
    name : str, optional
        Defaults to the checkpoint name or the architecture.

    Returns
    -------
    Representations
        Labels "h[t=63]", "g[t=63]", "ns[t=63]", … in float64.

    Raises
    ------
    SimilarityError
        Bad inputs, steps or ``include``, or a quantity the network does not have.

    Notes
    -----
    Runs the network's own ``input_projection``/``recur`` step by step and keeps only the chosen
    steps: O(n T (N² + N G²)) time, O(n · steps · features) memory.

    Examples
    --------
    >>> import torch
    >>> from dynan_models import build
    >>> net = build("arun", input_size=1, hidden_size=4, output_size=2, controller_size=3)
    >>> reps = network_representations(net, torch.zeros(5, 8, 1), include=("hidden", "controller"))
    >>> reps.labels, reps["g[t=7]"].shape
    (('h[t=7]', 'g[t=7]'), (5, 12))
    """
    for what in include:
        check_choice(what, "include", INCLUDE)
    if not include:
        raise SimilarityError(f"include is empty; choose from {INCLUDE}")
    check_positive(batch_size, "batch_size", integer=True)
    weight = next(net.parameters())
    dtype, device = weight.dtype, weight.device
    x = torch.as_tensor(np.asarray(x) if not isinstance(x, Tensor) else x).to(device, dtype)
    if x.ndim != 3 or x.shape[-1] != net.input_size:
        raise SimilarityError(
            f"inputs must have shape (examples, time, {net.input_size}), got {tuple(x.shape)}"
        )
    d = None if drive is None else torch.as_tensor(np.asarray(drive)).to(device, dtype)
    if d is not None and tuple(d.shape) != (*x.shape[:2], net.hidden_size):
        raise SimilarityError(
            f"drive must have shape {(*x.shape[:2], net.hidden_size)}, got {tuple(d.shape)}"
        )
    idx = _steps(x.shape[1], steps)
    was_training = net.training
    net.eval()
    chunks: dict[tuple[str, int], list[Tensor]] = {(w, t): [] for t in idx for w in include}
    try:
        for start in range(0, x.shape[0], batch_size):
            xb = x[start : start + batch_size]
            inp = net.input_projection(xb, None if d is None else d[start : start + batch_size])
            state = net.initial_state(xb.shape[0], dtype=dtype, device=xb.device)
            for t in range(max(idx) + 1):
                state = net.recur(state, inp[:, t])
                if t in idx:
                    for what in include:
                        chunks[(what, t)].append(_record(net, state, what))
    finally:
        net.train(was_training)
    info = getattr(net, "checkpoint", None)
    return Representations(
        name=name or (info.name if info else net.architecture),
        labels=tuple(f"{_PREFIX[w]}[t={t}]" for t in idx for w in include),
        arrays=tuple(
            torch.cat(chunks[(w, t)]).to(torch.float64).cpu().numpy() for t in idx for w in include
        ),
        architecture=net.architecture,
        source=info.path if info else "",
        task=dict(info.task or {}) if info else {},
    )


def checkpoint_representations(
    checkpoint: str | os.PathLike | nn.Module,
    *,
    split: str = "test",
    limit: int | None = None,
    steps: str | int | Sequence[int] | None = "final",
    include: Sequence[str] = ("hidden",),
) -> Representations:
    """States of a checkpoint (loaded in float64) on its own task's ``split`` inputs.

    Parameters
    ----------
    checkpoint : path to a checkpoint, or a network from ``dynan.load``
    split : {"train", "val", "test"}
    limit : int, optional
        Use only the first ``limit`` examples.
    steps, include
        As in :func:`network_representations`.

    Raises
    ------
    SimilarityError
        A network without a checkpoint, an unknown split, bad ``limit``.
    dynan.CheckpointError
        A bad checkpoint file.

    Notes
    -----
    A checkpoint without a task (``dynan import`` without ``--task``) runs on ``limit`` (default
    256) seeded N(0, 1) stand-in sequences (:func:`dynan.importers.analysis_inputs`).

    Examples
    --------
    >>> import os, tempfile
    >>> from dynan_models import build, save_checkpoint
    >>> path = os.path.join(tempfile.mkdtemp(), "relu.safetensors")
    >>> net = build("relu", input_size=1, hidden_size=6, output_size=10)
    >>> _ = save_checkpoint(net, path, task={"name": "digits", "seed": 0, "permuted": True})
    >>> checkpoint_representations(path)["h[t=63]"].shape
    (300, 6)
    """
    from dynan.checkpoint import load
    from dynan_models.tasks import load_task

    check_choice(split, "split", ("train", "val", "test"))
    net = (
        checkpoint if isinstance(checkpoint, nn.Module) else load(checkpoint, dtype=torch.float64)
    )
    info = getattr(net, "checkpoint", None)
    if info is None:
        raise SimilarityError(
            f"{type(net).__name__}: no checkpoint and so no task; use network_representations "
            "with inputs"
        )
    if not info.task:
        from dynan.importers import analysis_inputs

        x = analysis_inputs(net, limit or 256)
    else:
        x = getattr(load_task(info.task), split).x
    if limit is not None:
        check_positive(limit, "limit", integer=True)
        x = x[:limit]
    return network_representations(net, x, steps=steps, include=include)
