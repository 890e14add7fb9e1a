"""Cells, stacked modules and custom cells as systems: steps against torch's own modules on the
same weights, closed-form Jacobians against forward-mode autograd through torch's modules."""

from __future__ import annotations

import copy

import pytest
import torch
from torch.func import jacfwd

import dynan
from dynan.adapters.cells import TorchCellSystem, torch_cell_system
from dynan.adapters.custom import ModuleCellSystem, module_cell_system
from dynan.adapters.stacked import stacked_rnn_system
from dynan.errors import SystemError_
from dynan.system import simulate

F64 = torch.float64
D, N, B, T = 3, 5, 4, 9

CELLS = {
    "rnn-tanh": lambda bias: torch.nn.RNNCell(D, N, bias=bias, nonlinearity="tanh"),
    "rnn-relu": lambda bias: torch.nn.RNNCell(D, N, bias=bias, nonlinearity="relu"),
    "gru": lambda bias: torch.nn.GRUCell(D, N, bias=bias),
    "lstm": lambda bias: torch.nn.LSTMCell(D, N, bias=bias),
}
MODULES = {
    "rnn-tanh": lambda **kw: torch.nn.RNN(D, N, nonlinearity="tanh", **kw),
    "rnn-relu": lambda **kw: torch.nn.RNN(D, N, nonlinearity="relu", **kw),
    "gru": lambda **kw: torch.nn.GRU(D, N, **kw),
    "lstm": lambda **kw: torch.nn.LSTM(D, N, **kw),
}


def _strong(module: torch.nn.Module) -> torch.nn.Module:
    """Weights scaled up so that gates and nonlinearities leave their linear range."""
    with torch.no_grad():
        for p in module.parameters():
            p.mul_(2.5)
    return module


def _point(dim: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    x = 0.8 * torch.randn(B, dim, generator=gen, dtype=F64)
    u = torch.randn(B, D, generator=gen, dtype=F64)
    return x, u


def _autograd_jacobian(reference, x, u):
    """∂ reference(x, u) / ∂x per example, by forward-mode autograd through torch's modules."""
    return torch.stack(
        [jacfwd(lambda z, b=b: reference(z[None], u[b : b + 1])[0])(x[b]) for b in range(B)]
    )


# -- cells ---------------------------------------------------------------------------------------
def _torch_cell_step(cell, kind):
    """Flat state → flat next state through torch's own cell (float64 copy)."""
    cell = copy.deepcopy(cell).to(F64)

    def step(x, u):
        if kind == "lstm":
            h, c = cell(u, (x[..., :N], x[..., N:]))
            return torch.cat([h, c], -1)
        return cell(u, x)

    return step


@pytest.mark.parametrize("kind", list(CELLS))
@pytest.mark.parametrize("bias", [True, False])
def test_cell_step_and_jacobian_match_torch_cell(kind, bias):
    cell = _strong(CELLS[kind](bias))
    system = torch_cell_system(cell)
    assert isinstance(system, TorchCellSystem)
    assert system.dim == (2 * N if kind == "lstm" else N) and system.input_dim == D
    reference = _torch_cell_step(cell, kind)
    x, u = _point(system.dim, torch.Generator().manual_seed(3))
    assert torch.allclose(system.step(x, u), reference(x, u), rtol=0, atol=1e-14)
    jac = system.jacobian(x, u)
    assert torch.allclose(jac, _autograd_jacobian(reference, x, u), rtol=0, atol=1e-12)
    assert jac.abs().max() > 1e-2
    tangents = torch.randn(B, system.dim, 4, dtype=F64)
    assert torch.allclose(system.jvp(x, u, tangents), jac @ tangents, rtol=0, atol=1e-12)


def test_cell_runs_under_zero_input_by_default():
    system = dynan.as_system(torch.nn.GRUCell(D, N))
    x, _ = _point(N, torch.Generator().manual_seed(4))
    assert torch.equal(system.step(x), system.step(x, torch.zeros(B, D, dtype=F64)))


def test_cell_system_leaves_the_users_cell_alone():
    cell = torch.nn.LSTMCell(D, N)
    before = copy.deepcopy(cell.state_dict())
    torch_cell_system(cell)
    assert cell.weight_hh.dtype == torch.float32
    assert all(torch.equal(before[k], v) for k, v in cell.state_dict().items())


# -- stacked modules -----------------------------------------------------------------------------
@pytest.mark.parametrize("kind", list(MODULES))
@pytest.mark.parametrize("layers", [2, 3])
def test_stacked_trajectory_reproduces_module(kind, layers):
    module = _strong(MODULES[kind](num_layers=layers, batch_first=True, dropout=0.3)).eval()
    system = dynan.as_system(module)
    width = 2 if kind == "lstm" else 1
    assert system.dim == width * layers * N and system.blocks["h"] == (layers, N)
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(B, T, D, generator=gen, dtype=F64)
    out, final = copy.deepcopy(module).to(F64)(x)
    states = simulate(system, torch.zeros(B, system.dim, dtype=F64), T, system.inputs(x))
    h = states[..., system.layout["h"]].reshape(B, T + 1, layers, N)
    assert torch.allclose(h[:, 1:, -1], out, rtol=0, atol=1e-13)  # output = top layer's h
    h_n = final[0] if kind == "lstm" else final
    assert torch.allclose(h[:, -1], h_n.transpose(0, 1), rtol=0, atol=1e-13)
    if kind == "lstm":
        c = states[:, -1, system.layout["c"]].reshape(B, layers, N)
        assert torch.allclose(c, final[1].transpose(0, 1), rtol=0, atol=1e-13)


def _torch_stack_step(module, kind, layers):
    """Flat stacked state → next flat state through torch's own module (one time step)."""
    module = copy.deepcopy(module).to(F64)

    def step(x, u):
        h = x[..., : layers * N].reshape(-1, layers, N).transpose(0, 1)
        if kind == "lstm":
            c = x[..., layers * N :].reshape(-1, layers, N).transpose(0, 1)
            _, (h1, c1) = module(u[None], (h.contiguous(), c.contiguous()))
            return torch.cat([h1.transpose(0, 1).flatten(1), c1.transpose(0, 1).flatten(1)], -1)
        _, h1 = module(u[None], h.contiguous())
        return h1.transpose(0, 1).flatten(1)

    return step


@pytest.mark.parametrize("kind", list(MODULES))
@pytest.mark.parametrize("bias", [True, False])
def test_stacked_block_jacobian_matches_autograd_through_module(kind, bias):
    layers = 3
    module = _strong(MODULES[kind](num_layers=layers, bias=bias))
    system = stacked_rnn_system(module)
    reference = _torch_stack_step(module, kind, layers)
    x, u = _point(system.dim, torch.Generator().manual_seed(6))
    assert torch.allclose(system.step(x, u), reference(x, u), rtol=0, atol=1e-13)
    jac = system.jacobian(x, u)
    assert torch.allclose(jac, _autograd_jacobian(reference, x, u), rtol=0, atol=1e-12)
    # block lower-triangular in the layers, with the off-diagonal blocks really present
    h_block = jac[:, : layers * N, : layers * N].reshape(B, layers, N, layers, N)
    assert h_block[:, 0, :, 1:].abs().max() == 0
    assert h_block[:, 2, :, 0].abs().max() > 1e-3
    tangents = torch.randn(B, system.dim, 6, dtype=F64)
    assert torch.allclose(system.jvp(x, u, tangents), jac @ tangents, rtol=0, atol=1e-12)


def test_one_layer_stack_equals_the_single_layer_system():
    module = _strong(torch.nn.LSTM(D, N))
    x, u = _point(2 * N, torch.Generator().manual_seed(7))
    single, stack = dynan.as_system(module), stacked_rnn_system(module)
    assert torch.allclose(stack.step(x, u), single.step(x, u), rtol=0, atol=1e-15)
    assert torch.allclose(stack.jacobian(x, u), single.jacobian(x, u), rtol=0, atol=1e-15)


@pytest.mark.parametrize(
    "module",
    [
        torch.nn.GRU(D, N, bidirectional=True),
        torch.nn.LSTM(D, N, num_layers=2, bidirectional=True),
    ],
)
def test_bidirectional_refused_as_not_a_system_in_time(module):
    with pytest.raises(SystemError_, match="not a dynamical system in time"):
        dynan.as_system(module)


def test_stacked_projected_lstm_refused():
    with pytest.raises(SystemError_, match="proj_size=2"):
        dynan.as_system(torch.nn.LSTM(D, N, num_layers=2, proj_size=2))


# -- custom cells --------------------------------------------------------------------------------
class _Adaptive(torch.nn.Module):
    """A user's cell in torch's convention: leaky tanh units with an input-dependent gain."""

    def __init__(self):
        super().__init__()
        self.inp = torch.nn.Linear(D, N)
        self.rec = torch.nn.Linear(N, N, bias=False)
        self.gain = torch.nn.Parameter(torch.linspace(0.5, 2.0, N))

    def forward(self, input, hx):
        return 0.3 * hx + torch.tanh(self.gain * (self.rec(hx) + self.inp(input)))


def test_custom_cell_step_and_jacobian_match_module_and_autograd():
    cell = _strong(_Adaptive())
    system = dynan.as_system(cell, dim=N, input_dim=D)
    assert isinstance(system, ModuleCellSystem)
    reference = copy.deepcopy(cell).to(F64)
    x, u = _point(N, torch.Generator().manual_seed(8))
    assert torch.allclose(system.step(x, u), reference(u, x), rtol=0, atol=1e-15)
    jac = system.jacobian(x, u)
    # closed form of this cell: 0.3 I + diag((1 − tanh²) gain) W_rec
    pre = reference.gain * (reference.rec(x) + reference.inp(u))
    expected = (
        0.3 * torch.eye(N, dtype=F64)
        + ((1 - torch.tanh(pre) ** 2) * reference.gain)[..., None] * reference.rec.weight
    )
    assert torch.allclose(jac, expected, rtol=0, atol=1e-14)
    assert torch.equal(system.step(x), system.step(x, torch.zeros(B, D, dtype=F64)))


def test_custom_cell_wraps_a_torch_cell_like_the_closed_form():
    cell = _strong(torch.nn.GRUCell(D, N))
    x, u = _point(N, torch.Generator().manual_seed(9))
    auto = module_cell_system(cell, dim=N, input_dim=D)
    closed = dynan.as_system(cell)
    assert torch.allclose(auto.jacobian(x, u), closed.jacobian(x, u), rtol=0, atol=1e-13)


def test_custom_cell_errors_are_one_line_and_clear():
    with pytest.raises(SystemError_, match="needs dim= and input_dim="):
        dynan.as_system(_Adaptive())
    with pytest.raises(SystemError_, match="must return the next hx"):
        module_cell_system(_TupleCell(), dim=N, input_dim=D)
    with pytest.raises(SystemError_, match=r"failed: .*"):
        module_cell_system(_Adaptive(), dim=N, input_dim=D + 1)
    with pytest.raises(SystemError_, match="dim must be an integer >= 1"):
        module_cell_system(_Adaptive(), dim=0, input_dim=D)


class _TupleCell(torch.nn.Module):
    def forward(self, input, hx):
        return hx, hx
