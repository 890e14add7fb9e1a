"""ARUN's forward and backward loops through the compiled step (``dynan_models.native``).

The same recursion and results as the PyTorch loops of ``dynan_models.sequence`` (which call
these when the compiled step is available): W h stays a PyTorch product (MKL for any N), and
everything the controller does in a step is one call to the C++ kernel. Buffers: the
pre-activations A, σ(n a) and softplus_n(a) (T, B, N) and the raw read-outs (T, 2, B·N) as in
the PyTorch loop; the controller states q_0 … q_T in the kernel's blocked layout
(T + 1, ⌈B·N/lanes⌉, G, lanes) (see ``steps.cpp``), which :func:`unblocked` turns back into
(…, G, B·N).

Cost per step: one (B, N) × (N, N) product each way, and O(B N G²) in the kernel, split over
``torch.get_num_threads()`` threads by :func:`dynan_models.native.parts`; memory O(T B N G) for
the saved states when a gradient is needed (less than the PyTorch loop's: no rows of ones and
pre-activations among them), plus a (G + 2)² × lanes accumulator per part.

References: Geadah et al. (2024) PLOS Comp. Biol. (REFERENCES.md §1); Werbos (1990), BPTT.
"""

from __future__ import annotations

import torch
from torch import Tensor

from dynan_models.native import Kernels, addresses, parts, run_parts, torch_on_one_thread

__all__ = ["blocked", "native_backward", "native_forward", "unblocked"]


def blocked(x: Tensor, lanes: int) -> Tensor:
    """(…, G, R) → (…, ⌈R/lanes⌉, G, lanes), zero-padded, contiguous."""
    pad = -x.shape[-1] % lanes
    if pad:
        x = torch.nn.functional.pad(x, (0, pad))
    return x.unflatten(-1, (-1, lanes)).transpose(-3, -2).contiguous()


def unblocked(x: Tensor, rows: int) -> Tensor:
    """(…, ⌈R/lanes⌉, G, lanes) → (…, G, R): the inverse of :func:`blocked`."""
    return x.transpose(-3, -2).flatten(-2)[..., :rows]


def native_forward(kernel: Kernels, inp, h, q, weight, w_q, b_q, u2, n_min, threshold, keep):
    """Run the recursion from (h (B, N), q (G, B·N)); ``keep`` as ``_arun_forward``.

    ``w_q``, ``b_q``: the (G + 2, G) map and bias on q of ``_arun_forward`` (rows: the doubled
    controller pre-activation, then the raw read-outs); ``u2`` (G, 1) = 2 u_g.
    Returns (H (T, B, N), q_T (G, B·N), buffers) with buffers = (A, Q, raw, σ, sp) or None,
    Q the blocked states q_0 … q_T.
    """
    batch, steps, size = inp.shape
    controller, rows = q.shape
    w_t = weight.T
    w_p, b_p, u_p = w_q[:controller].contiguous(), b_q[:controller, 0].contiguous(), u2[:, 0]
    w_r, b_r = w_q[controller:].contiguous(), b_q[controller:, 0].contiguous()
    hs = inp.new_empty(steps, batch, size)
    q0 = blocked(q, kernel.lanes)
    if keep:
        qs = q0.new_empty(steps + 1, *q0.shape)
        qs[0] = q0
        pre, raw = torch.empty_like(hs), inp.new_empty(steps, 2, rows)
        sig, sp = torch.empty_like(hs), torch.empty_like(hs)
        q_at = addresses(qs)
        q_in, q_out = (lambda t: q_at(t)), (lambda t: q_at(t + 1))
    else:
        pre = raw = sig = sp = None
        pair = (q0, torch.empty_like(q0))
        ends = (pair[0].data_ptr(), pair[1].data_ptr())
        q_in, q_out = (lambda t: ends[t % 2]), (lambda t: ends[(t + 1) % 2])
    h_at, raw_at, sig_at, sp_at = map(addresses, (hs, raw, sig, sp))
    u_p = u_p.contiguous()
    weights = (w_p.data_ptr(), b_p.data_ptr(), u_p.data_ptr(), w_r.data_ptr(), b_r.data_ptr())
    pieces = parts(rows, kernel.lanes)
    with torch_on_one_thread(pieces):
        for t, inp_t in enumerate(inp.unbind(1)):
            a = torch.addmm(inp_t, h, w_t, out=pre[t]) if keep else torch.addmm(inp_t, h, w_t)
            given = (
                a.data_ptr(), q_in(t), q_out(t), *weights, n_min, threshold,
                h_at(t), raw_at(t), sig_at(t), sp_at(t),
            )  # fmt: skip
            run_parts(
                lambda i, r0, r1, g=given: kernel.forward(rows, controller, r0, r1, *g), pieces
            )
            h = hs[t]
    if keep:
        return hs, unblocked(qs[steps], rows), (pre, qs, raw, sig, sp)
    return hs, unblocked(pair[steps % 2], rows), None


def native_backward(kernel: Kernels, grad_h, grad_gs, grad_raw, saved, n_min):
    """BPTT through the compiled step: (∂L/∂A (T, B, N), ∂L/∂h_0, ∂L/∂p_0 (G, B·N), acc).

    ``saved`` = (h0, weight, u, w_g, w_ns, A, Q, raw, σ, sp) from :func:`native_forward`;
    ``grad_gs`` (T, G, B·N) and ``grad_raw`` (T, 2, B·N) are the gradients of the kept
    trajectories or None; acc = Σ_t [q_t; 1; a_{t+1}] [∂L/∂p_{t+1}; ∂L/∂(n, s)_t]ᵀ.
    """
    h0, weight, u, w_g, w_ns, pre, qs, raw, sig, sp = saved
    steps, batch, size = pre.shape
    controller, rows = w_g.shape[0], batch * size
    w_b = (4 * torch.cat([w_g, w_ns.T]).T).contiguous()  # (G, G + 2) → 4 ∂L/∂g_t from x
    u = u.contiguous()
    x_g = qs.new_zeros(qs.shape[1:])  # ∂L/∂p_{t+1}, then ∂L/∂p_t (blocked)
    width = controller + 2
    pieces = parts(rows, kernel.lanes)
    acc = qs.new_zeros(len(pieces), width * width * kernel.lanes)  # one per part (thread)
    acc_at = addresses(acc)
    grad_a = torch.empty_like(pre)
    carry = torch.zeros_like(h0)
    grad_gs = grad_gs.contiguous() if grad_gs is not None else None
    grad_raw = grad_raw.contiguous() if grad_raw is not None else None
    pre_at, raw_at, sig_at, sp_at, q_at, gg_at, gr_at, ga_at = map(
        addresses, (pre, raw, sig, sp, qs, grad_gs, grad_raw, grad_a)
    )
    fixed = (x_g.data_ptr(),)
    with torch_on_one_thread(pieces):
        for t in range(steps - 1, -1, -1):
            total = carry if grad_h is None else grad_h[:, t] + carry  # ∂L/∂h_t, contiguous
            given = (
                total.data_ptr(), pre_at(t), pre_at(t + 1) if t + 1 < steps else None, raw_at(t),
                sig_at(t), sp_at(t), q_at(t + 1), *fixed, gg_at(t), gr_at(t), w_b.data_ptr(),
                u.data_ptr(), n_min, ga_at(t),
            )  # fmt: skip
            run_parts(
                lambda i, r0, r1, g=given: kernel.backward(
                    rows, controller, r0, r1, *g, acc_at(i)
                ),
                pieces,
            )
            carry = grad_a[t] @ weight
    first = unblocked(x_g, rows)
    return grad_a, carry, first, acc.view(-1, width, width, kernel.lanes).sum((0, -1))
