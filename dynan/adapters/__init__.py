"""``as_system``: one entry point that turns networks, modules and callables into systems.

Each kind of object has one adapter module; analyses never special-case a model type.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from dynan.errors import SystemError_
from dynan.system import CallableSystem, DynamicalSystem

__all__ = ["as_system"]


def as_system(
    obj: Any, *, dim: int | None = None, input_dim: int | None = None, **options: Any
) -> DynamicalSystem:
    """Turn ``obj`` into a :class:`~dynan.system.DynamicalSystem`.

    Parameters
    ----------
    obj
        - a ``DynamicalSystem`` (returned unchanged, e.g. from :mod:`dynan.systems`);
        - a network from ``dynan.load`` / ``dynan_models`` (options:
          ``mode="joint" | "frozen"`` and,
          for ``frozen``, the shape parameters; see :mod:`dynan.adapters.network`);
        - a unidirectional ``torch.nn.RNN``, ``GRU`` or ``LSTM``, one layer
          (:mod:`dynan.adapters.torch_rnn`) or several (:mod:`dynan.adapters.stacked`: the
          stacked state of all layers);
        - a ``torch.nn.RNNCell``, ``GRUCell`` or ``LSTMCell`` (:mod:`dynan.adapters.cells`);
        - any other ``nn.Module`` cell ``forward(input, hx) -> hx``, with ``dim=`` and
          ``input_dim=`` (:mod:`dynan.adapters.custom`, autograd Jacobians);
        - a callable ``f(state, input) -> next_state`` on (B, dim) tensors, with ``dim=``.

        Systems with inputs run under zero input when an analysis gives none.
    dim
        State dimension, required for callables and module cells.
    input_dim
        Input dimension of a module cell (or of a callable, default 0).
    **options
        Passed to the adapter.

    Raises
    ------
    SystemError_
        For a bidirectional module (not a dynamical system in time), a module that is not a
        cell without ``dim``/``input_dim``, or an object of another kind.

    Examples
    --------
    >>> import dynan
    >>> sys = dynan.as_system(lambda x, u: 0.9 * x, dim=3)
    >>> sys.dim
    3
    """
    from dynan_models import RecurrentNetwork

    if isinstance(obj, DynamicalSystem):
        if options or dim is not None or input_dim is not None:
            raise SystemError_("options are not accepted for an object that is already a system")
        return obj
    if isinstance(obj, RecurrentNetwork):
        from dynan.adapters.network import network_system

        return network_system(obj, **options)
    if isinstance(obj, nn.RNN | nn.GRU | nn.LSTM):
        from dynan.adapters.stacked import check_unidirectional, stacked_rnn_system
        from dynan.adapters.torch_rnn import torch_rnn_system

        check_unidirectional(obj)
        if obj.num_layers > 1:
            return stacked_rnn_system(obj, **options)
        return torch_rnn_system(obj, **options)
    if isinstance(obj, nn.RNNCell | nn.GRUCell | nn.LSTMCell):
        from dynan.adapters.cells import torch_cell_system

        return torch_cell_system(obj, **options)
    if isinstance(obj, nn.Module) and not callable(getattr(obj, "step", None)):
        if dim is None or input_dim is None:
            raise SystemError_(
                f"cannot make a system from {type(obj).__name__}: a cell module "
                "forward(input, hx) -> hx needs dim= and input_dim=; also supported are "
                "dynan_models networks, torch.nn.RNN/GRU/LSTM and their cells, callables with "
                "dim=, and dynan.systems"
            )
        from dynan.adapters.custom import module_cell_system

        return module_cell_system(obj, dim=dim, input_dim=input_dim, **options)
    if callable(obj):
        if dim is None:
            raise SystemError_("a callable needs dim= (the state dimension)")
        f: Callable = obj
        if input_dim is not None:
            options["input_dim"] = input_dim
        return CallableSystem(f, dim, **options)
    raise SystemError_(f"cannot make a system from a {type(obj).__name__}")
