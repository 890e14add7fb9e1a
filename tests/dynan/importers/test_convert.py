"""`import_model` on PyTorch models: round trips reproduce the model's logits (float64, against
torch's own modules), layouts found under any prefix and wrapper, ambiguity errors that name the
options which settle them."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

import dynan
from dynan.errors import CheckpointError
from dynan.importers import import_model

F64 = torch.float64
D, N, C, B, T = 2, 7, 4, 5, 30


class _Seq(nn.Module):
    """The usual training-script model: a recurrent module, then a linear head on the last h."""

    def __init__(self, rnn: nn.Module, every_step: bool = False):
        super().__init__()
        self.encoder = nn.Module()
        self.encoder.rnn = rnn
        self.head = nn.Linear(N, C)
        self.every_step = every_step

    def forward(self, x):
        out = self.encoder.rnn(x)[0]
        return self.head(out if self.every_step else out[:, -1])


class _CellLoop(nn.Module):
    """A model that iterates a cell by hand."""

    def __init__(self, cell: nn.Module):
        super().__init__()
        self.cell = cell
        self.fc = nn.Linear(N, C)

    def forward(self, x):
        state = None
        for t in range(x.shape[1]):
            state = self.cell(x[:, t], state)
        h = state[0] if isinstance(state, tuple) else state
        return self.fc(h)


def _strong(model: nn.Module) -> nn.Module:
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(2.0)
    return model


def _inputs() -> torch.Tensor:
    return torch.randn(B, T, D, generator=torch.Generator().manual_seed(1), dtype=F64)


def _roundtrip(model, tmp_path, **options):
    torch.save(model.state_dict(), tmp_path / "model.pt")
    summary = import_model(tmp_path / "model.pt", tmp_path / "net.safetensors", **options)
    net = dynan.load(tmp_path / "net.safetensors")
    x = _inputs()
    with torch.no_grad():
        expected = model.to(F64)(x)
        got = net(x).logits
    return summary, net, (got - expected).abs().max().item(), expected


MODULES = {
    "gru": (lambda bias: nn.GRU(D, N, bias=bias, batch_first=True), None, "gru"),
    "lstm": (lambda bias: nn.LSTM(D, N, bias=bias, batch_first=True), None, "lstm"),
    "rnn-relu": (
        lambda bias: nn.RNN(D, N, bias=bias, nonlinearity="relu", batch_first=True),
        "relu",
        "relu",
    ),
    "rnn-tanh": (
        lambda bias: nn.RNN(D, N, bias=bias, batch_first=True),
        "tanh",
        "gamma-heterogeneous",
    ),
}


@pytest.mark.parametrize("name", list(MODULES))
@pytest.mark.parametrize("bias", [True, False])
def test_module_roundtrip_reproduces_logits(tmp_path, name, bias):
    make, activation, architecture = MODULES[name]
    model = _strong(_Seq(make(bias)))
    summary, net, error, expected = _roundtrip(model, tmp_path, activation=activation)
    assert net.architecture == architecture
    assert expected.abs().max() > 0.1
    assert error < 1e-12
    assert summary.max_logit_error < 1e-12
    assert summary.layout.startswith("nn.") and "'encoder.rnn.'" in summary.layout
    assert summary.readout == "head."
    assert net.checkpoint.task is None
    assert net.checkpoint.training["imported"]["source"] == "model.pt"


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_cell_roundtrip_reproduces_logits(tmp_path, cell):
    make = {"rnn": nn.RNNCell, "gru": nn.GRUCell, "lstm": nn.LSTMCell}[cell]
    model = _strong(_CellLoop(make(D, N)))
    activation = "tanh" if cell == "rnn" else None
    _, _, error, _ = _roundtrip(model, tmp_path, activation=activation)
    assert error < 1e-12


def test_every_step_readout_with_output_mode_all(tmp_path):
    model = _strong(_Seq(nn.GRU(D, N, batch_first=True), every_step=True))
    _, net, error, expected = _roundtrip(model, tmp_path, output_mode="all")
    assert net.output_mode == "all" and expected.shape == (B, T, C)
    assert error < 1e-12


def test_tanh_conjugate_is_exact_in_states_and_jacobian_spectrum(tmp_path):
    rnn = _strong(nn.RNN(D, N, batch_first=True)).to(F64)
    model = _Seq(rnn)
    _, net, _, _ = _roundtrip(model, tmp_path, activation="tanh")
    x = _inputs()
    h = rnn(x)[0]
    out = net(x, return_trajectories=True).hidden
    assert torch.allclose(out[..., :N], (h + 1) / 2, rtol=0, atol=1e-14)
    assert torch.equal(out[..., N], torch.ones(B, T, dtype=F64))
    # Jacobians conjugate by h = 2h' − 1: the same eigenvalues plus one 0 for the constant unit
    system, reference = dynan.as_system(net, mode="joint"), dynan.as_system(rnn)
    jac = system.jacobian(out[:, -2], torch.cat([x[:, -1], torch.zeros(B, N + 1)], -1))
    ref = reference.jacobian(h[:, -2], x[:, -1])
    assert torch.allclose(jac[:, :N, :N], ref, rtol=0, atol=1e-13)
    assert torch.equal(jac[:, N], torch.zeros(B, N + 1, dtype=F64))


def test_wrapped_lightning_style_and_safetensors_sources(tmp_path):
    model = _strong(_Seq(nn.LSTM(D, N, batch_first=True)))
    state = {f"model.{k}": v for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, "epoch": 3, "global_step": 90}, tmp_path / "l.ckpt")
    summary = import_model(tmp_path / "l.ckpt", tmp_path / "a.safetensors")
    assert "'model.encoder.rnn.'" in summary.layout and summary.readout == "model.head."
    save_file({k: v.contiguous() for k, v in state.items()}, tmp_path / "m.safetensors")
    import_model(tmp_path / "m.safetensors", tmp_path / "b.safetensors")
    a, b = dynan.load(tmp_path / "a.safetensors"), dynan.load(tmp_path / "b.safetensors")
    with torch.no_grad():
        assert torch.allclose(a(_inputs()).logits, model.to(F64)(_inputs()), atol=1e-12)
        assert torch.equal(a(_inputs()).logits, b(_inputs()).logits)


def test_task_recorded_and_checked(tmp_path):
    model = _Seq(nn.GRU(1, N, batch_first=True))
    model.head = nn.Linear(N, 10)
    with torch.no_grad():
        model.encoder.rnn.weight_ih_l0.mul_(1.0)
    torch.save(model.state_dict(), tmp_path / "m.pt")
    task = {"name": "digits", "seed": 0, "permuted": True}
    import_model(tmp_path / "m.pt", tmp_path / "d.safetensors", task=task)
    assert dynan.load(tmp_path / "d.safetensors").checkpoint.task == task
    with pytest.raises(CheckpointError, match="10 outputs; the network has 1 and 3"):
        model.head = nn.Linear(N, 3)
        torch.save(model.state_dict(), tmp_path / "m3.pt")
        import_model(tmp_path / "m3.pt", tmp_path / "e.safetensors", task=task)


# -- errors that say which option settles them -----------------------------------------------
def _save(tmp_path, state):
    torch.save(state, tmp_path / "m.pt")
    return tmp_path / "m.pt"


def test_two_recurrent_modules_ask_for_prefix(tmp_path):
    state = {
        **{f"enc.{k}": v for k, v in nn.GRU(D, N).state_dict().items()},
        **{f"dec.{k}": v for k, v in nn.GRU(D, N).state_dict().items()},
        "fc.weight": torch.zeros(C, N),
    }
    src = _save(tmp_path, state)
    with pytest.raises(CheckpointError, match=r"--prefix 'enc\.'.*--prefix 'dec\.'"):
        import_model(src, tmp_path / "o.safetensors")
    with pytest.raises(CheckpointError, match="--allow-unused"):  # dec.* left over
        import_model(src, tmp_path / "o.safetensors", prefix="enc")
    import_model(src, tmp_path / "o.safetensors", prefix="enc", allow_unused=True)


def test_readout_ambiguous_missing_or_none(tmp_path):
    gru = {f"rnn.{k}": v for k, v in nn.GRU(D, N).state_dict().items()}
    two = {**gru, "a.weight": torch.zeros(C, N), "b.weight": torch.zeros(3, N)}
    with pytest.raises(CheckpointError, match=r"--readout 'a\.', --readout 'b\.'"):
        import_model(_save(tmp_path, two), tmp_path / "o.safetensors")
    with pytest.raises(CheckpointError, match="--readout none"):
        import_model(_save(tmp_path, gru), tmp_path / "o.safetensors")
    import_model(_save(tmp_path, gru), tmp_path / "o.safetensors", readout="none")
    net = dynan.load(tmp_path / "o.safetensors")
    x = _inputs()
    module = nn.GRU(D, N, batch_first=True).to(F64)
    module.load_state_dict({k[4:]: v for k, v in gru.items()})
    assert torch.allclose(net(x).logits, module(x)[0][:, -1], atol=1e-12)


def test_rnn_needs_activation_and_bidirectional_is_refused(tmp_path):
    # (multi-layer modules import: tests/dynan/importers/test_stacked.py)
    rnn = {f"rnn.{k}": v for k, v in nn.RNN(D, N).state_dict().items()}
    head = {"fc.weight": torch.zeros(C, N), "fc.bias": torch.zeros(C)}
    with pytest.raises(CheckpointError, match=r"--activation tanh .* --activation relu"):
        import_model(_save(tmp_path, {**rnn, **head}), tmp_path / "o.safetensors")
    both = {f"rnn.{k}": v for k, v in nn.GRU(D, N, bidirectional=True).state_dict().items()}
    with pytest.raises(CheckpointError, match="not a dynamical system in time"):
        import_model(_save(tmp_path, {**both, **head}), tmp_path / "o.safetensors")


def test_no_recurrent_module_lists_what_was_looked_for(tmp_path):
    with pytest.raises(CheckpointError, match=r"no recurrent module found.*weight_ih_l0"):
        import_model(_save(tmp_path, {"fc.weight": torch.zeros(2, 2)}), tmp_path / "o.safetensors")
    with pytest.raises(CheckpointError, match=r"must end in \.safetensors"):
        import_model(_save(tmp_path, {"fc.weight": torch.zeros(2, 2)}), tmp_path / "o.pt")
