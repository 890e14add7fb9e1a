"""Centred kernel alignment: ``dynan.cka`` and the CKA matrix between two lists of representations.

CKA(K, L) = HSIC(K, L) / √(HSIC(K, K) · HSIC(L, L)) with biased HSIC₀ or unbiased HSIC₁
(:mod:`dynan.similarity.hsic`). Linear CKA is computed in feature space (O(n(p² + q² + pq))
time; float64 sums accumulated over blocks of ``CHUNK_ROWS`` rows, so O(p² + q² + pq) memory
beyond the inputs whatever n is) or in Gram space (O(n²(p + q)) time, O(n²) memory), whichever
costs less for the shapes; RBF CKA always needs the Gram matrices.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from dynan.similarity._checks import (
    SimilarityError,
    as_array,
    as_matrix,
    check_choice,
    check_positive,
    check_rows,
    is_constant,
    warn,
)
from dynan.similarity.hsic import (
    CrossSums,
    FeatureSide,
    GramSide,
    ShiftedSums,
    feature_side,
    gram_side,
    linear_gram,
    pair_hsic,
    rbf_gram,
    summed_hsic,
)

__all__ = ["KERNELS", "METHODS", "cka", "cka_matrix"]

#: Kernels by name (Kornblith et al. 2019).
KERNELS = ("linear", "rbf")
#: Where linear CKA is computed: cheaper of the two, feature space, or Gram space.
METHODS = ("auto", "features", "gram")
#: Rows per block in feature space: the float64 working set is ~2·CHUNK_ROWS·(Σp + Σq)·8 bytes
#: (3 MiB per 100 features), whatever n is; blocks this tall keep the products at full speed.
CHUNK_ROWS = 2048


def check_options(kernel: str, sigma: float | None, method: str) -> float | None:
    """Validate the kernel options once; returns the RBF bandwidth multiple (default 1)."""
    check_choice(kernel, "kernel", KERNELS)
    check_choice(method, "method", METHODS)
    if kernel == "linear":
        if sigma is not None:
            raise SimilarityError("sigma applies to the rbf kernel only; leave it None for linear")
        return None
    if method == "features":
        raise SimilarityError("the rbf kernel has no feature-space form; use method='gram'")
    return 1.0 if sigma is None else float(check_positive(sigma, "sigma"))


def choose_space(n: int, widths_a: Sequence[int], widths_b: Sequence[int], method: str) -> str:
    """'features' or 'gram' for linear CKA, by operation count unless ``method`` forces one."""
    if method != "auto":
        return method
    pairs = sum(p * q for p in widths_a for q in widths_b)
    features = n * (sum(p * p for p in widths_a) + sum(q * q for q in widths_b) + pairs)
    gram = n * n * (sum(widths_a) + sum(widths_b) + len(widths_a) * len(widths_b))
    return "features" if features <= gram else "gram"


def prepare(
    x: np.ndarray, *, kernel: str, debiased: bool, sigma: float | None, space: str
) -> FeatureSide | GramSide:
    """One validated float64 representation as the side its HSIC needs."""
    if kernel == "rbf":
        return gram_side(rbf_gram(x, sigma=sigma), debiased=debiased)
    if space == "features":
        return feature_side(x)
    return gram_side(linear_gram(x), debiased=debiased)


@dataclass(frozen=True)
class Terms:
    """HSIC of every pair (for ``ys=None``: the strict upper triangle, the rest zero) and of each
    representation, with what :func:`normalise` needs."""

    cross: np.ndarray  # (len(xs), len(ys))
    self_a: np.ndarray
    self_b: np.ndarray
    scale_a: list[float]
    scale_b: list[float]
    constant_a: list[bool]
    constant_b: list[bool]


def feature_space(
    xs: Sequence[np.ndarray],
    ys: Sequence[np.ndarray] | None,
    *,
    debiased: bool,
    chunk: int = CHUNK_ROWS,
    progress: bool = False,
) -> Terms:
    """Linear HSIC of every pair (``ys=None``: ``xs`` with itself) from float64 sums over blocks
    of ``chunk`` rows; ``xs`` and ``ys`` are validated (n, p) arrays in any real dtype.

    Each representation is shifted by its exact column mean (a first O(np) pass), so the sums
    are those of centred features and :func:`~dynan.similarity.hsic.summed_hsic` loses nothing
    to cancellation. A pair's cross sums become its HSIC in the last block, so they are all held
    at once only when there is more than one block.

    Notes
    -----
    Time O(n(Σp² + Σq² + ΣpΣq)), the same products as on the whole arrays. Memory beyond the
    inputs O(min(n, chunk)·(Σp + Σq)) for the float64 blocks, O(Σp² + Σq²) for the sums of each
    representation and, when n > chunk, O(ΣpΣq) for those of the pairs: independent of n.
    """
    symmetric = ys is None
    others = xs if symmetric else ys
    n = xs[0].shape[0]
    sides_a = [ShiftedSums(x.mean(0, dtype=np.float64), x[0]) for x in xs]
    sides_b = (
        sides_a if symmetric else [ShiftedSums(y.mean(0, dtype=np.float64), y[0]) for y in ys]
    )
    pairs = [(i, j) for i in range(len(xs)) for j in range(i + 1 if symmetric else 0, len(others))]
    cross = np.zeros((len(xs), len(others)))
    pending: dict[tuple[int, int], CrossSums] = {}
    starts = range(0, n, chunk)
    if progress:  # (a disabled bar still costs ~0.1 ms, which small inputs would notice)
        starts = tqdm(starts, desc="CKA", unit="block", leave=False)
    for start in starts:
        block = slice(start, start + chunk)
        ua = [side.add(x[block]) for side, x in zip(sides_a, xs, strict=True)]
        ub = ua if symmetric else [side.add(y[block]) for side, y in zip(sides_b, ys, strict=True)]
        for i, j in pairs:
            sums = pending.pop((i, j), None) or CrossSums(xs[i].shape[1], others[j].shape[1])
            sums.add(*ua[i], *ub[j])
            if start + chunk >= n:
                cross[i, j] = summed_hsic(sides_a[i], sides_b[j], sums, debiased=debiased)
            else:
                pending[i, j] = sums
    self_a, self_b = (
        np.array([summed_hsic(side, side, None, debiased=debiased) for side in sides])
        for sides in (sides_a, sides_b)
    )
    return Terms(
        cross,
        self_a,
        self_b,
        [side.scale for side in sides_a],
        [side.scale for side in sides_b],
        [side.constant for side in sides_a],
        [side.constant for side in sides_b],
    )


def gram_space(
    xs: Sequence[np.ndarray],
    ys: Sequence[np.ndarray] | None,
    *,
    kernel: str,
    debiased: bool,
    sigma: float | None,
    progress: bool = False,
) -> Terms:
    """HSIC of every pair (``ys=None``: ``xs`` with itself) from Gram matrices built once each.

    O(n²(Σp + Σq)) time for the Grams and O(n²) per pair; O(n²) memory per representation.
    """
    symmetric = ys is None
    xs = [as_matrix(x) for x in xs]
    ys = xs if symmetric else [as_matrix(y) for y in ys]

    def prep(z: np.ndarray) -> GramSide:
        return prepare(z, kernel=kernel, debiased=debiased, sigma=sigma, space="gram")

    def hsic_of(a: GramSide, b: GramSide) -> float:
        return float(pair_hsic(a, b, debiased=debiased))

    sides_a = [prep(x) for x in xs]
    sides_b = sides_a if symmetric else [prep(y) for y in ys]
    cross = np.zeros((len(sides_a), len(sides_b)))
    rows = tqdm(range(len(sides_a)), desc="CKA", unit="row", disable=not progress, leave=False)
    for i in rows:
        for j in range(i + 1 if symmetric else 0, len(sides_b)):
            cross[i, j] = hsic_of(sides_a[i], sides_b[j])
    self_a = np.array([hsic_of(s, s) for s in sides_a])
    return Terms(
        cross,
        self_a,
        self_a if symmetric else np.array([hsic_of(s, s) for s in sides_b]),
        [side.scale for side in sides_a],
        [side.scale for side in sides_b],
        [is_constant(x) for x in xs],
        [is_constant(y) for y in ys],
    )


#: A self-HSIC at or below this fraction of its scale (tr C)² is zero up to rounding.
SELF_HSIC_RTOL = 1e-12


def normalise(
    cross: np.ndarray,
    self_a: np.ndarray,
    self_b: np.ndarray,
    *,
    scale_a: Sequence[float],
    scale_b: Sequence[float],
    names_a: Sequence[str],
    names_b: Sequence[str],
    constant_a: Sequence[bool],
    constant_b: Sequence[bool],
    debiased: bool,
    n: int,
) -> np.ndarray:
    """CKA = cross / √(self_a ⊗ self_b), NaN with one warning where a self-HSIC is not positive.

    A self-HSIC is 0 for a constant representation. HSIC₁(K, K) = ‖K̂‖²_F/(n(n − 3)) ≥ 0 with K̂
    the U-centred Gram (Székely & Rizzo 2014), so a debiased self-HSIC at or below
    ``SELF_HSIC_RTOL`` × (tr C)² means a degenerate sample (e.g. all examples but one identical)
    or rounding; a square root is never taken of it, and it never divides a cross term.
    """
    reasons = []
    good = []
    for names, values, scales, constant in (
        (names_a, self_a, scale_a, constant_a),
        (names_b, self_b, scale_b, constant_b),
    ):
        ok = []
        for name, value, scale, const in zip(names, values, scales, constant, strict=True):
            ok.append(not const and value > SELF_HSIC_RTOL * scale)
            if const:
                reasons.append(f"{name} is constant (every row identical)")
            elif not ok[-1]:
                kind = "debiased self-HSIC" if debiased else "self-HSIC"
                reasons.append(
                    f"{kind} of {name} is {value:.3g} at n={n}, not positive beyond rounding "
                    "(too few distinct examples)"
                )
        good.append(np.array(ok))
    if reasons:
        warn("CKA undefined, returned as NaN: " + "; ".join(dict.fromkeys(reasons)))
    good_a, good_b = good
    denom = np.sqrt(np.outer(np.where(good_a, self_a, 1.0), np.where(good_b, self_b, 1.0)))
    out = cross / denom
    out[~good_a, :] = np.nan
    out[:, ~good_b] = np.nan
    return out


def cka_matrix(
    xs: Sequence[Any],
    ys: Sequence[Any] | None = None,
    *,
    kernel: str = "linear",
    debiased: bool = False,
    sigma: float | None = None,
    method: str = "auto",
    names_a: Sequence[str] | None = None,
    names_b: Sequence[str] | None = None,
    progress: bool = False,
) -> np.ndarray:
    """CKA of every representation in ``xs`` against every one in ``ys`` (``xs`` itself if None).

    In feature space one pass over blocks of ``CHUNK_ROWS`` rows sums every representation and
    every pair (O(n p q) a pair); in Gram space each Gram matrix is built once and a pair costs
    O(n²). For ``ys=None`` only the upper triangle is computed. See :func:`cka` for the options,
    the estimator and the memory.

    Returns
    -------
    numpy.ndarray of shape (len(xs), len(ys))
    """
    sigma = check_options(kernel, sigma, method)
    if len(xs) == 0 or (ys is not None and len(ys) == 0):
        raise SimilarityError("need at least one representation on each side")
    names_a = list(names_a or [f"X[{i}]" for i in range(len(xs))])
    xs = [as_array(x, name) for x, name in zip(xs, names_a, strict=True)]
    symmetric = ys is None
    if symmetric:
        ys, names_b = xs, names_a
    else:
        names_b = list(names_b or [f"Y[{j}]" for j in range(len(ys))])
        ys = [as_array(y, name) for y, name in zip(ys, names_b, strict=True)]
    n = xs[0].shape[0]
    for name, z in [*zip(names_a, xs, strict=True), *zip(names_b, ys, strict=True)]:
        if z.shape[0] != n:
            raise SimilarityError(
                f"every representation must have the same examples (rows): {names_a[0]} has "
                f"shape {xs[0].shape}, {name} has shape {z.shape}"
            )
    check_rows(n, debiased=debiased)
    space = choose_space(
        n, [x.shape[1] for x in xs], [] if symmetric else [y.shape[1] for y in ys], method
    )
    others = None if symmetric else ys
    if kernel == "linear" and space == "features":
        terms = feature_space(xs, others, debiased=debiased, progress=progress)
    else:
        terms = gram_space(
            xs, others, kernel=kernel, debiased=debiased, sigma=sigma, progress=progress
        )
    cross = terms.cross + terms.cross.T + np.diag(terms.self_a) if symmetric else terms.cross
    return normalise(
        cross,
        terms.self_a,
        terms.self_b,
        scale_a=terms.scale_a,
        scale_b=terms.scale_b,
        names_a=names_a,
        names_b=names_b,
        constant_a=terms.constant_a,
        constant_b=terms.constant_b,
        debiased=debiased,
        n=n,
    )


def cka(
    x: Any,
    y: Any,
    *,
    kernel: str = "linear",
    debiased: bool = False,
    sigma: float | None = None,
    method: str = "auto",
) -> float:
    """Centred kernel alignment between two representations of the same examples.

    Parameters
    ----------
    x, y : array-likes or torch tensors of shape (n, p) and (n, q)
        Rows are the same n examples; any float dtype (computed in float64).
    kernel : {"linear", "rbf"}
    debiased : bool
        Use the unbiased HSIC₁ of Song et al. (2012) (needs n ≥ 4) instead of the biased HSIC₀.
    sigma : float, optional
        RBF bandwidth as a multiple of the median pairwise distance (default 1.0); only for rbf.
    method : {"auto", "features", "gram"}
        Linear CKA in feature or Gram space; "auto" picks the cheaper for the shapes.

    Returns
    -------
    float
        In [0, 1] for the biased estimator; the debiased one can be slightly negative. NaN (with a
        :class:`~dynan.similarity.CKAWarning` saying why) if a representation is constant or a
        debiased self-HSIC is not positive.

    Raises
    ------
    SimilarityError
        Bad shapes (not 2-D, different n), non-finite values, n < 4 with ``debiased=True``
        (n < 2 otherwise), an unknown kernel or method, ``sigma`` with the linear kernel.

    Notes
    -----
    CKA = HSIC(K, L)/√(HSIC(K, K) HSIC(L, L)). Linear kernel K = X_c X_cᵀ: in feature space
    CKA₀ = ‖Y_cᵀX_c‖²_F/(‖X_cᵀX_c‖_F ‖Y_cᵀY_c‖_F), O(n(p² + q² + pq)) time. The products (and
    HSIC₁'s row-norm terms) are float64 sums over blocks of ``CHUNK_ROWS`` = 2048 rows of the
    features centred by their exact column means (Chan, Golub & LeVeque 1983), so float32 inputs
    with a large mean lose nothing and the memory beyond the inputs is O(min(n, 2048)·(p + q) +
    p² + q² + pq) whatever n is: 11 to 16 MiB measured for p = q = 400 at n = 10³ to 5·10⁴. The
    inputs are never copied whole (except a bfloat16 tensor, widened to float32). In Gram space:
    O(n²(p + q)) time, O(n²) memory. Linear CKA equals the RV coefficient (Robert & Escoufier
    1976); only arccos(CKA) is a metric.

    References
    ----------
    Kornblith, Norouzi, Lee, Hinton (2019), "Similarity of neural network representations
    revisited", ICML. Song et al. (2012), JMLR 13. Chan, Golub, LeVeque (1983), Am. Stat. 37.
    REFERENCES.md §5.

    Examples
    --------
    >>> import numpy as np
    >>> import dynan
    >>> x = np.random.default_rng(0).normal(size=(100, 5))
    >>> round(dynan.similarity.cka(x, 3 * x + 1), 12)
    1.0
    """
    return float(
        cka_matrix(
            [x], [y], kernel=kernel, debiased=debiased, sigma=sigma, method=method,
            names_a=["X"], names_b=["Y"],
        )[0, 0]
    )  # fmt: skip
