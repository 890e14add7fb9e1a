"""Loading checkpoints safely: ``dynan.load``.

A checkpoint is one ``.safetensors`` file (see ``models.checkpoint``). Loading parses the header
by hand before any tensor is read, so every bad file gets a ``CheckpointError`` naming the file
and the problem: missing, truncated, not safetensors (pickles and ``torch.save`` archives are
recognised and refused — never unpickled), no dynan config, newer format, unknown architecture,
bad constructor arguments, missing/unexpected/mis-shaped tensors, non-finite weights.
Cost: one read of the file, O(size).
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors_bytes

from dynan.errors import CheckpointError
from models import ARCHITECTURES, RecurrentNetwork, build
from models.checkpoint import FORMAT_VERSION, METADATA_KEY

__all__ = ["CheckpointInfo", "load", "read_config"]

_MAX_HEADER = 100 * 2**20


@dataclass(frozen=True)
class CheckpointInfo:
    """Where a network came from: its file, content hash and stored config."""

    path: str
    sha256: str
    architecture: str
    arguments: dict
    task: dict | None
    seed: int | None
    metrics: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    library_version: str = ""

    @property
    def name(self) -> str:
        """File name without the extension."""
        return Path(self.path).stem


def _describe_foreign(head: bytes) -> str:
    if head[:1] == b"\x80" or head[:2] in (b"(d", b"(l", b"}q", b"]q"):
        return "it looks like a Python pickle, which dynan never unpickles"
    if head[:4] == b"PK\x03\x04":
        return "it looks like a torch.save zip archive (pickle inside), which dynan never opens"
    return "its header length is not plausible"


def _parse(path: Path, blob: bytes) -> tuple[dict, dict, int]:
    """Return (tensor header, dynan config, data start) or raise CheckpointError."""
    if len(blob) < 8:
        raise CheckpointError(f"{path}: truncated or empty ({len(blob)} bytes)")
    (header_len,) = struct.unpack("<Q", blob[:8])
    if header_len > _MAX_HEADER:
        raise CheckpointError(f"{path}: not a safetensors file ({_describe_foreign(blob[:8])})")
    if 8 + header_len > len(blob):
        raise CheckpointError(
            f"{path}: truncated (header says {header_len} bytes, file has {len(blob) - 8})"
        )
    try:
        header = json.loads(blob[8 : 8 + header_len].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(
            f"{path}: not a safetensors file (header is not JSON: {_describe_foreign(blob[:8])})"
        ) from err
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: not a safetensors file (header is not a JSON object)")
    meta = header.pop("__metadata__", None) or {}
    if METADATA_KEY not in meta:
        raise CheckpointError(
            f"{path}: safetensors file without a dynan config in its metadata "
            "(write checkpoints with models.save_checkpoint)"
        )
    try:
        config = json.loads(meta[METADATA_KEY])
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path}: the dynan config is not valid JSON ({err})") from err
    data_len = len(blob) - 8 - header_len
    for name, info in header.items():
        end = info.get("data_offsets", [0, 0])[1] if isinstance(info, dict) else 0
        if end > data_len:
            raise CheckpointError(
                f"{path}: truncated (tensor {name!r} ends at byte {end}, data has {data_len})"
            )
    return header, config, 8 + header_len


def _check_config(path: Path, config: dict) -> None:
    version = config.get("format_version")
    if not isinstance(version, int):
        raise CheckpointError(f"{path}: config has no integer format_version")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: written in checkpoint format {version} by dynan "
            f"{config.get('library_version', '?')}; this dynan reads format <= {FORMAT_VERSION}"
        )
    arch = config.get("architecture")
    if arch not in ARCHITECTURES:
        raise CheckpointError(
            f"{path}: unknown architecture {arch!r}; known: {', '.join(ARCHITECTURES)}"
        )
    if not isinstance(config.get("arguments"), dict):
        raise CheckpointError(f"{path}: config has no 'arguments' object")


def read_config(path: str | os.PathLike) -> dict:
    """The JSON config of a checkpoint, validated, without building the network."""
    path = Path(path)
    blob = _read(path)
    config = _parse(path, blob)[1]
    _check_config(path, config)
    return config


def _read(path: Path) -> bytes:
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    return path.read_bytes()


def load(
    path: str | os.PathLike,
    *,
    dtype: torch.dtype | None = None,
    device: str | torch.device = "cpu",
) -> RecurrentNetwork:
    """Load a checkpoint: the network in eval mode, its config in ``.checkpoint``.

    Parameters
    ----------
    path : path to a ``.safetensors`` checkpoint written by ``models.save_checkpoint``.
    dtype : optional dtype to cast the weights to (analyses use ``torch.float64``).
    device : where to put the weights.

    Returns
    -------
    models.RecurrentNetwork
        With attribute ``checkpoint`` (a :class:`CheckpointInfo`).

    Raises
    ------
    CheckpointError
        For every bad file, with the file name and the problem.

    Examples
    --------
    >>> import dynan, tempfile, os
    >>> from models import build, save_checkpoint
    >>> path = os.path.join(tempfile.mkdtemp(), "net.safetensors")
    >>> _ = save_checkpoint(build("relu", input_size=1, hidden_size=4, output_size=2), path)
    >>> dynan.load(path).checkpoint.architecture
    'relu'
    """
    path = Path(path)
    blob = _read(path)
    _, config, _ = _parse(path, blob)
    _check_config(path, config)
    try:
        model = build(config["architecture"], **config["arguments"])
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: cannot build {config['architecture']!r}: {err}") from err
    try:
        tensors = load_safetensors_bytes(blob)
    except SafetensorError as err:
        raise CheckpointError(f"{path}: corrupt safetensors data ({err})") from err
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: tensors do not match {config['architecture']!r}: "
            f"missing {missing or 'none'}, unexpected {unexpected or 'none'}"
        )
    for name, tensor in tensors.items():
        if tensor.shape != expected[name].shape:
            raise CheckpointError(
                f"{path}: tensor {name!r} has shape {tuple(tensor.shape)}, the architecture "
                f"needs {tuple(expected[name].shape)}"
            )
        if not tensor.is_floating_point():
            raise CheckpointError(f"{path}: tensor {name!r} has non-float dtype {tensor.dtype}")
        if not torch.isfinite(tensor).all():
            bad = int((~torch.isfinite(tensor)).sum())
            raise CheckpointError(f"{path}: tensor {name!r} has {bad} non-finite values")
    model.load_state_dict(tensors)
    model.to(device=device, dtype=dtype) if dtype is not None else model.to(device=device)
    model.eval()
    model.checkpoint = CheckpointInfo(
        path=str(path),
        sha256=hashlib.sha256(blob).hexdigest(),
        architecture=config["architecture"],
        arguments=config["arguments"],
        task=config.get("task"),
        seed=config.get("seed"),
        metrics=config.get("metrics") or {},
        training=config.get("training") or {},
        format_version=config["format_version"],
        library_version=config.get("library_version", ""),
    )
    return model
