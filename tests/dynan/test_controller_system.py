"""The ARUN controller alone as a system: its step, Jacobian and read-out against models."""

from __future__ import annotations

import pytest
import torch
from torch.func import jacrev

from dynan.adapters.controller import ControllerSystem, controller_system
from dynan.errors import SystemError_
from dynan_models import build

F64 = torch.float64


@pytest.fixture
def arun():
    torch.manual_seed(2)
    return build("arun", input_size=2, hidden_size=5, output_size=3, controller_size=4).double()


def _states(batch: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(7)
    g = 0.8 * torch.rand(batch, size, generator=gen, dtype=F64) - 0.4
    a = 3 * torch.randn(batch, 1, generator=gen, dtype=F64)
    return g, a


def test_step_matches_the_networks_controller(arun):
    system = controller_system(arun)
    assert isinstance(system, ControllerSystem)
    assert (system.dim, system.input_dim, system.layout) == (4, 1, {"g": slice(0, 4)})
    g, a = _states(6, 4)
    expected = arun.controller(g[:, None, :], a)[:, 0]  # one neuron per example
    torch.testing.assert_close(system.step(g, a), expected, rtol=0, atol=1e-15)
    zero = arun.controller(g[:, None, :], torch.zeros(6, 1, dtype=F64))[:, 0]
    torch.testing.assert_close(system.step(g), zero, rtol=0, atol=1e-15)  # u=None: a = 0


def test_jacobian_matches_autograd(arun):
    system = controller_system(arun)
    g, a = _states(3, 4)
    jac = system.jacobian(g, a)
    for b in range(3):
        ref = jacrev(lambda s, b=b: system.step(s[None], a[b : b + 1])[0])(g[b])
        torch.testing.assert_close(jac[b], ref, rtol=0, atol=1e-14)
    tangents = torch.randn(3, 4, 2, dtype=F64)
    torch.testing.assert_close(system.jvp(g, a, tangents), jac @ tangents, rtol=0, atol=1e-14)


def test_shape_parameters_match_readout(arun):
    system = controller_system(arun)
    g, _ = _states(5, 4)
    n, s = system.shape_parameters(g)
    n_ref, s_ref = arun.controller.readout(g[:, None, :])
    torch.testing.assert_close(n, n_ref[:, 0], rtol=0, atol=1e-15)
    torch.testing.assert_close(s, s_ref[:, 0], rtol=0, atol=1e-15)


def test_system_is_a_copy(arun):
    system = controller_system(arun)
    g, a = _states(2, 4)
    before = system.step(g, a)
    with torch.no_grad():
        arun.controller.recurrent_weight.zero_()
    torch.testing.assert_close(system.step(g, a), before, rtol=0, atol=0)


def test_bad_network_dtype_and_shapes(arun):
    with pytest.raises(SystemError_, match="needs an ARUN network, got ElmanRNN"):
        controller_system(build("relu", input_size=1, hidden_size=3, output_size=2))
    with pytest.raises(SystemError_, match="floating-point torch dtype"):
        controller_system(arun, dtype=torch.int64)
    system = controller_system(arun)
    with pytest.raises(SystemError_, match=r"state must have shape \(batch, 4\)"):
        system.step(torch.zeros(2, 3, dtype=F64), torch.zeros(2, 1, dtype=F64))
    with pytest.raises(SystemError_, match=r"input must have shape"):
        system.step(torch.zeros(2, 4, dtype=F64), torch.zeros(2, 2, dtype=F64))
