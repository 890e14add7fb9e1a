"""Whole-sequence loops of the Elman and ARUN networks with an analytic backward (BPTT).

The straightforward loop (``RecurrentNetwork.loop``: ``recur`` step after step under autograd)
records 5–10 (Elman γ) or ~20 (ARUN) autograd nodes per step, each a small kernel, and walks
them back one by one. Here one ``torch.autograd.Function`` covers the whole sequence: the
forward runs the recursion of REFERENCES.md §1 without autograd, and the backward is its exact
gradient by back-propagation through time, arranged so that everything that does not depend on
the recursion — the activation derivatives ∂γ/∂a, ∂γ/∂n, ∂γ/∂s, tanh', and every parameter
gradient — is computed for all T steps at once in a few large kernels, or (ARUN) accumulated
by one small matrix product per step while its operands are in cache. The loop keeps only what
carries the gradient back one step (Elman: 3 kernels a step; ARUN: 9). Buffers for the saved
states are allocated once per sequence and written in place (no per-step stack).

ARUN on a CPU: tanh p = 2σ(2p) − 1 (σ is ~3× cheaper than tanh), so the controller state is
kept as q = σ(2p) = (g + 1)/2 with g = 2q − 1 folded into the weights; one product per step
gives both the next controller pre-activation and this step's read-outs (n, s); controller
states are stored feature-major, (G, B·N), so products and σ run on contiguous blocks. Where
a C++ compiler is available, each step's controller work (forward, and backward with the
parameter-gradient sums) runs instead as one compiled pass over the neurons
(``dynan_models.native``, ``dynan_models.arun_native``); W h stays a PyTorch product. None of
this changes the equations: the tests compare both steps with the straightforward loop in
float64. torch.compile of the step was tried once (it works offline; compiling took 77 s) and
a one-off timing showed no gain; it is not used.

Equations (per step t, a_t = inp_t + W h_{t−1}; ARUN per neuron i, REFERENCES.md §1):

    Elman:  h_t = φ(a_t),  φ ∈ {ReLU, softplus, γ(·; n, s)}
    ARUN:   g_t^i = tanh(u_g a_t^i + W_g g_{t−1}^i + b_g),
            n_t^i = max(w_n·g_t^i + b_n, N_MIN),  s_t^i = w_s·g_t^i + b_s,
            h_t^i = γ(a_t^i; n_t^i, s_t^i)

with γ(x; n, s) = (1 − s) softplus_n(x) + s σ(n x) and its derivatives of REFERENCES.md §1.
The tests check forward values and every gradient against the straightforward loop.

Cost: time O(T B N²) (Elman) and O(T B N (N + G²)) (ARUN), as the loop; memory O(T B N)
(Elman) and O(T B N G) (ARUN) for the saved states, only when a gradient is needed.

References
----------
Geadah, Horoi, Kerg, Wolf, Lajoie (2024). Neural networks with optimized single-neuron
adaptation uncover biologically plausible regularization. PLOS Comp. Biol.
Werbos (1990). Backpropagation through time: what it does and how to do it. Proc. IEEE 78:1550.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable
from torch.nn import functional as F

from dynan_models.activation import _linear_threshold
from dynan_models.arun_native import native_backward, native_forward, unblocked
from dynan_models.native import Kernels, addresses, arun_kernel, kernels

__all__ = ["arun_sequence", "elman_sequence"]


def _kernel_for(like: Tensor, *others: Tensor, controller: int | None = None) -> Kernels | None:
    """The compiled steps (dynan_models.native) when every tensor is on the CPU in one dtype
    (and, for an ARUN, its controller size is one they take)."""
    if any(t.dtype != like.dtype or t.device != like.device for t in others):
        return None
    return kernels(like) if controller is None else arun_kernel(like, controller)


# -- the derivatives of γ, elementwise over any shape ------------------------------------------
def _gamma_grads(a: Tensor, n: Tensor, s: Tensor, sig: Tensor, sp: Tensor):
    """(∂γ/∂a, ∂γ/∂n, ∂γ/∂s) at (a, n, s) given σ(n a) and softplus_n(a), REFERENCES.md §1."""
    slope = sig * (1 - sig)
    d_a = (1 - s) * sig + s * n * slope
    d_n = (1 - s) / n * (a * sig - sp) + s * a * slope
    return d_a, d_n, sig - sp


# -- Elman -------------------------------------------------------------------------------------
def _elman_forward(inp: Tensor, h0: Tensor, weight: Tensor, kind: str, n, s, keep: bool):
    """States H (T, B, N), time-major; with ``keep`` also the pre-activations A and (γ only)
    σ(n A) and softplus_n(A), each (T, B, N), for the backward (written in place, no stack)."""
    steps = inp.shape[1]
    hs = inp.new_empty(steps, *h0.shape)
    pre = torch.empty_like(hs) if keep else None
    sig = sp = None
    if keep and kind == "gamma":
        sig, sp = torch.empty_like(hs), torch.empty_like(hs)
    h, w_t = h0, weight.T
    threshold = _linear_threshold(inp.dtype)
    compiled = None  # the compiled γ step (dynan_models.native), where available
    if kind == "gamma":
        compiled = _gamma_step(inp, h0, weight, n, s, threshold, hs, sig, sp)
    elif kind == "softplus":  # γ with n = 1, s = 0 and F.softplus's threshold 20
        one = inp.new_ones(())
        compiled = _gamma_step(inp, h0, weight, one, one * 0, 20.0, hs, None, None)
    for t, inp_t in enumerate(inp.unbind(1)):
        a = torch.addmm(inp_t, h, w_t, out=pre[t]) if keep else torch.addmm(inp_t, h, w_t)
        if kind == "relu":
            h = torch.clamp_min(a, 0, out=hs[t])
        elif compiled is not None:
            compiled(t, a)
            h = hs[t]
        elif kind == "softplus":
            h = hs[t]
            h.copy_(F.softplus(a))
        else:  # γ = lerp(softplus_n, σ(n a), s)
            z = a * n
            sp_t = torch.div(F.softplus(z, threshold=threshold), n, out=sp[t] if keep else None)
            sig_t = torch.sigmoid(z, out=sig[t] if keep else None)
            h = torch.lerp(sp_t, sig_t, s, out=hs[t])
    return hs, pre, sig, sp


def _gamma_step(inp, h0, weight, n: Tensor, s: Tensor, threshold: float, hs, sig, sp):
    """``step(t, a)``: the compiled γ activation of step t writing hs[t] (and σ(n a), softplus_n(a)
    into sig[t], sp[t] when given; softplus is linear above ``threshold``), or None where the
    compiled steps are not available."""
    kernel = _kernel_for(inp, h0, weight, n, s)
    if kernel is None:
        return None
    n_rows, s_rows = n.expand(h0.shape).contiguous(), s.expand(h0.shape).contiguous()
    rows = h0.numel()
    h_at, sig_at, sp_at = map(addresses, (hs, sig, sp))
    n_at, s_at = addresses(n_rows), addresses(s_rows)  # they keep n_rows, s_rows alive

    # one thread: W h, PyTorch's threaded product, is most of an Elman step's work
    def step(t: int, a: Tensor) -> None:
        kernel.gamma(rows, a.data_ptr(), n_at(0), s_at(0), threshold, h_at(t), sig_at(t), sp_at(t))

    return step


class _ElmanSequence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, inp, h0, weight, n, s, kind):
        hs, pre, sig, sp = _elman_forward(inp, h0, weight, kind, n, s, keep=True)
        ctx.kind = kind
        ctx.save_for_backward(pre, hs, h0, weight, n, s, sig, sp)
        return hs.transpose(0, 1)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_h):
        pre, hs, h0, weight, n, s, sig, sp = ctx.saved_tensors
        kind = ctx.kind
        if kind == "relu":
            d_a = (pre > 0).to(pre.dtype)
        elif kind == "softplus":  # torch's softplus backward: exactly 1 beyond its threshold 20
            d_a = torch.where(pre > 20, 1.0, torch.sigmoid(pre))
        else:  # ∂γ/∂a = σ ((1 − s) + s n (1 − σ))
            d_a = torch.addcmul(1 - s, s * n, 1 - sig).mul_(sig)
        shape_grads = kind == "gamma" and (ctx.needs_input_grad[3] or ctx.needs_input_grad[4])
        grad_pre = torch.empty_like(pre)
        totals = torch.empty_like(pre) if shape_grads else None
        carry = torch.zeros_like(h0)
        for t, g_t in zip(range(len(pre) - 1, -1, -1), reversed(grad_h.unbind(1)), strict=True):
            total = torch.add(g_t, carry, out=totals[t] if shape_grads else None)  # ∂L/∂h_t
            carry = torch.mul(total, d_a[t], out=grad_pre[t]) @ weight
        size = weight.shape[0]
        grad_w = grad_pre[1:].reshape(-1, size).T @ hs[:-1].reshape(-1, size)
        grad_w.addmm_(grad_pre[0].T, h0)
        grad_n = grad_s = None
        if shape_grads:
            # Σ_bt ∂L/∂h ∂γ/∂(n, s) with n, s constant over (b, t): four sums suffice,
            # ∂γ/∂s = σ − sp, ∂γ/∂n = ((1 − s)/n)(a σ − sp) + s a σ (1 − σ)
            t_sig = totals * sig
            r_sig, r_sp = t_sig.sum((0, 1)), (totals * sp).sum((0, 1))
            t_a_sig = t_sig.mul_(pre)
            r_a_sig, r_a_sig2 = t_a_sig.sum((0, 1)), (t_a_sig * sig).sum((0, 1))
            grad_s = (r_sig - r_sp).sum_to_size(s.shape)
            grad_n = ((1 - s) / n * (r_a_sig - r_sp) + s * (r_a_sig - r_a_sig2)).sum_to_size(
                n.shape
            )
        return grad_pre.transpose(0, 1), carry, grad_w, grad_n, grad_s, None


def elman_sequence(
    inp: Tensor, h0: Tensor, weight: Tensor, kind: str, n: Tensor | None, s: Tensor | None
) -> Tensor:
    """States h_1 … h_T (B, T, N) of h_t = φ(inp_t + W h_{t−1}) from h0 (B, N).

    ``kind`` is "relu", "softplus" or "gamma" (then ``n``, ``s`` broadcast to (N,); n > 0).
    One autograd node for the whole sequence when a gradient is needed.
    """
    if kind not in ("relu", "softplus", "gamma"):
        raise ValueError(f"kind must be relu, softplus or gamma, got {kind!r}")
    if kind != "gamma":
        n = s = inp.new_ones(())  # placeholders: never used, never differentiated
    tensors = (inp, h0, weight, n, s)
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        return _ElmanSequence.apply(inp, h0, weight, n, s, kind)
    with torch.no_grad():
        return _elman_forward(inp, h0, weight, kind, n, s, keep=False)[0].transpose(0, 1)


# -- ARUN --------------------------------------------------------------------------------------
def _arun_forward(inp, h0, g0, weight, u, w_g, b_g, w_ns, b_ns, n_min, keep: bool):
    """Run the recursion. Returns H (B, T, N) and q_T (G, B·N); with ``keep`` also, for the
    backward and the trajectories: A (T, B, N); the state blocks (T + 1, G + 2, B·N), slot t
    holding [q_{t−1}; 1; a_t]; the raw read-outs (T, 2, B·N) = (w_n·g + b_n, w_s·g + b_s);
    σ(n a) and softplus_n(a) (T, B, N).

    Three choices make the step cheap on a CPU, none changes the equations:
    tanh p = 2σ(2p) − 1 (σ is ~3× cheaper than tanh), so the controller state is kept as
    q = σ(2p) = (g + 1)/2 and g = 2q − 1 is folded into the weights (g W + b = q 2W + b − 1ᵀW);
    one matrix product per step, [4 W_g | 2 w_n | 2 w_s]ᵀ q_t, gives both the next step's
    (doubled) controller pre-activation and this step's read-outs; and the controller states
    are stored feature-major, (G, B·N), so that product and σ run on contiguous blocks.
    """
    batch, steps, size = inp.shape
    rows, controller = batch * size, g0.shape[-1]
    w_t, u2 = weight.T, 2 * u[:, None]
    w_cat = torch.cat([2 * w_g, w_ns.T])  # (G + 2, G): g ↦ (2 p_next − 2 u a, raw)
    b_cat = torch.cat([2 * b_g, b_ns])[:, None]
    w_q, b_q = 2 * w_cat, b_cat - w_cat.sum(1, keepdim=True)  # the same map on q = (g + 1)/2
    g = g0.reshape(rows, controller).T
    threshold = _linear_threshold(inp.dtype)
    kernel = _kernel_for(inp, h0, g0, weight, w_q, controller=controller)
    if kernel is not None:
        q0 = torch.add(g, 1).mul_(0.5)
        hs, q, saved = native_forward(
            kernel, inp, h0, q0, weight, w_q, b_q, u2, n_min, threshold, keep
        )
        return hs.transpose(0, 1), q, saved, kernel
    sig = sp = None
    if keep:
        # slot t: [q_{t−1}; 1; a_t] — the backward's one product per step with this block
        # also yields the sums (row of ones) and the input-weight gradient (row a_t)
        qs = inp.new_empty(steps + 1, controller + 2, rows)
        qs[:, controller] = 1
        qs[steps, controller + 1] = 0
        torch.add(g, 1, out=qs[0, :controller]).mul_(0.5)
        pre_all = qs[:steps, controller + 1].view(steps, batch, size)
        raw_all = inp.new_empty(steps, 2, rows)
        sig, sp = torch.empty_like(pre_all), torch.empty_like(pre_all)
    y = torch.addmm(b_cat, w_cat, g)
    q_buffer = None if keep else inp.new_empty(controller, rows)
    h, hs = h0, inp.new_empty(steps, batch, size)
    for t, inp_t in enumerate(inp.unbind(1)):
        a = torch.addmm(inp_t, h, w_t, out=pre_all[t]) if keep else torch.addmm(inp_t, h, w_t)
        pre = y[:controller].addcmul_(u2, a.reshape(1, -1))
        q = torch.sigmoid(pre, out=qs[t + 1, :controller] if keep else q_buffer)
        y = torch.addmm(b_q, w_q, q)
        raw = y[controller:]
        n = raw[0].clamp_min(n_min).view(batch, size)
        z = a * n  # γ(a; n, s) = lerp(softplus_n(a), σ(n a), s)
        sp_t = torch.div(F.softplus(z, threshold=threshold), n, out=sp[t] if keep else None)
        sig_t = torch.sigmoid(z, out=sig[t] if keep else None)
        h = torch.lerp(sp_t, sig_t, raw[1].view(batch, size), out=hs[t])
        if keep:
            raw_all[t] = raw
    hs = hs.transpose(0, 1)
    if not keep:
        return hs, q, None, None
    return hs, q, (pre_all, qs, raw_all, sig, sp), None


def _states(qs: Tensor, kernel: Kernels | None, controller: int, rows: int) -> Tensor:
    """q_1 … q_T (T, G, B·N) from the saved states of the loop that ran: PyTorch's blocks
    (T + 1, G + 2, B·N), or (``kernel`` given) the compiled step's blocked layout
    (T + 1, ⌈B·N/lanes⌉, G, lanes)."""
    return qs[1:, :controller] if kernel is None else unblocked(qs[1:], rows)


def _arun_backward_loop(grad_h, grad_gs, grad_raw, saved, n_min):
    """BPTT in PyTorch operations: (∂L/∂A (T, B, N), ∂L/∂h_0, ∂L/∂p_0 (G, B·N), acc), where
    acc = Σ_t [q_t; 1; a_{t+1}] [∂L/∂p_{t+1}; ∂L/∂(n, s)_t]ᵀ (see ``native_backward``)."""
    h0, weight, u, w_g, w_ns, pre, qs, raw, sig, sp = saved
    steps, batch, size = pre.shape
    controller, rows = qs.shape[1] - 2, qs.shape[2]
    # what the recursion does not need, for all T steps at once
    n_raw = raw[:, 0].view(steps, batch, size)
    n = n_raw.clamp_min(n_min)
    s = raw[:, 1].view(steps, batch, size)
    d_a, d_n, d_s = _gamma_grads(pre, n, s, sig, sp)
    d_n = d_n * (n_raw >= n_min)  # clamp_min passes the gradient where n ≥ N_MIN
    d_ns = torch.stack([d_n, d_s], 1).view(steps, 2, rows)
    if grad_h is None:
        grad_h = pre.new_zeros(batch, steps, size)
    # x = [∂L/∂p_{t+1} ; ∂L/∂(n, s)_t] (p the controller's pre-tanh), (G + 2, B·N): one
    # product with [W_gᵀ | w_n | w_s] carries both back to g_t; tanh'(p) = 1 − g²
    # = 4 q (1 − q), the factor 4 folded into that product. The parameter gradients are
    # accumulated in the loop while their operands are in cache: Σ_t [q_t; 1] xᵀ and
    # Σ_t ∂L/∂p_t [a_t, 1].
    x = qs.new_zeros(controller + 2, rows)
    w_back = 4 * torch.cat([w_g, w_ns.T]).T  # (G, G + 2)
    acc = qs.new_zeros(controller + 2, controller + 2)  # Σ_t [q_t; 1; a_{t+1}] xᵀ
    grad_a = torch.empty_like(pre)
    carry_h = torch.zeros_like(h0)
    for t in range(steps - 1, -1, -1):
        total = grad_h[:, t] + carry_h  # ∂L/∂h_t
        g_ns = torch.mul(total.reshape(1, -1), d_ns[t], out=x[controller:])
        if grad_raw is not None:
            g_ns += grad_raw[t]
        acc.addmm_(qs[t + 1], x.T)
        if grad_gs is None:
            g_g4 = w_back @ x  # 4 ∂L/∂g_t, (G, B·N)
        else:
            g_g4 = torch.addmm(grad_gs[t], w_back, x, beta=4)
        q_t = qs[t + 1, :controller]
        g_pre = torch.mul(g_g4, torch.addcmul(q_t, q_t, q_t, value=-1), out=x[:controller])
        g_a = torch.addmv((total * d_a[t]).view(-1), g_pre.T, u, out=grad_a[t].view(-1))
        carry_h = g_a.view(batch, size) @ weight
    return grad_a, carry_h, x[:controller], acc


class _ARUNSequence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, inp, h0, g0, weight, u, w_g, b_g, w_ns, b_ns, n_min, keep):
        hs, q, (pre, qs, raw, sig, sp), kernel = _arun_forward(
            inp, h0, g0, weight, u, w_g, b_g, w_ns, b_ns, n_min, keep=True
        )
        controller = g0.shape[-1]
        ctx.n_min = n_min
        ctx.kernel = kernel  # the backward runs the loop whose states were saved
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(h0, g0, weight, u, w_g, w_ns, hs, pre, qs, raw, sig, sp)
        g_last = q.mul(2).sub_(1)
        if not keep:
            return hs, g_last
        states = _states(qs, kernel, controller, inp.shape[0] * inp.shape[2])
        return hs, g_last, states.mul(2).sub_(1), raw

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_h, grad_last, grad_gs=None, grad_raw=None):
        h0, g0, weight, u, w_g, w_ns, hs, pre, qs, raw, sig, sp = ctx.saved_tensors
        steps, batch, size = pre.shape
        controller, rows = g0.shape[-1], batch * size
        if grad_last is not None:
            shape = (steps, controller, rows)
            grad_gs = grad_gs.clone() if grad_gs is not None else qs.new_zeros(shape)
            grad_gs[-1] += grad_last
        saved = (h0, weight, u, w_g, w_ns, pre, qs, raw, sig, sp)
        kernel = ctx.kernel
        loop = _arun_backward_loop if kernel is None else partial(native_backward, kernel)
        grad_a, carry_h, first, acc = loop(grad_h, grad_gs, grad_raw, saved, ctx.n_min)
        # first = ∂L/∂p_0 multiplies g_0 and a_0; Σ_t g_t xᵀ with g = 2q − 1: 2 Σ q xᵀ − 1 (Σ x)ᵀ
        both = 2 * acc[:controller] - acc[controller]
        h_prev = torch.cat([h0[None], hs.transpose(0, 1)[:-1]]).reshape(-1, size)
        return (
            grad_a.transpose(0, 1),
            carry_h,
            (first.T @ w_g).view_as(g0),
            grad_a.reshape(-1, size).T @ h_prev,
            acc[controller + 1, :controller] + first @ pre[0].reshape(-1),
            both[:, :controller].T + first @ g0.reshape(rows, controller),
            acc[controller, :controller] + first.sum(1),
            both[:, controller:],
            acc[controller, controller:],
            None,
            None,
        )


def arun_sequence(
    inp: Tensor,
    h0: Tensor,
    g0: Tensor,
    weight: Tensor,
    controller,
    n_min: float,
    *,
    keep: bool = False,
) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
    """Run an ARUN over inp (B, T, N) from (h0 (B, N), g0 (B, N, G)).

    ``controller`` holds u_g, W_g, b_g, w_n, b_n, w_s, b_s (``dynan_models.arun.Controller``).
    Returns H (B, T, N), the final g (B, N, G) and, with ``keep``, the controller states
    (B, T, N, G) and the raw read-outs (B, T, N, 2) (w_n·g + b_n unclamped, w_s·g + b_s).
    One autograd node for the whole sequence when a gradient is needed.
    """
    c = controller
    params = (
        inp,
        h0,
        g0,
        weight,
        c.input_weight,
        c.recurrent_weight,
        c.bias,
        torch.stack([c.n_weight, c.s_weight], 1),
        torch.stack([c.n_bias, c.s_bias]),
    )
    batch, steps, size = inp.shape
    gs = raw = None
    if torch.is_grad_enabled() and any(t.requires_grad for t in params):
        out = _ARUNSequence.apply(*params, n_min, keep)
        hs, g_last = out[:2]
        if keep:
            gs, raw = out[2:]
    else:
        with torch.no_grad():
            hs, q, saved, kernel = _arun_forward(*params, n_min, keep=keep)
        g_last = q.mul(2).sub_(1)
        if keep:
            gs = _states(saved[1], kernel, g0.shape[-1], batch * size).mul(2).sub_(1)
            raw = saved[2]
    final = g_last.T.reshape(batch, size, -1)
    if not keep:
        return hs, final, None, None
    gs = gs.view(steps, -1, batch, size).permute(2, 0, 3, 1)
    raw = raw.view(steps, 2, batch, size).permute(2, 0, 3, 1)
    return hs, final, gs, raw
