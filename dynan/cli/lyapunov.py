"""`dynan lyapunov`: Lyapunov spectra of checkpoints (JSON + spectrum and convergence figures)."""

from __future__ import annotations

import argparse
from pathlib import Path

from dynan.cli._device import add_device_arguments, resolve_device, resolve_dtype

HELP = "Lyapunov spectrum of checkpoints (joint or frozen shape parameters), with figures"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoints", nargs="+", metavar="CKPT", help="checkpoint files")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument(
        "--mode",
        choices=("frozen", "joint"),
        default="frozen",
        help="frozen: hidden state with n_t, s_t held (the paper's analysis); joint: hidden and "
        "controller states. Networks without shape parameters always run joint (default: frozen)",
    )
    parser.add_argument(
        "--k", type=int, default=16, help="number of exponents, 0 for all (default: 16)"
    )
    parser.add_argument("--steps", type=int, default=400, help="measured steps (default: 400)")
    parser.add_argument(
        "--transient", type=int, default=100, help="discarded steps (default: 100)"
    )
    parser.add_argument("--trials", type=int, default=4, help="independent starts (default: 4)")
    parser.add_argument(
        "--drive",
        type=float,
        default=0.0,
        metavar="XI",
        help="constant drive added to every pre-activation, zero input otherwise (default: 0)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of starts and tangent bases")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads; the method is a chain of small ops, one is usually fastest",
    )
    add_device_arguments(parser)
    parser.add_argument(
        "--qr-device",
        choices=("auto", "cpu", "system"),
        default="auto",
        help="where the QRs run: auto (default: the CPU for a GPU run with k <= 64, where small "
        "batched QRs are faster), cpu, or system (the --device)",
    )
    parser.add_argument(
        "--no-figures", action="store_true", help="write the JSON results only (no PNG figures)"
    )
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def run(args: argparse.Namespace) -> int:
    import torch

    from dynan.checkpoint import load
    from dynan.lyapunov import network_lyapunov
    from dynan.report.lyapunov_figures import save_lyapunov_figures

    for name in ("k", "steps", "transient", "trials", "threads"):
        minimum = 0 if name in ("k", "transient") else 1
        if getattr(args, name) < minimum:
            raise ValueError(f"--{name} must be >= {minimum}, got {getattr(args, name)}")
    torch.set_num_threads(args.threads)
    device, dtype = resolve_device(args.device), resolve_dtype(args.dtype)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for path in args.checkpoints:
        net = load(path, dtype=dtype, device=device)
        result = network_lyapunov(
            net,
            mode=args.mode,
            k=args.k or None,
            n_steps=args.steps,
            transient=args.transient,
            drive_amplitude=args.drive,
            trials=args.trials,
            seed=args.seed,
            progress=not args.no_progress,
            qr_device=args.qr_device,
            dtype=dtype,
        )
        prefix = f"{Path(path).stem}-lyapunov-{result.metadata['mode']}"
        json_path = out / f"{prefix}.json"
        result.to_json(json_path)
        print(f"{path}: wrote {json_path}")
        figures = {} if args.no_figures else save_lyapunov_figures(result, out, prefix=prefix)
        for figure in figures.values():
            print(f"{path}: wrote {figure}")
        if "note" in result.metadata:
            print(f"{path}: {result.metadata['note']}")
        ky = result.kaplan_yorke
        print(
            f"{path}: λ₁ = {result.exponents[0]:+.4f} {result.units} "
            f"[{result.ci_low[0]:+.4f}, {result.ci_high[0]:+.4f}], "
            f"D_KY = {ky:.3f}, entropy rate ≤ {result.entropy_rate:.4f} "
            f"({result.k} of {result.dim} exponents, {result.metadata['mode']} mode)"
        )
    return 0
