"""``--device`` and ``--dtype``: one definition for every subcommand.

Devices: ``cpu`` (the default), ``cuda``, ``cuda:N`` and ``auto`` (CUDA when available);
resolved by :func:`dynan._device.resolve_device`, whose one-line ``ValueError`` for CUDA asked
for where there is none becomes exit status 2 through :func:`dynan.cli.main`.

Precision: analyses run in float64 on any device; ``--dtype float32`` is the user's choice to
trade accuracy for speed (the README lists which analyses tolerate it). Training always runs in
float32; ``--tf32`` lets CUDA matmuls use TF32 (no effect on the CPU).

Sweeps: :func:`~dynan._device.worker_device` gives each Dask worker its own GPU
(``cuda:rank % count``) for ``cuda`` or ``auto``; the sweep's tasks call it on the worker.
"""

from __future__ import annotations

import argparse

from dynan._device import (
    DTYPES,
    configure_training,
    device_spec,
    resolve_device,
    resolve_dtype,
    worker_device,
    worker_rank,
)

__all__ = [
    "DTYPES",
    "add_device_arguments",
    "configure_training",
    "resolve_device",
    "resolve_dtype",
    "worker_device",
    "worker_rank",
]


def add_device_arguments(
    parser: argparse.ArgumentParser, *, dtype: bool = True, training: bool = False
) -> None:
    """Add ``--device`` (and ``--dtype`` for analyses, ``--tf32``/``--deterministic`` for
    training) to a subcommand's parser."""
    parser.add_argument(
        "--device",
        type=device_spec,
        default="cpu",
        metavar="DEVICE",
        help="cpu (default), cuda, cuda:N, or auto (CUDA when available)",
    )
    if dtype:
        parser.add_argument(
            "--dtype",
            choices=tuple(DTYPES),
            default="float64",
            help="precision of the analysis (default float64; float32 is faster on GPUs, "
            "see the README for which analyses tolerate it)",
        )
    if training:
        parser.add_argument(
            "--tf32",
            action="store_true",
            help="CUDA: let float32 matmuls use TF32 tensor cores (faster, ~1e-3 relative)",
        )
        parser.add_argument(
            "--deterministic",
            action="store_true",
            help="deterministic kernels only (torch.use_deterministic_algorithms; slower)",
        )
