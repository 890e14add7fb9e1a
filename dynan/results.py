"""Result records: frozen dataclasses of arrays and parameters that round-trip through JSON.

Arrays are stored as ``{"__ndarray__": dtype, "shape": [...], "data": [...]}`` (complex values
as ``[re, im]`` pairs); non-finite floats as the strings ``"nan"``, ``"inf"``, ``"-inf"`` so the
JSON is standard (browsers reject bare NaN). Nested results are decoded from the field's type.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import typing
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
        name = data.get("__result__", cls.__name__)
        if name != cls.__name__:
            raise ValueError(f"this JSON holds a {name}, not a {cls.__name__}")
        hints = typing.get_type_hints(cls)
        kwargs = {}
        for field in dataclasses.fields(cls):  # type: ignore[arg-type]
            if field.name not in data:
                continue
            raw = data[field.name]
            hint = hints.get(field.name)
            nested = [t for t in (hint, *typing.get_args(hint)) if _is_result(t)]
            if nested and isinstance(raw, dict) and "__result__" in raw:
                kwargs[field.name] = nested[0].from_dict(raw)
            elif nested and isinstance(raw, list) and raw and isinstance(raw[0], dict):
                inner = [t for t in typing.get_args(hint) if _is_result(t)] or nested
                kwargs[field.name] = tuple(inner[0].from_dict(r) for r in raw)
            else:
                value = _decode(raw)
                if isinstance(value, list) and _is_tuple(hint):
                    value = tuple(value)
                kwargs[field.name] = value
        return cls(**kwargs)

    def to_json(self, path: str | os.PathLike | None = None, *, indent: int | None = None) -> str:
        """Serialise; with ``path``, also write the file atomically."""
        text = json.dumps(self.to_dict(), indent=indent, allow_nan=False)
        if path is not None:
            path = Path(path)
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_text(text)
            os.replace(tmp, path)
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


def _is_tuple(hint: Any) -> bool:
    return hint is tuple or typing.get_origin(hint) is tuple
