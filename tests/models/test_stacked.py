"""Stacked networks against PyTorch's own multi-layer modules: the layer-by-layer recurrence, the
state layout, where the drive enters, and clear errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dynan_models import StackedGRU, StackedLSTM, StackedRNN, build

F64 = torch.float64
B, T, D, N, OUT, L = 3, 8, 2, 5, 4, 3
CASES = [
    ("stacked-rnn", {"nonlinearity": "tanh"}),
    ("stacked-rnn", {"nonlinearity": "relu"}),
    ("stacked-gru", {}),
    ("stacked-lstm", {}),
]
IDS = ["rnn-tanh", "rnn-relu", "gru", "lstm"]


def _net(arch, extra, **options):
    torch.manual_seed(0)
    net = build(arch, input_size=D, hidden_size=N, output_size=OUT, num_layers=L, **extra)
    with torch.no_grad():  # weights large enough that every layer's nonlinearity bites
        for p in net.rnn.parameters():
            p.mul_(2.0)
    return net.to(F64)


def _inputs():
    gen = torch.Generator().manual_seed(2)
    return torch.randn(B, T, D, generator=gen, dtype=F64), torch.randn(
        B, T, N, generator=gen, dtype=F64
    )


def _module_run(net, x, state=None):
    """torch's own module (a copy with the same weights): output, (h_n[, c_n]) batch first."""
    module = type(net.rnn)(
        D, N, num_layers=L, batch_first=True, **({"nonlinearity": net.nonlinearity}
        if isinstance(net, StackedRNN) else {})
    ).to(F64)  # fmt: skip
    module.load_state_dict(net.rnn.state_dict())
    hx = None if state is None else tuple(t.transpose(0, 1).contiguous() for t in state)
    out, final = module(x, hx if hx is None or len(hx) > 1 else hx[0])
    final = final if isinstance(final, tuple) else (final,)
    return out, tuple(t.transpose(0, 1) for t in final)


@pytest.mark.parametrize(("arch", "extra"), CASES, ids=IDS)
def test_layer_by_layer_recurrence_equals_torch_module(arch, extra):
    net = _net(arch, extra)
    x, _ = _inputs()
    state = net.initial_state(B)
    assert [tuple(t.shape) for t in state] == [(B, L, N)] * (2 if arch.endswith("lstm") else 1)
    out, final = _module_run(net, x)
    assert out.abs().max() > 0.1
    hidden = []
    for t in range(T):  # net.step runs recur (the layers one by one), never the fused module
        state = net.step(state, x[:, t])
        hidden.append(net.hidden(state))
    torch.testing.assert_close(torch.stack(hidden, 1), out, rtol=1e-13, atol=1e-13)
    for mine, theirs in zip(state, final, strict=True):  # every layer's h (and c), layer 0 first
        torch.testing.assert_close(mine, theirs, rtol=1e-13, atol=1e-13)
    logits = net(x).logits
    torch.testing.assert_close(logits, net.readout(out[:, -1]), rtol=0, atol=1e-13)


@pytest.mark.parametrize(("arch", "extra"), CASES, ids=IDS)
def test_forward_continues_from_a_given_state_like_torch(arch, extra):
    net = _net(arch, extra)
    x, _ = _inputs()
    start = tuple(0.3 * torch.randn(B, L, N, dtype=F64) for _ in net.initial_state(B))
    out, final = _module_run(net, x, start)
    run = net(x, state=start, return_trajectories=True)
    torch.testing.assert_close(run.hidden, out, rtol=0, atol=1e-13)
    for mine, theirs in zip(run.state, final, strict=True):
        torch.testing.assert_close(mine, theirs, rtol=0, atol=1e-13)


@pytest.mark.parametrize(("arch", "extra"), CASES, ids=IDS)
def test_drive_enters_layer_zero_pre_activation(arch, extra):
    # a constant drive d equals torch's module whose layer-0 input bias is shifted by d in the
    # candidate block (RNN: the whole pre-activation; GRU n, LSTM g: block 2)
    net = _net(arch, extra)
    x, _ = _inputs()
    d = torch.randn(N, dtype=F64)
    driven = net(x, d.expand(B, T, N), return_trajectories=True).hidden
    shifted = _net(arch, extra)
    block = 0 if arch == "stacked-rnn" else 2
    with torch.no_grad():
        shifted.rnn.bias_ih_l0[block * N : (block + 1) * N] += d
    expected, _ = _module_run(shifted, x)
    torch.testing.assert_close(driven, expected, rtol=0, atol=1e-13)
    assert (driven - net(x, return_trajectories=True).hidden).abs().max() > 1e-3


def test_one_layer_stack_equals_the_one_layer_network():
    stacked = build("stacked-gru", input_size=D, hidden_size=N, output_size=OUT, num_layers=1)
    single = build("gru", input_size=D, hidden_size=N, output_size=OUT)
    single.load_state_dict(stacked.state_dict())
    x, drive = _inputs()
    x, drive = x.float(), drive.float()
    torch.testing.assert_close(stacked(x, drive).logits, single(x, drive).logits)


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"num_layers": 0}, ValueError, "num_layers must be a positive integer, got 0"),
        ({"num_layers": True}, ValueError, "num_layers must be a positive integer, got True"),
        ({"nonlinearity": "sigmoid"}, ValueError, "nonlinearity must be one of"),
    ],
)
def test_stacked_rnn_argument_errors(arguments, error, message):
    with pytest.raises(error, match=message):
        build("stacked-rnn", input_size=1, hidden_size=3, output_size=2, **arguments)


@pytest.mark.parametrize("cls", [StackedGRU, StackedLSTM])
def test_gated_stacks_take_no_module_options(cls):
    # a torch option the checkpoint's arguments would not record is refused, not passed on
    with pytest.raises(TypeError, match=r"unexpected argument\(s\) \['dropout'\]"):
        cls(1, 3, 2, dropout=0.5)
    with pytest.raises(TypeError, match="nonlinearity"):
        cls(1, 3, 2, nonlinearity="relu")


def test_arguments_record_layers_and_nonlinearity():
    net = build("stacked-rnn", input_size=1, hidden_size=3, output_size=2, nonlinearity="relu")
    assert net.arguments == {
        "input_size": 1,
        "hidden_size": 3,
        "output_size": 2,
        "num_layers": 2,
        "output_mode": "last",
        "nonlinearity": "relu",
    }
    assert isinstance(net.rnn, nn.RNN) and net.rnn.nonlinearity == "relu"
