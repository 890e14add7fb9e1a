"""Representations to compare: hidden states of networks on task inputs, or module outputs.

- :func:`network_representations` steps a ``models`` network through inputs (n, T, D) and keeps
  the hidden state h_t (and, on request, the controller states g_t of adaptive networks, or the
  shape parameters (n_t, s_t)) at chosen time steps — the final one by default.
- :func:`checkpoint_representations` does that for a checkpoint on its own task's test inputs.
- :class:`ActivationCapture` / :func:`capture_activations` record, by name, the outputs of any
  ``torch.nn`` modules with forward hooks; a module called several times in one forward pass
  (a recurrent cell) keeps every call, and a module that never ran is an error.

Each representation is a float64 array (n examples, features), labelled, in a
:class:`Representations` mapping that :func:`~dynan.similarity.cka_map` accepts directly.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from dynan.results import Result
from dynan.similarity._checks import SimilarityError, check_choice, check_positive
from dynan.similarity.maps import select_steps

__all__ = [
    "INCLUDE",
    "ActivationCapture",
    "Representations",
    "capture_activations",
    "checkpoint_representations",
    "network_representations",
]

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
    """States of a ``models`` network on inputs x (n, T, D) at chosen time steps.

    Parameters
    ----------
    net : models.RecurrentNetwork
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
    >>> from models import build
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
    dtype = next(net.parameters()).dtype
    x = torch.as_tensor(np.asarray(x) if not isinstance(x, Tensor) else x).to(dtype)
    if x.ndim != 3 or x.shape[-1] != net.input_size:
        raise SimilarityError(
            f"inputs must have shape (examples, time, {net.input_size}), got {tuple(x.shape)}"
        )
    d = None if drive is None else torch.as_tensor(np.asarray(drive)).to(dtype)
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
        A checkpoint without a task spec, an unknown split, bad ``limit``.
    dynan.CheckpointError
        A bad checkpoint file.

    Examples
    --------
    >>> import os, tempfile
    >>> from models import build, save_checkpoint
    >>> path = os.path.join(tempfile.mkdtemp(), "relu.safetensors")
    >>> net = build("relu", input_size=1, hidden_size=6, output_size=10)
    >>> _ = save_checkpoint(net, path, task={"name": "digits", "seed": 0, "permuted": True})
    >>> checkpoint_representations(path)["h[t=63]"].shape
    (300, 6)
    """
    from dynan.checkpoint import load
    from models.tasks import load_task

    check_choice(split, "split", ("train", "val", "test"))
    net = (
        checkpoint if isinstance(checkpoint, nn.Module) else load(checkpoint, dtype=torch.float64)
    )
    info = getattr(net, "checkpoint", None)
    if info is None or not info.task:
        where = info.path if info else type(net).__name__
        raise SimilarityError(
            f"{where}: no task spec in the checkpoint; use network_representations with inputs"
        )
    x = getattr(load_task(info.task), split).x
    if limit is not None:
        check_positive(limit, "limit", integer=True)
        x = x[:limit]
    return network_representations(net, x, steps=steps, include=include)


def _first_tensor(out: Any, name: str) -> Tensor:
    if isinstance(out, Tensor):
        return out
    values = (
        list(out)
        if isinstance(out, tuple | list)
        else [getattr(out, f.name) for f in fields(out)]
        if is_dataclass(out)
        else []
    )
    for value in values:
        if isinstance(value, Tensor):
            return value
    raise SimilarityError(f"module {name!r} returned a {type(out).__name__} holding no tensor")


class ActivationCapture:
    """Context manager recording the outputs of named submodules during forward passes.

    Every call is kept (a module reused k times per forward pass yields k entries, never
    overwriting itself); tuple outputs (e.g. ``nn.GRU``) keep their first tensor. Hooks are
    removed on exit, also after an error.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Linear(3, 4), nn.ReLU())
    >>> with ActivationCapture(model, ["0"]) as cap:
    ...     _ = model(torch.ones(2, 3))
    >>> [t.shape for t in cap.calls["0"]]
    [torch.Size([2, 4])]
    """

    def __init__(self, model: nn.Module, names: Sequence[str]):
        if isinstance(names, str):
            names = [names]
        modules = dict(model.named_modules())
        missing = [n for n in names if n not in modules]
        if missing:
            known = ", ".join(repr(k) for k in list(modules)[:30] if k)
            raise SimilarityError(
                f"no module named {missing} in {type(model).__name__}; known: {known}"
            )
        if not names:
            raise SimilarityError("names is empty: say which modules to capture")
        self._modules = {n: modules[n] for n in names}
        self._handles: list = []
        self.calls: dict[str, list[Tensor]] = {n: [] for n in names}

    def _hook(self, name: str):
        def hook(module, args, out):
            self.calls[name].append(_first_tensor(out, name).detach())

        return hook

    def __enter__(self) -> ActivationCapture:
        self._handles = [m.register_forward_hook(self._hook(n)) for n, m in self._modules.items()]
        return self

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    def take(self) -> dict[str, list[Tensor]]:
        """The calls recorded since the last take (cleared); an error for a module never called."""
        empty = [n for n, c in self.calls.items() if not c]
        if empty:
            raise SimilarityError(
                f"module(s) {empty} never ran during the forward pass: nothing was captured"
            )
        out, self.calls = self.calls, {n: [] for n in self.calls}
        return out


@torch.no_grad()
def capture_activations(
    model: nn.Module,
    inputs: Any,
    names: Sequence[str],
    *,
    batch_size: int | None = None,
    name: str | None = None,
) -> Representations:
    """Outputs of the named submodules of ``model`` on ``inputs``, as representations.

    Parameters
    ----------
    model : torch.nn.Module
        Called as ``model(batch)``.
    inputs : tensor or array-like, first axis = examples
    names : module names as in ``model.named_modules()``
    batch_size : int, optional
        Run the inputs in chunks (every chunk must call each module the same number of times).
    name : str, optional

    Returns
    -------
    Representations
        One (n, features) array per module call: label ``name`` for a module called once per
        forward pass, ``name[call=i]`` for each call of a reused one. Features are the output
        flattened after the batch axis, in float64.

    Raises
    ------
    SimilarityError
        Unknown module names (the known ones are listed), a module that never ran, outputs
        without a tensor, or call counts that change between chunks.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> cell = nn.Linear(2, 2)
    >>> class Twice(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.cell = cell
    ...     def forward(self, x):
    ...         return self.cell(self.cell(x))
    >>> capture_activations(Twice(), torch.ones(3, 2), ["cell"]).labels
    ('cell[call=0]', 'cell[call=1]')
    """
    x = inputs if isinstance(inputs, Tensor) else torch.as_tensor(np.asarray(inputs))
    if x.ndim == 0:
        raise SimilarityError("inputs must have a leading examples axis")
    step = (
        x.shape[0]
        if batch_size is None
        else check_positive(batch_size, "batch_size", integer=True)
    )
    per_name: dict[str, list[list[Tensor]]] = {}
    with ActivationCapture(model, names) as cap:
        for start in range(0, x.shape[0], step):
            model(x[start : start + step])
            for n, calls in cap.take().items():
                if n in per_name and len(per_name[n]) != len(calls):
                    raise SimilarityError(
                        f"module {n!r} ran {len(calls)} times on one chunk and "
                        f"{len(per_name[n])} times on another"
                    )
                per_name.setdefault(n, [[] for _ in calls])
                for i, t in enumerate(calls):
                    per_name[n][i].append(t.reshape(t.shape[0], -1))
    labels, arrays = [], []
    for n, calls in per_name.items():
        for i, parts in enumerate(calls):
            labels.append(n if len(calls) == 1 else f"{n}[call={i}]")
            arrays.append(torch.cat(parts).to(torch.float64).cpu().numpy())
    for label, arr in zip(labels, arrays, strict=True):
        if arr.shape[0] != x.shape[0]:
            raise SimilarityError(
                f"{label}: output has {arr.shape[0]} rows for {x.shape[0]} examples; its first "
                "axis is not the batch axis"
            )
    return Representations(
        name=name or type(model).__name__,
        labels=tuple(labels),
        arrays=tuple(arrays),
        architecture=getattr(model, "architecture", ""),
        source=type(model).__name__,
    )
