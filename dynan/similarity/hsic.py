"""Hilbert–Schmidt independence criterion: biased HSIC₀ and unbiased HSIC₁, Gram or feature form.

Three ways to hold one representation (a *side*), prepared once and reused for every pair:

- :class:`GramSide` — an n × n kernel matrix, centred (HSIC₀) or with its diagonal set to zero
  plus its row sums (HSIC₁). A pair then costs O(n²).
- :class:`FeatureSide` — linear kernel only: the centred features X (n × p), their squared row
  norms d and Σd. A pair costs O(n p q) for ‖XᵀY‖²_F; no n × n matrix is ever formed.
- :class:`ShiftedSums` (one side) and :class:`CrossSums` (one pair) — linear kernel only: float64
  sums accumulated over blocks of rows, O(p² + q² + pq) numbers whatever n is. Used by
  :func:`dynan.cka` in feature space and by :class:`~dynan.similarity.StreamingCKA`.

The feature form of HSIC₁ rests on two facts: HSIC₁ is unchanged when a constant is added to
every row of X (so X may be centred first, which is also what keeps float64 precise), and for
centred X the zero-diagonal Gram K̃ = XXᵀ − diag(d) has K̃1 = −d, hence

    tr(K̃L̃) = ‖XᵀY‖²_F − dₓᵀd_y,   1ᵀK̃1 = −Σdₓ,   1ᵀK̃L̃1 = dₓᵀd_y.

The feature-side helpers use only ``@``, ``**``, ``.sum()``, ``.mean(0)`` and ``.T``, so they run
unchanged on numpy arrays and (differentiably) on torch tensors.

The sums are those of the rows shifted by a fixed point c, u = x − c and v = y − c′:

    n, Σu, Σv, Σuuᵀ, Σvvᵀ, Σuvᵀ, Σa, Σb, Σa², Σb², Σab, Σa·u, Σb·v, Σa·v, Σb·u  (a=‖u‖², b=‖v‖²).

:func:`summed_hsic` turns them, exactly in exact arithmetic, into the centred-feature summaries
of :func:`linear_hsic`: with m = Σu/n, C = Σuvᵀ − n mₓm_yᵀ and d̂ᵢ = ‖xᵢ − x̄‖² = aᵢ − 2uᵢ·mₓ +
‖mₓ‖²,

    Σd̂ₓ = Σa − n‖mₓ‖²,
    d̂ₓᵀd̂_y = Σab − 2m_y·Σa·v − 2mₓ·Σb·u + 4mₓᵀ(Σuvᵀ)m_y + ‖m_y‖²Σa + ‖mₓ‖²Σb − 3n‖mₓ‖²‖m_y‖²,

so the biased and the unbiased CKA of all rows come out of one pass over them. The subtractions
lose about ε·(1 + ‖x̄ − c‖²/σ²) relative: nothing when c is the column mean (what
:func:`dynan.cka` uses, from a first cheap pass), little when it is the mean of a first batch
(what a stream must use) unless that batch lies many standard deviations from the rest — the
shifted-data algorithm of Chan, Golub & LeVeque (1983).

References
----------
Gretton, Bousquet, Smola, Schölkopf (2005), "Measuring statistical dependence with
Hilbert–Schmidt norms", ALT. Song, Smola, Gretton, Bedo, Borgwardt (2012), "Feature selection via
dependence maximization", JMLR 13 (unbiased HSIC₁). Kornblith, Norouzi, Lee, Hinton (2019),
"Similarity of neural network representations revisited", ICML. Chan, Golub, LeVeque (1983),
"Algorithms for computing the sample variance: analysis and recommendations", Am. Stat. 37
(shifted sums). REFERENCES.md §5.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dynan.similarity._checks import SimilarityError, as_matrix, check_positive, check_rows

__all__ = ["hsic", "linear_gram", "rbf_gram"]


def linear_gram(x: Any) -> np.ndarray:
    """Linear kernel K = X_c X_cᵀ of the centred features (float64), shape (n, n).

    Centring before the product keeps float64 precise for features with a large mean; HSIC and
    CKA are unchanged by it. Cost O(n² p) time, O(n²) memory.

    Examples
    --------
    >>> import numpy as np
    >>> linear_gram(np.array([[1.0], [3.0]])).tolist()
    [[1.0, -1.0], [-1.0, 1.0]]
    """
    x = as_matrix(x)
    xc = x - x.mean(0)
    return xc @ xc.T


def rbf_gram(x: Any, *, sigma: float = 1.0) -> np.ndarray:
    """RBF kernel exp(−‖xᵢ − xⱼ‖² / (2 (σ·m)²)), m the median pairwise distance, shape (n, n).

    Parameters
    ----------
    x : (n, p) array-like
    sigma : float
        Bandwidth as a multiple of the median distance (Kornblith et al. 2019 use 0.2–1).

    Raises
    ------
    SimilarityError
        If ``sigma`` is not positive, or the median distance is 0 (over half the pairs coincide).

    Notes
    -----
    The median is taken over all n² squared distances, the diagonal zeros included, as in
    Kornblith et al.'s reference demo (so values match theirs); for large n this differs from the
    median over distinct pairs by O(1/n). Distances come from centred features in float64.
    Cost O(n² p) time, O(n²) memory.

    Examples
    --------
    >>> import numpy as np
    >>> k = rbf_gram(np.array([[0.0], [1.0], [3.0]]))
    >>> bool(np.allclose(np.diag(k), 1.0))
    True
    """
    check_positive(sigma, "sigma")
    x = as_matrix(x)
    xc = x - x.mean(0)
    sq = (xc**2).sum(1)
    dist2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * (xc @ xc.T), 0.0)
    median = float(np.median(dist2))
    if not median > 0:
        raise SimilarityError(
            "RBF bandwidth undefined: the median pairwise distance is 0 (more than half of the "
            "pairs of examples coincide); use the linear kernel"
        )
    return np.exp(-dist2 / (2.0 * sigma**2 * median))


@dataclass(frozen=True)
class FeatureSide:
    """A representation prepared for linear HSIC in feature space (numpy or torch)."""

    x: Any  # centred features (n, p)
    d: Any  # squared row norms (n,)
    sum_d: Any  # Σ d
    n: int

    @property
    def scale(self) -> float:
        """(tr C)² with C the covariance: an upper bound on the self-HSIC, its natural unit."""
        return float(self.sum_d) ** 2 / (self.n - 1) ** 2


@dataclass(frozen=True)
class GramSide:
    """A kernel matrix prepared for HSIC: centred (HSIC₀) or zero-diagonal + row sums (HSIC₁)."""

    matrix: np.ndarray
    row: np.ndarray | None
    total: float
    n: int
    scale: float  # (tr HKH / (n − 1))², an upper bound on the self-HSIC


def feature_side(x: Any) -> FeatureSide:
    """Centre ``x`` (n, p) and keep what linear HSIC needs; works on numpy arrays and tensors."""
    xc = x - x.mean(0)
    d = (xc**2).sum(1)
    return FeatureSide(xc, d, d.sum(), int(xc.shape[0]))


def gram_side(k: np.ndarray, *, debiased: bool) -> GramSide:
    """Prepare a Gram matrix once: HKH for HSIC₀; K with zero diagonal and its row sums for HSIC₁.

    The diagonal is replaced by zeros on a copy (never ``K - diag(K)``, which would subtract a
    vector from every row).
    """
    n = k.shape[0]
    mean_row = k.mean(1)
    scale = float((np.trace(k) - mean_row.sum()) / (n - 1)) ** 2
    if debiased:
        kt = np.array(k, dtype=np.float64, copy=True)
        np.fill_diagonal(kt, 0.0)
        row = kt.sum(1)
        return GramSide(kt, row, float(row.sum()), n, scale)
    kc = k - mean_row[:, None] - mean_row[None, :] + mean_row.mean()
    return GramSide(kc, None, 0.0, n, scale)


def linear_hsic(cross2: Any, dd: Any, sum_dx: Any, sum_dy: Any, n: int, *, debiased: bool) -> Any:
    """HSIC of linear kernels from centred-feature summaries (see the module notes).

    ``cross2`` = ‖X_cᵀY_c‖²_F, ``dd`` = dₓᵀd_y, ``sum_dx``/``sum_dy`` = Σd, d the squared row norms
    of the centred features. Biased: cross2 / (n − 1)². Unbiased (Song et al. 2012):
    [cross2 − dd + Σdₓ Σd_y / ((n − 1)(n − 2)) − 2 dd / (n − 2)] / (n (n − 3)).
    """
    if not debiased:
        return cross2 / (n - 1) ** 2
    return (cross2 - dd + sum_dx * sum_dy / ((n - 1) * (n - 2)) - 2.0 * dd / (n - 2)) / (
        n * (n - 3)
    )


class ShiftedSums:
    """Float64 sums of one representation's rows shifted by ``shift`` (see the module notes).

    :meth:`add` takes a block of rows in any real dtype; each block is converted to float64 on
    its own, so the memory is O(b p) for a block of b rows plus O(p²) for the sums.
    """

    def __init__(self, shift: np.ndarray, first_row: np.ndarray):
        p = shift.shape[0]
        self.shift = np.asarray(shift, dtype=np.float64)
        self.first_row = np.array(first_row, copy=True)
        self.constant = True  # every row seen so far equals the first
        self.n = 0
        self.s = np.zeros(p)  # Σ u
        self.gram = np.zeros((p, p))  # Σ u uᵀ
        self.sum_a = self.sum_a2 = 0.0  # Σ a, Σ a²
        self.au = np.zeros(p)  # Σ a u

    def add(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Accumulate a block x (b, p); returns (u, a) for :meth:`CrossSums.add`."""
        self.constant = self.constant and bool(np.all(x == self.first_row))
        u = np.subtract(x, self.shift, dtype=np.float64)
        a = np.einsum("ij,ij->i", u, u)
        self.n += u.shape[0]
        self.s += u.sum(0)
        self.gram += u.T @ u
        self.sum_a += float(a.sum())
        self.sum_a2 += float(a @ a)
        self.au += a @ u
        return u, a

    @property
    def sum_d(self) -> float:
        """Σ‖xᵢ − x̄‖² over the rows added so far."""
        m = self.s / self.n
        return self.sum_a - self.n * float(m @ m)

    @property
    def scale(self) -> float:
        """(tr C)² with C the covariance, as :attr:`FeatureSide.scale`."""
        return (self.sum_d / (self.n - 1)) ** 2


class CrossSums:
    """Float64 cross sums of a pair of representations: Σuvᵀ, Σab, Σa·v and Σb·u."""

    def __init__(self, p: int, q: int):
        self.cross = np.zeros((p, q))
        self.sum_ab = 0.0
        self.a_v = np.zeros(q)
        self.b_u = np.zeros(p)

    def add(self, u: np.ndarray, a: np.ndarray, v: np.ndarray, b: np.ndarray) -> None:
        """Accumulate one block, from the (u, a) and (v, b) that :meth:`ShiftedSums.add` gave."""
        self.cross += u.T @ v
        self.sum_ab += float(a @ b)
        self.a_v += a @ v
        self.b_u += b @ u


def summed_hsic(
    x: ShiftedSums, y: ShiftedSums, cross: CrossSums | None, *, debiased: bool
) -> float:
    """Linear HSIC of all the rows summed in ``x`` and ``y`` (the module notes give the algebra).

    ``cross`` holds the pair's cross sums; None for a self-HSIC (``y`` is ``x``), which reads them
    off the side's own Σuuᵀ, Σa² and Σa·u. Cost O(pq) time and memory.
    """
    n = x.n
    mx, my = x.s / n, y.s / n
    if cross is None:
        sum_ab, a_v, b_u, c = x.sum_a2, x.au, x.au, x.gram
    else:
        sum_ab, a_v, b_u, c = cross.sum_ab, cross.a_v, cross.b_u, cross.cross
    ax, ay = float(mx @ mx), float(my @ my)
    dd = (
        sum_ab - 2 * float(my @ a_v) - 2 * float(mx @ b_u) + 4 * float(mx @ c @ my)
        + ay * x.sum_a + ax * y.sum_a - 3 * n * ax * ay
    )  # fmt: skip
    centred = c - (n * mx)[:, None] * my
    cross2 = float(np.vdot(centred, centred))
    sum_dx, sum_dy = x.sum_a - n * ax, y.sum_a - n * ay  # x.sum_d, y.sum_d
    return float(linear_hsic(cross2, dd, sum_dx, sum_dy, n, debiased=debiased))


def pair_hsic(a: FeatureSide | GramSide, b: FeatureSide | GramSide, *, debiased: bool) -> Any:
    """HSIC between two prepared sides of the same kind and the same n."""
    n = a.n
    if isinstance(a, FeatureSide):
        cross2 = ((a.x.T @ b.x) ** 2).sum()
        return linear_hsic(cross2, a.d @ b.d, a.sum_d, b.sum_d, n, debiased=debiased)
    inner = float(np.vdot(a.matrix, b.matrix))
    if not debiased:
        return inner / (n - 1) ** 2
    return (
        inner + a.total * b.total / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * float(a.row @ b.row)
    ) / (n * (n - 3))


def permute_side(side: FeatureSide | GramSide, perm: np.ndarray) -> FeatureSide | GramSide:
    """The same representation with its examples reordered by ``perm`` (for permutation tests)."""
    if isinstance(side, FeatureSide):
        return FeatureSide(side.x[perm], side.d[perm], side.sum_d, side.n)
    row = None if side.row is None else side.row[perm]
    return GramSide(side.matrix[np.ix_(perm, perm)], row, side.total, side.n, side.scale)


def hsic(k: Any, l: Any, *, debiased: bool = False) -> float:  # noqa: E741 (the paper's L)
    """HSIC between two kernel (Gram) matrices: biased HSIC₀ or unbiased HSIC₁.

    Parameters
    ----------
    k, l : (n, n) symmetric array-likes
        Kernel matrices of the same n examples (uncentred is fine: HSIC centres).
    debiased : bool
        False: HSIC₀ = tr(KHLH)/(n − 1)², H = I − 11ᵀ/n (Gretton et al. 2005).
        True: the unbiased HSIC₁ of Song et al. (2012), which needs n ≥ 4.

    Returns
    -------
    float

    Raises
    ------
    SimilarityError
        If the matrices are not square, not the same shape, not symmetric, non-finite, or n is
        too small for the estimator.

    Notes
    -----
    HSIC₁ = [tr(K̃L̃) + 1ᵀK̃1·1ᵀL̃1/((n − 1)(n − 2)) − (2/(n − 2)) 1ᵀK̃L̃1] / (n(n − 3)), K̃ = K
    with its diagonal set to zero. Both are computed with O(n²) time and memory (centring by row
    means and an elementwise product; no n × n matrix product).

    References
    ----------
    Gretton et al. (2005), ALT; Song et al. (2012), JMLR 13, Eq. 5; REFERENCES.md §5.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(50, 3))
    >>> k = x @ x.T
    >>> bool(np.isclose(hsic(k, k), np.linalg.norm(np.cov(x.T, bias=False), "fro") ** 2))
    True
    """
    mats = []
    for name, m in (("K", k), ("L", l)):
        m = as_matrix(m, name)
        if m.shape[0] != m.shape[1]:
            raise SimilarityError(f"{name} must be a square Gram matrix, got shape {m.shape}")
        if not np.allclose(m, m.T, rtol=1e-10, atol=1e-12 * float(np.abs(m).max() or 1.0)):
            raise SimilarityError(f"{name} must be symmetric (a kernel matrix)")
        mats.append(m)
    if mats[0].shape != mats[1].shape:
        raise SimilarityError(
            f"K and L must have the same shape, got {mats[0].shape} and {mats[1].shape}"
        )
    check_rows(mats[0].shape[0], debiased=debiased, what="HSIC")
    a, b = (gram_side(m, debiased=debiased) for m in mats)
    return float(pair_hsic(a, b, debiased=debiased))
