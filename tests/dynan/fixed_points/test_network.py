"""Fixed points of trained networks (joint, frozen), of the ARUN controller, and of the zoo."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch

import dynan
from dynan.adapters.controller import controller_system
from dynan.adapters.network import network_system
from dynan.errors import SystemError_
from dynan.fixed_points import (
    controller_fixed_points,
    network_fixed_points,
    network_starts,
    task_trajectories,
)
from dynan_models import build
from dynan_models.activation import gamma

F64 = torch.float64
ZOO = Path(__file__).resolve().parents[3] / "models" / "zoo"


def _net(architecture: str, **extra):
    torch.manual_seed(5)
    net = build(architecture, input_size=2, hidden_size=6, output_size=2, **extra).double()
    return net


def _sequences(batch: int = 8, steps: int = 30) -> torch.Tensor:
    gen = torch.Generator().manual_seed(1)
    return torch.rand(batch, steps, 2, generator=gen, dtype=F64)


def _network_residual(net, system, states: np.ndarray, x_const: np.ndarray) -> float:
    """max |F(x) − x| with F the network's own step (models), not the adapter."""
    state = system.decode(torch.as_tensor(states))
    x_t = torch.as_tensor(x_const, dtype=F64).expand(len(states), -1)
    with torch.no_grad():
        nxt = system.encode(tuple(net.step(tuple(state), x_t)))
    return float((nxt - torch.as_tensor(states)).abs().max())


@pytest.mark.parametrize(
    ("architecture", "extra"),
    [("arun", {"controller_size": 3}), ("gru", {}), ("softplus", {}), ("lstm", {})],
)
def test_joint_points_are_fixed_points_of_the_network(architecture, extra):
    net = _net(architecture, **extra)
    system = network_system(net)
    constant = np.array([0.3, -0.2])
    fp = network_fixed_points(net, x=_sequences(), input=constant, n_inits=48)
    assert len(fp) >= 1 and fp.states.shape[1] == system.dim
    assert _network_residual(net, system, fp.states, constant) < 1e-13
    u = system.inputs(torch.as_tensor(constant, dtype=F64).expand(1, 1, 2))[0, 0].numpy()
    np.testing.assert_array_equal(fp.inputs, np.tile(u, (len(fp), 1)))


def test_arun_joint_point_holds_each_neurons_controller_at_its_own_fixed_point():
    """At a joint fixed point every g^i is a fixed point of the controller under a^i = W h + b,
    and h^i = γ(a^i; n(g^i), s(g^i)) (REFERENCES.md §1)."""
    net = _net("arun", controller_size=3)
    fp = network_fixed_points(net, x=_sequences(), n_inits=48)
    ctrl = controller_system(net)
    for state in fp.states:
        h, g = torch.as_tensor(state[:6]), torch.as_tensor(state[6:]).reshape(6, 3)
        a = (net.recurrent_weight @ h + net.bias).detach()
        torch.testing.assert_close(ctrl.step(g, a[:, None]), g, rtol=0, atol=1e-13)
        n, s = ctrl.shape_parameters(g)
        torch.testing.assert_close(gamma(a, n, s), h, rtol=0, atol=1e-13)


def test_frozen_mode_points_use_the_held_shape_parameters():
    net = _net("arun", controller_size=3)
    fp = network_fixed_points(net, mode="frozen", x=_sequences(), n_inits=48, hold=50)
    system = network_system(net, mode="frozen")
    u = torch.as_tensor(fp.inputs)
    residual = system.step(torch.as_tensor(fp.states), u) - torch.as_tensor(fp.states)
    assert len(fp) >= 1 and float(residual.abs().max()) < 1e-13
    # the held (n, s) are those of the full network after 50 steps of zero input
    out = net(torch.zeros(1, 50, 2, dtype=F64), return_trajectories=True)
    n_held = out.n[0, -1].detach().numpy()
    np.testing.assert_allclose(fp.inputs[0, system.input_layout["n"]], n_held, atol=1e-14)


def test_task_trajectories_shapes_and_errors():
    net = _net("gru")
    system = network_system(net)
    assert task_trajectories(system, x=_sequences(3, 7)).shape == (3, 8, 6)
    with pytest.raises(SystemError_, match="no checkpoint and so no task: pass x"):
        task_trajectories(system)
    with pytest.raises(SystemError_, match="needs a network system"):
        task_trajectories(controller_system(_net("arun", controller_size=2)), x=_sequences())
    with pytest.raises(ValueError, match=r"expects inputs \(batch, time, 2\)"):
        task_trajectories(system, x=torch.zeros(3, 7, 5))


def test_starts_stay_in_the_task_region_when_the_constant_input_map_diverges():
    """h' = relu(1.5 h + 0.1) runs away under zero input; the relaxed starts stop inside
    twice the task states' largest distance from their centroid."""
    net = _net("relu")
    with torch.no_grad():
        net.recurrent_weight.copy_(1.5 * torch.eye(6))
        net.bias.fill_(0.1)
    system = network_system(net)
    u = torch.zeros(system.input_dim, dtype=F64)
    starts = network_starts(system, u, x=_sequences(), n_inits=64, relax=200)
    pool = task_trajectories(system, x=_sequences())[:, 1:].reshape(-1, 6)
    centre = pool.mean(0)
    radius = float((pool - centre).norm(dim=1).max())
    assert float((starts - centre).norm(dim=1).max()) <= 2 * radius
    assert float((starts - centre).norm(dim=1).max()) > 1.2 * radius  # they did relax outwards


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"input": [1.0, 2.0, 3.0]}, SystemError_, r"input must be 2 finite number\(s\)"),
        ({"input": [np.nan, 0.0]}, SystemError_, "finite"),
        ({"mode": "tangent"}, SystemError_, "valid names: joint, frozen"),
        ({"relax": -1}, ValueError, "relax must be a non-negative integer"),
    ],
)
def test_network_fixed_points_bad_calls(options, error, message):
    with pytest.raises(error, match=message):
        network_fixed_points(_net("arun", controller_size=2), x=_sequences(), **options)


# -- the controller alone ----------------------------------------------------------------------
def test_controller_without_recurrence_is_at_tanh_of_its_input():
    """W_g = 0: g* = tanh(u_g a + b_g) exactly, with J = 0 (stable)."""
    net = _net("arun", controller_size=5)
    with torch.no_grad():
        net.controller.recurrent_weight.zero_()
        net.controller.bias.copy_(torch.linspace(-0.5, 0.5, 5))
    a = np.array([-2.0, 0.0, 1.5])
    fp = controller_fixed_points(net, inputs=a, n_inits=16)
    ctrl = net.controller
    expected = torch.tanh(torch.as_tensor(a)[:, None] * ctrl.input_weight + ctrl.bias)
    np.testing.assert_allclose(fp.inputs[:, 0], a)
    np.testing.assert_allclose(fp.states, expected.detach().numpy(), rtol=0, atol=1e-15)
    assert fp.kinds == ("stable",) * 3 and np.abs(fp.eigenvalues).max() < 1e-15


def test_controller_without_input_weights_has_input_independent_points():
    net = _net("arun", controller_size=4)
    with torch.no_grad():
        net.controller.input_weight.zero_()
        net.controller.recurrent_weight.mul_(0.5)  # a contraction: one stable point
    fp = controller_fixed_points(net, inputs=np.linspace(-3, 3, 5), n_inits=16)
    assert len(fp) == 5 and fp.kinds == ("stable",) * 5
    np.testing.assert_allclose(fp.states, np.tile(fp.states[0], (5, 1)), rtol=0, atol=1e-15)
    system = controller_system(net)
    g = torch.as_tensor(fp.states)
    assert float((system.step(g, torch.as_tensor(fp.inputs)) - g).abs().max()) < 1e-15


def test_controller_points_move_with_the_input_and_satisfy_the_map():
    net = _net("arun", controller_size=4)
    fp = controller_fixed_points(net, inputs=np.linspace(-4, 4, 9), n_inits=32)
    system = controller_system(net)
    g = torch.as_tensor(fp.states)
    assert float((system.step(g, torch.as_tensor(fp.inputs)) - g).abs().max()) < 1e-13
    assert set(fp.inputs[:, 0]) == set(np.linspace(-4, 4, 9))


def test_controller_fixed_points_bad_calls():
    with pytest.raises(SystemError_, match="need an ARUN network, got GRUNet"):
        controller_fixed_points(_net("gru"))
    with pytest.raises(SystemError_, match="1-D array of finite pre-activations"):
        controller_fixed_points(_net("arun", controller_size=2), inputs=[[0.0, 1.0]])


# -- the zoo -----------------------------------------------------------------------------------
def test_zoo_flipflop_has_2_to_the_n_stable_fixed_points():
    """A 3-bit flip-flop network stores 2³ memories: 8 stable fixed points, one per corner of
    the read-out cube (Sussillo & Barak 2013; REFERENCES.md §3). Checked against the end states
    of long free runs from the task's states (an independent way to find the attractors)."""
    path = ZOO / "gru-flipflop3-s1.safetensors"
    if not path.is_file():
        pytest.skip(f"{path.name} not in the zoo (make zoo builds it)")
    net = dynan.load(path, dtype=F64)
    bits = net.checkpoint.task["bits"]
    fp = network_fixed_points(net, n_sequences=32, n_inits=128)
    stable = fp.states[fp.is_stable]
    # every attractor of long zero-input runs from the task's states is one of the points
    system = network_system(net)
    x = task_trajectories(system, n_sequences=32)[:, -1]
    u = torch.zeros(x.shape[0], system.input_dim, dtype=F64)
    with torch.no_grad():
        for _ in range(3000):
            x = system.step(x, u)
    gap = torch.cdist(x, torch.as_tensor(stable)).min(1).values
    assert float(gap.max()) < 1e-4
    # one stable point per corner of the read-out cube
    readout = net.readout.weight.detach().numpy()
    bias = net.readout.bias.detach().numpy()
    corners = {tuple(np.sign(s @ readout.T + bias).astype(int)) for s in stable}
    missing = set(itertools.product((-1, 1), repeat=bits)) - corners
    assert not missing, f"no stable fixed point holds the memories {sorted(missing)}"
    assert len(stable) == 2**bits
