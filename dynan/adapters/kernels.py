"""The recurrence kernels all adapters share: one PyTorch RNN/GRU/LSTM layer, step and jvp.

Each kernel maps a state ``x`` and a projected input ``inp`` (W_ih u + b_ih, plus any drive) to
the next state and, when tangents ``V`` are given, the Jacobian–vector product J V computed
from the same intermediate values (closed form, matrix-free: the Jacobian is never formed).
Optional ``inp_tangents`` (the tangents of ``inp``) give the jvp with respect to the input too,
which a stacked module needs (layer l's input is layer l − 1's new state). The kernels follow
PyTorch's documented equations and serve the plain modules and cells
(:mod:`dynan.adapters.torch_rnn`, :mod:`dynan.adapters.cells`), stacked modules
(:mod:`dynan.adapters.stacked`) and the zoo's networks (:mod:`dynan.adapters.network`).

References
----------
PyTorch documentation of ``torch.nn.RNN``, ``torch.nn.GRU`` and ``torch.nn.LSTM`` (the gate
equations). Geadah et al. (2024), REFERENCES.md §1 (Elman updates).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from dynan.errors import SystemError_

__all__ = ["Recurrence", "check_dtype", "rnn_layer"]

#: ``(state (B, dim), projected input, tangents (B, dim, k) or None[, input tangents])
#: -> (next state, J @ V)``.
Recurrence = Callable[..., tuple[Tensor, Tensor | None]]

#: Gate blocks per kind of layer (rows of ``weight_ih`` per hidden unit).
GATES = {"rnn": 1, "gru": 3, "lstm": 4}


def check_dtype(dtype: object) -> None:
    """Raise ``SystemError_`` unless ``dtype`` is a floating-point ``torch.dtype``."""
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise SystemError_(f"dtype must be a floating-point torch dtype, got {dtype!r}")


def _left_matmul(weight: Tensor, tangents: Tensor) -> Tensor:
    """weight (M, N) @ tangents (B, N, k) → (B, M, k) as ONE matrix product over all B·k columns.

    (``weight @ tangents`` would broadcast ``weight`` into B contiguous copies first.) The result
    is a (B, M, k)-shaped view of an (M, B, k) array. Tangents shared by every row (stride 0
    along the batch, e.g. the expanded identity of a Jacobian) cost one (M, N) @ (N, k)
    product, returned expanded: the Jacobian's W Vs cost O(M N k), not O(B M N k).
    """
    batch, rows, k = tangents.shape
    if batch > 1 and tangents.stride(0) == 0:
        return (weight @ tangents[0]).expand(batch, -1, -1)
    columns = tangents.permute(1, 0, 2).reshape(rows, batch * k)
    return (weight @ columns).view(-1, batch, k).permute(1, 0, 2)


def _elman_map(
    h: Tensor,
    inp: Tensor,
    weight: Tensor,
    phi: Callable[[Tensor], Tensor],
    dphi: Callable[[Tensor, Tensor], Tensor],
    tangents: Tensor | None,
    inp_tangents: Tensor | None = None,
) -> tuple[Tensor, Tensor | None]:
    """h' = φ(inp + W h); J V = φ'(a) ⊙ (W V + Δinp). ``dphi(a, h')`` may reuse h' (tanh:
    1 − h'²). ``inp_tangents`` (B, N, k), the tangents of ``inp`` (a stacked layer's input),
    default none.

    Cost: O(B N²) for the step, O(B k N²) for the tangents (one batched matmul).
    """
    a = inp + h @ weight.T
    out = phi(a)
    if tangents is None:
        return out, None
    pre = _left_matmul(weight, tangents)
    if inp_tangents is not None:
        pre = pre + inp_tangents
    return out, dphi(a, out)[..., None] * pre


def _gru_map(
    h: Tensor,
    inp: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    tangents: Tensor | None,
    inp_tangents: Tensor | None = None,
) -> tuple[Tensor, Tensor | None]:
    """PyTorch's GRU cell on the projected input ``inp`` = W_ih x + b_ih (+ drive), (B, 3N).

        r = σ(i_r + h_r),  z = σ(i_z + h_z),  c = tanh(i_n + r ⊙ h_n),  h' = (1 − z) c + z h
        with (h_r, h_z, h_n) = W_hh h + b_hh.

    Tangents: δr = r(1 − r) ⊙ Δ_r, δz = z(1 − z) ⊙ Δ_z, δc = (1 − c²) ⊙ (δr ⊙ h_n + r ⊙ Δ_n),
    δh' = (1 − z) δc + (h − c) δz + z δh, with Δ = W_hh δh (one matmul, O(B k N²)), gathered
    per block as δh' = a_r ⊙ Δ_r + a_n ⊙ Δ_n + a_z ⊙ Δ_z + z ⊙ δh with a_r = (1 − z)(1 − c²) h_n
    r(1 − r), a_n = (1 − z)(1 − c²) r, a_z = z(1 − z)(h − c): four passes over (B, N, k).
    Tangents Δi of ``inp`` (``inp_tangents``, (B, 3N, k)) enter r and z beside Δ_r, Δ_z and c
    as (1 − z)(1 − c²) Δi_n (not gated by r).
    """
    rec = h @ weight.T
    if bias is not None:
        rec = rec + bias
    i_r, i_z, i_n = inp.chunk(3, dim=-1)
    h_r, h_z, h_n = rec.chunk(3, dim=-1)
    r = torch.sigmoid(i_r + h_r)
    z = torch.sigmoid(i_z + h_z)
    c = torch.tanh(i_n + r * h_n)
    out = (1 - z) * c + z * h
    if tangents is None:
        return out, None
    d_r, d_z, d_n = _left_matmul(weight, tangents).chunk(3, dim=-2)
    gate = (1 - z) * (1 - c * c)
    if inp_tangents is not None:
        t_r, t_z, t_n = inp_tangents.chunk(3, dim=-2)
        d_r, d_z = d_r + t_r, d_z + t_z
    jv = (gate * h_n * r * (1 - r))[..., None] * d_r
    jv.addcmul_(d_n, (gate * r)[..., None])
    jv.addcmul_(d_z, (z * (1 - z) * (h - c))[..., None])
    if inp_tangents is not None:
        jv.addcmul_(t_n, gate[..., None])
    return out, jv.addcmul_(tangents, z[..., None])


def _lstm_map(
    x: Tensor,
    inp: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    tangents: Tensor | None,
    inp_tangents: Tensor | None = None,
) -> tuple[Tensor, Tensor | None]:
    """PyTorch's LSTM cell on the flat state x = (h, c) (B, 2N) and ``inp`` (B, 4N).

        (i, f, g, o) = inp + W_hh h + b_hh,  c' = σ(f) c + σ(i) tanh(g),  h' = σ(o) tanh(c').

    Tangents (Δ = W_hh δh, one matmul): δc' = σ(f) δc + c σ'(f) Δ_f + tanh(g) σ'(i) Δ_i
    + σ(i)(1 − tanh²g) Δ_g, δh' = tanh(c') σ'(o) Δ_o + σ(o)(1 − tanh²c') δc'. O(B k N²).
    Tangents of ``inp`` (``inp_tangents``, (B, 4N, k)) add to Δ.
    """
    size = x.shape[1] // 2
    h, c = x[:, :size], x[:, size:]
    pre = inp + h @ weight.T
    if bias is not None:
        pre = pre + bias
    p_i, p_f, p_g, p_o = pre.chunk(4, dim=-1)
    i, f, o = torch.sigmoid(p_i), torch.sigmoid(p_f), torch.sigmoid(p_o)
    g = torch.tanh(p_g)
    c1 = f * c + i * g
    tc1 = torch.tanh(c1)
    out = torch.cat([o * tc1, c1], 1)
    if tangents is None:
        return out, None
    pre_tangents = _left_matmul(weight, tangents[:, :size])
    if inp_tangents is not None:
        pre_tangents = pre_tangents + inp_tangents
    d_i, d_f, d_g, d_o = pre_tangents.chunk(4, dim=-2)
    dc1 = (
        f[..., None] * tangents[:, size:]
        + (c * f * (1 - f))[..., None] * d_f
        + (g * i * (1 - i))[..., None] * d_i
        + (i * (1 - g * g))[..., None] * d_g
    )
    dh1 = (tc1 * o * (1 - o))[..., None] * d_o + (o * (1 - tc1 * tc1))[..., None] * dc1
    return out, torch.cat([dh1, dc1], 1)


def _gated_recurrence(kind: str, weight: Tensor, bias: Tensor | None) -> Recurrence:
    """The GRU or LSTM recurrence on a projected input, shared with the network adapter."""
    kernel = {"gru": _gru_map, "lstm": _lstm_map}[kind]

    def recurrence(x: Tensor, inp: Tensor, tangents: Tensor | None, inp_tangents=None):
        return kernel(x, inp, weight, bias, tangents, inp_tangents)

    return recurrence


def _simple_rnn_recurrence(nonlinearity: str, weight: Tensor, bias: Tensor | None) -> Recurrence:
    """The Elman recurrence of ``torch.nn.RNN`` (``nonlinearity`` "tanh" or "relu")."""
    if nonlinearity == "tanh":
        phi, dphi = torch.tanh, lambda a, out: 1 - out * out
    else:
        phi, dphi = torch.relu, lambda a, out: (a > 0).to(a.dtype)

    def recurrence(h: Tensor, inp: Tensor, tangents: Tensor | None, inp_tangents=None):
        inp = inp if bias is None else inp + bias
        return _elman_map(h, inp, weight, phi, dphi, tangents, inp_tangents)

    return recurrence


def rnn_layer(
    kind: str,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None,
    b_hh: Tensor | None,
    nonlinearity: str = "tanh",
) -> tuple[Callable[[Tensor], Tensor], Recurrence]:
    """The input projection ``u ↦ W_ih u + b_ih`` and the recurrence of one PyTorch layer.

    Parameters
    ----------
    kind : {"rnn", "gru", "lstm"}
    w_ih, w_hh : Tensor
        (G N, D) and (G N, N), G = 1, 3, 4 gate blocks in PyTorch's order.
    b_ih, b_hh : Tensor or None
    nonlinearity : {"tanh", "relu"}
        Of an ``rnn`` layer.

    Returns
    -------
    (project, recurrence)
        ``project(u)`` (B, D) → (B, G N); ``recurrence(x, inp, V, inp_tangents=None)``.

    Notes
    -----
    Cost per step O(B G N (N + D)); a jvp with k tangents adds O(B k G N²).

    Examples
    --------
    >>> import torch
    >>> project, recurrence = rnn_layer("rnn", torch.ones(2, 1), torch.eye(2), None, None)
    >>> recurrence(torch.zeros(1, 2), project(torch.ones(1, 1)), None)[0]
    tensor([[0.7616, 0.7616]])
    """
    if kind not in GATES:
        raise SystemError_(f"unknown layer kind {kind!r}; valid: {', '.join(GATES)}")

    def project(u: Tensor) -> Tensor:
        inp = u @ w_ih.T
        return inp if b_ih is None else inp + b_ih

    if kind == "rnn":
        if nonlinearity not in ("tanh", "relu"):
            raise SystemError_(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        return project, _simple_rnn_recurrence(nonlinearity, w_hh, b_hh)
    return project, _gated_recurrence(kind, w_hh, b_hh)
