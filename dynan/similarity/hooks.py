"""Representations from any ``torch.nn`` model: module outputs recorded by forward hooks.

:class:`ActivationCapture` / :func:`capture_activations` record, by name, the outputs of any
submodules; a module called several times in one forward pass (a recurrent cell) keeps every
call, and a module that never ran is an error. The result is a
:class:`~dynan.similarity.Representations` mapping that :func:`~dynan.similarity.cka_map`
accepts directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields, is_dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from dynan.similarity._checks import SimilarityError, check_positive
from dynan.similarity.representations import Representations

__all__ = ["ActivationCapture", "capture_activations"]


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
