"""Any ``nn.Module`` cell in PyTorch's convention ``forward(input, hx) -> hx`` as a system.

The state is ``hx`` (B, dim), the input u_t the cell's ``input`` (B, input_dim); the Jacobian
with respect to ``hx`` comes from forward-mode autograd (``torch.func.jvp``, vectorised over the
tangent columns with ``vmap``: k tangents cost about k forward evaluations in one call, never one
backward pass per unit). Without an input the cell runs under zero input.

References
----------
PyTorch documentation of ``torch.nn.RNNCell`` (the ``forward(input, hx)`` convention) and of
``torch.func.jvp`` / ``torch.func.vmap`` (forward-mode automatic differentiation).
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from dynan.adapters.kernels import check_dtype
from dynan.errors import SystemError_
from dynan.system import DynamicalSystem

__all__ = ["ModuleCellSystem", "module_cell_system"]


class ModuleCellSystem(DynamicalSystem):
    """A ``forward(input, hx) -> hx`` module as a system (see :func:`module_cell_system`).

    Attributes
    ----------
    module : the deep copy, cast to ``dtype``, in eval mode, that the system steps.
    """

    analytic_jacobian = False

    def __init__(self, module: nn.Module, dim: int, input_dim: int, dtype: torch.dtype):
        self.module = module
        self.dim = dim
        self.input_dim = input_dim
        self.dtype = dtype
        self.name = f"{type(module).__name__} cell (dim={dim}, input_dim={input_dim})"

    def step(self, x: Tensor, u: Tensor | None = None) -> Tensor:
        """hx' = module(u, x) for states x (B, dim) and inputs u (B, input_dim) or None (zeros)."""
        if not isinstance(x, Tensor) or x.ndim != 2 or x.shape[1] != self.dim:
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise SystemError_(
                f"{self.name}: state must have shape (batch, {self.dim}), got {got}"
            )
        if u is None:
            u = x.new_zeros(x.shape[0], self.input_dim)
        elif u.ndim != 2 or tuple(u.shape) != (x.shape[0], self.input_dim):
            raise SystemError_(
                f"{self.name}: input must have shape (batch, input_dim) = "
                f"({x.shape[0]}, {self.input_dim}), got {tuple(u.shape)}"
            )
        out = self.module(u.to(x.dtype), x)
        if not isinstance(out, Tensor) or out.shape != x.shape:
            got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise SystemError_(
                f"{self.name}: forward(input, hx) must return the next hx of shape "
                f"{tuple(x.shape)}, got {got} (a cell with a tuple state, like LSTMCell, needs "
                "a wrapper that flattens it)"
            )
        return out


def module_cell_system(
    module: nn.Module,
    *,
    dim: int,
    input_dim: int,
    dtype: torch.dtype = torch.float64,
) -> ModuleCellSystem:
    """Turn a cell module ``forward(input, hx) -> hx`` into a system with autograd Jacobians.

    Parameters
    ----------
    module : torch.nn.Module
        Its ``forward(input (B, input_dim), hx (B, dim))`` returns the next ``hx`` (B, dim), as
        ``torch.nn.RNNCell`` and ``GRUCell`` do. It must be a pure function of its arguments
        and parameters (no in-place state between calls) so that ``torch.func`` can transform it.
    dim : int
        Size of ``hx``.
    input_dim : int
        Size of ``input`` (0 for a cell without input: it gets a (B, 0) tensor).
    dtype : torch.dtype, default float64
        The system steps a deep copy of the module cast to this dtype, in eval mode.

    Returns
    -------
    ModuleCellSystem

    Raises
    ------
    SystemError_
        For non-positive ``dim``, negative ``input_dim``, a non-floating dtype, or a module
        whose first step does not return a tensor of the state's shape.

    Notes
    -----
    ``step`` costs one forward call; a jvp with k tangents about k forward calls run as one
    vectorised call (``vmap`` of ``jvp``); ``jacobian`` is the jvp of the identity, k = dim,
    O(B dim²) memory.

    References
    ----------
    PyTorch documentation, ``torch.func.jvp`` and ``torch.func.vmap``.

    Examples
    --------
    >>> import torch
    >>> from dynan.adapters.custom import module_cell_system
    >>> class Leaky(torch.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.w = torch.nn.Linear(3, 3)
    ...     def forward(self, input, hx):
    ...         return 0.5 * hx + torch.tanh(self.w(hx) + input.sum(-1, keepdim=True))
    >>> sys = module_cell_system(Leaky(), dim=3, input_dim=2)
    >>> sys.jacobian(torch.zeros(1, 3, dtype=torch.float64)).shape
    torch.Size([1, 3, 3])
    """
    if not isinstance(module, nn.Module):
        raise SystemError_(f"module_cell_system expects an nn.Module, got {type(module).__name__}")
    for name, value, low in (("dim", dim, 1), ("input_dim", input_dim, 0)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise SystemError_(f"{name} must be an integer >= {low}, got {value!r}")
    check_dtype(dtype)
    module = copy.deepcopy(module).to(dtype).eval().requires_grad_(False)
    system = ModuleCellSystem(module, dim, input_dim, dtype)
    tensors = [*module.parameters(), *module.buffers()]
    if tensors:
        system.device = tensors[0].device  # analyses follow the module's device
    probe = torch.zeros(1, dim, dtype=dtype, device=system.device)
    try:  # fail now, with the reason, rather than inside an analysis
        with torch.no_grad():
            system.step(probe)
    except (RuntimeError, TypeError, ValueError) as err:
        if isinstance(err, SystemError_):
            raise
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise SystemError_(
            f"{system.name}: forward(input (1, {input_dim}), hx (1, {dim})) failed: {reason}"
        ) from err
    return system
