"""The safetensors layer of a checkpoint, parsed and checked by hand before anything is built.

A safetensors file is an 8-byte little-endian header length, a JSON object of that many bytes
(tensor name → ``{"dtype", "shape", "data_offsets"}`` plus an optional ``"__metadata__"`` of
strings), then the tensor data: each tensor's bytes at ``[start, end)`` of the data buffer, the
tensors packed back to back with no gap, no overlap and nothing after the last one
(huggingface/safetensors, ``docs/source/index.mdx``, "Format"). Every number in the header is
checked against the file before it is used, so a header cannot make the loader allocate more
than the file holds.

Cost: O(header) time and memory after the file is read (the JSON objects take a small multiple
of the header's bytes; the header is at most :data:`MAX_HEADER` bytes and never more than the
file).
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from pathlib import Path

from dynan.errors import CheckpointError

__all__ = [
    "DTYPE_SIZES",
    "FLOAT_DTYPES",
    "MAX_HEADER",
    "Header",
    "TensorEntry",
    "parse_header",
    "parse_json",
]

#: A dynan checkpoint's header is a few KB (tensor entries and the config): 1 MiB is ample, and
#: keeps the JSON parse's memory small whatever the length field says.
MAX_HEADER = 2**20
#: Longer length fields are taken as a sign that the file is not safetensors at all (the
#: safetensors library's own limit).
_PLAUSIBLE_HEADER = 100 * 2**20
#: Bytes per element of the safetensors dtypes (safetensors ``Dtype``).
DTYPE_SIZES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2,
    "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8,
}  # fmt: skip
#: The dtypes a network's weights may be stored in.
FLOAT_DTYPES = ("F16", "BF16", "F32", "F64")

#: Signatures of files people mistake for checkpoints: (prefix, description).
_FOREIGN = (
    (b"PK\x03\x04", "a torch.save zip archive (a pickle inside), which dynan never opens"),
    (b"\x93NUMPY", "a NumPy .npy file"),
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file"),
)
#: First opcodes of protocol 0/1 pickles (MARK, EMPTY_DICT/LIST/TUPLE, GLOBAL, scalars).
_PICKLE0_FIRST = frozenset(b"(}])cILFSVNTUGJK")


@dataclass(frozen=True)
class TensorEntry:
    """One tensor of the header: dtype name, shape, byte range in the data buffer."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    start: int
    end: int


@dataclass(frozen=True)
class Header:
    """A checked safetensors header: tensors by name, string metadata, where the data starts."""

    tensors: dict[str, TensorEntry]
    metadata: dict[str, str]
    data_start: int


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


def _is_int(value) -> bool:
    return type(value) is int  # not bool, not float


def _entry(path: Path, name: str, info, data_len: int) -> TensorEntry:
    """Check one tensor entry against the dtype table and the data buffer's length."""
    where = f"{path}: corrupt safetensors header (tensor {name!r}"
    if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
        raise CheckpointError(f"{where}: needs exactly dtype, shape and data_offsets)")
    dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    if not isinstance(dtype, str) or dtype not in DTYPE_SIZES:
        raise CheckpointError(f"{where}: unknown dtype {str(dtype)[:20]!r})")
    if not (isinstance(shape, list) and len(shape) <= 8):
        raise CheckpointError(f"{where}: shape is not a list of at most 8 sizes)")
    if not all(_is_int(n) and 0 <= n < 2**63 for n in shape):
        raise CheckpointError(f"{where}: shape {str(shape)[:60]} is not non-negative integers)")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(map(_is_int, offsets))):
        raise CheckpointError(f"{where}: data_offsets is not two integers)")
    start, end = offsets
    if not 0 <= start <= end:
        raise CheckpointError(f"{where}: data_offsets {start}..{end} out of order)")
    if end > data_len:
        raise CheckpointError(
            f"{path}: truncated (tensor {name!r} ends at byte {end}, data has {data_len})"
        )
    nbytes = math.prod(shape) * DTYPE_SIZES[dtype]
    if end - start != nbytes:
        raise CheckpointError(
            f"{where}: shape {tuple(shape)} of {dtype} needs {nbytes} bytes, "
            f"data_offsets give {end - start})"
        )
    return TensorEntry(name, dtype, tuple(shape), start, end)


def parse_json(path: Path, text: bytes | str, what: str):
    """``json.loads`` that raises CheckpointError (bad UTF-8 or JSON, huge ints, deep nests)."""
    try:
        return json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        # ValueError covers JSONDecodeError and integers longer than Python will parse
        reason = "nested too deeply" if isinstance(err, RecursionError) else str(err)[:100]
        raise CheckpointError(f"{path}: {what} ({reason})") from err


def parse_header(path: Path, blob: bytes) -> Header:
    """Return the checked header of ``blob`` (the bytes of ``path``) or raise CheckpointError.

    Raises
    ------
    CheckpointError
        Empty, foreign (pickle, zip, NumPy, HDF5), truncated, header longer than
        :data:`MAX_HEADER`, corrupt JSON, tensor entries with an unknown dtype, a shape that
        does not match its byte range, ranges past the end of the file, gaps or overlaps.
    """
    if not blob:
        raise CheckpointError(f"{path}: empty file (0 bytes)")
    (header_len,) = struct.unpack("<Q", blob[:8].ljust(8, b"\0"))
    if not (2 <= header_len <= _PLAUSIBLE_HEADER and blob[8:9] in (b"{", b"")):
        raise CheckpointError(f"{path}: not a safetensors file ({_describe_foreign(blob)})")
    if len(blob) < 8 or 8 + header_len > len(blob):
        raise CheckpointError(
            f"{path}: truncated (the header needs {8 + header_len} bytes, the file has "
            f"{len(blob)})"
        )
    if header_len > MAX_HEADER:
        raise CheckpointError(
            f"{path}: corrupt safetensors header ({header_len} bytes; a dynan checkpoint's "
            f"header is at most {MAX_HEADER})"
        )
    header = parse_json(path, blob[8 : 8 + header_len], "corrupt safetensors header")
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: corrupt safetensors header (not a JSON object)")
    meta = header.pop("__metadata__", None)
    if meta is None:
        meta = {}
    if not (isinstance(meta, dict) and all(isinstance(v, str) for v in meta.values())):
        raise CheckpointError(
            f"{path}: corrupt safetensors header (__metadata__ is not an object of strings)"
        )
    data_len = len(blob) - 8 - header_len
    entries = {name: _entry(path, name, info, data_len) for name, info in header.items()}
    position = 0  # packed back to back from byte 0 to the end of the file
    for entry in sorted(entries.values(), key=lambda e: (e.start, e.end)):
        if entry.start != position:
            gap = "overlaps the previous one" if entry.start < position else "leaves a gap"
            raise CheckpointError(
                f"{path}: corrupt safetensors header (tensor {entry.name!r} {gap})"
            )
        position = entry.end
    if position != data_len:
        raise CheckpointError(
            f"{path}: corrupt safetensors data ({data_len - position} bytes after the last tensor)"
        )
    return Header(entries, meta, 8 + header_len)
