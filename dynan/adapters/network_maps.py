"""The joint-mode map of each ``dynan_models`` network: its step and closed-form jvp.

:func:`joint_recurrence` picks the map by network type; :mod:`dynan.adapters.network` wraps it
(with the network's own input projection, drive included) into a system.

- Elman (ReLU, softplus, γ): h' = φ(a), a = U x + W h + b + d; J = diag(φ'(a)) W.
- ARUN: h and every neuron's controller state (REFERENCES.md §1), see :func:`_arun_recurrence`.
- GRU/LSTM: PyTorch's gate equations (:mod:`dynan.adapters.kernels`).
- Stacked RNN/GRU/LSTM (``dynan_models.stacked``): the block lower-triangular map of
  :func:`dynan.adapters.stacked.stacked_recurrence` on the flat state (h_0 … h_{L−1}[, c_0 …
  c_{L−1}]), the same as ``dynan.as_system`` gives for the torch module itself.

References
----------
Geadah et al. (2024), PLOS Comp. Biol.; REFERENCES.md §1 (ARUN equations, γ derivatives).
PyTorch documentation of ``torch.nn.RNN``, ``GRU``, ``LSTM``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from dynan.adapters.kernels import Recurrence, _elman_map, _gated_recurrence, _left_matmul
from dynan.adapters.stacked import stacked_recurrence
from dynan.errors import SystemError_
from dynan_models import ARUN, ElmanRNN, GRUNet, LSTMNet, RecurrentNetwork
from dynan_models.activation import gamma, gamma_dn, gamma_ds, gamma_dx
from dynan_models.elman import N_MIN
from dynan_models.stacked import StackedNet

__all__ = ["joint_recurrence"]


def joint_recurrence(net: RecurrentNetwork) -> Recurrence:
    """``recurrence(x, inp, V) -> (x', J V)`` on the flat joint state of ``net``, given the
    network's projected input ``inp`` (``net.input_projection``, drive included).

    Raises
    ------
    SystemError_
        For a network type without a map here.

    Notes
    -----
    Cost per step that of the network's own step; k tangents add O(B k) times its matrix
    products (ARUN: O(B k (N² + N G²))); the Jacobian is never formed.

    Examples
    --------
    >>> import torch
    >>> from dynan_models import build
    >>> net = build("stacked-gru", input_size=1, hidden_size=3, output_size=2).double()
    >>> x1, jv = joint_recurrence(net)(
    ...     torch.zeros(1, 6, dtype=torch.float64),
    ...     net.input_projection(torch.ones(1, 1, 1, dtype=torch.float64))[:, 0],
    ...     torch.eye(6, dtype=torch.float64)[None],
    ... )
    >>> jv.shape
    torch.Size([1, 6, 6])
    """
    if isinstance(net, ARUN):
        return _arun_recurrence(net)
    if isinstance(net, GRUNet | LSTMNet):
        return _gated_recurrence(net.architecture, net.rnn.weight_hh_l0, net.rnn.bias_hh_l0)
    if isinstance(net, StackedNet):
        return stacked_recurrence(net.rnn)[1]
    if isinstance(net, ElmanRNN):
        return _static_recurrence(net)
    raise SystemError_(f"no adapter for network type {type(net).__name__}")


def _static_recurrence(net: ElmanRNN) -> Recurrence:
    weight = net.recurrent_weight

    def dphi(a: Tensor, out: Tensor) -> Tensor:
        return net.activation_derivative(a)

    def recurrence(h: Tensor, inp: Tensor, tangents: Tensor | None):
        return _elman_map(h, inp, weight, net.activation, dphi, tangents)

    return recurrence


def _arun_recurrence(net: ARUN) -> Recurrence:
    """ARUN joint map on x = (h, g flattened) — see the Notes of
    :func:`dynan.adapters.network.network_system`.

    Tangents are processed one example at a time, all neurons and columns at once, writing
    straight into the output: W_g δg is one batched product of the shared W_g with each
    neuron's (G, k) block (no copy of the tangents), and the two elementwise passes and the
    read-out product run on that block while it is still in cache.
    """
    size, csize = net.hidden_size, net.controller_size
    weight, ctrl = net.recurrent_weight, net.controller
    u_g, w_g, b_g = ctrl.input_weight, ctrl.recurrent_weight, ctrl.bias
    u_col = u_g[:, None]
    w_g_each = w_g.expand(size, csize, csize)  # shared by every neuron, no copy
    readout_each = torch.stack([ctrl.n_weight, ctrl.s_weight]).expand(size, 2, csize)

    def recurrence(x: Tensor, inp: Tensor, tangents: Tensor | None):
        batch = x.shape[0]
        h, g = x[:, :size], x[:, size:].reshape(batch, size, csize)
        a = inp + h @ weight.T
        g1 = torch.tanh(a[..., None] * u_g + g @ w_g.T + b_g)
        n_raw = g1 @ ctrl.n_weight + ctrl.n_bias
        n = n_raw.clamp_min(N_MIN)
        s = g1 @ ctrl.s_weight + ctrl.s_bias
        out = torch.cat([gamma(a, n, s), g1.reshape(batch, -1)], 1)
        if tangents is None:
            return out, None
        k = tangents.shape[-1]
        jv = tangents.new_empty(batch, size * (1 + csize), k)
        da = _left_matmul(weight, tangents[:, :size])  # (B, N, k) = W δh
        dns = tangents.new_empty(batch, size, 2, k)  # (w_n·δg', w_s·δg')
        slope = (1 - g1 * g1)[..., None]  # (B, N, G, 1)
        dg_all = jv[:, size:].view(batch, size, csize, k)
        dg_in = tangents[:, size:].view(batch, size, csize, k)
        for b in range(batch):  # per example: the (N, G, k) block stays in cache
            dg = torch.bmm(w_g_each, dg_in[b], out=dg_all[b])  # W_g δg
            dg.addcmul_(u_col, da[b, :, None])  # + u_g δa
            dg.mul_(slope[b])  # δg' = (1 − g'²) ⊙ δz
            torch.bmm(readout_each, dg, out=dns[b])
        gain_n = gamma_dn(a, n, s) * (n_raw >= N_MIN)  # zero where n is clamped
        dh = torch.mul(da, gamma_dx(a, n, s)[..., None], out=jv[:, :size])
        dh.addcmul_(dns[:, :, 0], gain_n[..., None])
        dh.addcmul_(dns[:, :, 1], gamma_ds(a, n, s)[..., None])
        return out, jv

    return recurrence
