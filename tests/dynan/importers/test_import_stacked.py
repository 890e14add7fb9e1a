"""Multi-layer ``nn.RNN``/``GRU``/``LSTM`` state dicts through `dynan import`: the imported stacked
network reproduces torch's own model (float64), its system steps and Jacobians equal torch's
module (as a system and through autograd), and the commands and the report run on the file."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn
from torch.func import jacfwd

import dynan
from dynan.cli import main
from dynan.errors import CheckpointError
from dynan.fixed_points.result import FixedPoints
from dynan.importers import import_model
from dynan.report import report
from dynan.report.jobs import FAST, Settings, _changed

F64 = torch.float64
D, N, C, B, T = 2, 5, 3, 4, 20

KINDS = {  # name → (module factory, --activation, imported architecture)
    "rnn-tanh": (lambda **kw: nn.RNN(D, N, **kw), "tanh", "stacked-rnn"),
    "rnn-relu": (lambda **kw: nn.RNN(D, N, nonlinearity="relu", **kw), "relu", "stacked-rnn"),
    "gru": (lambda **kw: nn.GRU(D, N, **kw), None, "stacked-gru"),
    "lstm": (lambda **kw: nn.LSTM(D, N, **kw), None, "stacked-lstm"),
}


class _Model(nn.Module):
    """A training script's model: the recurrent module under a prefix, a linear head."""

    def __init__(self, kind: str, layers: int, *, bias: bool = True, every_step: bool = False):
        super().__init__()
        self.encoder = nn.Module()
        self.encoder.rnn = KINDS[kind][0](num_layers=layers, bias=bias, batch_first=True)
        self.head = nn.Linear(N, C)
        self.every_step = every_step
        with torch.no_grad():  # weights large enough that every layer's nonlinearity bites
            for p in self.encoder.rnn.parameters():
                p.mul_(2.5)

    def forward(self, x):
        out = self.encoder.rnn(x)[0]
        return self.head(out if self.every_step else out[:, -1])


def _import(tmp_path, model, kind, **options):
    torch.save(model.state_dict(), tmp_path / "model.pt")
    out = tmp_path / f"{kind}.safetensors"
    summary = import_model(tmp_path / "model.pt", out, activation=KINDS[kind][1], **options)
    return summary, out


def _inputs(steps: int = T) -> torch.Tensor:
    return torch.randn(B, steps, D, generator=torch.Generator().manual_seed(3), dtype=F64)


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("layers", [2, 3])
def test_import_reproduces_the_torch_model(tmp_path, kind, layers):
    torch.manual_seed(layers)
    model = _Model(kind, layers)
    summary, out = _import(tmp_path, model, kind)
    assert summary.architecture == KINDS[kind][2]
    assert f"{layers} layers" in summary.layout and summary.readout == "head."
    net = dynan.load(out, dtype=F64)
    assert net.num_layers == layers and net.hidden_size == N
    if kind.startswith("rnn"):
        assert net.nonlinearity == KINDS[kind][1]
    x = _inputs()
    with torch.no_grad():
        expected = model.to(F64)(x)
        got = net(x).logits
        stepped = net(x, torch.zeros(B, T, N, dtype=F64)).logits  # the layer-by-layer path
    assert expected.abs().max() > 0.1  # a non-trivial output
    # float precision: ReLU stacks grow the logits to O(10³), hence the relative part
    torch.testing.assert_close(got, expected, rtol=1e-13, atol=1e-12)
    torch.testing.assert_close(stepped, expected, rtol=1e-13, atol=1e-12)


@pytest.mark.parametrize("kind", ["rnn-relu", "lstm"])
def test_import_without_bias_and_every_step_readout(tmp_path, kind):
    torch.manual_seed(0)
    model = _Model(kind, 2, bias=False, every_step=True)
    _, out = _import(tmp_path, model, kind, output_mode="all")
    net = dynan.load(out, dtype=F64)
    x = _inputs()
    with torch.no_grad():
        torch.testing.assert_close(net(x).logits, model.to(F64)(x), rtol=0, atol=1e-12)


def _torch_step(module: nn.Module, layers: int, lstm: bool):
    """Flat stacked state (h_0 … h_{L−1}[, c_0 …]) → next one through torch's own module."""

    def step(flat, u):
        h = flat[: layers * N].reshape(layers, 1, N)
        if lstm:
            c = flat[layers * N :].reshape(layers, 1, N)
            _, (h1, c1) = module(u[None, None], (h, c))
            return torch.cat([h1.flatten(), c1.flatten()])
        return module(u[None, None], h)[1].flatten()

    return step


@pytest.mark.parametrize("kind", list(KINDS))
def test_system_step_and_jacobian_equal_torch_module(tmp_path, kind):
    layers = 3
    torch.manual_seed(1)
    model = _Model(kind, layers)
    _, out = _import(tmp_path, model, kind)
    system = dynan.as_system(dynan.load(out))
    module = model.encoder.rnn.to(F64).eval()
    lstm = kind == "lstm"
    width = (2 if lstm else 1) * layers * N
    assert system.dim == width and system.input_dim == D + N
    assert system.blocks["h"] == (layers, N)
    gen = torch.Generator().manual_seed(7)
    x = 0.8 * torch.randn(B, width, generator=gen, dtype=F64)
    u = torch.randn(B, D, generator=gen, dtype=F64)
    full_u = torch.cat([u, torch.zeros(B, N, dtype=F64)], 1)  # no drive
    reference = _torch_step(module, layers, lstm)
    with torch.no_grad():
        expected = torch.stack([reference(x[b], u[b]) for b in range(B)])
    torch.testing.assert_close(system.step(x, full_u), expected, rtol=0, atol=1e-13)
    autograd = torch.stack([jacfwd(reference)(x[b], u[b]) for b in range(B)])
    jac = system.jacobian(x, full_u)
    torch.testing.assert_close(jac, autograd, rtol=0, atol=1e-12)
    torch.testing.assert_close(jac, dynan.as_system(module).jacobian(x, u), rtol=0, atol=1e-13)
    # the layers couple: a block below the diagonal (layer 2's h on layer 0's h) is present
    assert jac[:, 2 * N : 3 * N, :N].abs().max() > 1e-3


def test_ambiguous_or_missing_options_are_named(tmp_path):
    model = _Model("rnn-relu", 2)
    torch.save(model.state_dict(), tmp_path / "m.pt")
    with pytest.raises(CheckpointError, match=r"--activation tanh .* --activation relu"):
        import_model(tmp_path / "m.pt", tmp_path / "o.safetensors")
    gru = _Model("gru", 2)
    torch.save(gru.state_dict(), tmp_path / "g.pt")
    with pytest.raises(CheckpointError, match=r"--activation applies to nn\.RNN"):
        import_model(tmp_path / "g.pt", tmp_path / "o.safetensors", activation="tanh")


def test_a_gap_in_the_layers_is_named(tmp_path):
    state = _Model("gru", 3).state_dict()
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        del state[f"encoder.rnn.{name}_l1"]
    torch.save(state, tmp_path / "m.pt")
    with pytest.raises(CheckpointError, match=r"encoder.rnn.weight_ih_l1: missing"):
        import_model(tmp_path / "m.pt", tmp_path / "o.safetensors")


FAST_LY = ["--steps", "30", "--transient", "10", "--k", "4", "--trials", "2", "--no-progress"]
FAST_FP = ["--sequences", "4", "--inits", "16", "--no-progress"]


@pytest.fixture(scope="module")
def imported_lstm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stacked")
    torch.manual_seed(2)
    model = nn.ModuleDict(
        {"rnn": nn.LSTM(1, N, num_layers=2, batch_first=True), "head": nn.Linear(N, 10)}
    )
    torch.save(model.state_dict(), folder / "model.pt")
    out = folder / "lstm2.safetensors"
    assert main(["import", str(folder / "model.pt"), "--out", str(out), "--steps", "12"]) == 0
    return out, model


def test_lyapunov_and_fixed_points_commands_run(imported_lstm, tmp_path, capsys):
    path, model = imported_lstm
    assert main(["lyapunov", str(path), "--out", str(tmp_path), "--no-figures", *FAST_LY]) == 0
    assert main(["fixed-points", str(path), "--out", str(tmp_path), *FAST_FP]) == 0
    capsys.readouterr()
    spectra = list(tmp_path.glob("lstm2-lyapunov*.json"))
    assert spectra, sorted(p.name for p in tmp_path.iterdir())
    text = (tmp_path / "lstm2-fixed-points-joint.json").read_text()
    result = FixedPoints.from_dict(json.loads(text))
    points = torch.as_tensor(result.states, dtype=F64)
    assert points.shape[0] >= 1 and points.shape[1] == 2 * 2 * N  # h and c of both layers
    assert not result.inputs.any()  # no task: zero input (x and drive)
    # each point is a fixed point of torch's own module: ‖F(x) − x‖ = √(2q) with q its speed
    step = _torch_step(model["rnn"].to(F64), 2, lstm=True)
    with torch.no_grad():
        moved = torch.stack([step(p, torch.zeros(1, dtype=F64)) for p in points])
    residual = (moved - points).norm(dim=1)
    torch.testing.assert_close(
        residual, torch.as_tensor(2 * result.q, dtype=F64).sqrt(), rtol=1e-6, atol=1e-12
    )
    assert residual.max() < 1e-5


def test_report_runs_on_the_imported_stack(imported_lstm, tmp_path):
    tiny = Settings(
        name="tiny",
        analyses=_changed(
            FAST,
            {
                "lyapunov": {"k": 3, "joint_k": 3, "examples": 2, "transient": 4, "window": 4},
                "fixed-points": {"examples": 4, "n_inits": 16},
            },
        ),
    )
    summary = report(
        [imported_lstm[0]],
        out=tmp_path,
        sections=["config", "lyapunov", "fixed-points"],
        preset=tiny,
        progress=False,
    )
    statuses = [s["status"] for page in summary.pages for s in page["sections"]]
    assert statuses and "failed" not in statuses, summary.pages
