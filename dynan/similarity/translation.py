"""How far translating some examples can move linear CKA (Davari et al. 2023, Theorem 1).

Let X hold n centred points and S ⊂ X a fraction ρ of them. Translating every point NOT in S by
c·v (unit v) drives linear CKA, as c → ∞, to

    CKA(X, X_{S,v,c}) → [ρ/(1 − ρ)] · ‖mean_S x‖² / mean_X ‖x‖² · √d_PR(X),

d_PR = (Σλᵢ)²/Σλᵢ² the participation ratio of the eigenvalues λ of XᵀX/n. The same limit holds
for CKA(X, Y_{S,v,c}) with any Y: only the untranslated side X enters (the translated side
becomes rank one). With S = all points but one, x̂, this is the single-outlier limit
‖x̂‖²/((n − 1) mean‖x‖²) · √d_PR: one example moved far enough decides the value.

References
----------
Davari, Horoi, Natik, Lajoie, Wolf, Belilovsky (2023), "Reliability of CKA as a similarity
measure in deep learning", ICLR, Theorem 1 and §4. REFERENCES.md §5.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dynan.results import Result
from dynan.similarity._checks import SimilarityError, as_matrix, check_pair
from dynan.similarity.cka import cka_matrix

__all__ = [
    "TranslationCurve",
    "participation_ratio",
    "single_point_limits",
    "single_point_translation",
    "subset_translation_curve",
    "subset_translation_limit",
]


@dataclass(frozen=True)
class TranslationCurve(Result):
    """CKA(X, Y with the points outside S moved by c·v) against c, with the Theorem 1 limit.

    ``scales`` are c in units of Y's RMS radius √(mean‖y − ȳ‖²); ``cka[0]`` is at c = 0.
    """

    scales: np.ndarray
    cka: np.ndarray
    limit: float
    rho: float
    subset: np.ndarray
    direction: np.ndarray


def _centred(x: np.ndarray) -> np.ndarray:
    return x - x.mean(0)


def _frobenius_gram(xc: np.ndarray) -> float:
    """‖XᵀX‖_F = ‖XXᵀ‖_F, by whichever product is smaller."""
    small = xc.T @ xc if xc.shape[1] <= xc.shape[0] else xc @ xc.T
    return float(np.linalg.norm(small))


def participation_ratio(x: Any) -> float:
    """d_PR = (Σλ)²/Σλ² of the eigenvalues of the covariance XᵀX/n of the centred x, in [1, p].

    Examples
    --------
    >>> import numpy as np
    >>> round(participation_ratio(np.random.default_rng(0).normal(size=(20000, 4))), 1)
    4.0
    """
    xc = _centred(as_matrix(x))
    g = _frobenius_gram(xc)
    if g == 0:
        raise SimilarityError("participation ratio undefined: x is constant")
    return float((xc**2).sum() ** 2 / g**2)


def _subset_indices(subset: Any, n: int) -> np.ndarray:
    s = np.asarray(subset)
    if s.dtype == bool:
        if s.shape != (n,):
            raise SimilarityError(f"a boolean subset mask must have shape ({n},), got {s.shape}")
        s = np.flatnonzero(s)
    s = np.unique(s.astype(int, copy=False).ravel())
    if s.size == 0 or s.size >= n or s.min() < -n or s.max() >= n:
        raise SimilarityError(
            f"subset must hold between 1 and n − 1 = {n - 1} distinct indices in [0, {n}), "
            f"got {s.size}"
        )
    return np.unique(s % n)


def subset_translation_limit(x: Any, subset: Any) -> float:
    """Theorem 1 of Davari et al.: the c → ∞ limit of CKA when the points outside ``subset`` move.

    Parameters
    ----------
    x : (n, p) array-like
        The representation that is NOT translated (it is centred here).
    subset : indices or boolean mask of S, 1 ≤ |S| ≤ n − 1

    Returns
    -------
    float
        ρ/(1 − ρ) · ‖mean_S x‖² / mean‖x‖² · √d_PR(X), ρ = |S|/n.

    Notes
    -----
    Equivalently ρ/(1 − ρ) · ‖mean_S x‖² / √Σλᵢ², λ the covariance eigenvalues. O(n p²).

    References
    ----------
    Davari et al. (2023), ICLR, Theorem 1.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[1.0], [-1.0], [3.0], [-3.0]])
    >>> subset_translation_limit(x, [0, 2])  # ρ = 1/2, mean_S = 2, mean‖x‖² = 5, d_PR = 1
    0.8
    """
    xc = _centred(as_matrix(x))
    n = xc.shape[0]
    idx = _subset_indices(subset, n)
    rho = idx.size / n
    g = _frobenius_gram(xc)
    if g == 0:
        raise SimilarityError("Theorem 1 limit undefined: x is constant")
    mean_s = xc[idx].mean(0)
    return float(rho / (1 - rho) * (mean_s @ mean_s) * n / g)


def single_point_limits(x: Any) -> np.ndarray:
    """For every example i, the c → ∞ limit of CKA(X, Y) when y_i alone moves by c·v.

    ‖x̂ᵢ‖²/((n − 1) mean‖x‖²) · √d_PR(X) = n‖x̂ᵢ‖²/((n − 1)‖XᵀX‖_F), x̂ centred; shape (n,).
    A large value means that moving that one example far enough would make two unrelated
    representations look similar. O(n p²) (or O(n² p) for p > n).

    Examples
    --------
    >>> import numpy as np
    >>> single_point_limits(np.array([[1.0], [-1.0], [3.0], [-3.0]])).tolist()
    [0.06666666666666667, 0.06666666666666667, 0.6, 0.6]
    """
    xc = _centred(as_matrix(x))
    n = xc.shape[0]
    g = _frobenius_gram(xc)
    if g == 0:
        raise SimilarityError("single-point limits undefined: x is constant")
    return n * (xc**2).sum(1) / ((n - 1) * g)


def single_point_translation(x: Any, y: Any, *, scale: float) -> np.ndarray:
    """Linear CKA(X, Y) after moving each y_i alone outward by ``scale`` × Y's RMS radius; (n,).

    Entry i is CKA(X, Y + e_i c vᵢᵀ), vᵢ = (yᵢ − ȳ)/‖yᵢ − ȳ‖ (the top principal direction where
    yᵢ = ȳ up to rounding), c = scale · √(mean‖y − ȳ‖²): how far one outlier at that distance
    moves the value.

    Notes
    -----
    Closed form, all n at once. With X, Y centred, C = XᵀY, G = YᵀY, a = 1 − 1/n and
    β = 2c‖yᵢ‖ + c²a: ‖XᵀY′‖² = ‖C‖² + 2c xᵢᵀCvᵢ + c²‖xᵢ‖² and
    ‖Y′ᵀY′‖² = ‖G‖² + 2β vᵢᵀGvᵢ + β². O(n (pq + q²)) time, O(pq + q²) extra memory.

    References
    ----------
    Davari et al. (2023), ICLR, §4 (outliers); REFERENCES.md §5.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(100, 3))
    >>> moved = single_point_translation(x, x, scale=0.0)
    >>> bool(np.allclose(moved, 1.0))
    True
    """
    if not np.isfinite(scale) or scale < 0:
        raise SimilarityError(f"scale must be a finite number >= 0, got {scale!r}")
    x, y = check_pair(x, y)
    xc, yc = _centred(x), _centred(y)
    n = xc.shape[0]
    gx = _frobenius_gram(xc)
    gram_y = yc.T @ yc
    if gx == 0 or not gram_y.any():
        raise SimilarityError("single-point translation undefined: a representation is constant")
    r = np.sqrt((yc**2).sum(1))
    rms = np.sqrt((yc**2).sum() / n)
    at_centre = r <= 1e-12 * rms  # at ȳ up to rounding: no outward direction of its own
    r = np.where(at_centre, 0.0, r)
    v = yc / np.where(at_centre, 1.0, r)[:, None]
    if at_centre.any():  # (the SVD only when needed: it would double the cost of a call)
        v[at_centre] = np.linalg.svd(yc, full_matrices=False)[2][0]
    c = scale * rms
    cross = xc.T @ yc
    xcv = ((xc @ cross) * v).sum(1)
    vgv = ((v @ gram_y) * v).sum(1)
    beta = 2 * c * r + c**2 * (1 - 1 / n)
    num = (cross**2).sum() + 2 * c * xcv + c**2 * (xc**2).sum(1)
    den = gx * np.sqrt(np.maximum((gram_y**2).sum() + 2 * beta * vgv + beta**2, 0.0))
    return num / den


def subset_translation_curve(
    x: Any,
    subset: Any,
    *,
    y: Any | None = None,
    scales: Any | None = None,
    direction: Any | None = None,
    seed: int = 0,
) -> TranslationCurve:
    """Linear CKA(X, Y_{S,v,c}) as the points of Y outside ``subset`` move by c·v, c growing.

    Parameters
    ----------
    x : (n, p) array-like
        The representation kept fixed.
    subset : indices or boolean mask of S (the points that stay)
    y : (n, q) array-like, optional
        The representation whose points move; ``x`` itself by default (Davari et al.'s setting).
    scales : 1-D array-like, optional
        c in units of Y's RMS radius; default 0 and 25 values log-spaced over [1e-2, 1e4].
    direction : (q,) array-like, optional
        v (normalised here); by default a random unit vector drawn from ``seed``. Theorem 1
        holds for every v, e.g. one orthogonal to a separating hyperplane, which keeps linear
        separability while CKA moves.

    Returns
    -------
    TranslationCurve
        With ``limit`` = :func:`subset_translation_limit` (x, subset) beside the curve.

    Notes
    -----
    One linear CKA per scale: O(len(scales) · n (p² + q² + pq)).

    References
    ----------
    Davari et al. (2023), ICLR, Theorem 1, Fig. 2.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(200, 5))
    >>> curve = subset_translation_curve(x, np.arange(50))
    >>> bool(abs(curve.cka[-1] - curve.limit) < 1e-3)
    True
    """
    x = as_matrix(x, "x")
    y = x if y is None else check_pair(x, y, ("x", "y"))[1]
    n = x.shape[0]
    idx = _subset_indices(subset, n)
    if direction is None:
        v = np.random.default_rng(seed).normal(size=y.shape[1])
    else:
        v = np.asarray(direction, dtype=np.float64).ravel()
        if v.shape != (y.shape[1],) or not np.linalg.norm(v) > 0:
            raise SimilarityError(
                f"direction must be a non-zero vector of length {y.shape[1]}, got {v.shape}"
            )
    v = v / np.linalg.norm(v)
    c = np.concatenate([[0.0], np.geomspace(1e-2, 1e4, 25)]) if scales is None else scales
    c = np.asarray(c, dtype=np.float64).ravel()
    rms = np.sqrt(((y - y.mean(0)) ** 2).sum() / n)
    moving = np.ones(n, dtype=bool)
    moving[idx] = False
    moved = [y + np.outer(moving, ci * rms * v) for ci in c]
    values = cka_matrix([x], moved, names_a=["x"], names_b=[f"y(c={ci:g})" for ci in c])[0]
    return TranslationCurve(
        scales=c,
        cka=values,
        limit=subset_translation_limit(x, idx),
        rho=idx.size / n,
        subset=idx,
        direction=v,
    )
