"""Loading checkpoints safely: ``dynan.load``.

A checkpoint is one ``.safetensors`` file (see ``dynan_models.checkpoint``). Loading parses the
header by hand before any tensor is read, so every bad file gets a ``CheckpointError`` naming the
file and the problem: missing, truncated, not safetensors (pickles and ``torch.save`` archives are
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
from dynan_models import ARCHITECTURES, RecurrentNetwork, build
from dynan_models.checkpoint import FORMAT_VERSION, METADATA_KEY

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


#: Signatures of files people mistake for checkpoints: (prefix, description).
_FOREIGN = (
    (b"PK\x03\x04", "a torch.save zip archive (a pickle inside), which dynan never opens"),
    (b"\x93NUMPY", "a NumPy .npy file"),
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file"),
)
#: First opcodes of protocol 0/1 pickles (MARK, EMPTY_DICT/LIST/TUPLE, GLOBAL, scalars).
_PICKLE0_FIRST = frozenset(b"(}])cILFSVNTUGJK")


def _describe_foreign(blob: bytes) -> str:
    """What a file that is not safetensors looks like, for the error message."""
    for prefix, description in _FOREIGN:
        if blob.startswith(prefix):
            return f"it looks like {description}"
    # protocols >= 2 start with PROTO (0x80, 2..5); a protocol 0/1 pickle starts with one of a
    # few opcodes and, like every pickle, ends with STOP '.' (legacy torch.save files do not)
    proto = blob[:2] in (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")
    if proto or (blob.endswith(b".") and blob[0] in _PICKLE0_FIRST):
        return "it looks like a Python pickle, which dynan never unpickles"
    return "it does not start with the length of a JSON header"


def _parse(path: Path, blob: bytes) -> tuple[dict, dict, int]:
    """Return (tensor header, dynan config, data start) or raise CheckpointError.

    A safetensors file is an 8-byte little-endian header length, a JSON object of that many
    bytes (so byte 8 is '{'), then the tensor data; anything else is reported as foreign.
    """
    if not blob:
        raise CheckpointError(f"{path}: empty file (0 bytes)")
    (header_len,) = struct.unpack("<Q", blob[:8].ljust(8, b"\0"))
    plausible = 2 <= header_len <= _MAX_HEADER and blob[8:9] in (b"{", b"")
    if not plausible:
        raise CheckpointError(f"{path}: not a safetensors file ({_describe_foreign(blob)})")
    if len(blob) < 8 or 8 + header_len > len(blob):
        raise CheckpointError(
            f"{path}: truncated (the header needs {8 + header_len} bytes, the file has "
            f"{len(blob)})"
        )
    try:
        header = json.loads(blob[8 : 8 + header_len].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path}: corrupt safetensors header ({err})") from err
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: corrupt safetensors header (not a JSON object)")
    meta = header.pop("__metadata__", None) or {}
    if not isinstance(meta, dict) or METADATA_KEY not in meta:
        raise CheckpointError(
            f"{path}: safetensors file without a dynan config in its metadata "
            "(write checkpoints with dynan_models.save_checkpoint)"
        )
    try:
        config = json.loads(meta[METADATA_KEY])
    except (TypeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path}: the dynan config is not valid JSON ({err})") from err
    if not isinstance(config, dict):
        raise CheckpointError(f"{path}: the dynan config is not a JSON object")
    data_len = len(blob) - 8 - header_len
    for name, info in header.items():
        offsets = info.get("data_offsets") if isinstance(info, dict) else None
        valid = (
            isinstance(offsets, list)
            and len(offsets) == 2
            and all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
        )
        if not valid:
            raise CheckpointError(f"{path}: corrupt safetensors header (tensor {name!r})")
        if offsets[1] > data_len:
            raise CheckpointError(
                f"{path}: truncated (tensor {name!r} ends at byte {offsets[1]}, "
                f"data has {data_len})"
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
    path : path to a ``.safetensors`` checkpoint written by ``dynan_models.save_checkpoint``.
    dtype : optional dtype to cast the weights to (analyses use ``torch.float64``); by default
        the network has the dtype its weights were saved in.
    device : where to put the weights.

    Returns
    -------
    dynan_models.RecurrentNetwork
        With attribute ``checkpoint`` (a :class:`CheckpointInfo`).

    Raises
    ------
    CheckpointError
        For every bad file, with the file name and the problem.

    Examples
    --------
    >>> import dynan, tempfile, os
    >>> from dynan_models import build, save_checkpoint
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
    stored = {tensor.dtype for tensor in tensors.values()}
    if len(stored) == 1:  # keep the saved precision: a float64 network stays float64
        model.to(stored.pop())
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
