"""CPU against GPU in the same process: a training step at the seed paper's size, and analyses.

The seed paper (Geadah et al. 2024) trained 400-unit networks on 784-step sequences (psMNIST)
for 100 epochs. For a γ-heterogeneous Elman network and an ARUN (400 units, a 50-unit
controller) this times one Adam step on a batch of 100 sequences of 784 steps on the CPU and
on the GPU (float32; and with TF32 matmuls), and extrapolates to an epoch (50,000 training
sequences: 500 steps) and to the paper's 100 epochs. For the analyses it times, at the same
network size, a Lyapunov spectrum (k = 16 and all 400 exponents, float64, QR on the CPU or on
the GPU, and float32) and the hidden states CKA reads (1,000 test sequences). Each ratio is
CPU seconds / GPU seconds, both measured in this run (medians after one warm-up; the GPU
clock brackets ``torch.cuda.synchronize()``).

Without a CUDA device it says so and writes nothing: a CPU-only run cannot say anything about
a GPU. ``--quick``: 64 units, 196 steps (minutes, for checking the script on a GPU machine).

Run: ``python -m analyses.benchmarks.device [--quick]``; writes ``reports/benchmarks/device.json``.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from analyses.benchmarks._output import save
from dynan._device import configure_training
from dynan.lyapunov import network_lyapunov
from dynan.similarity import network_representations
from dynan_models import build
from dynan_models.training import keep_freed_memory

BATCH = 100
STEPS_PER_EPOCH = 500  # 50,000 psMNIST training sequences in batches of 100
EPOCHS = 100
#: size name → (hidden units, controller units, sequence length, CPU repeats, GPU repeats)
SIZES = {"paper": (400, 50, 784, 1, 5), "quick": (64, 16, 196, 3, 5)}
ARCHITECTURES = ("gamma-heterogeneous", "arun")


def timed(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    """Median wall seconds of ``fn`` after one warm-up, synchronising a CUDA device."""

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def network(arch: str, hidden: int, controller: int) -> nn.Module:
    torch.manual_seed(0)
    kwargs = {"controller_size": controller} if arch == "arun" else {}
    return build(arch, input_size=1, hidden_size=hidden, output_size=10, **kwargs)


def training_step(model: nn.Module, steps: int, device: torch.device) -> Callable[[], None]:
    """One Adam step on a fixed random batch (B = 100, T = ``steps``) on ``device``."""
    model = model.to(device).float().train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    gen = torch.Generator().manual_seed(steps)
    x = torch.rand(BATCH, steps, 1, generator=gen).to(device)
    y = torch.randint(0, 10, (BATCH,), generator=gen).to(device)

    def one() -> None:
        loss = nn.functional.cross_entropy(model(x).logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return one


def training_rows(size: str, gpu: torch.device) -> list[dict]:
    hidden, controller, steps, cpu_repeats, gpu_repeats = SIZES[size]
    cpu = torch.device("cpu")
    rows = []
    for arch in ARCHITECTURES:
        row = {"architecture": arch, "hidden": hidden, "steps": steps, "batch": BATCH}
        if arch == "arun":
            row["controller"] = controller
        t_cpu = timed(
            training_step(network(arch, hidden, controller), steps, cpu), cpu, cpu_repeats
        )
        configure_training(gpu, tf32=False, deterministic=False)
        t_gpu = timed(
            training_step(network(arch, hidden, controller), steps, gpu), gpu, gpu_repeats
        )
        configure_training(gpu, tf32=True, deterministic=False)
        t_tf32 = timed(
            training_step(network(arch, hidden, controller), steps, gpu), gpu, gpu_repeats
        )
        configure_training(gpu, tf32=False, deterministic=False)
        row.update(
            cpu_seconds_per_step=t_cpu,
            gpu_seconds_per_step=t_gpu,
            gpu_tf32_seconds_per_step=t_tf32,
            speedup=t_cpu / t_gpu,
            speedup_tf32=t_cpu / t_tf32,
            cpu_hours_per_epoch=t_cpu * STEPS_PER_EPOCH / 3600,
            gpu_hours_per_epoch=t_gpu * STEPS_PER_EPOCH / 3600,
            cpu_days_for_paper=t_cpu * STEPS_PER_EPOCH * EPOCHS / 86400,
            gpu_days_for_paper=t_gpu * STEPS_PER_EPOCH * EPOCHS / 86400,
        )
        rows.append(row)
        print(
            f"train {arch:>20} N={hidden} T={steps}: CPU {t_cpu:.3f} s/step, GPU {t_gpu:.4f} "
            f"(TF32 {t_tf32:.4f}) → {t_cpu / t_gpu:.1f}x; an epoch "
            f"{row['cpu_hours_per_epoch']:.2f} h vs {row['gpu_hours_per_epoch']:.3f} h",
            flush=True,
        )
    return rows


def analysis_rows(size: str, gpu: torch.device) -> list[dict]:
    hidden, _, steps, cpu_repeats, gpu_repeats = SIZES[size]
    cpu = torch.device("cpu")
    net = network("gamma-heterogeneous", hidden, 0)
    rows = []
    lyapunov = {"n_steps": 200, "transient": 50, "trials": 4, "progress": False}
    cases = [
        ("cpu", cpu, "auto", torch.float64),
        ("gpu, QR on the CPU", gpu, "cpu", torch.float64),
        ("gpu, QR on the GPU", gpu, "system", torch.float64),
        ("gpu float32, QR auto", gpu, "auto", torch.float32),
    ]
    for k in sorted({16, hidden}):
        reference = None
        for label, device, qr, dtype in cases:
            model = copy.deepcopy(net).to(device, dtype)

            def run(model=model, qr=qr, dtype=dtype, k=k):
                return network_lyapunov(
                    model, mode="frozen", k=k, qr_device=qr, dtype=dtype, **lyapunov
                )

            seconds = timed(run, device, cpu_repeats if device == cpu else gpu_repeats)
            reference = seconds if reference is None else reference
            rows.append({"analysis": "lyapunov", "k": k, "case": label, "seconds": seconds,
                         "cpu_over_this": reference / seconds})  # fmt: skip
            print(f"lyapunov N={hidden} k={k:<4} {label:<22} {seconds:8.3f} s "
                  f"({reference / seconds:.1f}x the CPU)", flush=True)  # fmt: skip
    x = torch.rand(1000, steps, 1, generator=torch.Generator().manual_seed(0))
    reference = None
    for label, device in (("cpu", cpu), ("gpu", gpu)):
        model = copy.deepcopy(net).to(device, torch.float64)
        seconds = timed(lambda m=model: network_representations(m, x), device, 1)
        reference = seconds if reference is None else reference
        rows.append({"analysis": "cka states", "k": None, "case": label, "seconds": seconds,
                     "cpu_over_this": reference / seconds})  # fmt: skip
        print(f"CKA states 1000×{steps} {label:<4} {seconds:8.3f} s", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="64 units, 196 steps")
    parser.add_argument("--device", default="cuda", help="the GPU to compare (default cuda)")
    parser.add_argument("--out", default="reports/benchmarks/device.json")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print(
            "no CUDA device (torch.cuda.is_available() is False, torch "
            f"{torch.__version__}): CPU against GPU cannot be measured here; nothing written"
        )
        return 0
    gpu = torch.device(args.device)
    keep_freed_memory()  # as dynan train does: the CPU steps reuse their memory
    size = "quick" if args.quick else "paper"
    training = training_rows(size, gpu)
    analyses = analysis_rows(size, gpu)
    hidden, controller, steps, cpu_repeats, gpu_repeats = SIZES[size]
    meta = {
        "size": size,
        "gpu": torch.cuda.get_device_name(gpu),
        "cuda": torch.version.cuda,
        "hidden": hidden,
        "controller": controller,
        "steps": steps,
        "repeats": {"cpu": cpu_repeats, "gpu": gpu_repeats},
        "statistic": "median wall seconds after one warm-up; ratio = CPU / this, same run",
    }
    save(args.out, meta=meta, training=training, analyses=analyses)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
