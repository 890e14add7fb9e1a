"""Elman networks with a static activation: the four non-adaptive neuron variants of the paper.

    a_t = U x_t + W h_{t−1} + b (+ d_t),   h_t = φ(a_t)

with φ one of: ReLU; softplus (γ with n = 1, s = 0); γ(·; n, s) with one learned (n, s) for the
whole network ("homogeneous"); γ(·; n_i, s_i) with learned per-neuron values ("heterogeneous").
Cost per step: O(B N²) time for W h plus O(B N) for φ.

References: Geadah et al. (2024), REFERENCES.md §1.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

from dynan_models.activation import gamma, gamma_dx
from dynan_models.base import RecurrentNetwork, State, Trajectory
from dynan_models.init import henaff_orthogonal_
from dynan_models.sequence import elman_sequence

__all__ = ["N_MIN", "ElmanRNN"]

#: Lower bound applied to the gain n before it enters γ (γ divides by n; learning can push n
#: through zero). The paper does not clamp; 1e-2 is far below any value seen in training.
N_MIN = 1e-2


def initial_gain(shape: tuple[int, ...], generator: torch.Generator | None = None) -> Tensor:
    """n = 5 + 2·U(0, 1), the paper's starting gain (REFERENCES.md §1)."""
    return 5.0 + 2.0 * torch.rand(shape, generator=generator)


class ElmanRNN(RecurrentNetwork):
    """Elman RNN whose neurons share a fixed or learned activation of the γ family.

    Parameters
    ----------
    input_size, hidden_size, output_size : int
    variant : {"relu", "softplus", "gamma-homogeneous", "gamma-heterogeneous"}
    output_mode : {"last", "all"}
        Read out the last hidden state (classification) or every step (flip-flop).

    Examples
    --------
    >>> import torch
    >>> from dynan_models import ElmanRNN
    >>> net = ElmanRNN(1, 16, 10, variant="gamma-heterogeneous")
    >>> net(torch.zeros(2, 5, 1)).logits.shape
    torch.Size([2, 10])
    """

    VARIANTS: ClassVar[tuple[str, ...]] = (
        "relu",
        "softplus",
        "gamma-homogeneous",
        "gamma-heterogeneous",
    )

    ARGUMENTS = ("variant",)

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        *,
        variant: str = "gamma-heterogeneous",
        output_mode: str = "last",
    ):
        super().__init__(input_size, hidden_size, output_size, output_mode)
        if variant not in self.VARIANTS:
            raise ValueError(f"variant must be one of {self.VARIANTS}, got {variant!r}")
        self.variant = variant
        self.architecture = variant
        self.input_weight = nn.Parameter(torch.empty(hidden_size, input_size))
        self.recurrent_weight = nn.Parameter(torch.empty(hidden_size, hidden_size))
        self.bias = nn.Parameter(torch.zeros(hidden_size))
        shape = {"gamma-homogeneous": (1,), "gamma-heterogeneous": (hidden_size,)}.get(variant)
        if shape is not None:
            self.n = nn.Parameter(initial_gain(shape))
            self.s = nn.Parameter(torch.zeros(shape))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.kaiming_normal_(self.input_weight)
        henaff_orthogonal_(self.recurrent_weight)
        nn.init.zeros_(self.bias)

    def initial_state(self, batch: int, *, dtype=None, device=None) -> State:
        dtype = dtype or self.recurrent_weight.dtype
        return (torch.zeros(batch, self.hidden_size, dtype=dtype, device=device),)

    def input_projection(self, x: Tensor, drive: Tensor | None = None) -> Tensor:
        inp = x @ self.input_weight.T + self.bias
        return inp if drive is None else inp + drive

    def shape_parameters(self, state: State | None = None) -> tuple[Tensor, Tensor] | None:
        """(n, s) of shape (1,) or (N,); softplus gives (1, 0); ReLU has none."""
        if self.variant == "relu":
            return None
        if self.variant == "softplus":
            one = self.recurrent_weight.new_ones(1)
            return one, torch.zeros_like(one)
        return self.n.clamp_min(N_MIN), self.s

    def activation(self, a: Tensor) -> Tensor:
        if self.variant == "relu":
            return torch.relu(a)
        if self.variant == "softplus":
            return nn.functional.softplus(a)
        n, s = self.shape_parameters()
        return gamma(a, n, s)

    def activation_derivative(self, a: Tensor) -> Tensor:
        """φ'(a), elementwise (ReLU: the Heaviside step, 0 at a = 0)."""
        if self.variant == "relu":
            return (a > 0).to(a.dtype)
        n, s = self.shape_parameters()
        return gamma_dx(a, n, s)

    def preactivation(self, state: State, inp: Tensor) -> Tensor:
        return inp + state[0] @ self.recurrent_weight.T

    def recur(self, state: State, inp: Tensor) -> State:
        return (self.activation(self.preactivation(state, inp)),)

    def sequence(self, state: State, inp: Tensor, *, trajectories: bool = False) -> Trajectory:
        """The whole sequence as one autograd node (``dynan_models.sequence.elman_sequence``),
        equal to ``loop`` in values and gradients."""
        shape = self.shape_parameters()
        kind = self.variant if self.variant in ("relu", "softplus") else "gamma"
        n, s = (None, None) if kind != "gamma" else shape
        hidden = elman_sequence(inp, state[0], self.recurrent_weight, kind, n, s)
        run = Trajectory(state=(hidden[:, -1],), hidden=hidden)
        if trajectories and shape is not None:
            run.n = torch.broadcast_to(shape[0], hidden.shape)
            run.s = torch.broadcast_to(shape[1], hidden.shape)
        return run
