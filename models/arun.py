"""Adaptive Recurrent Units (ARUN): every neuron's γ shape changes at every step.

For neuron i at step t (REFERENCES.md §1):

    a_t   = U x_t + W h_{t−1} + b (+ d_t)
    g_t^i = tanh(u_g a_t^i + W_g g_{t−1}^i + b_g)          g^i ∈ R^G
    n_t^i = w_n · g_t^i + b_n,   s_t^i = w_s · g_t^i + b_s
    h_t^i = γ(a_t^i; n_t^i, s_t^i)

The controller (u_g, W_g, b_g, w_n, b_n, w_s, b_s) is shared by all neurons; each neuron has its
own state g^i, zero at the start of a sequence. All N controllers run as one batched matmul.
Cost per step: O(B N G²) for the controllers (dominant) plus O(B N²) for W h; memory O(B N G).

References: Geadah et al. (2024), PLOS Comp. Biol.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dynan_models.activation import gamma
from dynan_models.base import RecurrentNetwork, State, Trajectory
from dynan_models.elman import N_MIN, initial_gain
from dynan_models.init import henaff_orthogonal_, xavier_normal_vector_
from dynan_models.sequence import arun_sequence

__all__ = ["ARUN", "Controller"]


class Controller(nn.Module):
    """The shared per-neuron controller: a G-unit tanh RNN read out linearly into (n, s)."""

    def __init__(self, size: int):
        super().__init__()
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise ValueError(f"controller_size must be a positive integer, got {size!r}")
        self.size = size
        self.input_weight = nn.Parameter(torch.empty(size))  # u_g
        self.recurrent_weight = nn.Parameter(torch.empty(size, size))  # W_g
        self.bias = nn.Parameter(torch.zeros(size))  # b_g
        self.n_weight = nn.Parameter(torch.empty(size))  # w_n
        self.n_bias = nn.Parameter(initial_gain(()))  # b_n = 5 + 2 U(0, 1)
        self.s_weight = nn.Parameter(torch.empty(size))  # w_s
        self.s_bias = nn.Parameter(torch.zeros(()))  # b_s
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # u_g: the paper's code does not pin it down; Xavier-normal on a (G, 1) matrix.
        xavier_normal_vector_(self.input_weight, gain=1.0)
        henaff_orthogonal_(self.recurrent_weight)
        xavier_normal_vector_(self.n_weight, gain=0.1)
        xavier_normal_vector_(self.s_weight, gain=0.01)

    def forward(self, g: Tensor, a: Tensor) -> Tensor:
        """g (B, N, G), a (B, N) → next controller state (B, N, G)."""
        return torch.tanh(
            a[..., None] * self.input_weight + g @ self.recurrent_weight.T + self.bias
        )

    def readout(self, g: Tensor) -> tuple[Tensor, Tensor]:
        """(n, s), each (B, N); n clamped at N_MIN (γ divides by n)."""
        n = g @ self.n_weight + self.n_bias
        s = g @ self.s_weight + self.s_bias
        return n.clamp_min(N_MIN), s


def _hooked(module: nn.Module) -> bool:
    """Whether calling ``module`` would run a forward (pre-)hook: its own or a global one."""
    hooks = torch.nn.modules.module
    global_hooks = (
        getattr(hooks, "_global_forward_hooks", None),
        getattr(hooks, "_global_forward_pre_hooks", None),
    )
    own = (module._forward_hooks, module._forward_pre_hooks)
    return any(bool(h) for h in (*own, *global_hooks))


class ARUN(RecurrentNetwork):
    """Elman network of adaptive recurrent units; state = (h (B, N), g (B, N, G)).

    Examples
    --------
    >>> import torch
    >>> from dynan_models import ARUN
    >>> net = ARUN(1, 8, 10, controller_size=4)
    >>> out = net(torch.zeros(2, 5, 1), return_trajectories=True)
    >>> out.n.shape, out.controller.shape
    (torch.Size([2, 5, 8]), torch.Size([2, 5, 8, 4]))
    """

    ARGUMENTS = ("controller_size",)

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        *,
        controller_size: int = 50,
        output_mode: str = "last",
    ):
        super().__init__(input_size, hidden_size, output_size, output_mode)
        self.architecture = "arun"
        self.input_weight = nn.Parameter(torch.empty(hidden_size, input_size))
        self.recurrent_weight = nn.Parameter(torch.empty(hidden_size, hidden_size))
        self.bias = nn.Parameter(torch.zeros(hidden_size))
        self.controller = Controller(controller_size)
        nn.init.kaiming_normal_(self.input_weight)
        henaff_orthogonal_(self.recurrent_weight)

    @property
    def controller_size(self) -> int:
        return self.controller.size

    def initial_state(self, batch: int, *, dtype=None, device=None) -> State:
        dtype = dtype or self.recurrent_weight.dtype
        h = torch.zeros(batch, self.hidden_size, dtype=dtype, device=device)
        g = torch.zeros(batch, self.hidden_size, self.controller_size, dtype=dtype, device=device)
        return h, g

    def input_projection(self, x: Tensor, drive: Tensor | None = None) -> Tensor:
        inp = x @ self.input_weight.T + self.bias
        return inp if drive is None else inp + drive

    def preactivation(self, state: State, inp: Tensor) -> Tensor:
        return inp + state[0] @ self.recurrent_weight.T

    def recur(self, state: State, inp: Tensor) -> State:
        a = self.preactivation(state, inp)
        g = self.controller(state[1], a)
        n, s = self.controller.readout(g)
        return gamma(a, n, s), g

    def shape_parameters(self, state: State) -> tuple[Tensor, Tensor]:
        """(n_t, s_t) read out of the controller state that produced h_t."""
        return self.controller.readout(state[1])

    def controller_state(self, state: State) -> Tensor:
        return state[1]

    def sequence(self, state: State, inp: Tensor, *, trajectories: bool = False) -> Trajectory:
        """The whole sequence as one autograd node with an analytic backward
        (``dynan_models.sequence.arun_sequence``), equal to ``loop`` in values and gradients.
        A forward hook on the controller (e.g. to record its states for CKA), or a global module
        hook (``torch.nn.modules.module.register_module_forward_hook``), sees nothing there, so
        with one registered the sequence runs through ``loop``, which calls it."""
        if _hooked(self.controller):
            return self.loop(state, inp, trajectories=trajectories)
        hidden, g, ctrl, raw = arun_sequence(
            inp, state[0], state[1], self.recurrent_weight, self.controller, N_MIN,
            keep=trajectories,
        )  # fmt: skip
        run = Trajectory(state=(hidden[:, -1], g), hidden=hidden)
        if trajectories:
            run.n, run.s, run.controller = raw[..., 0].clamp_min(N_MIN), raw[..., 1], ctrl
        return run
