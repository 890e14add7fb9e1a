"""`dynan evaluate`: accuracy on the clean test set and under each perturbation."""

from __future__ import annotations

import argparse
import json

from dynan.cli._device import add_device_arguments, resolve_device

HELP = "print test accuracy of checkpoints, clean and under each perturbation"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoints", nargs="+", metavar="CKPT")
    parser.add_argument("--data", default="data", help="mnist: folder with the IDX files")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_device_arguments(parser, dtype=False)


def run(args: argparse.Namespace) -> int:
    from dynan.checkpoint import load
    from dynan_models.evaluation import evaluate_all
    from dynan_models.perturbations import PERTURBATIONS
    from dynan_models.tasks import load_task
    from dynan_models.training import keep_freed_memory

    keep_freed_memory()  # whole-sequence buffers reused, not mapped afresh for every batch
    device = resolve_device(args.device)
    rows = {}
    for path in args.checkpoints:
        net = load(path, device=device)
        if not net.checkpoint.task:
            raise ValueError(f"{path}: the checkpoint records no task to evaluate on")
        spec = dict(net.checkpoint.task)
        if spec.get("name") == "mnist":
            spec["root"] = args.data
        rows[path] = evaluate_all(net, load_task(spec))
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    names = [p.name for p in PERTURBATIONS]
    width = max(len(p) for p in rows)
    print(f"{'checkpoint':<{width}}  " + "  ".join(f"{n:>8}" for n in names))
    for path, acc in rows.items():
        print(f"{path:<{width}}  " + "  ".join(f"{acc[n]:8.3f}" for n in names))
    return 0
