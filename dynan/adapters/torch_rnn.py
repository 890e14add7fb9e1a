"""Systems from ``torch.nn.RNN``/``GRU``/``LSTM``, and the system class all adapters share.

Every network adapter is a :class:`RecurrentSystem`: a flat state made of named blocks, an input
projection ``u ↦ p`` and a recurrence ``(x, p, V) ↦ (x', J V)`` that returns the next state and,
when tangents ``V`` are given, the Jacobian–vector product computed from the same intermediate
values (closed form, matrix-free: the Jacobian is never formed). The recurrences come from the
kernels of :mod:`dynan.adapters.kernels` (PyTorch's documented equations), which also serve the
zoo's ``GRUNet``/``LSTMNet`` (same equations, ``models/gated.py``) in
:mod:`dynan.adapters.network`.

References
----------
PyTorch documentation of ``torch.nn.RNN``, ``torch.nn.GRU`` and ``torch.nn.LSTM`` (the gate
equations). Geadah et al. (2024), REFERENCES.md §1 (Elman updates).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from dynan.adapters.kernels import Recurrence, check_dtype, rnn_layer
from dynan.errors import SystemError_
from dynan.system import DynamicalSystem

__all__ = ["INITIAL_NOISE", "RecurrentSystem", "TorchRNNSystem", "torch_rnn_system"]

#: Standard deviation of the noise ``initial_state`` adds to the network's rest state, so that an
#: analysis never starts on an exactly symmetric point (e.g. h = 0 with all g^i equal).
INITIAL_NOISE = 1e-3


class RecurrentSystem(DynamicalSystem):
    """A recurrent map on a flat state of named blocks, with an analytic matrix-free jvp.

    Parameters
    ----------
    blocks : dict of str to tuple of int
        Per-example shape of each state tensor, in order. The flat state is their row-major
        flattenings concatenated; ``layout`` gives each block's slice.
    input_dim : int
        Width of the input ``u``.
    project : callable
        ``u (B, input_dim) -> p``, the input-driven part handed to ``recurrence``.
    recurrence : callable
        ``(x, p, V or None) -> (x', J V or None)`` with J = ∂x'/∂x at the pre-step state.
    default_input : Tensor of shape (input_dim,) or None
        Input used when ``step`` gets ``u=None``; None makes an input mandatory.
    rest : Tensor of shape (dim,)
        The state a sequence starts from (zeros for every network here).
    name : str

    Notes
    -----
    ``step_and_jvp`` costs one step plus the tangent propagation of the kernel (for an Elman
    map, O(B k N²)); ``jacobian`` is ``step_and_jvp`` with the identity expanded over the batch,
    O(B dim²) memory; the kernels built on ``_left_matmul`` (Elman, GRU, LSTM, ARUN) form W·I
    once for the whole batch, so their Jacobian costs O(dim³ + B dim²) time, not O(B dim³).
    """

    analytic_jacobian = True

    def __init__(
        self,
        *,
        blocks: dict[str, tuple[int, ...]],
        input_dim: int,
        project: Callable[[Tensor], Any],
        recurrence: Recurrence,
        default_input: Tensor | None,
        rest: Tensor,
        name: str,
    ):
        self.blocks = dict(blocks)
        self.layout: dict[str, slice] = {}
        start = 0
        for key, shape in self.blocks.items():
            size = int(torch.Size(shape).numel())
            self.layout[key] = slice(start, start + size)
            start += size
        self.dim = start
        self.input_dim = input_dim
        self.dtype = rest.dtype
        self.device = rest.device
        self.name = name
        self._project = project
        self._recurrence = recurrence
        self._default_input = default_input
        self._rest = rest

    # -- state layout ----------------------------------------------------------------------
    def encode(self, state: tuple[Tensor, ...]) -> Tensor:
        """State tuple (each (B, *block shape)) → flat state (B, dim)."""
        if not isinstance(state, tuple | list) or len(state) != len(self.blocks):
            raise SystemError_(
                f"{self.name}: expected a tuple of {len(self.blocks)} state tensors "
                f"({', '.join(self.blocks)}), got {type(state).__name__}"
                + (f" of length {len(state)}" if isinstance(state, tuple | list) else "")
            )
        batch = state[0].shape[0] if state[0].ndim else 0
        flat = []
        for (key, shape), t in zip(self.blocks.items(), state, strict=True):
            if tuple(t.shape) != (batch, *shape):
                raise SystemError_(
                    f"{self.name}: state block {key!r} must have shape {(batch, *shape)}, "
                    f"got {tuple(t.shape)}"
                )
            flat.append(t.reshape(batch, -1))
        return torch.cat(flat, 1).to(self.dtype)

    def decode(self, flat: Tensor) -> tuple[Tensor, ...]:
        """Flat state (B, dim) → state tuple (each (B, *block shape))."""
        self._check_state(flat)
        return tuple(
            flat[:, self.layout[key]].reshape(flat.shape[0], *shape)
            for key, shape in self.blocks.items()
        )

    def initial_state(self, batch: int, *, generator: torch.Generator | None = None) -> Tensor:
        """The network's initial (rest) state plus N(0, INITIAL_NOISE²) noise, (batch, dim).

        The noise (1e-3) keeps analyses off exactly symmetric points such as h = 0 with every
        neuron's controller state equal; pass a seeded ``generator`` for reproducibility.
        """
        noise = torch.randn(batch, self.dim, generator=generator, dtype=torch.float64)
        return self._rest + INITIAL_NOISE * noise.to(self._rest)  # same draws in any dtype

    # -- the map ---------------------------------------------------------------------------
    def step(self, x: Tensor, u: Tensor | None = None) -> Tensor:
        """Next state (B, dim) from states x (B, dim) and inputs u (B, input_dim)."""
        self._check_state(x)
        return self._recurrence(x, self._project(self._input(x, u)), None)[0]

    def step_and_jvp(self, x: Tensor, u: Tensor | None, tangents: Tensor) -> tuple[Tensor, Tensor]:
        """(step(x, u), J(x, u) @ tangents) for tangents (B, dim, k), never forming J."""
        self._check_state(x)
        if tangents.ndim != 3 or tuple(tangents.shape[:2]) != (x.shape[0], self.dim):
            raise SystemError_(
                f"{self.name}: tangents must have shape (batch, dim, k) = "
                f"({x.shape[0]}, {self.dim}, k), got {tuple(tangents.shape)}"
            )
        return self._recurrence(x, self._project(self._input(x, u)), tangents)

    def jacobian(self, x: Tensor, u: Tensor | None = None) -> Tensor:
        """Full Jacobian (B, dim, dim) of ``step`` with respect to the state (closed form)."""
        eye = torch.eye(self.dim, dtype=x.dtype, device=x.device).expand(x.shape[0], -1, -1)
        return self.step_and_jvp(x, u, eye)[1]

    def _check_state(self, x: Tensor) -> None:
        if not isinstance(x, Tensor) or x.ndim != 2 or x.shape[1] != self.dim:
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise SystemError_(
                f"{self.name}: state must have shape (batch, {self.dim}), got {got}"
            )

    def _input(self, x: Tensor, u: Tensor | None) -> Tensor:
        if u is None:
            if self._default_input is None:
                raise SystemError_(
                    f"{self.name}: an input u of shape (batch, {self.input_dim}) is required"
                )
            return self._default_input.expand(x.shape[0], -1)
        if u.ndim != 2 or tuple(u.shape) != (x.shape[0], self.input_dim):
            raise SystemError_(
                f"{self.name}: input must have shape (batch, input_dim) = "
                f"({x.shape[0]}, {self.input_dim}), got {tuple(u.shape)}"
            )
        return u.to(self.dtype)


# -- plain torch modules ---------------------------------------------------------------------
class TorchRNNSystem(RecurrentSystem):
    """A single-layer unidirectional ``nn.RNN``/``GRU``/``LSTM`` as a system; u_t = x_t.

    Attributes
    ----------
    module : the float64 (or ``dtype``) deep copy of the module the system steps.
    layout : {"h": slice} or, for an LSTM, {"h": ..., "c": ...}.
    """

    def __init__(self, module: nn.RNNBase, **kwargs: Any):
        super().__init__(**kwargs)
        self.module = module

    def inputs(self, x: Tensor) -> Tensor:
        """Module-shaped inputs → (B, T, input_dim) (transposed when not ``batch_first``)."""
        x = torch.as_tensor(x, dtype=self.dtype)
        if x.ndim != 3 or x.shape[-1] != self.input_dim:
            order = "(batch, time" if self.module.batch_first else "(time, batch"
            raise SystemError_(
                f"{self.name}: inputs must have shape {order}, {self.input_dim}), "
                f"got {tuple(x.shape)}"
            )
        return x if self.module.batch_first else x.transpose(0, 1)


def torch_rnn_system(module: nn.RNNBase, *, dtype: torch.dtype = torch.float64) -> TorchRNNSystem:
    """Turn a single-layer unidirectional ``nn.RNN`` (tanh/relu), ``nn.GRU`` or ``nn.LSTM`` into a
    system with closed-form Jacobians.

    Parameters
    ----------
    module : torch.nn.RNN, GRU or LSTM
        One layer, unidirectional, no ``proj_size``; with or without bias; ``batch_first``
        either way (only :meth:`TorchRNNSystem.inputs` cares).
    dtype : torch.dtype, default float64
        The system steps a deep copy of the module cast to this dtype (the module is untouched).

    Returns
    -------
    TorchRNNSystem
        State h (N) — for an LSTM (h, c) flattened, dim 2N; input u_t = x_t (dim D).

    Raises
    ------
    SystemError_
        For a multi-layer, bidirectional or projected module, or an unsupported type/dtype.

    Notes
    -----
    The equations are PyTorch's (see the module docs): RNN h' = φ(W_ih x + b_ih + W_hh h + b_hh);
    GRU and LSTM as in :func:`_gru_map` and :func:`_lstm_map`. Jacobians: RNN diag(φ'(a)) W_hh;
    GRU/LSTM by the chain rule through the gates. Cost per step O(B N (N + D)) times the number
    of gate blocks; a jvp with k tangents adds O(B k N²) (one matmul plus elementwise work).

    References
    ----------
    PyTorch documentation, ``torch.nn.RNN``, ``torch.nn.GRU``, ``torch.nn.LSTM``.

    Examples
    --------
    >>> import torch
    >>> from dynan.adapters.torch_rnn import torch_rnn_system
    >>> sys = torch_rnn_system(torch.nn.LSTM(2, 3, batch_first=True))
    >>> sys.dim, sys.input_dim, sys.layout["c"]
    (6, 2, slice(3, 6, None))
    """
    if not isinstance(module, nn.RNN | nn.GRU | nn.LSTM):
        raise SystemError_(
            f"torch_rnn_system expects torch.nn.RNN, GRU or LSTM, got {type(module).__name__}"
        )
    kind = type(module).__name__
    if module.num_layers != 1 or module.bidirectional or getattr(module, "proj_size", 0):
        raise SystemError_(
            f"{kind} with num_layers={module.num_layers}, bidirectional={module.bidirectional}, "
            f"proj_size={getattr(module, 'proj_size', 0)}: only single-layer unidirectional "
            "modules without proj_size can be turned into one system"
        )
    check_dtype(dtype)
    module = copy.deepcopy(module).to(dtype).requires_grad_(False)
    biases = (module.bias_ih_l0, module.bias_hh_l0) if module.bias else (None, None)
    weights = (module.weight_ih_l0, module.weight_hh_l0, *biases)
    return one_layer_system(TorchRNNSystem, module, kind.lower(), weights, kind)


def one_layer_system(
    cls: type[RecurrentSystem], module: nn.Module, kind: str, weights: tuple, label: str
) -> RecurrentSystem:
    """The system ``cls`` of one recurrent layer ``module`` (a one-layer nn.RNN/GRU/LSTM or a
    cell, already copied to its dtype): ``kind`` rnn, gru or lstm; ``weights`` (W_ih, W_hh,
    b_ih, b_hh), the biases None when the module has none; ``label`` names it."""
    w_ih, w_hh, b_ih, b_hh = weights
    size, inputs = w_hh.shape[1], w_ih.shape[1]
    nonlinearity = getattr(module, "nonlinearity", "tanh")
    project, recurrence = rnn_layer(kind, w_ih, w_hh, b_ih, b_hh, nonlinearity)
    blocks = {"h": (size,), "c": (size,)} if kind == "lstm" else {"h": (size,)}
    detail = f", {nonlinearity}" if kind == "rnn" else ""
    return cls(
        module,
        blocks=blocks,
        input_dim=inputs,
        project=project,
        recurrence=recurrence,
        default_input=w_hh.new_zeros(inputs),
        rest=w_hh.new_zeros(len(blocks) * size),
        name=f"torch {label} (N={size}{detail})",
    )
