"""The analyses, training and CLI on a CUDA device (skipped where torch.cuda.is_available() is
False; see tests/conftest.py). Results are compared with the same run on the CPU: float64
analyses agree to rounding, since the random draws are made on the CPU for both."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import dynan
from dynan.adapters.network import network_system
from dynan.cli import main
from dynan.fixed_points import network_fixed_points
from dynan.lyapunov import LyapunovSpectrum, network_lyapunov
from dynan.neuron_probes._simulate import simulate_probe
from dynan.similarity import compare_checkpoints
from dynan_models import build, save_checkpoint
from dynan_models.training import TrainConfig, train

pytestmark = pytest.mark.cuda

F64 = torch.float64
CUDA = torch.device("cuda", 0)
TASK = {"name": "digits", "seed": 0, "permuted": True}


def _net(architecture: str = "arun", hidden: int = 6):
    torch.manual_seed(1)
    extra = {"controller_size": 4} if architecture == "arun" else {}
    return build(architecture, input_size=1, hidden_size=hidden, output_size=10, **extra)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cuda")
    return [
        str(save_checkpoint(_net(a), folder / f"{a}.safetensors", task=TASK))
        for a in ("arun", "gru", "relu")
    ]


@pytest.mark.parametrize("qr_device", ["auto", "cpu", "system"])
@pytest.mark.parametrize(("architecture", "mode"), [("arun", "frozen"), ("arun", "joint")])
def test_lyapunov_on_cuda_matches_cpu(architecture, mode, qr_device):
    net = _net(architecture).to(F64)
    options = {"k": 4, "n_steps": 100, "transient": 20, "trials": 3, "progress": False}
    cpu = network_lyapunov(net, mode=mode, **options)
    gpu = network_lyapunov(net.to(CUDA), mode=mode, qr_device=qr_device, **options)
    assert gpu.metadata["device"] == "cuda:0"
    np.testing.assert_allclose(gpu.trial_exponents, cpu.trial_exponents, rtol=0, atol=1e-9)


@pytest.mark.parametrize("architecture", ["arun", "gru", "lstm", "relu"])
def test_system_steps_never_synchronise(architecture):
    """step and step_and_jvp on CUDA: no host synchronisation (the QR is PyTorch's own)."""
    system = network_system(_net(architecture).to(F64).to(CUDA), mode="joint")
    x = system.initial_state(4)
    tangents = torch.randn(4, system.dim, 3, dtype=F64, device=CUDA)
    inputs = torch.zeros(4, 20, system.input_dim, dtype=F64, device=CUDA)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for t in range(20):
            x, tangents = system.step_and_jvp(x, inputs[:, t], tangents)
            x = system.step(x, inputs[:, t])
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert x.device == CUDA and torch.isfinite(x).all()


def test_fixed_points_on_cuda_match_cpu():
    net = _net("gru").to(F64)
    x = torch.rand(8, 30, 1, generator=torch.Generator().manual_seed(0), dtype=F64)
    cpu = network_fixed_points(net, x=x, n_inits=64, relax=200, connect=False)
    gpu = network_fixed_points(net.to(CUDA), x=x, n_inits=64, relax=200, connect=False)
    assert len(gpu) == len(cpu)
    np.testing.assert_allclose(gpu.states, cpu.states, atol=1e-8)
    assert gpu.kinds == cpu.kinds


def test_cka_on_cuda_matches_cpu(checkpoints):
    cpu = compare_checkpoints(checkpoints, examples=64, preset="none")
    gpu = compare_checkpoints(checkpoints, examples=64, preset="none", device=CUDA)
    np.testing.assert_allclose(gpu.linear, cpu.linear, atol=1e-10)
    np.testing.assert_allclose(gpu.debiased, cpu.debiased, atol=1e-10)


def test_neuron_probe_on_cuda_matches_cpu():
    net = _net("arun")
    rng = np.random.default_rng(0)
    x, drive = rng.normal(size=(2, 40, 6)), rng.normal(size=(2, 40, 6))
    cpu = simulate_probe(net, x, drive, connectivity="isolated")
    gpu = simulate_probe(net.to(CUDA), x, drive, connectivity="isolated")
    np.testing.assert_allclose(gpu.hidden, cpu.hidden, atol=1e-10)


def test_training_on_cuda_starts_from_the_cpu_seed(tmp_path):
    cfg = TrainConfig(
        architecture="relu", task=TASK, out=str(tmp_path / "g.safetensors"), hidden_size=8,
        epochs=1,
    )  # fmt: skip
    result = train(cfg, progress=False, device=CUDA)
    assert next(result.model.parameters()).device == CUDA
    net = dynan.load(result.path)  # written from CPU copies
    assert 0.0 <= net.checkpoint.metrics["test_accuracy"] <= 1.0
    cpu = train(dataclasses.replace(cfg, out=str(tmp_path / "c.safetensors")), progress=False)
    # same seed, same batches: one epoch of float32 Adam stays close on both devices
    gpu_state = net.state_dict()
    for name, a in cpu.model.state_dict().items():
        torch.testing.assert_close(a, gpu_state[name].to(a), atol=5e-3, rtol=0, msg=name)


def test_cli_on_cuda(checkpoints, tmp_path, capsys):
    fast = ["--steps", "40", "--transient", "10", "--k", "3", "--trials", "2", "--no-progress"]
    arun = checkpoints[0]
    assert main(["lyapunov", arun, "--out", str(tmp_path), "--device", "cuda", *fast]) == 0
    result = LyapunovSpectrum.from_json(tmp_path / "arun-lyapunov-frozen.json")
    assert result.metadata["device"] == "cuda:0"
    auto = ["--out", str(tmp_path / "auto"), "--device", "auto"]
    assert main(["lyapunov", arun, *auto, *fast]) == 0
    args = ["--out", str(tmp_path / "fp"), "--device", "cuda:0", "--inits", "32", "--no-progress"]
    assert main(["fixed-points", checkpoints[1], "--sequences", "4", *args]) == 0
    assert main(["evaluate", *checkpoints[1:], "--device", "cuda", "--json"]) == 0
    assert main(["cka", *checkpoints, "--out", str(tmp_path / "cka"), "--device", "cuda",
                 "--examples", "64", "--reliability", "none", "--no-progress"]) == 0  # fmt: skip
    capsys.readouterr()
