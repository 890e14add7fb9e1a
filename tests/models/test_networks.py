"""The network family against its equations (REFERENCES.md §1) and its own limits."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from dynan_models import ARCHITECTURES, ARUN, ElmanRNN, GRUNet, LSTMNet, build

B, T, D, N, OUT, G = 3, 7, 2, 6, 4, 5
F64 = torch.float64
SHAPED = {"softplus", "gamma-homogeneous", "gamma-heterogeneous", "arun"}


def _net(arch: str, *, output_mode: str = "last", dtype=F64):
    extra = {"controller_size": G} if arch == "arun" else {}
    net = build(
        arch, input_size=D, hidden_size=N, output_size=OUT, output_mode=output_mode, **extra
    )
    return net.to(dtype)


def _inputs(dtype=F64, *, steps: int = T):
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(B, steps, D, generator=gen, dtype=dtype)
    drive = 0.5 * torch.randn(B, steps, N, generator=gen, dtype=dtype)
    return x, drive


def _gamma_reference(a, n, s):
    """γ from its definition, independent of the module: logaddexp(0, z) = log(1 + e^z)."""
    z = n * a
    return (1 - s) * torch.logaddexp(torch.zeros_like(z), z) / n + s * torch.sigmoid(z)


def re_shape(shape: tuple[int, ...]) -> str:
    """A shape as the regular expression of its printed tuple."""
    return r"\(" + ", ".join(map(str, shape)) + r"\)"


# -- shapes and modes ------------------------------------------------------------------------


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_forward_shapes(arch):
    net = _net(arch)
    x, drive = _inputs()
    out = net(x, drive, return_trajectories=True)
    assert out.logits.shape == (B, OUT)
    assert out.hidden.shape == (B, T, N)
    assert len(out.state) == len(net.state_shapes())
    for tensor, shape in zip(out.state, net.state_shapes(), strict=True):
        assert tensor.shape == (B, *shape)
    if arch in SHAPED:
        assert out.n.shape == out.s.shape == (B, T, N)
    else:
        assert out.n is None and out.s is None
    if arch == "arun":
        assert out.controller.shape == (B, T, N, G)
    else:
        assert out.controller is None
    assert net(x).hidden is None  # trajectories only on request


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
@pytest.mark.parametrize("with_drive", [False, True], ids=["plain", "drive"])
def test_output_mode_all_reads_out_every_step(arch, with_drive):
    net = _net(arch, output_mode="all")
    last = _net(arch)
    last.load_state_dict(net.state_dict())
    x, drive = _inputs()
    drive = drive if with_drive else None
    out = net(x, drive, return_trajectories=True)
    assert out.logits.shape == (B, T, OUT)
    torch.testing.assert_close(out.logits, net.readout(out.hidden), rtol=0, atol=1e-14)
    torch.testing.assert_close(out.logits[:, -1], last(x, drive).logits, rtol=0, atol=1e-13)


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_arguments_rebuild_the_same_network(arch):
    net = _net(arch, output_mode="all")
    again = build(net.architecture, **net.arguments)
    assert type(again) is type(net)
    assert again.arguments == net.arguments
    assert again.architecture == arch
    assert {k: v.shape for k, v in again.state_dict().items()} == {
        k: v.shape for k, v in net.state_dict().items()
    }


# -- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_drive_shape_error_is_clear(arch):
    net = _net(arch)
    x, _ = _inputs()
    for bad in ((B, T, N + 1), (B, T - 1, N), (T, N)):
        message = (
            rf"drive must have shape \(batch, time, hidden\) = \({B}, {T}, {N}\), "
            rf"got {re_shape(bad)}"
        )
        with pytest.raises(ValueError, match=message):
            net(x, torch.zeros(bad, dtype=F64))


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_input_errors_are_clear(arch):
    net = _net(arch)
    with pytest.raises(ValueError, match=rf"expects inputs \(batch, time, {D}\), got \(3, 2\)"):
        net(torch.zeros(3, 2, dtype=F64))
    with pytest.raises(ValueError, match=rf"expects inputs \(batch, time, {D}\), got \(3, 4, 5\)"):
        net(torch.zeros(3, 4, 5, dtype=F64))
    with pytest.raises(ValueError, match="at least one time step"):
        net(torch.zeros(3, 0, D, dtype=F64))
    with pytest.raises(
        ValueError, match=r"inputs have dtype torch.float32 but the weights torch.float64"
    ):
        net(torch.zeros(3, 4, D, dtype=torch.float32))
    with pytest.raises(ValueError, match=r"state must be a tuple of tensors with shapes"):
        net(torch.zeros(3, 4, D, dtype=F64), state=net.initial_state(2))
    with pytest.raises(ValueError, match=r"state must be a tuple .* got Tensor"):
        net(torch.zeros(3, 4, D, dtype=F64), state=torch.zeros(3, N, dtype=F64))
    state = net.initial_state(B)
    with pytest.raises(ValueError, match=rf"x_t must have shape \(batch, {D}\)"):
        net.step(state, torch.zeros(B, 1, D, dtype=F64))
    with pytest.raises(ValueError, match=rf"drive_t must have shape \(batch, hidden\) = \({B}, "):
        net.step(state, torch.zeros(B, D, dtype=F64), torch.zeros(B, N + 1, dtype=F64))


@pytest.mark.parametrize(
    ("arch", "arguments", "message"),
    [
        ("nope", {}, "unknown architecture 'nope'; valid names: relu, softplus"),
        ("relu", {"variant": "softplus"}, "does not match variant"),
        ("arun", {"controller_size": 0}, "controller_size must be a positive integer"),
        ("gru", {"output_mode": "first"}, "output_mode must be one of"),
    ],
)
def test_build_errors(arch, arguments, message):
    base = {"input_size": 1, "hidden_size": 4, "output_size": 2}
    with pytest.raises(ValueError, match=message):
        build(arch, **base, **arguments)


def test_size_errors():
    with pytest.raises(ValueError, match="hidden_size must be a positive integer, got 0"):
        build("relu", input_size=1, hidden_size=0, output_size=2)
    with pytest.raises(ValueError, match="input_size must be a positive integer, got True"):
        build("relu", input_size=True, hidden_size=3, output_size=2)


# -- the sequence loop -----------------------------------------------------------------------


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_step_loop_equals_forward(arch):
    net = _net(arch)
    x, drive = _inputs()
    out = net(x, drive, return_trajectories=True)
    state = net.initial_state(B, dtype=F64)
    for t in range(T):
        state = net.step(state, x[:, t], drive[:, t])
        torch.testing.assert_close(net.hidden(state), out.hidden[:, t], rtol=0, atol=1e-14)
    for a, b in zip(state, out.state, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-14)


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_forward_continues_from_a_given_state(arch):
    net = _net(arch)
    x, drive = _inputs()
    full = net(x, drive, return_trajectories=True)
    first = net(x[:, :3], drive[:, :3])
    rest = net(x[:, 3:], drive[:, 3:], state=first.state, return_trajectories=True)
    torch.testing.assert_close(rest.hidden, full.hidden[:, 3:], rtol=0, atol=1e-14)
    torch.testing.assert_close(rest.logits, full.logits, rtol=0, atol=1e-14)


@pytest.mark.parametrize(
    ("variant", "phi"),
    [("relu", torch.relu), ("softplus", nn.functional.softplus)],
)
def test_elman_equals_its_equation(variant, phi):
    # h_t = φ(U x_t + W h_{t−1} + b + d_t), logits = V h_T + c
    net = _net(variant)
    with torch.no_grad():
        net.bias.normal_()
    x, drive = _inputs()
    h = torch.zeros(B, N, dtype=F64)
    for t in range(T):
        h = phi(x[:, t] @ net.input_weight.T + h @ net.recurrent_weight.T + net.bias + drive[:, t])
    out = net(x, drive)
    torch.testing.assert_close(out.state[0], h, rtol=0, atol=1e-14)
    torch.testing.assert_close(out.logits, net.readout(h), rtol=0, atol=1e-14)


@pytest.mark.parametrize(
    "variant", ["relu", "softplus", "gamma-homogeneous", "gamma-heterogeneous"]
)
def test_elman_activation_derivative_equals_autograd(variant):
    net = _net(variant)
    if variant.startswith("gamma"):
        with torch.no_grad():
            net.s.uniform_(0, 1)
            net.n.uniform_(0.5, 8)
    a = torch.linspace(-3, 3, 4 * N, dtype=F64).reshape(4, N).requires_grad_()
    (auto,) = torch.autograd.grad(net.activation(a).sum(), a)
    torch.testing.assert_close(net.activation_derivative(a.detach()), auto, rtol=1e-12, atol=0)


# -- gated baselines -------------------------------------------------------------------------


@pytest.mark.parametrize("arch", ["gru", "lstm"])
@pytest.mark.parametrize("output_mode", ["last", "all"])
def test_gated_explicit_cell_equals_fused_kernel(arch, output_mode):
    # with a (zero) drive the explicit cell runs; without one the fused nn.GRU / nn.LSTM does
    net = _net(arch, output_mode=output_mode)
    assert isinstance(net.rnn, nn.GRU if arch == "gru" else nn.LSTM)
    x, _ = _inputs()
    fused = net(x, return_trajectories=True)
    cell = net(x, torch.zeros(B, T, N, dtype=F64), return_trajectories=True)
    torch.testing.assert_close(cell.hidden, fused.hidden, rtol=0, atol=1e-14)
    torch.testing.assert_close(cell.logits, fused.logits, rtol=0, atol=1e-14)
    for a, b in zip(cell.state, fused.state, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-14)


@pytest.mark.parametrize("cls", [GRUNet, LSTMNet])
def test_gated_drive_enters_the_candidate_only(cls):
    # a drive d on the candidate block equals a fused run whose candidate input bias is b + d
    net = cls(D, N, OUT).to(F64)
    x, _ = _inputs()
    d = torch.randn(N, dtype=F64)
    driven = net(x, d.expand(B, T, N), return_trajectories=True)
    shifted = cls(D, N, OUT).to(F64)
    shifted.load_state_dict(net.state_dict())
    with torch.no_grad():
        shifted.rnn.bias_ih_l0[2 * N : 3 * N] += d  # GRU (r, z, n) / LSTM (i, f, g, o): block 2
    torch.testing.assert_close(
        driven.hidden, shifted(x, return_trajectories=True).hidden, rtol=0, atol=1e-14
    )


# -- ARUN ------------------------------------------------------------------------------------


def test_arun_constant_controller_equals_heterogeneous_gamma():
    # w_n = w_s = 0, b_n = n0, b_s = s0: every neuron's shape is (n0, s0) at every step
    n0, s0 = 2.5, 0.3
    arun = _net("arun")
    het = _net("gamma-heterogeneous")
    with torch.no_grad():
        arun.bias.normal_()
        arun.controller.n_weight.zero_()
        arun.controller.s_weight.zero_()
        arun.controller.n_bias.fill_(n0)
        arun.controller.s_bias.fill_(s0)
        for name in ("input_weight", "recurrent_weight", "bias"):
            getattr(het, name).copy_(getattr(arun, name))
        het.readout.load_state_dict(arun.readout.state_dict())
        het.n.fill_(n0)
        het.s.fill_(s0)
    x, drive = _inputs()
    a = arun(x, drive, return_trajectories=True)
    h = het(x, drive, return_trajectories=True)
    # equal to rounding: ARUN's compiled step evaluates σ and softplus with its own exp/log1p
    # (a few ulp from PyTorch's); the shapes themselves are exact
    torch.testing.assert_close(a.hidden, h.hidden, rtol=1e-14, atol=1e-15)
    torch.testing.assert_close(a.logits, h.logits, rtol=1e-14, atol=1e-15)
    torch.testing.assert_close(a.n, torch.full((B, T, N), n0, dtype=F64), rtol=0, atol=0)
    torch.testing.assert_close(a.s, torch.full((B, T, N), s0, dtype=F64), rtol=0, atol=0)
    torch.testing.assert_close(h.n, a.n, rtol=0, atol=0)
    # a controller that is not constant does change the network
    with torch.no_grad():
        arun.controller.n_weight.fill_(0.5)
    assert not torch.allclose(arun(x, drive).logits, h.logits)


def _arun_per_neuron_reference(net: ARUN, x, drive):
    """REFERENCES.md §1 written out with a Python loop over neurons."""
    c = net.controller
    h = torch.zeros(B, N, dtype=F64)
    g = torch.zeros(B, N, G, dtype=F64)
    hs, ns, ss, gs = [], [], [], []
    for t in range(x.shape[1]):
        a = x[:, t] @ net.input_weight.T + h @ net.recurrent_weight.T + net.bias + drive[:, t]
        g_next, h_next = torch.empty_like(g), torch.empty_like(h)
        n_t, s_t = torch.empty_like(h), torch.empty_like(h)
        for i in range(N):
            g_i = torch.tanh(
                a[:, i, None] * c.input_weight + g[:, i] @ c.recurrent_weight.T + c.bias
            )
            n_t[:, i] = g_i @ c.n_weight + c.n_bias
            s_t[:, i] = g_i @ c.s_weight + c.s_bias
            g_next[:, i] = g_i
            h_next[:, i] = _gamma_reference(a[:, i], n_t[:, i], s_t[:, i])
        h, g = h_next, g_next
        hs.append(h)
        ns.append(n_t)
        ss.append(s_t)
        gs.append(g)
    return torch.stack(hs, 1), torch.stack(ns, 1), torch.stack(ss, 1), torch.stack(gs, 1)


def test_arun_batched_controller_equals_per_neuron_loop():
    net = _net("arun")
    with torch.no_grad():  # make every controller weight matter
        for p in (net.bias, net.controller.bias):
            p.normal_(0, 0.5)
        net.controller.n_weight.normal_(0, 1.0)
        net.controller.s_weight.normal_(0, 0.3)
        net.controller.s_bias.fill_(0.4)
    x, drive = _inputs()
    out = net(x, drive, return_trajectories=True)
    hidden, n, s, g = _arun_per_neuron_reference(net, x, drive)
    assert n.min() > 0.5  # clamping of n never active here
    assert s.std() > 0.05  # the shapes do vary across neurons and steps
    torch.testing.assert_close(out.controller, g, rtol=0, atol=1e-14)
    torch.testing.assert_close(out.n, n, rtol=0, atol=1e-13)
    torch.testing.assert_close(out.s, s, rtol=0, atol=1e-13)
    torch.testing.assert_close(out.hidden, hidden, rtol=0, atol=1e-13)


class _CountCalls(TorchFunctionMode):
    """Counts the torch functions called while active."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.calls += 1
        return func(*args, **(kwargs or {}))


def test_arun_controller_has_no_loop_over_neurons():
    # one step must call a fixed number of torch functions however many neurons there are
    def count(hidden: int) -> int:
        net = ARUN(1, hidden, 2, controller_size=3).to(F64)
        state = net.initial_state(1)
        with _CountCalls() as counter:
            net.step(state, torch.zeros(1, 1, dtype=F64))
        return counter.calls

    assert count(4) == count(40) > 0


def test_arun_controller_state_resets_per_sequence():
    net = _net("arun")
    x, drive = _inputs()
    once = net(x, drive).logits
    net(2 * x)  # a previous sequence must leave no trace
    torch.testing.assert_close(net(x, drive).logits, once, rtol=0, atol=0)


# -- limits between variants -----------------------------------------------------------------


def test_relu_network_is_gamma_network_at_large_n():
    # |softplus_n(a) − relu(a)| ≤ log2/n elementwise; both are 1-Lipschitz and W is orthogonal,
    # so ‖h^γ_t − h^relu_t‖₂ ≤ t·√N·log2/n.
    big_n = 1e4
    relu = _net("relu")
    gam = _net("gamma-homogeneous")
    with torch.no_grad():
        for name in ("input_weight", "recurrent_weight", "bias"):
            getattr(gam, name).copy_(getattr(relu, name))
        gam.n.fill_(big_n)
        gam.s.zero_()
    x, drive = _inputs()
    hr = relu(x, drive, return_trajectories=True).hidden
    hg = gam(x, drive, return_trajectories=True).hidden
    err = (hg - hr).norm(dim=-1)  # (B, T)
    bound = torch.arange(1, T + 1, dtype=F64) * math.sqrt(N) * math.log(2) / big_n
    assert (err <= bound * (1 + 1e-9)).all()
    assert (hg[:, 0] - hr[:, 0]).abs().max() <= math.log(2) / big_n
    assert err.max() > 0  # the two networks are different functions


def test_softplus_network_is_gamma_with_n1_s0():
    soft = _net("softplus")
    gam = _net("gamma-heterogeneous")
    gam.load_state_dict({**soft.state_dict(), "n": torch.ones(N), "s": torch.zeros(N)})
    x, drive = _inputs()
    torch.testing.assert_close(gam(x, drive).logits, soft(x, drive).logits, rtol=1e-14, atol=0)


def test_homogeneous_gamma_shares_one_shape_across_neurons():
    net = _net("gamma-homogeneous")
    with torch.no_grad():
        net.n.fill_(3.0)
        net.s.fill_(0.25)
    out = net(*_inputs(), return_trajectories=True)
    assert net.n.shape == (1,)
    assert (out.n == 3.0).all() and (out.s == 0.25).all()


def test_gain_is_clamped_positive():
    # γ divides by n; a learned n pushed through zero must not produce inf/NaN
    net = _net("gamma-heterogeneous")
    with torch.no_grad():
        net.n.fill_(-1.0)
    out = net(*_inputs(), return_trajectories=True)
    assert torch.isfinite(out.hidden).all()
    assert (out.n > 0).all()


def test_elman_rnn_direct_construction():
    net = ElmanRNN(D, N, OUT, variant="softplus")
    assert net.architecture == "softplus"
    with pytest.raises(ValueError, match="variant must be one of"):
        ElmanRNN(D, N, OUT, variant="tanh")
    assert isinstance(_net("arun"), ARUN)
