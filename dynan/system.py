"""The dynamical-system contract every analysis works on.

A system is a discrete-time map on flat float states

    x_{t+1} = step(x_t, u_t),      x: (B, dim),  u: (B, input_dim) or None

with a Jacobian with respect to the state. Subclasses give ``step`` and, where they can, an
analytic ``jacobian``/``jvp``; otherwise both come from ``torch.func`` (forward-mode, vectorised
over tangent columns — never one backward pass per unit).

Cost of the defaults: ``jvp`` with k columns costs about k forward evaluations run as one
vectorised call; ``jacobian`` is ``jvp`` with the identity (k = dim).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torch.func import jvp as _func_jvp
from torch.func import vmap

from dynan.errors import SystemError_

__all__ = ["CallableSystem", "DynamicalSystem", "check_state", "simulate"]


class DynamicalSystem:
    """Base class of the system contract.

    Attributes
    ----------
    dim : int
        State dimension.
    input_dim : int
        Input dimension (0 for an autonomous map).
    dt : float or None
        Time per step for maps that discretise a flow (exponents per unit time divide by it).
    name : str
        Human-readable description.
    analytic_jacobian : bool
        Whether ``jacobian``/``jvp`` are closed-form rather than autograd.
    dtype, device
        Where the system's states live; analyses put their states, tangents and inputs there
        (a network system follows its network's device, the reference systems run on the CPU).
    """

    dim: int
    input_dim: int = 0
    dt: float | None = None
    name: str = "system"
    analytic_jacobian: bool = False
    dtype: torch.dtype = torch.float64
    device: torch.device = torch.device("cpu")

    def step(self, x: Tensor, u: Tensor | None = None) -> Tensor:
        """One step of the map for a batch of states x (B, dim)."""
        raise NotImplementedError

    def jvp(self, x: Tensor, u: Tensor | None, tangents: Tensor) -> Tensor:
        """J(x, u) @ tangents for tangents (B, dim, k), J = ∂step/∂x at the pre-step state."""
        return self.step_and_jvp(x, u, tangents)[1]

    def step_and_jvp(self, x: Tensor, u: Tensor | None, tangents: Tensor) -> tuple[Tensor, Tensor]:
        """(step(x, u), J(x, u) @ tangents) in one evaluation where the system allows."""
        if self.analytic_jacobian:
            return self.step(x, u), self.jacobian(x, u) @ tangents

        def f(state: Tensor) -> Tensor:
            return self.step(state, u)

        def column(v: Tensor) -> Tensor:
            return _func_jvp(f, (x,), (v,))[1]

        return f(x), vmap(column, in_dims=2, out_dims=2)(tangents)

    def jacobian(self, x: Tensor, u: Tensor | None = None) -> Tensor:
        """Full Jacobian (B, dim, dim) of ``step`` with respect to the state."""
        eye = torch.eye(self.dim, dtype=x.dtype, device=x.device).expand(x.shape[0], -1, -1)

        def f(state: Tensor) -> Tensor:
            return self.step(state, u)

        return vmap(lambda v: _func_jvp(f, (x,), (v,))[1], in_dims=2, out_dims=2)(eye)

    def initial_state(self, batch: int, *, generator: torch.Generator | None = None) -> Tensor:
        """Typical starting states (B, dim); default N(0, 0.5²), drawn in float64 on the CPU
        (the same states for a seed on every device and in every dtype), then moved."""
        x = 0.5 * torch.randn(batch, self.dim, generator=generator, dtype=torch.float64)
        return x.to(self.device, self.dtype)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}: dim={self.dim}, input_dim={self.input_dim}>"


class CallableSystem(DynamicalSystem):
    """A system from a Python callable ``f(state, input) -> next_state`` on (B, dim) tensors.

    ``device`` (default the CPU) is where analyses put the states, tangents and inputs they
    hand to ``f``; ``jacobian`` is an optional closed form ``(x, u) -> (B, dim, dim)``.

    Examples
    --------
    >>> import torch
    >>> from dynan.system import CallableSystem
    >>> sys = CallableSystem(lambda x, u: 0.5 * x, dim=2)
    >>> sys.jacobian(torch.ones(1, 2, dtype=torch.float64))[0].diag().tolist()
    [0.5, 0.5]
    """

    def __init__(
        self,
        f: Callable[[Tensor, Tensor | None], Tensor],
        dim: int,
        *,
        input_dim: int = 0,
        jacobian: Callable[[Tensor, Tensor | None], Tensor] | None = None,
        dt: float | None = None,
        name: str | None = None,
        device: torch.device | str = "cpu",
    ):
        if not callable(f):
            raise SystemError_(f"expected a callable f(state, input), got {type(f).__name__}")
        if not isinstance(dim, int) or dim < 1:
            raise SystemError_(f"dim must be a positive integer, got {dim!r}")
        self._f = f
        self._jacobian = jacobian
        self.dim = dim
        self.input_dim = input_dim
        self.dt = dt
        self.analytic_jacobian = jacobian is not None
        self.name = name or getattr(f, "__name__", "callable")
        self.device = torch.device(device)

    def step(self, x: Tensor, u: Tensor | None = None) -> Tensor:
        out = self._f(x, u)
        if not isinstance(out, Tensor) or out.shape != x.shape:
            got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise SystemError_(
                f"{self.name}: f(state, input) must return a tensor of the state's shape "
                f"{tuple(x.shape)}, got {got}"
            )
        return out

    def jacobian(self, x: Tensor, u: Tensor | None = None) -> Tensor:
        if self._jacobian is None:
            return super().jacobian(x, u)
        return self._jacobian(x, u)


def check_state(system: DynamicalSystem, x: Tensor, *, where: str = "state") -> Tensor:
    """Validate a batch of states: shape (B, dim), finite. Returns it in the system's dtype, on
    the system's device."""
    x = torch.as_tensor(x, dtype=system.dtype, device=system.device)
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2 or x.shape[1] != system.dim:
        raise SystemError_(
            f"{where} must have shape (batch, {system.dim}) for {system.name}, "
            f"got {tuple(x.shape)}"
        )
    if not torch.isfinite(x).all():
        raise SystemError_(f"{where} contains NaN or inf")
    return x


def simulate(
    system: DynamicalSystem,
    x0: Tensor,
    steps: int,
    inputs: Tensor | None = None,
) -> Tensor:
    """Iterate the map: x0 (B, dim), inputs (B, steps, input_dim) or None → (B, steps + 1, dim).

    Stops with a ``SystemError_`` naming the step at which the state became non-finite
    (checked once, after the loop: the loop itself never waits for the device).
    Cost: ``steps`` calls of ``step``; memory O(B · steps · dim).
    """
    x = check_state(system, x0, where="initial state")
    if inputs is not None and (inputs.ndim != 3 or inputs.shape[1] < steps):
        raise SystemError_(
            f"inputs must have shape (batch, >= {steps}, {system.input_dim}), "
            f"got {tuple(inputs.shape)}"
        )
    if inputs is not None:
        inputs = inputs.to(system.device)
    out = [x]
    with torch.no_grad():
        for t in range(steps):
            x = system.step(x, None if inputs is None else inputs[:, t])
            out.append(x)
    path = torch.stack(out, 1)
    finite = torch.isfinite(path).flatten(2).all(-1).all(0)  # (steps + 1,)
    if not finite.all():
        t = int((~finite).int().argmax())
        raise SystemError_(f"{system.name}: state became non-finite at step {t}")
    return path
