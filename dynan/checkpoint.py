"""Loading checkpoints safely: ``dynan.load``.

A checkpoint is one ``.safetensors`` file (see ``dynan_models.checkpoint``). Loading parses the
header by hand before any tensor is read (``dynan._checkpoint_header``), checks every field of
the config (``dynan._checkpoint_config``) and compares the shapes its sizes imply with the
header's shapes and the header's byte ranges with the file — all before anything the size of
the network is allocated. So every bad file gets a ``CheckpointError`` naming the file and the
problem: missing, truncated, not safetensors (pickles and ``torch.save`` archives are recognised
and refused — never unpickled), no dynan config, newer format, unknown architecture, bad
constructor arguments or field types, missing/unexpected/mis-shaped tensors, non-finite weights;
and no header, however its numbers lie, makes the loader allocate more than the file holds.
Cost: one read of the file, O(size) time; memory at most about four times the file (its bytes,
the tensors, the network) plus O(header) for the JSON.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors_bytes

from dynan._checkpoint_config import check_config, expected_shapes, tensor_count
from dynan._checkpoint_header import FLOAT_DTYPES, Header, parse_header, parse_json
from dynan.errors import CheckpointError
from dynan_models import RecurrentNetwork, build
from dynan_models.checkpoint import FORMAT_VERSION, METADATA_KEY

__all__ = ["CheckpointInfo", "load", "read_config"]

#: How many more tensors than the header holds a config may imply and still have the missing
#: ones listed by name; beyond that (a layer count no file backs) only the counts are told, so
#: the names listed stay O(header).
_MAX_LISTED = 64


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


def _parse(path: Path, blob: bytes) -> tuple[Header, dict]:
    """The checked header and the checked dynan config of ``blob``; shapes compared.

    Nothing the size of the network is allocated here: the header's byte ranges are checked
    against the file, the config's fields against their types and ranges, and the shapes its
    sizes imply against the header's shapes.
    """
    header = parse_header(path, blob)
    if METADATA_KEY not in header.metadata:
        raise CheckpointError(
            f"{path}: safetensors file without a dynan config in its metadata "
            "(write checkpoints with dynan_models.save_checkpoint)"
        )
    config = check_config(
        path, parse_json(path, header.metadata[METADATA_KEY], "the dynan config is not valid JSON")
    )
    arch = config["architecture"]
    count, held = tensor_count(arch, config["arguments"]), len(header.tensors)
    if count > held + _MAX_LISTED:
        raise CheckpointError(
            f"{path}: tensors do not match {arch!r}: its arguments imply {count} tensors, the "
            f"file holds {held}"
        )
    expected = expected_shapes(arch, config["arguments"])
    missing = sorted(set(expected) - set(header.tensors))
    unexpected = sorted(set(header.tensors) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: tensors do not match {arch!r}: "
            f"missing {missing or 'none'}, unexpected {unexpected[:10] or 'none'}"
        )
    for name, entry in header.tensors.items():
        if entry.shape != expected[name]:
            raise CheckpointError(
                f"{path}: tensor {name!r} has shape {entry.shape}, the architecture "
                f"needs {expected[name]}"
            )
        if entry.dtype not in FLOAT_DTYPES:
            raise CheckpointError(f"{path}: tensor {name!r} has non-float dtype {entry.dtype}")
    return header, config


def read_config(path: str | os.PathLike) -> dict:
    """The JSON config of a checkpoint, validated, without building the network."""
    path = Path(path)
    return _parse(path, _read(path))[1]


def _read(path: Path) -> bytes:
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        return path.read_bytes()
    except OSError as err:
        raise CheckpointError(f"{path}: cannot read ({err.strerror or err})") from err


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
    _, config = _parse(path, blob)
    # from here memory is bounded by the file: the tensors are its bytes, the network holds
    # at most twice as many (float16 stored, built in float32)
    try:
        model = build(config["architecture"], **config["arguments"])
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: cannot build {config['architecture']!r}: {err}") from err
    try:
        tensors = load_safetensors_bytes(blob)
    except SafetensorError as err:
        raise CheckpointError(f"{path}: corrupt safetensors data ({err})") from err
    built = {name: tuple(value.shape) for name, value in model.state_dict().items()}
    for name, tensor in tensors.items():
        if tuple(tensor.shape) != built[name]:  # the probe's rules
            raise CheckpointError(f"{path}: tensor {name!r} does not fit the built network")
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
