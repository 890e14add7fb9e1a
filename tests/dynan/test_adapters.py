"""Network adapters: closed-form Jacobians against forward-mode autograd, trajectories against
the networks' own forward pass, frozen mode against the full network, clear errors."""

from __future__ import annotations

import copy

import pytest
import torch
from torch.func import jacfwd

from dynan.adapters import as_system
from dynan.adapters.controller import controller_system
from dynan.adapters.network import NetworkSystem, frozen_inputs, network_system
from dynan.adapters.torch_rnn import TorchRNNSystem, torch_rnn_system
from dynan.errors import SystemError_
from dynan.system import simulate
from dynan_models import build

F64 = torch.float64
ALL = ["relu", "softplus", "gamma-homogeneous", "gamma-heterogeneous", "arun", "gru", "lstm"]
SHAPED = ["softplus", "gamma-homogeneous", "gamma-heterogeneous", "arun"]
D, N, G, B, T = 2, 5, 4, 3, 12


def _net(arch: str, *, clamp: bool = False):
    """A small network whose every Jacobian term is active (s ≠ 0, strong read-outs)."""
    kwargs = {"controller_size": G} if arch == "arun" else {}
    net = build(arch, input_size=D, hidden_size=N, output_size=3, **kwargs)
    with torch.no_grad():
        if arch == "arun":
            c = net.controller
            c.s_bias.fill_(0.3)
            c.s_weight.mul_(30.0)
            c.n_weight.mul_(10.0)
            if clamp:  # n = w_n·g + b_n straddles N_MIN: some neurons clamped, some not
                c.n_bias.fill_(0.0)
                c.n_weight.mul_(5.0)
        elif arch.startswith("gamma"):
            net.s.uniform_(0.2, 0.6)
    return net


def _point(system, generator):
    x = system.initial_state(B, generator=generator)
    x = x + 0.5 * torch.randn(B, system.dim, generator=generator, dtype=F64)
    u = torch.randn(B, system.input_dim, generator=generator, dtype=F64)
    if getattr(system, "mode", None) == "frozen":
        u[:, system.input_layout["n"]] = 1.0 + 3.0 * torch.rand(B, N, generator=generator)
        u[:, system.input_layout["s"]] = torch.rand(B, N, generator=generator)
    return x, u


def _autograd_jacobian(system, x, u):
    return torch.stack(
        [jacfwd(lambda z, b=b: system.step(z[None], u[b : b + 1])[0])(x[b]) for b in range(B)]
    )


def _cases():
    for arch in ALL:
        yield arch, "joint"
        if arch in SHAPED:
            yield arch, "frozen"


@pytest.mark.parametrize(("arch", "mode"), list(_cases()))
def test_jacobian_matches_autograd(arch, mode):
    system = network_system(_net(arch), mode=mode)
    x, u = _point(system, torch.Generator().manual_seed(1))
    jac = system.jacobian(x, u)
    assert jac.shape == (B, system.dim, system.dim)
    assert torch.allclose(jac, _autograd_jacobian(system, x, u), rtol=0, atol=1e-10)
    assert jac.abs().max() > 1e-2  # not trivially zero


def test_arun_jacobian_matches_autograd_with_gain_clamped():
    system = network_system(_net("arun", clamp=True))
    x, u = _point(system, torch.Generator().manual_seed(2))
    ctrl = system.network.controller
    g1 = system.decode(system.step(x, u))[1]
    n_raw = g1 @ ctrl.n_weight + ctrl.n_bias
    clamped = n_raw < 1e-2
    assert clamped.any() and (~clamped).any()
    assert torch.allclose(
        system.jacobian(x, u), _autograd_jacobian(system, x, u), rtol=0, atol=1e-10
    )


@pytest.mark.parametrize(("arch", "mode"), list(_cases()))
def test_step_and_jvp_matches_jacobian_times_tangents(arch, mode):
    system = network_system(_net(arch), mode=mode)
    gen = torch.Generator().manual_seed(3)
    x, u = _point(system, gen)
    tangents = torch.randn(B, system.dim, 7, generator=gen, dtype=F64)
    nxt, jv = system.step_and_jvp(x, u, tangents)
    assert torch.equal(nxt, system.step(x, u))
    assert torch.allclose(jv, system.jacobian(x, u) @ tangents, rtol=0, atol=1e-12)
    assert torch.allclose(system.jvp(x, u, tangents), jv, rtol=0, atol=0)


@pytest.mark.parametrize("arch", ALL)
@pytest.mark.parametrize("with_drive", [False, True])
def test_joint_trajectory_reproduces_network(arch, with_drive):
    net = _net(arch)
    reference = copy.deepcopy(net).to(F64)
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(B, T, D, generator=gen, dtype=F64)
    drive = torch.randn(B, T, N, generator=gen, dtype=F64) if with_drive else None
    expected = reference(x, drive, return_trajectories=True)
    system = network_system(net)
    start = system.encode(reference.initial_state(B))
    states = simulate(system, start, T, system.inputs(x, drive))[:, 1:]
    assert torch.allclose(states[..., system.layout["h"]], expected.hidden, rtol=0, atol=1e-13)
    if arch == "arun":
        g = states[..., system.layout["g"]].reshape(B, T, N, G)
        assert torch.allclose(g, expected.controller, rtol=0, atol=1e-13)
    if arch == "lstm":
        assert torch.allclose(states[:, -1, system.layout["c"]], expected.state[1], atol=1e-13)


@pytest.mark.parametrize("arch", SHAPED)
@pytest.mark.parametrize("with_drive", [False, True])
def test_frozen_inputs_reproduce_hidden_trajectory(arch, with_drive):
    net = _net(arch)
    reference = copy.deepcopy(net).to(F64)
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(B, T, D, generator=gen, dtype=F64)
    drive = torch.randn(B, T, N, generator=gen, dtype=F64) if with_drive else None
    expected = reference(x, drive, return_trajectories=True).hidden
    system = network_system(net, mode="frozen")
    for source in (system, net):  # a system or the network itself
        inputs = frozen_inputs(source, x, drive)
        assert inputs.shape == (B, T, D + 3 * N)
        states = simulate(system, torch.zeros(B, N, dtype=F64), T, inputs)[:, 1:]
        # Same formula, same order of operations; only U x + b differs in the last bit: the
        # network projects all T steps in one (B·T, D) product, the system one (B, D) product
        # per step, and BLAS rounds the two shapes differently (a few 1e-16 per step).
        assert torch.allclose(states, expected, rtol=0, atol=1e-13)


def test_frozen_inputs_constant_shape_parameters():
    net = _net("arun")
    system = network_system(net, mode="frozen")
    n, s = torch.linspace(1.0, 3.0, N), torch.full((N,), 0.25)
    x = torch.randn(B, T, D, dtype=F64)
    inputs = system.inputs(x, n=n, s=s)
    assert torch.equal(inputs[..., system.input_layout["n"]], n.to(F64).expand(B, T, N))
    assert torch.equal(inputs[..., system.input_layout["s"]], s.to(F64).expand(B, T, N))
    assert torch.equal(inputs[..., system.input_layout["drive"]], torch.zeros(B, T, N, dtype=F64))
    # the system built with those defaults steps with u=None as x = d = 0 with (n, s)
    fixed = network_system(net, mode="frozen", n=n, s=s)
    h = torch.randn(B, N, dtype=F64)
    u = torch.cat([torch.zeros(B, D + N, dtype=F64), n.expand(B, N), s.expand(B, N)], 1)
    assert torch.equal(fixed.step(h, None), system.step(h, u.to(F64)))


def test_arun_without_readout_weights_joint_h_block_equals_frozen():
    net = _net("arun")
    with torch.no_grad():
        net.controller.n_weight.zero_()
        net.controller.s_weight.zero_()
    joint = network_system(net)
    frozen = network_system(net, mode="frozen")
    gen = torch.Generator().manual_seed(6)
    x, u = _point(joint, gen)
    c = joint.network.controller
    nu = torch.cat([u, c.n_bias.expand(B, N), c.s_bias.expand(B, N)], 1)
    jac = joint.jacobian(x, u)
    h = joint.layout["h"]
    assert torch.allclose(jac[:, h, h], frozen.jacobian(x[:, h], nu), rtol=0, atol=1e-14)
    assert jac[:, h, joint.layout["g"]].abs().max() == 0
    assert torch.allclose(joint.step(x, u)[:, h], frozen.step(x[:, h], nu), rtol=0, atol=1e-15)


def test_static_gamma_frozen_defaults_to_its_own_shape_parameters():
    net = _net("gamma-heterogeneous")
    joint, frozen = network_system(net), network_system(net, mode="frozen")
    x, u = _point(joint, torch.Generator().manual_seed(7))
    assert torch.equal(
        frozen.step(x, frozen.inputs(u[:, None, :D], u[:, None, D:])[:, 0]), joint.step(x, u)
    )


def test_layout_encode_decode_roundtrip():
    system = network_system(_net("arun"))
    assert system.layout == {"h": slice(0, N), "g": slice(N, N + N * G)}
    assert system.dim == N * (1 + G) and system.input_dim == D + N
    h, g = torch.randn(B, N, dtype=F64), torch.randn(B, N, G, dtype=F64)
    flat = system.encode((h, g))
    assert torch.equal(flat[:, N + G : N + 2 * G], g[:, 1])  # neuron-major flattening
    back = system.decode(flat)
    assert torch.equal(back[0], h) and torch.equal(back[1], g)
    lstm = network_system(_net("lstm"))
    assert lstm.layout == {"h": slice(0, N), "c": slice(N, 2 * N)}


def test_initial_state_is_zero_plus_small_noise():
    system = network_system(_net("arun"))
    x0 = system.initial_state(4, generator=torch.Generator().manual_seed(0))
    assert x0.shape == (4, system.dim) and x0.dtype == F64
    assert 0 < x0.abs().max() < 1e-2
    again = system.initial_state(4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(x0, again)


def test_network_system_does_not_touch_the_users_network():
    net = _net("arun")
    before = {k: v.clone() for k, v in net.state_dict().items()}
    system = network_system(net)
    system.step(system.initial_state(2), None)
    assert all(v.dtype == torch.float32 for v in net.state_dict().values())
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())
    assert system.network is not net


@pytest.mark.parametrize("arch", ["relu", "gru", "lstm"])
def test_frozen_mode_without_shape_parameters_is_refused(arch):
    with pytest.raises(SystemError_, match="frozen mode needs shape parameters"):
        network_system(_net(arch), mode="frozen")
    with pytest.raises(SystemError_, match="frozen mode needs shape parameters"):
        frozen_inputs(_net(arch), torch.zeros(1, 2, D))


def test_unknown_mode_lists_valid_names():
    with pytest.raises(SystemError_, match="valid names: joint, frozen"):
        network_system(_net("arun"), mode="adaptive")


def test_bad_shapes_give_clear_errors():
    system = network_system(_net("arun"))
    x = system.initial_state(2)
    with pytest.raises(SystemError_, match=r"state must have shape \(batch, 25\)"):
        system.step(x[:, :5])
    with pytest.raises(SystemError_, match=r"input must have shape"):
        system.step(x, torch.zeros(2, 3, dtype=F64))
    with pytest.raises(SystemError_, match=r"tangents must have shape"):
        system.step_and_jvp(x, None, torch.zeros(2, 25, dtype=F64))
    with pytest.raises(SystemError_, match="state block 'g'"):
        system.encode((torch.zeros(2, N), torch.zeros(2, N * G)))
    with pytest.raises(ValueError, match=r"expects inputs \(batch, time, 2\)"):
        system.inputs(torch.zeros(2, 5, 3))
    frozen = network_system(_net("arun"), mode="frozen")
    with pytest.raises(SystemError_, match="input u of shape"):
        frozen.step(torch.zeros(2, N, dtype=F64))
    with pytest.raises(SystemError_, match="both n and s"):
        frozen.inputs(torch.zeros(2, 5, D), n=torch.ones(N))
    with pytest.raises(SystemError_, match=r"n must be a scalar or have shape \(N,\)"):
        frozen.inputs(torch.zeros(2, 5, D), n=torch.ones(N + 1), s=torch.ones(N + 1))


# -- torch.nn modules ---------------------------------------------------------------------------
TORCH_MODULES = {
    "rnn-tanh": lambda **kw: torch.nn.RNN(D, N, nonlinearity="tanh", **kw),
    "rnn-relu": lambda **kw: torch.nn.RNN(D, N, nonlinearity="relu", **kw),
    "gru": lambda **kw: torch.nn.GRU(D, N, **kw),
    "lstm": lambda **kw: torch.nn.LSTM(D, N, **kw),
}
MODULE_CASES = [
    (name, bias, batch_first)
    for name in TORCH_MODULES
    for bias in (True, False)
    for batch_first in (True, False)
]


@pytest.mark.parametrize(("name", "bias", "batch_first"), MODULE_CASES)
def test_torch_module_steps_reproduce_module_output(name, bias, batch_first):
    module = TORCH_MODULES[name](bias=bias, batch_first=batch_first)
    system = torch_rnn_system(module)
    gen = torch.Generator().manual_seed(8)
    x = torch.randn(B, T, D, generator=gen, dtype=F64)
    module_x = x if batch_first else x.transpose(0, 1)
    expected, final = copy.deepcopy(module).to(F64)(module_x)
    if not batch_first:
        expected = expected.transpose(0, 1)
    inputs = system.inputs(module_x)
    assert torch.equal(inputs, x)
    states = simulate(system, torch.zeros(B, system.dim, dtype=F64), T, inputs)[:, 1:]
    assert torch.allclose(states[..., system.layout["h"]], expected, rtol=0, atol=1e-13)
    if name == "lstm":
        assert torch.allclose(states[:, -1, system.layout["c"]], final[1][0], atol=1e-13)


@pytest.mark.parametrize("name", list(TORCH_MODULES))
@pytest.mark.parametrize("bias", [True, False])
def test_torch_module_jacobian_matches_autograd(name, bias):
    system = torch_rnn_system(TORCH_MODULES[name](bias=bias))
    gen = torch.Generator().manual_seed(9)
    x, u = _point(system, gen)
    jac = system.jacobian(x, u)
    assert torch.allclose(jac, _autograd_jacobian(system, x, u), rtol=0, atol=1e-10)
    tangents = torch.randn(B, system.dim, 5, generator=gen, dtype=F64)
    assert torch.allclose(system.jvp(x, u, tangents), jac @ tangents, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("module", "what"),
    [
        (torch.nn.GRU(D, N, num_layers=2), "num_layers=2"),
        (torch.nn.RNN(D, N, bidirectional=True), "bidirectional=True"),
        (torch.nn.LSTM(D, N, proj_size=2), "proj_size=2"),
    ],
)
def test_torch_module_multi_layer_bidirectional_projected_refused(module, what):
    with pytest.raises(SystemError_, match=what):
        torch_rnn_system(module)


def test_as_system_dispatches_to_the_adapters():
    assert isinstance(as_system(torch.nn.GRU(D, N)), TorchRNNSystem)
    frozen = as_system(_net("arun"), mode="frozen")
    assert isinstance(frozen, NetworkSystem) and frozen.dim == N
    assert frozen.input_dim == D + 3 * N


# -- the ARUN controller alone (step, Jacobian, read-out: tests/dynan/test_controller_system.py)
def test_controller_system_fixed_point_under_constant_input():
    # with W_g scaled to a contraction, iterating under constant a converges to g* = step(g*, a)
    net = _net("arun")
    with torch.no_grad():
        net.controller.recurrent_weight.mul_(0.5)
    system = controller_system(net)
    a = torch.full((2, 1), 0.7, dtype=F64)
    g = simulate(system, system.initial_state(2), 200, a[:, None].expand(2, 200, 1))[:, -1]
    assert torch.allclose(system.step(g, a), g, rtol=0, atol=1e-12)
    assert torch.linalg.eigvals(system.jacobian(g, a)).abs().max() < 1
