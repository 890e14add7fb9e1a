"""Multi-layer unidirectional ``torch.nn.RNN``/``GRU``/``LSTM`` as one system on the stacked state.

At each time step layer 0 reads the input u_t and layer l reads layer l − 1's NEW hidden state,

    h'_0 = F_0(h_0, u),   h'_l = F_l(h_l, h'_{l−1})   (l = 1 … L − 1),

so the state of the system is every layer's state, (h_0 … h_{L−1}) — for an LSTM also
(c_0 … c_{L−1}) — and its Jacobian is block lower-triangular:

    ∂h'_l/∂h_l = J_l (the single-layer Jacobian),
    ∂h'_l/∂h_m = (∂F_l/∂in) (∂h'_{l−1}/∂h_m)  for m < l.

The jvp runs layer by layer: the tangents of h'_{l−1} enter layer l through W_ih^{(l)} as
tangents of its projected input (the ``inp_tangents`` of :mod:`dynan.adapters.kernels`), all in
closed form. Dropout between layers is a training-time device; the system is the module in
eval mode (no dropout).

References
----------
PyTorch documentation of ``torch.nn.RNN``, ``GRU`` and ``LSTM`` (``num_layers``: the input of
layer l ≥ 1 is the hidden state of layer l − 1 at the same step).
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import Tensor, nn

from dynan.adapters.kernels import Recurrence, _left_matmul, check_dtype, rnn_layer
from dynan.adapters.torch_rnn import TorchRNNSystem
from dynan.errors import SystemError_

__all__ = ["check_unidirectional", "stacked_recurrence", "stacked_rnn_system"]


def check_unidirectional(module: nn.Module) -> None:
    """Refuse a bidirectional module with the reason: it is not a map forward in time."""
    if getattr(module, "bidirectional", False):
        raise SystemError_(
            f"bidirectional {type(module).__name__} (bidirectional=True) is not a dynamical "
            "system in time: its backward direction reads the sequence from the end, so its "
            "state at step t depends on later inputs; analyse each direction as a "
            "unidirectional module of its own"
        )


def stacked_rnn_system(
    module: nn.RNN | nn.GRU | nn.LSTM, *, dtype: torch.dtype = torch.float64
) -> TorchRNNSystem:
    """Turn a unidirectional ``nn.RNN``/``GRU``/``LSTM`` with any ``num_layers`` into a system on
    the stacked state of its layers, with a closed-form block Jacobian.

    Parameters
    ----------
    module : torch.nn.RNN, GRU or LSTM
        Unidirectional, no ``proj_size``; with or without bias; ``batch_first`` either way.
    dtype : torch.dtype, default float64
        The system steps a deep copy of the module cast to this dtype.

    Returns
    -------
    TorchRNNSystem
        State blocks ``"h"`` of shape (L, N) — torch's ``h_n`` per example — and for an LSTM
        ``"c"`` (L, N); flat dim L N (LSTM 2 L N), layer 0 first. Input u_t = x_t (dim D);
        without an input the module runs under zero input.

    Raises
    ------
    SystemError_
        For a bidirectional or projected module, another type, a non-floating dtype.

    Notes
    -----
    A step costs the module's: O(B Σ_l G N (N + D_l)), G = 1, 3, 4 gate blocks. A jvp with k
    tangents adds O(B k Σ_l G N (N + D_l)): per layer one product with W_hh and, above layer 0,
    one with W_ih (the path through the layer below). The Jacobian is the jvp of the identity:
    O(B (L N)²) memory.

    References
    ----------
    PyTorch documentation, ``torch.nn.RNN``, ``torch.nn.GRU``, ``torch.nn.LSTM``.

    Examples
    --------
    >>> import torch
    >>> from dynan.adapters.stacked import stacked_rnn_system
    >>> sys = stacked_rnn_system(torch.nn.LSTM(2, 8, num_layers=2))
    >>> sys.dim, sys.blocks["h"], sys.layout["c"]
    (32, (2, 8), slice(16, 32, None))
    """
    if not isinstance(module, nn.RNN | nn.GRU | nn.LSTM):
        raise SystemError_(
            f"stacked_rnn_system expects torch.nn.RNN, GRU or LSTM, got {type(module).__name__}"
        )
    check_unidirectional(module)
    if getattr(module, "proj_size", 0):
        raise SystemError_(
            f"LSTM with proj_size={module.proj_size} is not supported (its hidden state is a "
            "projection of o ⊙ tanh(c)); use proj_size=0"
        )
    check_dtype(dtype)
    module = copy.deepcopy(module).to(dtype).requires_grad_(False)
    kind = type(module).__name__.lower()
    size, depth = module.hidden_size, module.num_layers
    nonlinearity = getattr(module, "nonlinearity", "tanh")
    project, recurrence = stacked_recurrence(module)
    blocks = {"h": (depth, size), "c": (depth, size)} if kind == "lstm" else {"h": (depth, size)}
    w_hh = module.weight_hh_l0
    detail = f", {nonlinearity}" if kind == "rnn" else ""
    return TorchRNNSystem(
        module,
        blocks=blocks,
        input_dim=module.input_size,
        project=project,
        recurrence=recurrence,
        default_input=w_hh.new_zeros(module.input_size),
        rest=w_hh.new_zeros(len(blocks) * depth * size),
        name=f"torch {type(module).__name__} ({depth} layers, N={size}{detail})",
    )


def stacked_recurrence(
    module: nn.RNN | nn.GRU | nn.LSTM,
) -> tuple[Callable[[Tensor], Tensor], Recurrence]:
    """Layer 0's input projection and the recurrence on the flat stacked state of ``module``
    (unidirectional, any ``num_layers``; used as it is, not copied).

    The flat state is (h_0 … h_{L−1}[, c_0 … c_{L−1}]), layer 0 first; ``recurrence(x, inp, V)``
    takes layer 0's projected input ``inp`` (W_ih^(0) u + b_ih^(0), plus any drive) and returns
    the next state and J V (see the module docstring for the block lower-triangular J).
    Shared by :func:`stacked_rnn_system` and the stacked ``dynan_models`` networks
    (:mod:`dynan.adapters.network_maps`).

    Examples
    --------
    >>> import torch
    >>> project, recurrence = stacked_recurrence(torch.nn.GRU(1, 3, num_layers=2))
    >>> x1, jv = recurrence(torch.zeros(1, 6), project(torch.ones(1, 1)), torch.eye(6)[None])
    >>> x1.shape, jv.shape
    (torch.Size([1, 6]), torch.Size([1, 6, 6]))
    """
    kind = type(module).__name__.lower()
    size, depth = module.hidden_size, module.num_layers
    nonlinearity = getattr(module, "nonlinearity", "tanh")
    layers, in_weights = [], []
    for index in range(depth):
        w_ih = getattr(module, f"weight_ih_l{index}")
        bias = (
            (getattr(module, f"bias_ih_l{index}"), getattr(module, f"bias_hh_l{index}"))
            if module.bias
            else (None, None)
        )
        w_hh = getattr(module, f"weight_hh_l{index}")
        layers.append(rnn_layer(kind, w_ih, w_hh, *bias, nonlinearity))
        in_weights.append(w_ih)
    lstm = kind == "lstm"
    h_rows = [slice(index * size, (index + 1) * size) for index in range(depth)]
    c_rows = [slice((depth + index) * size, (depth + index + 1) * size) for index in range(depth)]

    def layer_rows(flat: Tensor, index: int) -> Tensor:
        """Layer ``index``'s own state (h, or (h, c) for an LSTM) out of the flat stack."""
        if not lstm:
            return flat[:, h_rows[index]]
        return torch.cat([flat[:, h_rows[index]], flat[:, c_rows[index]]], 1)

    def recurrence(x: Tensor, inp: Tensor, tangents: Tensor | None):
        outs, jvps = [], []
        below_t = None
        for index, (project, layer) in enumerate(layers):
            if index:
                inp = project(outs[-1][:, :size])
                if tangents is not None:
                    below_t = _left_matmul(in_weights[index], jvps[-1][:, :size])
            own_t = None if tangents is None else layer_rows(tangents, index)
            out, jvp = layer(layer_rows(x, index), inp, own_t, below_t)
            outs.append(out)
            jvps.append(jvp)
        new = _restack(outs, size, lstm)
        return new, (None if tangents is None else _restack(jvps, size, lstm))

    return layers[0][0], recurrence


def _restack(per_layer: list[Tensor], size: int, lstm: bool) -> Tensor:
    """Per-layer (h) or (h, c) rows → the flat stack (h_0 … h_{L−1}[, c_0 … c_{L−1}])."""
    if not lstm:
        return torch.cat(per_layer, 1)
    return torch.cat([t[:, :size] for t in per_layer] + [t[:, size:] for t in per_layer], 1)
