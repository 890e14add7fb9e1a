"""Device and precision resolution shared by the CLI, the sweep workers and the benchmarks.

Devices: ``cpu``, ``cuda`` (the current CUDA device), ``cuda:N`` and ``auto`` (CUDA when
``torch.cuda.is_available()``, else the CPU). Asking for CUDA where there is none is a
one-line ``ValueError``, never a torch traceback. :func:`worker_device` gives each Dask worker
of a sweep its own GPU. The command-line options are in :mod:`dynan.cli._device`.
"""

from __future__ import annotations

import argparse
import os
import re

import torch

__all__ = [
    "DTYPES",
    "configure_training",
    "device_spec",
    "resolve_device",
    "resolve_dtype",
    "worker_device",
    "worker_rank",
]

#: --dtype names → torch dtypes (analyses; float64 is the default everywhere).
DTYPES = {"float64": torch.float64, "float32": torch.float32}

_SPEC = re.compile(r"^(cpu|auto|cuda(:\d+)?)$")


def device_spec(text: str) -> str:
    """argparse ``type=``: the device name lower-cased, its syntax checked (not its presence)."""
    spec = str(text).strip().lower()
    if not _SPEC.match(spec):
        raise argparse.ArgumentTypeError(f"expected cpu, cuda, cuda:N or auto, got {text!r}")
    return spec


def resolve_device(spec: str | torch.device) -> torch.device:
    """The ``torch.device`` for a spec (cpu, cuda, cuda:N, auto).

    Raises
    ------
    ValueError
        One line: unknown spec, CUDA asked for where ``torch.cuda.is_available()`` is False,
        or ``cuda:N`` beyond the devices present.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if isinstance(spec, torch.device):
        spec = str(spec)
    try:
        spec = device_spec(spec)
    except argparse.ArgumentTypeError as err:
        raise ValueError(f"--device: {err}") from None
    if spec == "cpu":
        return torch.device("cpu")
    available = torch.cuda.is_available()
    if spec == "auto":
        return torch.device("cuda" if available else "cpu")
    if not available:
        if torch.version.cuda:
            why = f"no CUDA device visible to torch {torch.__version__}"
        else:
            why = f"torch {torch.__version__} was built without CUDA"
        raise ValueError(
            f"--device {spec}: CUDA is not available ({why}); use --device cpu or auto, or "
            "install torch's CUDA build (README: GPUs)"
        )
    device = torch.device(spec)
    count = torch.cuda.device_count()
    if device.index is not None and device.index >= count:
        raise ValueError(f"--device {spec}: only {count} CUDA device(s) (cuda:0..{count - 1})")
    return device


def resolve_dtype(name: str | torch.dtype) -> torch.dtype:
    """float64 or float32 from its name (``ValueError`` naming the valid ones otherwise)."""
    if isinstance(name, torch.dtype) and name in DTYPES.values():
        return name
    if name not in DTYPES:
        raise ValueError(f"--dtype must be one of {', '.join(DTYPES)}, got {name!r}")
    return DTYPES[name]


def configure_training(device: torch.device, *, tf32: bool, deterministic: bool) -> None:
    """Global torch settings for a training run on ``device``.

    ``tf32`` enables TF32 matmuls and cuDNN convolutions/RNNs on CUDA (10-bit mantissa inputs,
    float32 accumulation; NVIDIA, "TensorFloat-32 in the A100 GPU", 2020) and does nothing on
    the CPU. ``deterministic`` sets ``torch.use_deterministic_algorithms(True)`` and the cuBLAS
    workspace that it needs (PyTorch "Reproducibility" notes); seeds are drawn on the CPU
    either way, so a seed gives the same initial weights and batch order on every device.
    """
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = bool(tf32)
        torch.backends.cudnn.allow_tf32 = bool(tf32)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False


def worker_rank() -> int | None:
    """This process's Dask worker number (LocalCluster names workers 0, 1, …), else None."""
    try:
        from distributed import get_worker

        name = get_worker().name
    except (ImportError, ValueError):  # not inside a Dask worker
        return None
    if isinstance(name, int):
        return name
    match = re.search(r"(\d+)$", str(name))
    return int(match.group(1)) if match else None


def worker_device(spec: str, rank: int | None = None) -> torch.device:
    """The device one sweep worker uses: its own GPU when it has one.

    Parameters
    ----------
    spec : str
        The sweep's ``--device`` (cpu, cuda, cuda:N, auto).
    rank : int, optional
        The worker's number; default :func:`worker_rank` (the Dask worker's name).

    Returns
    -------
    torch.device
        ``cpu`` for cpu (and for auto without CUDA); an explicit ``cuda:N`` unchanged; for
        ``cuda``/``auto`` with CUDA, ``cuda:(rank % device_count)`` — workers spread round-robin
        over the visible GPUs (a worker started with its own ``CUDA_VISIBLE_DEVICES``, as in
        dask-cuda, sees one device and gets ``cuda:0``).

    Raises
    ------
    ValueError
        As :func:`resolve_device` (CUDA asked for where there is none).
    """
    device = resolve_device(spec)
    if device.type != "cuda" or device.index is not None:
        return device
    rank = worker_rank() if rank is None else rank
    return torch.device("cuda", (rank or 0) % torch.cuda.device_count())
