"""The shared per-neuron ARUN controller alone, as a system driven by the pre-activation.

    g' = tanh(u_g a + W_g g + b_g),   state g ∈ R^G,   input u = a (one number)

With a constant input a the controller converges to input-dependent fixed points, through which
(n, s) = (w_n·g + b_n, w_s·g + b_s) follow the drive — the paper's account of gain scaling.

References
----------
Geadah, Horoi, Kerg, Wolf, Lajoie (2024). Neural networks with optimized single-neuron
adaptation uncover biologically plausible regularization. PLOS Comp. Biol. (REFERENCES.md §1).
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor

from dynan.adapters.kernels import _elman_map, check_dtype
from dynan.adapters.torch_rnn import RecurrentSystem
from dynan.errors import SystemError_
from dynan_models import ARUN
from dynan_models.elman import N_MIN

__all__ = ["ControllerSystem", "controller_system"]


class ControllerSystem(RecurrentSystem):
    """The ARUN controller as a system (see :func:`controller_system`).

    Attributes
    ----------
    controller : dynan_models.arun.Controller
        The deep copy, cast to ``dtype``, that the system steps.
    layout : {"g": slice(0, G)}
    """

    def __init__(self, controller: Any, **kwargs: Any):
        super().__init__(**kwargs)
        self.controller = controller

    def shape_parameters(self, g: Tensor) -> tuple[Tensor, Tensor]:
        """(n, s) read out of controller states g (B, G): each (B,), n clamped at N_MIN."""
        self._check_state(g)
        c = self.controller
        return (g @ c.n_weight + c.n_bias).clamp_min(N_MIN), g @ c.s_weight + c.s_bias


def controller_system(net: ARUN, *, dtype: torch.dtype = torch.float64) -> ControllerSystem:
    """The shared per-neuron controller of an ARUN network as a system with input a.

    Parameters
    ----------
    net : dynan_models.ARUN
        The network whose controller (u_g, W_g, b_g, read-outs) is copied, cast to ``dtype``.
    dtype : torch.dtype, default float64

    Returns
    -------
    ControllerSystem
        State g (dim G), input u = a (input_dim 1, a neuron's pre-activation; ``u=None``
        means a = 0); ``shape_parameters(g)`` gives the (n, s) a state implies.

    Raises
    ------
    SystemError_
        If ``net`` is not an ARUN network or ``dtype`` is not floating point.

    Notes
    -----
    g' = tanh(u_g a + W_g g + b_g); Jacobian diag(1 − g'²) W_g (closed form). Cost per step
    O(B G²); a jvp with k tangents O(B k G²).

    References
    ----------
    Geadah et al. (2024), PLOS Comp. Biol.; REFERENCES.md §1 ("controller trajectories under
    constant input converge to input-dependent fixed points").

    Examples
    --------
    >>> import torch
    >>> from dynan_models import build
    >>> from dynan.adapters.controller import controller_system
    >>> net = build("arun", input_size=1, hidden_size=4, output_size=2, controller_size=3)
    >>> sys = controller_system(net)
    >>> sys.dim, sys.input_dim
    (3, 1)
    >>> sys.step(torch.zeros(2, 3, dtype=torch.float64), torch.ones(2, 1)).shape
    torch.Size([2, 3])
    """
    if not isinstance(net, ARUN):
        raise SystemError_(
            f"controller_system needs an ARUN network, got {type(net).__name__} "
            f"({getattr(net, 'architecture', '?')}), which has no controller"
        )
    check_dtype(dtype)
    ctrl = copy.deepcopy(net.controller).to(dtype).requires_grad_(False)
    size = ctrl.size
    weight = ctrl.recurrent_weight

    def project(u: Tensor) -> Tensor:
        return u * ctrl.input_weight + ctrl.bias  # (B, 1) * (G,) → (B, G)

    def recurrence(g: Tensor, inp: Tensor, tangents: Tensor | None):
        return _elman_map(g, inp, weight, torch.tanh, lambda a, out: 1 - out * out, tangents)

    return ControllerSystem(
        ctrl,
        blocks={"g": (size,)},
        input_dim=1,
        project=project,
        recurrence=recurrence,
        default_input=weight.new_zeros(1),
        rest=weight.new_zeros(size),
        name=f"ARUN controller (G={size})",
    )
