"""--device/--dtype on the CLI, device resolution, QR placement, and no host reads per step.

Everything here runs on the CPU. The per-step loops are checked two ways: on the ``meta``
device (no data at all, so any read of a value back to the host raises) and on the CPU with
the host-read and copy methods of ``torch.Tensor`` counted.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

import dynan
from dynan.adapters.network import network_system
from dynan.cli import build_parser, main
from dynan.cli._device import resolve_device, resolve_dtype, worker_device
from dynan.errors import SystemError_
from dynan.fixed_points.skeleton import _CHECK_EVERY, _follow
from dynan.lyapunov import network_lyapunov
from dynan.lyapunov._benettin import QR_CPU_MAX_K, _block, evolve, prepare, qr_device
from dynan.system import CallableSystem, simulate
from dynan_models import build, save_checkpoint

F64 = torch.float64
NETWORKS = [
    ("arun", "joint"),
    ("arun", "frozen"),
    ("gamma-heterogeneous", "frozen"),
    ("relu", "joint"),
    ("gru", "joint"),
    ("lstm", "joint"),
]


def _net(architecture: str, **kw):
    extra = {"controller_size": 3} if architecture == "arun" else {}
    return build(architecture, input_size=1, hidden_size=5, output_size=2, **extra, **kw)


def _fake_cuda(monkeypatch, count: int) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)


# -- resolution ------------------------------------------------------------------------------
def test_resolve_device_cpu_and_auto_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cpu")


def test_resolve_device_cuda_absent_is_one_line_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for spec in ("cuda", "cuda:0", "cuda:3"):
        with pytest.raises(ValueError, match=r"CUDA is not available") as err:
            resolve_device(spec)
        assert "\n" not in str(err.value) and "--device cpu" in str(err.value)


def test_resolve_device_with_cuda(monkeypatch):
    _fake_cuda(monkeypatch, 2)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(ValueError, match=r"only 2 CUDA device\(s\)"):
        resolve_device("cuda:2")


@pytest.mark.parametrize("spec", ["gpu", "cuda:", "cuda:x", "mps", "", "cpu:0"])
def test_resolve_device_rejects_unknown_names(spec):
    with pytest.raises(ValueError, match="expected cpu, cuda, cuda:N or auto"):
        resolve_device(spec)


def test_resolve_dtype():
    assert resolve_dtype("float64") is torch.float64
    assert resolve_dtype("float32") is torch.float32
    with pytest.raises(ValueError, match="float64, float32"):
        resolve_dtype("float16")


def test_worker_device_spreads_workers_over_gpus(monkeypatch):
    _fake_cuda(monkeypatch, 2)
    got = [worker_device("cuda", rank=r) for r in range(5)]
    assert [d.index for d in got] == [0, 1, 0, 1, 0]
    assert worker_device("auto", rank=3) == torch.device("cuda", 1)
    assert worker_device("cuda:1", rank=0) == torch.device("cuda", 1)  # explicit: kept
    assert worker_device("cpu", rank=1) == torch.device("cpu")
    assert worker_device("cuda") == torch.device("cuda", 0)  # outside a Dask worker: rank 0


def test_worker_device_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert worker_device("auto", rank=3) == torch.device("cpu")
    with pytest.raises(ValueError, match="CUDA is not available"):
        worker_device("cuda", rank=0)


# -- the CLI ---------------------------------------------------------------------------------
ANALYSES = ("lyapunov", "fixed-points", "cka")  # --device and --dtype
DEVICE_ONLY = ("train", "evaluate", "fractional", "report", "compare")


@pytest.mark.parametrize("command", ANALYSES + DEVICE_ONLY)
def test_every_command_has_device_option(command):
    actions = build_parser()._subparsers._group_actions[0].choices[command]._actions
    options = {o for a in actions for o in a.option_strings}
    assert "--device" in options
    assert ("--dtype" in options) == (command in ANALYSES)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("device") / "arun.safetensors"
    task = {"name": "digits", "seed": 0, "permuted": True}
    return str(save_checkpoint(_net("arun"), path, task=task))


@pytest.mark.parametrize("command", ["lyapunov", "fixed-points", "fractional", "cka", "report"])
def test_cli_cuda_without_cuda_exits_2_with_one_line(command, checkpoint, tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    paths = [checkpoint, checkpoint] if command == "cka" else [checkpoint]
    code = main([command, *paths, "--out", str(tmp_path), "--device", "cuda"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith(f"dynan {command}: error: --device cuda: CUDA is not available")
    assert len(err.splitlines()) == 1
    assert not any(tmp_path.iterdir())


def test_cli_train_and_evaluate_cuda_without_cuda(checkpoint, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "t.safetensors"
    train = ["train", "relu", "--epochs", "1", "--quiet", "--out", str(out), "--device", "cuda"]
    for argv in (train, ["evaluate", checkpoint, "--device", "cuda:0"]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert f"dynan {argv[0]}: error: --device cuda" in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_cli_train_on_cpu_with_gpu_options(tmp_path):
    """--tf32 changes nothing on the CPU: the same weights as a plain run from the same seed."""
    from dynan.checkpoint import load

    paths = [tmp_path / "a.safetensors", tmp_path / "b.safetensors"]
    base = ["train", "relu", "--hidden-size", "4", "--epochs", "1", "--quiet"]
    assert main([*base, "--out", str(paths[0])]) == 0
    assert main([*base, "--device", "cpu", "--tf32", "--out", str(paths[1])]) == 0
    a, b = (load(p).state_dict() for p in paths)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_cli_bad_device_name_is_an_argparse_error(checkpoint, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["lyapunov", checkpoint, "--out", str(tmp_path), "--device", "gpu"])
    assert stop.value.code == 2
    assert "expected cpu, cuda, cuda:N or auto" in capsys.readouterr().err


def test_cli_lyapunov_float32_close_to_float64(checkpoint, tmp_path):
    """float32 is a user's choice: the same starts and bases, exponents within rounding."""
    fast = ["--steps", "60", "--transient", "20", "--k", "3", "--trials", "2", "--no-progress"]
    results = {}
    for dtype in ("float64", "float32"):
        out = tmp_path / dtype
        args = ["lyapunov", checkpoint, "--out", str(out), "--no-figures", "--dtype", dtype]
        assert main([*args, "--device", "cpu", *fast]) == 0
        from dynan.lyapunov import LyapunovSpectrum

        results[dtype] = LyapunovSpectrum.from_json(out / "arun-lyapunov-frozen.json")
    assert results["float32"].metadata["dtype"] == "float32"
    assert results["float64"].metadata["dtype"] == "float64"
    assert results["float64"].metadata["device"] == "cpu"
    gap = abs(results["float32"].exponents - results["float64"].exponents).max()
    assert 0 < gap < 1e-5  # float32 did run; same draws, so only rounding (~1e-7 over seeds)


def test_cka_float32_states_keep_float64_sums():
    """--dtype float32 for cka: the states are float32, the sums float64, CKA moves by ~1e-7."""
    from dynan.similarity import compare_checkpoints

    zoo = Path(__file__).resolve().parents[2] / "models" / "zoo"
    paths = [zoo / "relu-digits-s0.safetensors", zoo / "gru-digits-s0.safetensors"]
    results = [
        compare_checkpoints(paths, examples=128, preset="none", dtype=dtype, device="cpu")
        for dtype in (torch.float64, torch.float32)
    ]
    gap = abs(results[0].linear - results[1].linear).max()
    assert 0 < gap < 1e-5


# -- QR placement ----------------------------------------------------------------------------
def test_qr_device_choices():
    cuda, cpu = torch.device("cuda", 0), torch.device("cpu")
    assert qr_device("auto", cuda, 16) == cpu
    assert qr_device("auto", cuda, QR_CPU_MAX_K) == cpu
    assert qr_device("auto", cuda, QR_CPU_MAX_K + 1) == cuda
    assert qr_device("system", cuda, 4) == cuda
    assert qr_device("cpu", cuda, 400) == cpu
    for choice in ("auto", "cpu", "system"):
        assert qr_device(choice, cpu, 3) == cpu
    with pytest.raises(SystemError_, match="unknown qr_device 'gpu'; valid names: auto, cpu"):
        qr_device("gpu", cpu, 3)


def test_network_lyapunov_qr_device_choices_agree_on_cpu():
    net = _net("arun")
    runs = [
        network_lyapunov(net, k=3, n_steps=40, transient=10, progress=False, qr_device=c)
        for c in ("auto", "cpu", "system")
    ]
    for other in runs[1:]:
        assert (other.trial_exponents == runs[0].trial_exponents).all()
    with pytest.raises(SystemError_, match="unknown qr_device"):
        network_lyapunov(net, k=3, n_steps=40, transient=10, progress=False, qr_device="x")


# -- no host reads in the per-step loops -------------------------------------------------------
@pytest.mark.parametrize(("architecture", "mode"), NETWORKS)
def test_lyapunov_steps_run_on_meta_device(architecture, mode):
    """The QR loop of a network system runs without data: it never reads a value back."""
    net = _net(architecture).to(F64).to("meta")
    system = network_system(net, mode=mode)
    assert system.device == torch.device("meta")
    x = torch.zeros(3, system.dim, dtype=F64, device="meta")
    tangents = torch.zeros(3, system.dim, 2, dtype=F64, device="meta")
    inputs = torch.zeros(3, 12, system.input_dim, dtype=F64, device="meta")
    x, tangents, logsum = _block(system, x, tangents, inputs, 0, 12, 1)
    assert x.device.type == tangents.device.type == logsum.device.type == "meta"
    assert logsum.shape == (3, 2)


@pytest.mark.parametrize("architecture", ["relu", "gamma-heterogeneous", "arun", "gru", "lstm"])
def test_training_forward_and_backward_run_on_meta(architecture):
    """A training step's forward and backward over every time step read nothing back (GPU
    training never waits for the host inside a sequence)."""
    net = _net(architecture).to("meta")
    x = torch.zeros(4, 12, 1, device="meta")
    target = torch.zeros(4, dtype=torch.long, device="meta")
    torch.nn.functional.cross_entropy(net(x).logits, target).backward()
    assert all(p.grad is not None and p.grad.device.type == "meta" for p in net.parameters())


def test_prepare_puts_starts_and_bases_on_the_system_device():
    """Drawn on the CPU from the seed (the same on every device), then moved once."""
    net = _net("gru").to(F64)
    on_cpu = prepare(network_system(net), k=2, inputs=None, trials=3, seed=4, h0=None, dt=None,
                     steps=10)  # fmt: skip
    meta = prepare(network_system(net.to("meta")), k=2, inputs=None, trials=3, seed=4, h0=None,
                   dt=None, steps=10)  # fmt: skip
    assert meta.x.device.type == meta.tangents.device.type == "meta"
    assert on_cpu.x.device.type == on_cpu.tangents.device.type == "cpu"
    assert meta.tangents.shape == on_cpu.tangents.shape == (3, 5, 2)
    gram = on_cpu.tangents.mT @ on_cpu.tangents
    torch.testing.assert_close(gram, torch.eye(2, dtype=F64).expand(3, 2, 2))


class _Cell(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(0.5 * torch.eye(3))
        self.u = torch.nn.Linear(2, 3)

    def forward(self, u, h):
        return torch.tanh(h @ self.w.T + self.u(u))


@pytest.mark.parametrize(
    "module",
    [torch.nn.GRU(2, 4), torch.nn.LSTMCell(2, 3), torch.nn.RNN(2, 3, num_layers=2), _Cell()],
    ids=["gru", "lstm-cell", "rnn-2-layers", "custom-cell"],
)
def test_module_systems_follow_the_module_to_meta(module):
    """as_system on a module builds the system where the module lives; its steps read nothing
    back (the custom cell through torch.func's jvp)."""
    options = {"dim": 3, "input_dim": 2} if isinstance(module, _Cell) else {}
    system = dynan.as_system(module.to(F64).to("meta"), **options)
    assert system.device == torch.device("meta")
    meta = {"dtype": F64, "device": "meta"}
    x, tangents = torch.zeros(2, system.dim, **meta), torch.zeros(2, system.dim, 2, **meta)
    x, tangents, _ = _block(system, x, tangents, torch.zeros(2, 6, 2, **meta), 0, 6, 1)
    assert x.device.type == tangents.device.type == "meta"


HOST_READS = ("item", "tolist", "numpy", "cpu", "cuda", "__bool__", "__float__", "__int__")


@contextmanager
def counting_host_reads(monkeypatch):
    """Count calls of Tensor's host-read/copy methods, .to(device) and tensor constructors."""
    counts = dict.fromkeys((*HOST_READS, "to(device)", "torch.tensor", "torch.as_tensor"), 0)

    def counted(name, original):
        def wrapper(*args, **kwargs):
            counts[name] += 1
            return original(*args, **kwargs)

        return wrapper

    for name in HOST_READS:
        monkeypatch.setattr(torch.Tensor, name, counted(name, getattr(torch.Tensor, name)))
    to = torch.Tensor.to

    def counted_to(self, *args, **kwargs):
        if "device" in kwargs or any(isinstance(a, str | torch.device) for a in args):
            counts["to(device)"] += 1
        return to(self, *args, **kwargs)

    as_tensor = torch.as_tensor

    def counted_as_tensor(data, *args, **kwargs):  # a copy unless data is a tensor already there
        device = kwargs.get("device")
        if not isinstance(data, torch.Tensor) or (
            device is not None and torch.device(device) != data.device
        ):
            counts["torch.as_tensor"] += 1
        return as_tensor(data, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "to", counted_to)
    monkeypatch.setattr(torch, "as_tensor", counted_as_tensor)
    monkeypatch.setattr(torch, "tensor", counted("torch.tensor", torch.tensor))
    yield counts
    monkeypatch.undo()


@pytest.mark.parametrize(("architecture", "mode"), NETWORKS)
def test_lyapunov_block_reads_nothing_back(architecture, mode, monkeypatch):
    system = network_system(_net(architecture), mode=mode)
    x = system.initial_state(3)
    tangents = torch.linalg.qr(torch.randn(3, system.dim, 2, dtype=F64))[0]
    inputs = torch.zeros(3, 25, system.input_dim, dtype=F64)
    with counting_host_reads(monkeypatch) as counts:
        _block(system, x, tangents, inputs, 0, 25, 1)
    assert counts == dict.fromkeys(counts, 0)


def test_evolve_reads_back_once_per_block(monkeypatch):
    system = network_system(_net("gru"))
    x = system.initial_state(2)
    tangents = torch.linalg.qr(torch.randn(2, system.dim, 3, dtype=F64))[0]
    blocks = []
    with counting_host_reads(monkeypatch) as counts:
        evolve(
            system, x, tangents, None, start=0, steps=40, block=10,
            on_block=lambda done, logsum: blocks.append(done),
        )  # fmt: skip
    assert len(blocks) == 4
    # per block: one read-back, the state's and the log-growth's finiteness — never per step
    assert counts["__bool__"] == len(blocks)
    assert sum(counts.values()) == counts["__bool__"]


def test_simulate_reads_back_independently_of_the_steps(monkeypatch):
    system = network_system(_net("relu"))
    x0 = system.initial_state(2)
    reads = []
    for steps in (5, 50):
        with counting_host_reads(monkeypatch) as counts:
            path = simulate(system, x0, steps)
        assert path.shape == (2, steps + 1, system.dim)
        reads.append(counts)
    assert reads[0] == reads[1]  # the start's check and the path's check, whatever the steps
    assert reads[1]["__bool__"] == 2


def test_simulate_names_the_first_non_finite_step():
    system = CallableSystem(lambda x, u: 2 * x * x, dim=1)  # 3 → 18 → 648 → … → inf
    with pytest.raises(SystemError_, match="non-finite at step 9"):
        simulate(system, torch.full((1, 1), 3.0, dtype=F64), 30)


def test_skeleton_follow_reads_back_every_check_interval(monkeypatch):
    """Orbits of x ↦ x/2 from ±1 reach the ball (radius 0.01) at 0 after 7 steps."""
    system = CallableSystem(lambda x, u: 0.5 * x, dim=1)
    x = torch.tensor([[1.0], [-1.0]], dtype=F64)
    targets = torch.zeros(1, 1, dtype=F64)
    balls = torch.tensor([0.01], dtype=F64)
    same = torch.ones(2, 1, dtype=torch.bool)
    stable = torch.tensor([0])
    max_steps = 100
    with counting_host_reads(monkeypatch) as counts:
        target, steps, length = _follow(
            system, x, None, targets, balls, same, stable, 1.0, max_steps, False
        )
    assert counts["__bool__"] <= math.ceil(max_steps / _CHECK_EVERY)
    assert counts["item"] == counts["numpy"] == counts["cpu"] == 0
    assert target.tolist() == [0, 0]
    assert steps.tolist() == [7, 7]  # 2^-7 < 0.01 < 2^-6
    assert length.tolist() == pytest.approx([1 - 2**-7] * 2)
