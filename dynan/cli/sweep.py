"""`dynan sweep`: analyses over many checkpoints on Dask, one table (results.parquet/.csv).

Runs on an embedded LocalCluster of --workers processes (default: the cores), or on a running
cluster with --scheduler ADDRESS (``dask scheduler`` + ``dask worker ADDRESS``; on SLURM through
dask-jobqueue, see the README). Exit status: 0 when every row is complete; 1 when at least one
checkpoint has an error (the table is still written, the error in its ``error`` column, and a
one-line summary on stderr); 2 for bad input (no checkpoints, an unknown analysis or preset).
"""

from __future__ import annotations

import argparse
import sys

from dynan.cli._device import add_device_arguments, resolve_device

HELP = "run analyses over many checkpoints on Dask and write one table (Parquet + CSV)"


def _keys(text: str) -> list[str]:
    return [k.strip() for k in text.split(",") if k.strip()]


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "checkpoints", nargs="+", metavar="CKPT", help=".safetensors files or folders of them"
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="output directory")
    parser.add_argument(
        "--analyses",
        type=_keys,
        default=None,
        metavar="A,B",
        help="comma-separated analyses (default all: accuracy, shape, lyapunov, fixed-points, "
        "fractional)",
    )
    parser.add_argument(
        "--preset", default="fast", help="analysis settings: fast (default) or full"
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--workers",
        type=_positive,
        default=None,
        metavar="N",
        help="processes of the embedded LocalCluster (default: the cores)",
    )
    where.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="a running Dask scheduler: its address (tcp://10.0.0.5:8786) or scheduler file "
        "(dask scheduler --scheduler-file F); workers must see the same paths",
    )
    parser.add_argument(
        "--no-cache", action="store_true", help="recompute results cached in DIR/.cache"
    )
    parser.add_argument("--no-figures", action="store_true", help="skip comparison.html")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_device_arguments(parser, dtype=False)  # cuda/auto: each worker takes its own GPU


def run(args: argparse.Namespace) -> int:
    from dynan.sweep import run_sweep

    if args.scheduler is None:  # local workers see this machine's GPUs: check them here
        resolve_device(args.device)
    result = run_sweep(
        args.checkpoints,
        analyses=args.analyses,
        preset=args.preset,
        out=args.out,
        scheduler=args.scheduler,
        workers=args.workers,
        progress=not args.quiet,
        cache=not args.no_cache,
        figures=not args.no_figures,
        device=args.device,
    )
    print(result.summary())
    if result.ok:
        return 0
    first_file, first_error = result.failures[0]
    print(
        f"dynan sweep: {len(result.failures)} of {len(result.table)} checkpoint(s) failed "
        f"(first: {first_file}: {first_error}); see the error column of "
        f"{result.out / 'results.csv'}",
        file=sys.stderr,
    )
    return 1
