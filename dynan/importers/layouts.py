"""Finding the recurrent module and its read-out in a state dict: the layouts dynan imports.

Layouts (``Layout.kind``), recognised by their parameter names under any prefix:

``torch``
    ``nn.RNN``/``GRU``/``LSTM`` (``weight_ih_l0``, ``weight_hh_l0``, ``bias_*_l0``, more layers,
    ``_reverse`` for bidirectional, ``weight_hr_l0`` for ``proj_size``) and their cells
    (``weight_ih``, ``weight_hh``); the kind follows from the rows of ``weight_hh``: N (RNN),
    3N (GRU), 4N (LSTM).
``anru``
    The seed paper's adaptive network (Geadah et al. 2024): ``Uxh`` (D → N), ``Whh`` (N → N),
    ``Uag`` (1 → G, u_g), ``Wgg`` (G → G), ``Wgn`` and ``Wgs`` (G → 1), each an ``nn.Linear``.
``gamma-rnn``
    The paper's static RNN: ``U`` (D → N), ``V`` (N → N) and, when the shape is learned, ``n``
    and ``s`` (one value, or one per neuron).

The read-out is a linear map on the last hidden state: a ``weight`` of shape (C, N) (with an
optional ``bias`` (C,)) outside the recurrent module.

References
----------
PyTorch ``nn.RNN``/``GRU``/``LSTM`` parameter names; Geadah et al. (2024), REFERENCES.md §1, and
their public code (module names of ``ANRU`` and ``RNN``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from torch import Tensor

from dynan.errors import CheckpointError

__all__ = ["KINDS", "Layout", "Readout", "find_layout", "find_readout"]

#: Layout kinds, for ``--layout``.
KINDS = ("torch", "anru", "gamma-rnn")
_GATES = {1: "rnn", 3: "gru", 4: "lstm"}
_ANRU = ("Uxh", "Whh", "Uag", "Wgg", "Wgn", "Wgs")
_TORCH_KEY = re.compile(r"^(?P<prefix>.*?)weight_ih_l(?P<layer>\d+)(?P<rev>_reverse)?$")
_CELL_KEY = re.compile(r"^(?P<prefix>.*?)weight_ih$")
_MODULE_PARAM = r"(weight|bias)_(ih|hh|hr)_l\d+(_reverse)?"


@dataclass(frozen=True)
class Layout:
    """A recurrent module found in a state dict.

    Attributes
    ----------
    kind : one of :data:`KINDS`.
    prefix : the module's key prefix ("" or ending in ".").
    cell : "rnn", "gru" or "lstm" for ``torch`` layouts, else "".
    keys : the state-dict keys that belong to the module.
    hidden_size, input_size : N and D.
    layers : number of layers (``torch``).
    bidirectional, projected : ``torch`` module flags.
    """

    kind: str
    prefix: str
    keys: tuple[str, ...]
    hidden_size: int
    input_size: int
    cell: str = ""
    layers: int = 1
    bidirectional: bool = False
    projected: bool = False

    def describe(self) -> str:
        """e.g. "nn.GRU at 'rnn.' (N=64, D=1)"."""
        if self.kind == "torch":
            what = f"nn.{self.cell.upper()}"
            extra = f", {self.layers} layers" if self.layers > 1 else ""
        else:
            what, extra = {"anru": "ANRU", "gamma-rnn": "γ-RNN"}[self.kind], ""
        return f"{what} at {self.prefix!r} (N={self.hidden_size}, D={self.input_size}{extra})"


@dataclass(frozen=True)
class Readout:
    """The read-out Linear(N → C) found (``prefix`` None: the identity, logits = h)."""

    prefix: str | None
    keys: tuple[str, ...] = field(default_factory=tuple)


def _torch_layouts(state: dict[str, Tensor]) -> list[Layout]:
    found: dict[str, set[int]] = {}
    reverse: set[str] = set()
    for key in state:
        match = _TORCH_KEY.match(key)
        if match:
            found.setdefault(match["prefix"], set()).add(int(match["layer"]))
            if match["rev"]:
                reverse.add(match["prefix"])
    layouts = []
    for prefix, layers in found.items():
        w_hh = state.get(f"{prefix}weight_hh_l0")
        keys = tuple(k for k in state if _belongs(k, prefix, _MODULE_PARAM))
        layouts.append(_torch_layout(state, prefix, w_hh, "weight_ih_l0", keys, layers, reverse))
    for key in state:
        match = _CELL_KEY.match(key)
        prefix = match["prefix"] if match else None
        if prefix is None or f"{prefix}weight_hh" not in state:
            continue
        keys = tuple(k for k in state if _belongs(k, prefix, r"(weight|bias)_(ih|hh)"))
        w_hh = state[f"{prefix}weight_hh"]
        layouts.append(_torch_layout(state, prefix, w_hh, "weight_ih", keys, {0}, set()))
    return layouts


def _torch_layout(state, prefix, w_hh, ih_name, keys, layers, reverse) -> Layout:
    w_ih = state[f"{prefix}{ih_name}"]
    if w_hh is None or w_hh.ndim != 2 or w_ih.ndim != 2:
        raise CheckpointError(
            f"{prefix}{ih_name}: a recurrent module needs 2-D weight_ih and weight_hh tensors"
        )
    size = w_hh.shape[1]
    gates = w_hh.shape[0] // max(size, 1)
    projected = f"{prefix}weight_hr_l0" in state
    if projected:  # LSTM with proj_size: weight_hh is (4N, P), weight_hr (P, N)
        size, gates = state[f"{prefix}weight_hr_l0"].shape[1], 4
    if gates not in _GATES or w_hh.shape[0] != gates * size or w_ih.shape[0] != gates * size:
        raise CheckpointError(
            f"{prefix}weight_hh{'_l0' if ih_name.endswith('l0') else ''} has shape "
            f"{tuple(w_hh.shape)}: not N, 3N or 4N rows for N = {size} (RNN, GRU, LSTM)"
        )
    return Layout(
        kind="torch",
        prefix=prefix,
        keys=keys,
        hidden_size=size,
        input_size=w_ih.shape[1],
        cell=_GATES[gates],
        layers=max(layers) + 1,
        bidirectional=prefix in reverse,
        projected=projected,
    )


def _belongs(key: str, prefix: str, pattern: str) -> bool:
    return key.startswith(prefix) and re.fullmatch(pattern, key[len(prefix) :]) is not None


def _paper_layouts(state: dict[str, Tensor]) -> list[Layout]:
    layouts = []
    for key in state:
        if key.endswith("Uxh.weight"):
            prefix = key[: -len("Uxh.weight")]
            if all(f"{prefix}{m}.weight" in state for m in _ANRU):
                keys = tuple(
                    f"{prefix}{m}.{p}"
                    for m in _ANRU
                    for p in ("weight", "bias")
                    if f"{prefix}{m}.{p}" in state
                )
                w = state[key]
                layouts.append(Layout("anru", prefix, keys, w.shape[0], w.shape[-1]))
        if key.endswith("U.weight") and (key == "U.weight" or key.endswith(".U.weight")):
            prefix = key[: -len("U.weight")]
            v = state.get(f"{prefix}V.weight")
            if v is None or v.ndim != 2 or v.shape[0] != v.shape[1]:
                continue
            names = [f"{prefix}{m}.{p}" for m in ("U", "V") for p in ("weight", "bias")]
            names += [f"{prefix}n", f"{prefix}s"]
            keys = tuple(k for k in names if k in state)
            w = state[key]
            layouts.append(Layout("gamma-rnn", prefix, keys, w.shape[0], w.shape[-1]))
    return layouts


def _normalise(prefix: str) -> str:
    return prefix if prefix == "" or prefix.endswith(".") else prefix + "."


def find_layout(
    state: dict[str, Tensor], *, prefix: str | None = None, kind: str | None = None
) -> Layout:
    """The single recurrent module of ``state`` (narrowed by ``prefix`` and ``kind``).

    Raises
    ------
    CheckpointError
        When there is none, or more than one (naming the ``--prefix`` values that choose).
    """
    if kind is not None and kind not in KINDS:
        raise CheckpointError(f"unknown layout {kind!r}; valid: {', '.join(KINDS)}")
    layouts = _torch_layouts(state) + _paper_layouts(state)
    if kind is not None:
        layouts = [layout for layout in layouts if layout.kind == kind]
    if prefix is not None:
        layouts = [layout for layout in layouts if layout.prefix == _normalise(prefix)]
    if not layouts:
        sample = ", ".join(list(state)[:10]) + (" ..." if len(state) > 10 else "")
        narrowed = f" with prefix {prefix!r}" if prefix is not None else ""
        raise CheckpointError(
            f"no recurrent module found{narrowed}: looked for weight_ih_l0/weight_hh_l0 "
            "(nn.RNN/GRU/LSTM), weight_ih/weight_hh (their cells), Uxh..Wgs (the paper's ANRU) "
            f"and U/V (its static RNN); the keys are {sample}"
        )
    if len(layouts) > 1:
        options = "; ".join(f"--prefix '{lay.prefix}' for {lay.describe()}" for lay in layouts)
        raise CheckpointError(f"{len(layouts)} recurrent modules found: choose one with {options}")
    return layouts[0]


def find_readout(
    state: dict[str, Tensor], layout: Layout, *, prefix: str | None = None
) -> Readout:
    """The linear read-out on the hidden state: ``prefix`` given, or the single candidate.

    A candidate is a 2-D ``weight`` with N = ``layout.hidden_size`` columns outside the
    recurrent module; ``prefix="none"`` asks for no read-out (logits = h).

    Raises
    ------
    CheckpointError
        For none or several candidates (listing the ``--readout`` values), or a bad prefix.
    """
    if prefix == "none":
        return Readout(None)
    size = layout.hidden_size
    candidates = [
        key[: -len("weight")]
        for key, value in state.items()
        if key.endswith("weight")
        and (key == "weight" or key.endswith(".weight"))
        and key not in layout.keys
        and value.ndim == 2
        and value.shape[1] == size
    ]
    if prefix is not None:
        chosen = _normalise(prefix)
        if chosen not in candidates:
            raise CheckpointError(
                f"--readout {prefix!r}: no {chosen}weight of shape (C, {size}) in the state dict; "
                f"candidates: {', '.join(repr(c) for c in candidates) or 'none'}"
            )
        candidates = [chosen]
    if not candidates:
        raise CheckpointError(
            f"no linear read-out on the hidden state (a weight of shape (C, {size})) found; "
            "pass --readout PREFIX, or --readout none to read the hidden state itself"
        )
    if len(candidates) > 1:
        options = ", ".join(f"--readout '{c}'" for c in candidates)
        raise CheckpointError(f"{len(candidates)} possible read-outs: choose one with {options}")
    chosen = candidates[0]
    bias = state.get(f"{chosen}bias")
    rows = state[f"{chosen}weight"].shape[0]
    if bias is not None and tuple(bias.shape) != (rows,):
        raise CheckpointError(f"{chosen}bias has shape {tuple(bias.shape)}, expected ({rows},)")
    keys = (f"{chosen}weight",) + ((f"{chosen}bias",) if bias is not None else ())
    return Readout(chosen, keys)
