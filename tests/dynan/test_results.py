"""Result records round-trip through standard JSON: non-finite values, complex, nesting, tuples."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from dynan.results import Result


@dataclasses.dataclass(frozen=True)
class Inner(Result):
    values: np.ndarray
    label: str


@dataclasses.dataclass(frozen=True)
class Outer(Result):
    spectrum: np.ndarray
    eigenvalues: np.ndarray
    inner: Inner
    children: tuple[Inner, ...]
    optional: Inner | None
    window: tuple[int, int]
    pairs: tuple[tuple[float, float], ...]
    scalar: float
    count: int
    flag: bool
    name: str
    params: dict
    notes: list
    missing: float | None = None


def _outer(**changes) -> Outer:
    fields = {
        "spectrum": np.array([0.9056, 0.0, -14.5723, np.nan, np.inf, -np.inf]),
        "eigenvalues": np.array([[1 + 2j, np.nan + 1j], [complex(np.inf, -np.inf), -0.5j]]),
        "inner": Inner(np.arange(6, dtype=np.int32).reshape(2, 3), "a"),
        "children": (Inner(np.array([np.nan]), "b"), Inner(np.zeros((0, 2)), "c")),
        "optional": None,
        "window": (200, 400),
        "pairs": ((0.1, np.inf), (np.nan, -1.0)),
        "scalar": math.nan,
        "count": 3,
        "flag": True,
        "name": "lorenz",
        "params": {"sigma": 10.0, "rho": np.float64(28.0), "bad": -math.inf, "k": [1, 2]},
        "notes": [math.inf, "text", 2],
    }
    fields.update(changes)
    return Outer(**fields)


def _assert_same(a, b):
    """Deep equality where NaN equals NaN and array dtypes and shapes must match."""
    if isinstance(a, Result):
        assert type(a) is type(b)
        for field in dataclasses.fields(a):
            _assert_same(getattr(a, field.name), getattr(b, field.name))
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray)
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)  # treats NaN as equal to NaN
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys()
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, list | tuple):
        assert type(a) is type(b) and len(a) == len(b)
        for u, v in zip(a, b, strict=True):
            _assert_same(u, v)
    elif isinstance(a, float) and math.isnan(a):
        assert isinstance(b, float) and math.isnan(b)
    else:
        assert type(a) is type(b) or (isinstance(a, float) and isinstance(b, float)), (a, b)
        assert a == b


def _strict_loads(text: str):
    """Standard JSON only: bare NaN/Infinity tokens are rejected, as browsers do."""

    def reject(token):
        raise ValueError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=reject)


def test_round_trip_everything():
    result = _outer()
    text = result.to_json()
    _strict_loads(text)
    back = Outer.from_json(text)
    _assert_same(result, back)


def test_round_trip_through_a_file(tmp_path):
    result = _outer(optional=Inner(np.array([1.5]), "opt"))
    path = tmp_path / "result.json"
    text = result.to_json(path, indent=2)
    assert path.read_text() == text
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]  # no temporary left
    back = Outer.from_json(path)
    _assert_same(result, back)
    assert isinstance(back.optional, Inner)
    _assert_same(Outer.from_json(str(path)), result)


def test_failed_write_leaves_no_temporary(tmp_path):
    target = tmp_path / "taken"
    target.mkdir()  # os.replace cannot put a file over a directory
    with pytest.raises(OSError):
        _outer().to_json(target)
    assert [p.name for p in tmp_path.iterdir()] == ["taken"]


def test_known_encoding_of_non_finite_and_complex():
    data = _strict_loads(_outer().to_json())
    assert data["__result__"] == "Outer"
    assert data["spectrum"] == {
        "__ndarray__": "float64",
        "shape": [6],
        "data": [0.9056, 0.0, -14.5723, "nan", "inf", "-inf"],
    }
    assert data["eigenvalues"]["shape"] == [2, 2]
    assert data["eigenvalues"]["data"] == [[1.0, 2.0], ["nan", 1.0], ["inf", "-inf"], [0.0, -0.5]]
    assert data["scalar"] == "nan"
    assert data["window"] == [200, 400]


@pytest.mark.parametrize(
    "array",
    [
        np.array(3.5),
        np.zeros((0, 3)),
        np.arange(4, dtype=np.float32) / 3,
        np.array([True, False]),
        np.array([-(2**62), 2**62], dtype=np.int64),
        np.array([1 + 1j, 2], dtype=np.complex64),
        np.array([np.nan, 1.0], dtype=np.float16),
    ],
    ids=["0d", "empty", "float32", "bool", "int64", "complex64", "float16"],
)
def test_array_dtypes_and_shapes_survive(array):
    back = Inner.from_json(Inner(array, "x").to_json())
    _assert_same(Inner(array, "x"), back)


def test_string_fields_that_spell_non_finite_floats_stay_strings():
    back = Inner.from_json(Inner(np.zeros(1), "nan").to_json())
    assert back.label == "nan"
    back = _outer(name="inf", params={"value": math.inf}).to_json()
    back = Outer.from_json(back)
    assert back.name == "inf"
    assert back.params["value"] == math.inf


@dataclasses.dataclass(frozen=True)
class Containers(Result):
    listed: list[Inner]
    named: dict[str, Inner]
    either: Inner | Outer
    grid: tuple[tuple[int, ...], ...]


def test_results_inside_typed_containers():
    a, b = Inner(np.array([1.0, np.nan]), "a"), Inner(np.array([2j]), "nan")
    result = Containers([a, b], {"first": a, "inf": b}, b, ((1, 2), (), (3,)))
    back = Containers.from_json(result.to_json())
    _assert_same(result, back)
    assert isinstance(back.named["inf"], Inner) and back.named["inf"].label == "nan"
    _assert_same(Containers.from_json(result.to_json()), result)
    either = Containers([], {}, _outer(), ())
    _assert_same(Containers.from_json(either.to_json()), either)


def test_wrong_record_type_is_refused():
    text = Inner(np.zeros(1), "a").to_json()
    with pytest.raises(ValueError, match="this JSON holds a Inner, not a Outer"):
        Outer.from_json(text)


def test_missing_field_is_a_clear_error():
    data = _outer().to_dict()
    del data["scalar"]
    with pytest.raises(ValueError, match=r"Outer JSON is missing the field\(s\) \[.scalar.\]"):
        Outer.from_dict(data)
    # a field with a default may be absent
    data = _outer().to_dict()
    del data["missing"]
    assert Outer.from_dict(data).missing is None


def test_results_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        _outer().count = 4
