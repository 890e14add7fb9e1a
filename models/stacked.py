"""Stacked (multi-layer, unidirectional) RNN, GRU and LSTM networks, on ``torch.nn.RNN``/``GRU``/
``LSTM`` with ``num_layers`` layers (batch first).

At each step layer 0 reads the input and layer l ≥ 1 reads layer l − 1's NEW hidden state (the
semantics of PyTorch's ``num_layers``):

    h'_0 = F_0(h_0, W_ih^(0) x_t + b_ih^(0) (+ d_t)),
    h'_l = F_l(h_l, W_ih^(l) h'_{l−1} + b_ih^(l))        (l = 1 … L − 1),

with F_l one layer of PyTorch's equations (RNN: φ(inp + W_hh h + b_hh), φ = tanh or ReLU; GRU
and LSTM as in :mod:`dynan_models.gated`). The state is every layer's hidden state stacked,
h (B, L, N), and for an LSTM also c (B, L, N), layer 0 first; flattened in that order it is the
state of ``dynan.adapters.stacked``. The read-out, ``hidden`` and the hidden trajectories are
the TOP layer's h (what PyTorch's module outputs).

A perturbation drive d_t (B, N) (``dynan_models.perturbations``) enters layer 0's
pre-activation, as in the one-layer networks: the whole pre-activation of an RNN, the candidate
block of a GRU (n) or LSTM (g). Layer 0 is the only layer that sees the outside world, so the
drive plays the role of an additive input there; the layers above feel it through the stack.

``nn.RNN``'s tanh is native here (the one-layer import maps tanh onto an exact γ conjugate with
N + 1 units because the Elman variants have no tanh; a stacked network needs no such device).

Without a drive the fused PyTorch module runs the sequence (exactly PyTorch's numbers); with a
drive, or one step at a time, ``recur`` runs the same equations layer by layer (the reference
``loop`` of :class:`~dynan_models.base.RecurrentNetwork`, stepping with ``unbind``, so training
through it stays linear in T). Cost per step O(B Σ_l G N (N + D_l)), G = 1, 3, 4 gate blocks,
D_0 = D and D_l = N above; memory O(B L N) for the state.

References
----------
PyTorch documentation of ``torch.nn.RNN``, ``GRU`` and ``LSTM`` (``num_layers``; gate order
r, z, n and i, f, g, o).
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

from dynan_models.base import RecurrentNetwork, State
from dynan_models.gated import _GatedNet, gru_update, lstm_update

__all__ = ["NONLINEARITIES", "StackedGRU", "StackedLSTM", "StackedNet", "StackedRNN"]

#: The activations of ``StackedRNN`` (those of ``torch.nn.RNN``).
NONLINEARITIES = ("tanh", "relu")


class StackedNet(_GatedNet):
    """What the three stacked networks share (``self.rnn`` is their torch module);
    ``module_options`` are the module's extra constructor arguments a subclass names in
    ``MODULE_OPTIONS`` (nn.RNN's nonlinearity)."""

    name: ClassVar[str] = ""
    MODULE_OPTIONS: ClassVar[tuple[str, ...]] = ()
    ARGUMENTS = ("num_layers",)

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        *,
        num_layers: int = 2,
        output_mode: str = "last",
        **module_options,
    ):
        RecurrentNetwork.__init__(self, input_size, hidden_size, output_size, output_mode)
        if not isinstance(num_layers, int) or isinstance(num_layers, bool) or num_layers < 1:
            raise ValueError(f"num_layers must be a positive integer, got {num_layers!r}")
        unknown = sorted(set(module_options) - set(self.MODULE_OPTIONS))
        if unknown:
            raise TypeError(f"{type(self).__name__} got unexpected argument(s) {unknown}")
        self.num_layers = num_layers
        self.architecture = self.name
        self.rnn = self.module_type(
            input_size, hidden_size, num_layers=num_layers, batch_first=True, **module_options
        )

    def initial_state(self, batch: int, *, dtype=None, device=None) -> State:
        dtype = dtype or self.rnn.weight_hh_l0.dtype
        shape = (batch, self.num_layers, self.hidden_size)
        return tuple(
            torch.zeros(shape, dtype=dtype, device=device) for _ in range(self.state_tensors)
        )

    @property
    def state_tensors(self) -> int:
        """1 (h) or 2 (h, c for an LSTM)."""
        return 2 if self.module_type is nn.LSTM else 1

    @staticmethod
    def hidden(state: State) -> Tensor:
        """The top layer's h (B, N)."""
        return state[0][:, -1]

    def input_layer(self, state: State) -> Tensor:
        """Layer 0's h (B, N): the only layer the input and a drive reach directly."""
        return state[0][:, 0]

    def _to_module_state(self, state: State) -> Tensor | tuple[Tensor, ...]:
        layers_first = tuple(t.transpose(0, 1).contiguous() for t in state)
        return layers_first if len(layers_first) > 1 else layers_first[0]

    @staticmethod
    def _from_module_state(final: tuple[Tensor, ...]) -> State:
        return tuple(t.transpose(0, 1) for t in final)

    def layer(self, state: tuple[Tensor, ...], inp: Tensor, w_hh: Tensor, b_hh: Tensor) -> State:
        """One layer's step: its state (h[, c]), (B, N) each, and projected input (B, G N)."""
        raise NotImplementedError

    def recur(self, state: State, inp: Tensor) -> State:
        """All layers, bottom up: layer l ≥ 1 projects layer l − 1's new h."""
        per_layer = [t.unbind(1) for t in state]
        new: list[State] = []
        for index, (w_ih, w_hh, b_ih, b_hh) in enumerate(self.rnn.all_weights):
            if index:
                inp = new[-1][0] @ w_ih.T + b_ih
            new.append(self.layer(tuple(t[index] for t in per_layer), inp, w_hh, b_hh))
        return tuple(torch.stack([out[i] for out in new], 1) for i in range(len(state)))


class StackedRNN(StackedNet):
    """Stacked Elman layers of ``torch.nn.RNN``: h'_l = φ(W_ih h'_{l−1} + b_ih + W_hh h_l + b_hh).

    Parameters
    ----------
    input_size, hidden_size, output_size : int
    num_layers : int, default 2
    nonlinearity : {"tanh", "relu"}, default "tanh"
    output_mode : {"last", "all"}

    Examples
    --------
    >>> import torch
    >>> from dynan_models import build
    >>> net = build("stacked-rnn", input_size=1, hidden_size=8, output_size=3, num_layers=3)
    >>> [tuple(t.shape) for t in net.initial_state(2)], net(torch.zeros(2, 5, 1)).logits.shape
    ([(2, 3, 8)], torch.Size([2, 3]))
    """

    gates = 1
    candidate = 0  # the drive enters the whole pre-activation
    module_type = nn.RNN
    name = "stacked-rnn"
    MODULE_OPTIONS = ("nonlinearity",)
    ARGUMENTS = ("num_layers", "nonlinearity")

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        *,
        num_layers: int = 2,
        nonlinearity: str = "tanh",
        output_mode: str = "last",
    ):
        if nonlinearity not in NONLINEARITIES:
            raise ValueError(f"nonlinearity must be one of {NONLINEARITIES}, got {nonlinearity!r}")
        super().__init__(
            input_size,
            hidden_size,
            output_size,
            num_layers=num_layers,
            output_mode=output_mode,
            nonlinearity=nonlinearity,
        )
        self.nonlinearity = nonlinearity

    def layer(self, state: tuple[Tensor, ...], inp: Tensor, w_hh: Tensor, b_hh: Tensor) -> State:
        a = inp + state[0] @ w_hh.T + b_hh
        return (torch.tanh(a) if self.nonlinearity == "tanh" else torch.relu(a),)


class StackedGRU(StackedNet):
    """Stacked GRU layers of ``torch.nn.GRU``; state h (B, L, N). Arguments as
    :class:`StackedRNN` without ``nonlinearity``."""

    gates = 3
    module_type = nn.GRU
    name = "stacked-gru"

    def layer(self, state: tuple[Tensor, ...], inp: Tensor, w_hh: Tensor, b_hh: Tensor) -> State:
        return (gru_update(state[0], inp, w_hh, b_hh),)


class StackedLSTM(StackedNet):
    """Stacked LSTM layers of ``torch.nn.LSTM``; state (h, c), each (B, L, N). Arguments as
    :class:`StackedRNN` without ``nonlinearity``."""

    gates = 4
    module_type = nn.LSTM
    name = "stacked-lstm"

    def layer(self, state: tuple[Tensor, ...], inp: Tensor, w_hh: Tensor, b_hh: Tensor) -> State:
        return lstm_update(*state, inp, w_hh, b_hh)
