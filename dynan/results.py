"""Result records: frozen dataclasses of arrays and parameters that round-trip through JSON.

Arrays are stored as ``{"__ndarray__": dtype, "shape": [...], "data": [...]}`` (complex values
as ``[re, im]`` pairs); non-finite floats as the strings ``"nan"``, ``"inf"``, ``"-inf"`` so the
JSON is standard (browsers reject bare NaN). Decoding follows each field's type hint: nested
results (also inside tuples, lists, dicts and ``X | None``), tuples (also nested), and ``str``
fields, which stay strings even when they spell ``"nan"``. Where a hint says nothing (``dict``,
``list``, ``Any``) those three strings are read back as floats.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import types
import typing
import uuid
from pathlib import Path
from typing import Any, Self

import numpy as np

__all__ = ["Result"]

_NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def _float(x: float) -> float | str:
    if math.isfinite(x):
        return x
    return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")


def _encode(value: Any) -> Any:
    if isinstance(value, Result):
        return value.to_dict()
    if isinstance(value, np.ndarray):
        flat = value.ravel()
        if np.iscomplexobj(flat):
            data = [[_float(float(z.real)), _float(float(z.imag))] for z in flat]
        elif flat.dtype.kind == "f":
            data = [_float(float(v)) for v in flat]
        else:
            data = flat.tolist()
        return {"__ndarray__": str(value.dtype), "shape": list(value.shape), "data": data}
    if isinstance(value, np.generic):
        return _encode(value.item())
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and "__ndarray__" in value:
        dtype = np.dtype(value["__ndarray__"])
        data = value["data"]
        if dtype.kind == "c":
            data = [complex(_NONFINITE.get(r, r), _NONFINITE.get(i, i)) for r, i in data]
        elif dtype.kind == "f":
            data = [_NONFINITE.get(v, v) if isinstance(v, str) else v for v in data]
        return np.asarray(data, dtype=dtype).reshape(value["shape"])
    if isinstance(value, str) and value in _NONFINITE:
        return _NONFINITE[value]
    if isinstance(value, dict):
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


class Result:
    """Mixin for ``@dataclass(frozen=True)`` result records.

    Examples
    --------
    >>> from dataclasses import dataclass
    >>> import numpy as np
    >>> @dataclass(frozen=True)
    ... class R(Result):
    ...     x: np.ndarray
    ...     name: str
    >>> r = R.from_json(R(np.arange(3.0), "a").to_json())
    >>> r.x.tolist(), r.name
    ([0.0, 1.0, 2.0], 'a')
    """

    def to_dict(self) -> dict:
        out = {"__result__": type(self).__name__}
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            out[field.name] = _encode(getattr(self, field.name))
        return out

    @classmethod
    def from_dict(cls, data: dict) -> Self:
        """Rebuild from ``to_dict`` output; ValueError for another record or a missing field."""
        name = data.get("__result__", cls.__name__)
        if name != cls.__name__:
            raise ValueError(f"this JSON holds a {name}, not a {cls.__name__}")
        hints = typing.get_type_hints(cls)
        fields = [f for f in dataclasses.fields(cls) if f.init]  # type: ignore[arg-type]
        missing = [
            f.name
            for f in fields
            if f.name not in data
            and f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
        ]
        if missing:
            raise ValueError(f"this {cls.__name__} JSON is missing the field(s) {missing}")
        kwargs = {
            f.name: _from_hint(data[f.name], hints.get(f.name)) for f in fields if f.name in data
        }
        return cls(**kwargs)

    def to_json(self, path: str | os.PathLike | None = None, *, indent: int | None = None) -> str:
        """Serialise; with ``path``, also write the file atomically."""
        text = json.dumps(self.to_dict(), indent=indent, allow_nan=False)
        if path is not None:
            path = Path(path)
            # a unique temporary name: parallel writers of one path must not share it
            tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
            try:
                tmp.write_text(text)
                os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
        return text

    @classmethod
    def from_json(cls, source: str | os.PathLike) -> Self:
        """Read from a JSON string or a path to a JSON file."""
        text = str(source)
        if not text.lstrip().startswith("{"):
            text = Path(source).read_text()
        return cls.from_dict(json.loads(text))


def _is_result(t: Any) -> bool:
    return isinstance(t, type) and issubclass(t, Result)


def _from_hint(raw: Any, hint: Any) -> Any:
    """Decode a JSON value into the shape its type hint asks for (see the module docstring)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if _is_result(hint) and isinstance(raw, dict) and "__result__" in raw:
        return hint.from_dict(raw)
    if origin is typing.Union or origin is types.UnionType:
        if raw is None:
            return None
        members = [a for a in args if a is not type(None)]
        if isinstance(raw, dict) and "__result__" in raw:
            for member in members:
                if _is_result(member) and member.__name__ == raw["__result__"]:
                    return member.from_dict(raw)
        if len(members) == 1:
            return _from_hint(raw, members[0])
        if isinstance(raw, str) and str in members:
            return raw
        return _decode(raw)
    if hint is str and isinstance(raw, str):
        return raw
    if isinstance(raw, list) and (hint is tuple or origin in (tuple, list)):
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            items = [_from_hint(r, args[0]) for r in raw]
        elif origin is tuple and len(args) == len(raw):
            items = [_from_hint(r, a) for r, a in zip(raw, args, strict=True)]
        elif origin is list and args:
            items = [_from_hint(r, args[0]) for r in raw]
        else:
            items = [_decode(r) for r in raw]
        return items if origin is list else tuple(items)
    if origin is dict and len(args) == 2 and isinstance(raw, dict) and "__ndarray__" not in raw:
        return {k: _from_hint(v, args[1]) for k, v in raw.items()}
    return _decode(raw)
