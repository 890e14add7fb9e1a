"""Reading a trained model's weights safely: a ``torch.save`` file or a safetensors state dict.

A ``torch.save`` file is a pickle. It is read ONLY with ``torch.load(weights_only=True)``, whose
unpickler accepts tensors and plain containers and refuses every other global before anything is
constructed, so a file that would need to unpickle anything else is refused and nothing in it
runs. A safetensors file holds no code at all. Nothing here calls Python's own unpickler (the
load functions and the Unpickler class of :mod:`pickle`; a test makes them fail while every
kind of file is read): from :mod:`pickle` only the exception class ``torch.load`` raises on
refusal is taken, and :func:`pickletools.genops` only lists a refused file's opcodes, to name
in the error the global it asked for — listing builds nothing and runs nothing. Training
scripts wrap the state dict with other entries; the one under ``state_dict`` (PyTorch
Lightning, the seed paper's ``e_{epoch}.pth.tar``), ``model_state_dict`` or ``model`` is taken.

References
----------
PyTorch documentation, ``torch.load`` (``weights_only=True``) and "Saving and loading models";
the safetensors format (Hugging Face).
"""

from __future__ import annotations

import os
import re
import struct
import warnings
import zipfile
from pathlib import Path
from pickle import UnpicklingError  # the exception type only: nothing here unpickles
from pickletools import genops  # disassembly: lists opcodes, builds no object

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors_bytes
from torch import Tensor

from dynan.errors import CheckpointError

__all__ = ["WRAPPER_KEYS", "read_state_dict"]

#: Keys under which training scripts store the state dict beside optimizer state, epoch, ...
WRAPPER_KEYS = ("state_dict", "model_state_dict", "model")


def read_state_dict(path: str | os.PathLike) -> tuple[dict[str, Tensor], str | None]:
    """The state dict in ``path`` and the key it was found under (None at the top level).

    Parameters
    ----------
    path : a ``torch.save`` file (zip or legacy) or a ``.safetensors`` file.

    Returns
    -------
    (state, wrapper)
        ``state`` maps parameter names to CPU tensors; ``wrapper`` is the key of
        :data:`WRAPPER_KEYS` it sat under, or None.

    Raises
    ------
    CheckpointError
        For a missing or unreadable file, a pickle that needs anything but tensors and plain
        containers (refused, never run), or a file without a state dict, each in one line.

    Notes
    -----
    One read of the file: O(size) time and memory.

    Examples
    --------
    >>> import torch, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "model.pt")
    >>> torch.save({"epoch": 3, "state_dict": torch.nn.GRU(1, 2).state_dict()}, path)
    >>> state, wrapper = read_state_dict(path)
    >>> wrapper, sorted(state)[:2]
    ('state_dict', ['bias_hh_l0', 'bias_ih_l0'])
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    with open(path, "rb") as fh:
        head = fh.read(9)
    if _looks_like_safetensors(head):
        obj = _read_safetensors(path)
    else:
        obj = _torch_load(path)
    return _unwrap(path, obj)


def _looks_like_safetensors(head: bytes) -> bool:
    if len(head) < 9:
        return False
    (length,) = struct.unpack("<Q", head[:8])
    return 2 <= length <= 100 * 2**20 and head[8:9] == b"{"


def _read_safetensors(path: Path) -> dict[str, Tensor]:
    try:
        return load_safetensors_bytes(path.read_bytes())
    except SafetensorError as err:
        raise CheckpointError(f"{path}: corrupt safetensors file ({err})") from err


def _torch_load(path: Path) -> object:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # protocol notes of the weights-only unpickler
            return torch.load(path, map_location="cpu", weights_only=True)
    except UnpicklingError as err:
        what = _what(path, err)
        if what is None:
            raise CheckpointError(
                f"{path}: not a readable torch.save or safetensors file (its bytes are neither "
                "a pickle, a torch.save archive nor safetensors)"
            ) from err
        raise CheckpointError(
            f"{path}: refused: reading it would unpickle {what}; dynan reads only tensors "
            "and plain containers (torch.load(weights_only=True)) and ran nothing in the file "
            "(a model of your own: save model.state_dict() instead)"
        ) from err
    except (RuntimeError, EOFError, ValueError, zipfile.BadZipFile, OSError) as err:
        raise CheckpointError(
            f"{path}: not a readable torch.save or safetensors file ({_first_line(err)})"
        ) from err


def _what(path: Path, err: Exception) -> str | None:
    """What a refused pickle would have built, for the one-line message; None for bytes that
    are no pickle at all. The opcodes are only listed (``pickletools.genops``), never run."""
    found = re.search(r"GLOBAL ([\w.]+)", str(err))
    if found:
        return f"the global {found.group(1)}"
    names, strings = [], []
    try:
        for opcode, arg, _ in genops(path.read_bytes()):
            if opcode.name == "GLOBAL":
                names.append(str(arg).replace(" ", "."))
            elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                names.append(".".join(strings[-2:]))
            elif isinstance(arg, str):
                strings.append(arg)
    except (ValueError, TypeError, EOFError):
        if not names:
            return None
    if names:
        return "the global " + ", ".join(sorted(set(names)))
    return "Python objects other than tensors and plain containers"


def _first_line(err: Exception) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[0][:200] if lines else type(err).__name__


def _is_state_dict(obj: object) -> bool:
    return (
        isinstance(obj, dict)
        and bool(obj)
        and all(isinstance(k, str) and isinstance(v, Tensor) for k, v in obj.items())
    )


def _unwrap(path: Path, obj: object) -> tuple[dict[str, Tensor], str | None]:
    if _is_state_dict(obj):
        return {k: v.detach().cpu() for k, v in obj.items()}, None
    if isinstance(obj, dict):
        for key in WRAPPER_KEYS:
            if _is_state_dict(obj.get(key)):
                return {k: v.detach().cpu() for k, v in obj[key].items()}, key
        keys = ", ".join(repr(k) for k in list(obj)[:12])
        raise CheckpointError(
            f"{path}: no state dict found: the file holds a dict with keys {keys}, and none "
            f"of {', '.join(WRAPPER_KEYS)} is a dict of tensors"
        )
    raise CheckpointError(
        f"{path}: no state dict found: the file holds a {type(obj).__name__}, not a dict of "
        "tensors (save model.state_dict(), not the model)"
    )
