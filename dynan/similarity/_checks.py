"""Validation at the public boundary of ``dynan.similarity``, and its exception/warning types.

Every public function converts its inputs with :func:`as_matrix` (float64 numpy, 2-D, finite)
or, where a float64 copy of the whole input would cost memory that grows with n, validates them
in their own dtype with :func:`as_array`, and checks pairs with :func:`check_pair`, so a bad
argument fails with one line naming it and its shape rather than with a deep numpy or torch
trace.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any

import numpy as np

from dynan.errors import DynanError

__all__ = ["CKAWarning", "SimilarityError", "as_array", "as_matrix", "check_pair", "check_rows"]


class SimilarityError(DynanError, ValueError):
    """Representations that cannot be compared: wrong shape, too few examples, bad option."""


class CKAWarning(UserWarning):
    """A similarity value is undefined (returned as NaN) or unreliable; the message says why."""


def warn(message: str) -> None:
    """Issue a :class:`CKAWarning` attributed to the first caller outside this package."""
    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_globals.get("__name__", "").startswith(__package__):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, CKAWarning, stacklevel=level)


#: Rows per block when a whole-array check must not allocate an array the size of its input.
CHECK_ROWS = 4096


def as_array(x: Any, name: str = "X") -> np.ndarray:
    """``x`` (array-like or torch tensor) as a finite real 2-D numpy array in its own dtype.

    Nothing the size of ``x`` is allocated: a numpy array (or a CPU tensor's buffer) is returned
    as it is, and finiteness is checked through one float64 sum, counting the bad values block by
    block only when that sum is not finite. Use :func:`as_matrix` for a float64 copy.

    Raises
    ------
    SimilarityError
        If ``x`` is not 2-D, is empty, is complex or holds NaN/inf; the message names ``name``.
    """
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch.Tensor without importing torch
        x = x.detach().cpu()
        if str(x.dtype) == "torch.bfloat16":
            x = x.float()
        x = x.numpy()
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as err:
        raise SimilarityError(f"{name} cannot be read as an array: {err}") from err
    if arr.dtype.kind == "c":
        raise SimilarityError(f"{name} is complex; similarity measures need real features")
    if arr.dtype.kind not in "biuf":
        raise SimilarityError(f"{name} must hold numbers, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise SimilarityError(
            f"{name} must be a 2-D array (examples, features), got shape {arr.shape}; "
            "flatten the feature axes first"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise SimilarityError(f"{name} is empty: shape {arr.shape}")
    if arr.dtype.kind == "f" and not np.isfinite(arr.sum(dtype=np.float64)):
        blocks = range(0, arr.shape[0], CHECK_ROWS)
        finite = sum(int(np.count_nonzero(np.isfinite(arr[i : i + CHECK_ROWS]))) for i in blocks)
        if finite < arr.size:  # else the sum overflowed: large but finite values are accepted
            raise SimilarityError(f"{name} has {arr.size - finite} non-finite values (NaN or inf)")
    return arr


def as_matrix(x: Any, name: str = "X") -> np.ndarray:
    """``x`` (array-like or torch tensor) as a finite float64 array of shape (examples, features).

    Checks as :func:`as_array`; copies only when ``x`` is not float64 already.
    """
    return np.asarray(as_array(x, name), dtype=np.float64)


def check_rows(n: int, *, debiased: bool, what: str = "CKA") -> None:
    """Enough examples for the estimator: 2 (biased) or 4 (debiased HSIC₁ divides by n − 3)."""
    need = 4 if debiased else 2
    if n < need:
        kind = "debiased (HSIC₁)" if debiased else "biased (HSIC₀)"
        raise SimilarityError(f"{kind} {what} needs at least {need} examples, got n={n}")


def check_pair(
    x: Any, y: Any, names: tuple[str, str] = ("X", "Y"), *, native: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Both as float64 matrices (in their own dtype if ``native``) with the same number of rows."""
    convert = as_array if native else as_matrix
    a, b = convert(x, names[0]), convert(y, names[1])
    if a.shape[0] != b.shape[0]:
        raise SimilarityError(
            f"{names[0]} and {names[1]} must have the same number of rows (the same examples): "
            f"{names[0]} has shape {a.shape}, {names[1]} has shape {b.shape}"
        )
    return a, b


def is_constant(x: np.ndarray) -> bool:
    """Every row identical (so the centred representation is zero and CKA is undefined)."""
    return bool(np.all(x == x[:1]))


def check_choice(value: Any, name: str, valid: tuple[str, ...]) -> str:
    """``value`` if it is one of ``valid``, else a SimilarityError listing them."""
    if value not in valid:
        names = ", ".join(map(repr, valid))
        raise SimilarityError(f"{name} must be one of {names}; got {value!r}")
    return value


def check_positive(value: Any, name: str, *, integer: bool = False) -> Any:
    """``value`` if it is a positive (integer) number, else a SimilarityError."""
    ok = isinstance(value, int | np.integer) and not isinstance(value, bool)
    if not integer:
        ok = ok or isinstance(value, float | np.floating)
    if not ok or not np.isfinite(value) or value <= 0:
        kind = "a positive integer" if integer else "a positive number"
        raise SimilarityError(f"{name} must be {kind}, got {value!r}")
    return value
