"""The seed paper's checkpoints: synthetic ``e_{epoch}.pth.tar`` files with its module layout
(ANRU: rnn.Uxh, rnn.Whh, rnn.Uag, rnn.Wgg, rnn.Wgn, rnn.Wgs; static RNN: rnn.U, rnn.V, rnn.n,
rnn.s; read-out lin), imported and compared with an independent step-by-step implementation of
the equations of REFERENCES.md §1 (written here, not taken from dynan_models)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import dynan
from dynan.cli import main
from dynan.errors import CheckpointError
from dynan.importers import import_model

F64 = torch.float64
D, N, G, C, B, T = 2, 6, 5, 4, 3, 20


# -- the reference: REFERENCES.md §1, one neuron at a time ---------------------------------------
def softplus_n(x: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    """(1/n) log(1 + e^{n x}), as log(e^0 + e^{n x}) (no overflow)."""
    return torch.logaddexp(torch.zeros_like(x), n * x) / n


def gamma(x, n, s):
    """γ(x; n, s) = (1 − s) softplus_n(x) + s σ(n x)."""
    return (1 - s) * softplus_n(x, n) + s * torch.sigmoid(n * x)


def anru_reference(sd: dict, x: torch.Tensor):
    """Logits and (h_t, n_t, s_t) of the ARUN equations for inputs x (B, T, D), float64."""
    p = {k: v.to(F64) for k, v in sd.items()}
    U, W = p["rnn.Uxh.weight"], p["rnn.Whh.weight"]
    b = p["rnn.Uxh.bias"] + p["rnn.Whh.bias"]  # the two biases of a_t sum into one
    u_g, W_g = p["rnn.Uag.weight"][:, 0], p["rnn.Wgg.weight"]
    b_g = p["rnn.Uag.bias"] + p["rnn.Wgg.bias"]
    w_n, b_n = p["rnn.Wgn.weight"][0], p["rnn.Wgn.bias"][0]
    w_s, b_s = p["rnn.Wgs.weight"][0], p["rnn.Wgs.bias"][0]
    h = torch.zeros(B, N, dtype=F64)
    g = torch.zeros(B, N, G, dtype=F64)  # one controller state per neuron, zero at the start
    hs, ns, ss = [], [], []
    for t in range(x.shape[1]):
        a = x[:, t] @ U.T + h @ W.T + b
        h_new, g_new = torch.empty_like(h), torch.empty_like(g)
        n_t, s_t = torch.empty_like(h), torch.empty_like(h)
        for i in range(N):
            g_new[:, i] = torch.tanh(a[:, i : i + 1] * u_g + g[:, i] @ W_g.T + b_g)
            n_t[:, i] = g_new[:, i] @ w_n + b_n
            s_t[:, i] = g_new[:, i] @ w_s + b_s
            h_new[:, i] = gamma(a[:, i], n_t[:, i], s_t[:, i])
        h, g = h_new, g_new
        hs.append(h)
        ns.append(n_t)
        ss.append(s_t)
    logits = h @ p["lin.weight"].T + p["lin.bias"]
    return logits, torch.stack(hs, 1), torch.stack(ns, 1), torch.stack(ss, 1)


def static_reference(sd: dict, x: torch.Tensor, phi) -> torch.Tensor:
    """Logits of h_t = φ(U x_t + V h_{t−1} (+ biases)) read out by lin."""
    p = {k: v.to(F64) for k, v in sd.items()}
    bias = p.get("rnn.U.bias", 0) + p.get("rnn.V.bias", 0)
    h = torch.zeros(B, N, dtype=F64)
    for t in range(x.shape[1]):
        h = phi(x[:, t] @ p["rnn.U.weight"].T + h @ p["rnn.V.weight"].T + bias)
    return h @ p["lin.weight"].T + p["lin.bias"]


# -- synthetic checkpoints with the paper's layout ----------------------------------------------
class _PaperANRU(nn.Module):
    def __init__(self):
        super().__init__()
        self.Uxh, self.Whh = nn.Linear(D, N), nn.Linear(N, N)
        self.Uag, self.Wgg = nn.Linear(1, G), nn.Linear(G, G)
        self.Wgn, self.Wgs = nn.Linear(G, 1), nn.Linear(G, 1)


class _PaperRNN(nn.Module):
    def __init__(self, bias: bool, shape: int | None):
        super().__init__()
        self.U, self.V = nn.Linear(D, N, bias=bias), nn.Linear(N, N, bias=bias)
        if shape is not None:
            self.n = nn.Parameter(2.0 + 4.0 * torch.rand(shape))
            self.s = nn.Parameter(torch.rand(shape))


class _PaperNet(nn.Module):
    def __init__(self, rnn: nn.Module):
        super().__init__()
        self.rnn = rnn
        self.lin = nn.Linear(N, C)


def _write_paper_checkpoint(net: nn.Module, path) -> dict:
    """As the paper's training loop does: one Adam step, then {state_dict, optimizer, epoch}."""
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    sum(p.sum() for p in net.parameters()).backward()
    opt.step()
    torch.save({"state_dict": net.state_dict(), "optimizer": opt.state_dict(), "epoch": 7}, path)
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def _anru_net() -> _PaperNet:
    net = _PaperNet(_PaperANRU())
    with torch.no_grad():
        for module in (net.rnn.Uxh, net.rnn.Whh, net.rnn.Uag, net.rnn.Wgg):
            module.bias.normal_(0.0, 0.5)  # both biases of each sum non-zero
        net.rnn.Whh.weight.mul_(2.0)
        net.rnn.Uag.weight.normal_(0.0, 1.0)
        net.rnn.Wgn.weight.uniform_(-0.6, 0.6)
        net.rnn.Wgn.bias.fill_(5.0 + 2.0 * torch.rand(()).item())  # n ≈ 5–7 as in the paper
        net.rnn.Wgs.weight.uniform_(-0.3, 0.3)
        net.rnn.Wgs.bias.fill_(0.3)
    return net


def test_anru_checkpoint_imports_onto_arun_exactly(tmp_path):
    sd = _write_paper_checkpoint(_anru_net(), tmp_path / "e_7.pth.tar")
    summary = import_model(tmp_path / "e_7.pth.tar", tmp_path / "arun.safetensors")
    assert summary.layout.startswith("ANRU at 'rnn.'") and summary.readout == "lin."
    net = dynan.load(tmp_path / "arun.safetensors")
    assert net.architecture == "arun" and net.controller_size == G
    x = torch.randn(B, T, D, generator=torch.Generator().manual_seed(2), dtype=F64)
    logits, h, n, s = anru_reference(sd, x)
    out = net(x, return_trajectories=True)
    assert torch.allclose(out.hidden, h, rtol=0, atol=1e-12)
    assert torch.allclose(out.n, n, rtol=0, atol=1e-12)
    assert torch.allclose(out.s, s, rtol=0, atol=1e-12)
    assert torch.allclose(out.logits, logits, rtol=0, atol=1e-12)
    # the shape parameters really move (an adaptive network, not a static one in disguise)
    assert n.max() - n.min() > 0.05 and s.max() - s.min() > 0.05  # ≥ 0.17 over 20 seeds


@pytest.mark.parametrize("shape", [1, N])
@pytest.mark.parametrize("bias", [False, True])
def test_learned_gamma_rnn_imports_homogeneous_or_heterogeneous(tmp_path, shape, bias):
    sd = _write_paper_checkpoint(_PaperNet(_PaperRNN(bias, shape)), tmp_path / "e_3.pth.tar")
    summary = import_model(tmp_path / "e_3.pth.tar", tmp_path / "g.safetensors")
    net = dynan.load(tmp_path / "g.safetensors")
    expected = "gamma-homogeneous" if shape == 1 else "gamma-heterogeneous"
    assert net.architecture == expected and summary.layout.startswith("γ-RNN")
    x = torch.randn(B, T, D, generator=torch.Generator().manual_seed(3), dtype=F64)
    n, s = sd["rnn.n"].to(F64), sd["rnn.s"].to(F64)
    reference = static_reference(sd, x, lambda a: gamma(a, n, s))
    assert torch.allclose(net(x).logits, reference, rtol=0, atol=1e-12)


FIXED = {
    "relu": (torch.relu, {"activation": "relu"}, "relu"),
    "softplus": (lambda a: softplus_n(a, torch.ones(())), {"activation": "softplus"}, "softplus"),
    "sigmoid": (torch.sigmoid, {"activation": "sigmoid"}, "gamma-homogeneous"),
    "tanh": (torch.tanh, {"activation": "tanh"}, "gamma-heterogeneous"),
    "shape": (
        lambda a: gamma(a, torch.tensor(2.0, dtype=F64), torch.tensor(0.4, dtype=F64)),
        {"shape": (2.0, 0.4)},
        "gamma-homogeneous",
    ),
}


@pytest.mark.parametrize("name", list(FIXED))
def test_fixed_activation_gamma_rnn_needs_and_uses_the_option(tmp_path, name):
    phi, options, architecture = FIXED[name]
    model = _PaperNet(_PaperRNN(True, None))
    with torch.no_grad():
        model.rnn.V.weight.mul_(3.0)
    sd = _write_paper_checkpoint(model, tmp_path / "e_1.pth.tar")
    with pytest.raises(CheckpointError, match=r"--activation tanh \| relu"):
        import_model(tmp_path / "e_1.pth.tar", tmp_path / "g.safetensors")
    import_model(tmp_path / "e_1.pth.tar", tmp_path / "g.safetensors", **options)
    net = dynan.load(tmp_path / "g.safetensors")
    assert net.architecture == architecture
    x = torch.randn(B, T, D, generator=torch.Generator().manual_seed(4), dtype=F64)
    # dynan_models' fixed softplus is F.softplus with PyTorch's threshold 20 (identity above it,
    # relative error e^-20 ≈ 2e-9 there); γ, sigmoid, tanh and ReLU are exact
    atol = 1e-8 if name == "softplus" else 1e-12
    assert torch.allclose(net(x).logits, static_reference(sd, x, phi), rtol=0, atol=atol)


def test_anru_through_the_cli_then_lyapunov_on_zero_input(tmp_path, capsys):
    _write_paper_checkpoint(_anru_net(), tmp_path / "e_7.pth.tar")
    out = tmp_path / "arun.safetensors"
    assert main(["import", str(tmp_path / "e_7.pth.tar"), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "ANRU at 'rnn.'" in text and "no --task" in text and "clamps n_t" in text
    fast = ["--steps", "30", "--transient", "10", "--k", "3", "--trials", "2", "--no-progress"]
    code = main(["lyapunov", str(out), "--out", str(tmp_path / "ly"), "--no-figures", *fast])
    assert code == 0
    assert math.isfinite(float(capsys.readouterr().out.split("λ₁ = ")[1].split()[0]))


def test_anru_layout_with_a_wrong_shape_is_refused(tmp_path):
    net = _anru_net()
    net.rnn.Wgn = nn.Linear(G, 2)  # the gain read-out must be G → 1
    torch.save({"state_dict": net.state_dict()}, tmp_path / "bad.pth.tar")
    with pytest.raises(CheckpointError, match=r"rnn.Wgn.weight has shape \(2, 5\), expected"):
        import_model(tmp_path / "bad.pth.tar", tmp_path / "o.safetensors")
