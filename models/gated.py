"""GRU and LSTM baselines, wrapping ``torch.nn.GRU``/``LSTM`` (one layer, batch first).

Without a drive the fused PyTorch kernel runs the sequence. With a drive, or one step at a time,
the same weights run through an explicit cell (PyTorch's documented equations) in which the drive
is added to the candidate pre-activation — the GRU's n gate, the LSTM's g gate — the part that
plays the role of an Elman pre-activation. Cost per step: O(B N (N + D)) with 3 (GRU) or 4
(LSTM) gate blocks.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dynan_models.base import RecurrentNetwork, RNNOutput, State

__all__ = ["GRUNet", "LSTMNet", "gru_update", "lstm_update"]


def gru_update(h: Tensor, inp: Tensor, w_hh: Tensor, b_hh: Tensor) -> Tensor:
    """PyTorch's GRU cell on the projected input ``inp`` = W_ih x + b_ih (B, 3N):
    r = σ(i_r + h_r), z = σ(i_z + h_z), n = tanh(i_n + r ⊙ h_n), h' = (1 − z) n + z h with
    (h_r, h_z, h_n) = W_hh h + b_hh. O(B N²)."""
    rec = h @ w_hh.T + b_hh
    i_r, i_z, i_n = inp.chunk(3, dim=-1)
    h_r, h_z, h_n = rec.chunk(3, dim=-1)
    r = torch.sigmoid(i_r + h_r)
    z = torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + r * h_n)
    return (1 - z) * n + z * h


def lstm_update(
    h: Tensor, c: Tensor, inp: Tensor, w_hh: Tensor, b_hh: Tensor
) -> tuple[Tensor, Tensor]:
    """PyTorch's LSTM cell on ``inp`` = W_ih x + b_ih (B, 4N): (i, f, g, o) = inp + W_hh h +
    b_hh, c' = σ(f) c + σ(i) tanh(g), h' = σ(o) tanh(c'). Returns (h', c'). O(B N²)."""
    pre = inp + h @ w_hh.T + b_hh
    i, f, g, o = pre.chunk(4, dim=-1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


class _GatedNet(RecurrentNetwork):
    gates = 0
    candidate = 2  # the gate block a drive enters (GRU: r, z, n; LSTM: i, f, g, o)
    module_type: type[nn.RNNBase] = nn.RNNBase

    def __init__(
        self, input_size: int, hidden_size: int, output_size: int, *, output_mode: str = "last"
    ):
        super().__init__(input_size, hidden_size, output_size, output_mode)
        self.rnn = self.module_type(input_size, hidden_size, batch_first=True)

    def input_projection(self, x: Tensor, drive: Tensor | None = None) -> Tensor:
        inp = x @ self.rnn.weight_ih_l0.T + self.rnn.bias_ih_l0
        if drive is None:
            return inp
        pad = [torch.zeros_like(drive)] * self.gates
        pad[self.candidate] = drive
        return inp + torch.cat(pad, dim=-1)

    def forward(
        self,
        x: Tensor,
        drive: Tensor | None = None,
        *,
        state: State | None = None,
        return_trajectories: bool = False,
    ) -> RNNOutput:
        if drive is not None:
            return super().forward(x, drive, state=state, return_trajectories=return_trajectories)
        self.check_inputs(x, drive)
        if state is None:
            state = self.initial_state(x.shape[0], dtype=x.dtype, device=x.device)
        else:
            self.check_state(state, x.shape[0])
        hidden, final = self.rnn(x, self._to_module_state(state))
        final = self._from_module_state(final if isinstance(final, tuple) else (final,))
        logits = self.readout(hidden if self.output_mode == "all" else self.hidden(final))
        return RNNOutput(
            logits=logits, state=final, hidden=hidden if return_trajectories else None
        )

    @staticmethod
    def _from_module_state(final: tuple[Tensor, ...]) -> State:
        """torch's (h_n[, c_n]), each (layers, B, N), → this network's state tuple."""
        return tuple(t[0] for t in final)


class GRUNet(_GatedNet):
    """GRU baseline; state = (h,)."""

    gates = 3
    module_type = nn.GRU

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.architecture = "gru"

    def initial_state(self, batch: int, *, dtype=None, device=None) -> State:
        dtype = dtype or self.rnn.weight_hh_l0.dtype
        return (torch.zeros(batch, self.hidden_size, dtype=dtype, device=device),)

    @staticmethod
    def _to_module_state(state: State) -> Tensor:
        return state[0][None]

    def recur(self, state: State, inp: Tensor) -> State:
        return (gru_update(state[0], inp, self.rnn.weight_hh_l0, self.rnn.bias_hh_l0),)


class LSTMNet(_GatedNet):
    """LSTM baseline; state = (h, c)."""

    gates = 4
    module_type = nn.LSTM

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.architecture = "lstm"

    def initial_state(self, batch: int, *, dtype=None, device=None) -> State:
        dtype = dtype or self.rnn.weight_hh_l0.dtype
        zeros = torch.zeros(batch, self.hidden_size, dtype=dtype, device=device)
        return zeros, zeros.clone()

    @staticmethod
    def _to_module_state(state: State) -> tuple[Tensor, Tensor]:
        return state[0][None], state[1][None]

    def recur(self, state: State, inp: Tensor) -> State:
        return lstm_update(*state, inp, self.rnn.weight_hh_l0, self.rnn.bias_hh_l0)
