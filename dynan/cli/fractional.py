"""`dynan fractional`: single-neuron coding of checkpoints (fractional order, gain scaling)."""

from __future__ import annotations

import argparse
from pathlib import Path

from dynan.cli._device import add_device_arguments, resolve_device

HELP = "fractional order of isolated and intact neurons, gain scaling, example fits"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from dynan.fractional import CONVENTIONS, METHODS
    from dynan.neuron_probes import PRESETS

    parser.add_argument("checkpoints", nargs="+", metavar="CKPT", help="checkpoint files")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument(
        "--preset", choices=sorted(PRESETS), default="fast", help="protocol size (default: fast)"
    )
    parser.add_argument(
        "--method", choices=METHODS, default="gl", help="fractional operator (default: gl)"
    )
    parser.add_argument(
        "--target",
        choices=sorted(CONVENTIONS),
        default="stimulus",
        help="sign convention: stimulus = Geadah et al. (default), response = Lundstrom et al.",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of inputs and bootstrap")
    add_device_arguments(parser, dtype=False)  # the probes run in float64 on any device
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def run(args: argparse.Namespace) -> int:
    import torch

    from dynan.checkpoint import load
    from dynan.neuron_probes import fractional_analysis
    from dynan.report.fractional_figures import save_fractional_figures

    device = resolve_device(args.device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for path in args.checkpoints:
        net = load(path, dtype=torch.float64, device=device)
        result = fractional_analysis(
            net,
            preset=args.preset,
            method=args.method,
            target=args.target,
            seed=args.seed,
            progress=not args.no_progress,
        )
        json_path = out / f"{result.name}-fractional.json"
        result.to_json(json_path)
        figures = save_fractional_figures(result, out)
        print(f"{path}: wrote {json_path}")
        for figure in figures.values():
            print(f"{path}: wrote {figure}")
        for probe in (result.isolated, result.intact):
            alpha = ", ".join(f"{a:+.3f}" for a in probe.population.alpha)
            print(
                f"{path}: population α ({probe.connectivity}) at ξ = {probe.amplitudes}: {alpha}"
            )
    return 0
