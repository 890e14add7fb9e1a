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


def as_system(obj: Any, *, dim: int | None = None, **options: Any) -> DynamicalSystem:
    """Turn ``obj`` into a :class:`~dynan.system.DynamicalSystem`.

    Parameters
    ----------
    obj
        - a ``DynamicalSystem`` (returned unchanged, e.g. from :mod:`dynan.systems`);
        - a network from ``dynan.load`` / ``dynan_models`` (options:
          ``mode="joint" | "frozen"`` and,
          for ``frozen``, the shape parameters; see :mod:`dynan.adapters.network`);
        - a ``torch.nn.RNN``, ``GRU`` or ``LSTM`` (see :mod:`dynan.adapters.torch_rnn`);
        - a callable ``f(state, input) -> next_state`` on (B, dim) tensors, with ``dim=``.
    dim
        State dimension, required for callables.
    **options
        Passed to the adapter.

    Examples
    --------
    >>> import dynan
    >>> sys = dynan.as_system(lambda x, u: 0.9 * x, dim=3)
    >>> sys.dim
    3
    """
    from dynan_models import RecurrentNetwork

    if isinstance(obj, DynamicalSystem):
        if options or dim is not None:
            raise SystemError_("options are not accepted for an object that is already a system")
        return obj
    if isinstance(obj, RecurrentNetwork):
        from dynan.adapters.network import network_system

        return network_system(obj, **options)
    if isinstance(obj, nn.RNN | nn.GRU | nn.LSTM):
        from dynan.adapters.torch_rnn import torch_rnn_system

        return torch_rnn_system(obj, **options)
    if isinstance(obj, nn.Module) and not callable(getattr(obj, "step", None)):
        raise SystemError_(
            f"cannot make a system from {type(obj).__name__}: supported are dynan_models "
            "networks, torch.nn.RNN/GRU/LSTM, callables with dim=, and dynan.systems"
        )
    if callable(obj):
        if dim is None:
            raise SystemError_("a callable needs dim= (the state dimension)")
        f: Callable = obj
        return CallableSystem(f, dim, **options)
    raise SystemError_(f"cannot make a system from a {type(obj).__name__}")
