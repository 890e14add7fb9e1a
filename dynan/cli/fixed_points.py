"""`dynan fixed-points`: fixed points of checkpoints (JSON, PCA figure, skeleton graph)."""

from __future__ import annotations

import argparse
from pathlib import Path

from dynan.cli._device import add_device_arguments, resolve_device, resolve_dtype

HELP = "Fixed points, slow points and their heteroclinic skeleton for checkpoints, with figures"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoints", nargs="+", metavar="CKPT", help="checkpoint files")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument(
        "--input",
        type=float,
        nargs="+",
        metavar="X",
        help="the constant network input, one number per input channel (default: 0)",
    )
    parser.add_argument(
        "--mode",
        choices=("joint", "frozen"),
        default="joint",
        help="joint: the whole state (ARUN: hidden and controller states); frozen: hidden state "
        "with n, s held at their values after the constant input. Networks without shape "
        "parameters always run joint (default: joint)",
    )
    parser.add_argument(
        "--controller",
        action="store_true",
        help="ARUN: also the controller alone under constant pre-activations a in [-4, 4]",
    )
    parser.add_argument(
        "--sequences", type=int, default=32, help="task test sequences seeding the search"
    )
    parser.add_argument("--inits", type=int, default=256, help="starting states (default 256)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the starts")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    add_device_arguments(parser)
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from dynan.adapters.network import has_shape_parameters, network_system
    from dynan.checkpoint import load
    from dynan.fixed_points import (
        controller_fixed_points,
        network_fixed_points,
        task_trajectories,
    )
    from dynan_models import ARUN

    for name in ("sequences", "inits", "threads"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name} must be >= 1, got {getattr(args, name)}")
    torch.set_num_threads(args.threads)
    device, dtype = resolve_device(args.device), resolve_dtype(args.dtype)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    progress = not args.no_progress
    for path in args.checkpoints:
        net = load(path, dtype=dtype, device=device)
        if not net.checkpoint.task:
            from dynan.importers.inputs import STAND_IN_NOTE

            print(f"{path}: {STAND_IN_NOTE} (the search itself runs under zero input)")
        if args.controller and not isinstance(net, ARUN):
            raise ValueError(
                f"--controller needs an ARUN checkpoint, {path} is {net.architecture}"
            )
        mode = args.mode if has_shape_parameters(net) else "joint"
        if mode != args.mode:
            print(f"{path}: {net.architecture} has no shape parameters to freeze; running joint")
        result = network_fixed_points(
            net,
            mode=mode,
            input=args.input,
            n_sequences=args.sequences,
            n_inits=args.inits,
            seed=args.seed,
            progress=progress,
            dtype=dtype,
        )
        system = network_system(net, mode=mode, dtype=dtype)
        orbits = task_trajectories(system, n_sequences=args.sequences, seed=args.seed)
        orbits = orbits.cpu().numpy()
        _write(result, out, f"{Path(path).stem}-fixed-points-{mode}", path, orbits)
        if args.controller:
            controller = controller_fixed_points(
                net, inputs=np.linspace(-4.0, 4.0, 17), seed=args.seed, progress=progress
            )
            _write(controller, out, f"{Path(path).stem}-controller-fixed-points", path, None)
    return 0


def _write(result, out: Path, prefix: str, path: str, trajectories) -> None:
    """The JSON and figures of one result, and a one-line summary."""
    from dynan.report.fixed_point_figures import save_fixed_point_figures

    json_path = out / f"{prefix}.json"
    result.to_json(json_path)
    print(f"{path}: wrote {json_path}")
    for figure in save_fixed_point_figures(
        result, out, prefix=prefix, trajectories=trajectories
    ).values():
        print(f"{path}: wrote {figure}")
    print(f"{path}: {result.summary()}")
