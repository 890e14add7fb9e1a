"""Systems from ``torch.nn.RNNCell``/``GRUCell``/``LSTMCell``: one step of a layer, u_t = x_t.

A cell is one layer's update, so its system is that layer's: the same projection and closed-form
recurrence (:func:`dynan.adapters.kernels.rnn_layer`) as a single-layer ``nn.RNN``/``GRU``/
``LSTM`` in :mod:`dynan.adapters.torch_rnn`. The state of an LSTM cell is (h, c) flattened,
dim 2N, as for the sequence module.

References
----------
PyTorch documentation of ``torch.nn.RNNCell``, ``GRUCell`` and ``LSTMCell`` (the same equations
as the sequence modules).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from dynan.adapters.kernels import check_dtype
from dynan.adapters.torch_rnn import RecurrentSystem, one_layer_system
from dynan.errors import SystemError_

__all__ = ["CELLS", "TorchCellSystem", "torch_cell_system"]

#: Cell classes and the kind of layer they step.
CELLS: dict[type[nn.Module], str] = {nn.RNNCell: "rnn", nn.GRUCell: "gru", nn.LSTMCell: "lstm"}


class TorchCellSystem(RecurrentSystem):
    """A ``torch.nn`` cell as a system (see :func:`torch_cell_system`).

    Attributes
    ----------
    module : the float64 (or ``dtype``) deep copy of the cell the system steps.
    layout : {"h": slice} or, for an LSTM cell, {"h": ..., "c": ...}.
    """

    def __init__(self, module: nn.Module, **kwargs):
        super().__init__(**kwargs)
        self.module = module


def torch_cell_system(
    cell: nn.RNNCell | nn.GRUCell | nn.LSTMCell, *, dtype: torch.dtype = torch.float64
) -> TorchCellSystem:
    """Turn an ``nn.RNNCell`` (tanh/relu), ``nn.GRUCell`` or ``nn.LSTMCell`` into a system with
    closed-form Jacobians.

    Parameters
    ----------
    cell : torch.nn.RNNCell, GRUCell or LSTMCell
        With or without bias.
    dtype : torch.dtype, default float64
        The system steps a deep copy of the cell cast to this dtype (the cell is untouched).

    Returns
    -------
    TorchCellSystem
        State h (N) — for an LSTM cell (h, c) flattened, dim 2N; input u_t = x_t (dim D). Without
        an input (``step(x)``) the cell runs under zero input.

    Raises
    ------
    SystemError_
        For another type of module or a non-floating dtype.

    Notes
    -----
    Equations and Jacobians as for the sequence modules (:func:`~dynan.adapters.torch_rnn.\
torch_rnn_system`): cost per step O(B G N (N + D)) with G = 1, 3, 4 gate blocks; a jvp with k
    tangents adds O(B k G N²).

    References
    ----------
    PyTorch documentation, ``torch.nn.RNNCell``, ``torch.nn.GRUCell``, ``torch.nn.LSTMCell``.

    Examples
    --------
    >>> import torch
    >>> from dynan.adapters.cells import torch_cell_system
    >>> sys = torch_cell_system(torch.nn.LSTMCell(2, 3))
    >>> sys.dim, sys.input_dim, sys.layout["c"]
    (6, 2, slice(3, 6, None))
    """
    kind = CELLS.get(type(cell))
    if kind is None:
        raise SystemError_(
            f"torch_cell_system expects torch.nn.RNNCell, GRUCell or LSTMCell, "
            f"got {type(cell).__name__}"
        )
    check_dtype(dtype)
    cell = copy.deepcopy(cell).to(dtype).requires_grad_(False)
    biases = (cell.bias_ih, cell.bias_hh) if cell.bias else (None, None)
    weights = (cell.weight_ih, cell.weight_hh, *biases)
    return one_layer_system(TorchCellSystem, cell, kind, weights, type(cell).__name__)
