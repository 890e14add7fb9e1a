"""How sure is a CKA value: permutation-test p-values, bootstrap and jackknife intervals.

References
----------
Phipson & Smyth (2010), "Permutation p-values should never be zero", Stat. Appl. Genet. Mol.
Biol. 9 ((b + 1)/(B + 1)). Efron & Tibshirani (1993), "An Introduction to the Bootstrap",
ch. 13 (percentile intervals). Gretton et al. (2008), "A kernel statistical test of
independence", NeurIPS (permutation tests on HSIC). REFERENCES.md §5.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import ndtri
from tqdm.auto import tqdm

from dynan.results import Result
from dynan.similarity._checks import SimilarityError, check_pair, check_positive, check_rows
from dynan.similarity.cka import check_options, choose_space, cka_matrix, prepare
from dynan.similarity.hsic import pair_hsic, permute_side

__all__ = [
    "BootstrapCI",
    "PermutationTest",
    "bootstrap_ci",
    "jackknife_interval",
    "permutation_test",
]


@dataclass(frozen=True)
class PermutationTest(Result):
    """CKA, its permutation null distribution and p-value = (1 + #{null ≥ CKA}) / (1 + B)."""

    statistic: float
    p_value: float
    null: np.ndarray
    n_permutations: int
    kernel: str
    debiased: bool
    seed: int | None


@dataclass(frozen=True)
class BootstrapCI(Result):
    """Percentile bootstrap interval [low, high] for CKA, with the bootstrap replicates."""

    statistic: float
    low: float
    high: float
    level: float
    samples: np.ndarray
    kernel: str
    debiased: bool
    seed: int | None


def permutation_test(
    x: Any,
    y: Any,
    *,
    n_permutations: int = 999,
    kernel: str = "linear",
    debiased: bool = False,
    sigma: float | None = None,
    seed: int | None = 0,
    progress: bool = False,
) -> PermutationTest:
    """p-value of CKA(x, y) against independence, by permuting the rows of y.

    Parameters
    ----------
    x, y : (n, p), (n, q) array-likes
    n_permutations : int
        B, the number of random permutations.
    kernel, debiased, sigma
        As in :func:`dynan.cka`.
    seed : int or None
        Seed of the permutations.
    progress : bool
        Show a progress bar.

    Returns
    -------
    PermutationTest

    Raises
    ------
    SimilarityError
        As :func:`dynan.cka`, or a non-positive ``n_permutations``.

    Notes
    -----
    Under independence the rows of y are exchangeable with respect to x, so CKA(x, y[π]) has the
    null distribution; p = (1 + #{CKA(x, y[π]) ≥ CKA(x, y)})/(1 + B) is a valid p-value (Phipson &
    Smyth 2010). Permuting rows leaves both self-HSICs unchanged, so each side is prepared once
    and only the cross term is recomputed: O(B n p q) in feature space or O(B n²) in Gram space.

    References
    ----------
    Phipson & Smyth (2010); Gretton et al. (2008), NeurIPS.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(40, 3))
    >>> permutation_test(x, x ** 3, n_permutations=99).p_value
    0.01
    """
    sigma = check_options(kernel, sigma, "auto")
    check_positive(n_permutations, "n_permutations", integer=True)
    x, y = check_pair(x, y)
    n = x.shape[0]
    check_rows(n, debiased=debiased)
    space = choose_space(n, [x.shape[1]], [y.shape[1]], "auto")
    a, b = (prepare(z, kernel=kernel, debiased=debiased, sigma=sigma, space=space) for z in (x, y))
    statistic = cka_matrix([x], [y], kernel=kernel, debiased=debiased, sigma=sigma)[0, 0]
    denom = np.sqrt(float(pair_hsic(a, a, debiased=debiased) * pair_hsic(b, b, debiased=debiased)))
    rng = np.random.default_rng(seed)
    null = np.empty(n_permutations)
    for i in tqdm(range(n_permutations), desc="permutations", disable=not progress):
        null[i] = float(pair_hsic(a, permute_side(b, rng.permutation(n)), debiased=debiased))
    null = null / denom if denom > 0 else np.full(n_permutations, np.nan)
    exceed = int(np.count_nonzero(null >= statistic - 1e-12 * abs(statistic)))
    return PermutationTest(
        statistic=float(statistic),
        p_value=(1 + exceed) / (1 + n_permutations) if np.isfinite(statistic) else float("nan"),
        null=null,
        n_permutations=int(n_permutations),
        kernel=kernel,
        debiased=debiased,
        seed=seed,
    )


def bootstrap_ci(
    x: Any,
    y: Any,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    kernel: str = "linear",
    debiased: bool = False,
    sigma: float | None = None,
    seed: int | None = 0,
    progress: bool = False,
) -> BootstrapCI:
    """Percentile bootstrap confidence interval for CKA(x, y), resampling examples (rows).

    Parameters
    ----------
    n_boot : int
        Number of bootstrap replicates.
    level : float in (0, 1)
        Coverage of the interval.
    kernel, debiased, sigma, seed, progress
        As in :func:`permutation_test`.

    Returns
    -------
    BootstrapCI

    Raises
    ------
    SimilarityError
        As :func:`dynan.cka`, or bad ``n_boot``/``level``.

    Notes
    -----
    Rows are drawn with replacement and CKA recomputed, O(n_boot · n (p² + q² + pq)) for linear
    CKA in feature space. Resampling duplicates examples, which the unbiased HSIC₁ treats as
    distinct draws: for ``debiased=True`` the interval is shifted by O(1/n); use it for the
    spread, and the biased estimator where n ≫ p, q.

    References
    ----------
    Efron & Tibshirani (1993), ch. 13.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(200, 2))
    >>> ci = bootstrap_ci(x, x + rng.normal(size=(200, 2)), n_boot=200)
    >>> bool(ci.low < ci.statistic < ci.high)
    True
    """
    check_positive(n_boot, "n_boot", integer=True)
    if not 0 < level < 1:
        raise SimilarityError(f"level must be in (0, 1), got {level!r}")
    x, y = check_pair(x, y)
    options = {"kernel": kernel, "debiased": debiased, "sigma": sigma}
    statistic = float(cka_matrix([x], [y], **options)[0, 0])
    rng = np.random.default_rng(seed)
    n = x.shape[0]
    samples = np.empty(n_boot)
    for i in tqdm(range(n_boot), desc="bootstrap", disable=not progress):
        idx = rng.integers(0, n, size=n)
        samples[i] = cka_matrix([x[idx]], [y[idx]], **options)[0, 0]
    tail = (1 - level) / 2
    low, high = np.nanquantile(samples, [tail, 1 - tail]) if np.isfinite(samples).any() else (
        np.nan, np.nan)  # fmt: skip
    return BootstrapCI(
        statistic=statistic,
        low=float(low),
        high=float(high),
        level=float(level),
        samples=samples,
        kernel=kernel,
        debiased=debiased,
        seed=seed,
    )


def jackknife_interval(
    statistic: float, loo: np.ndarray, *, level: float = 0.95
) -> tuple[float, float]:
    """Normal-theory jackknife interval θ ± z·se, se² = (n − 1)/n · Σ(θ₍ᵢ₎ − θ̄₍·₎)².

    ``loo`` holds the statistic with each example left out
    (:func:`~dynan.similarity.leave_one_out` for linear CKA). CKA is a smooth function of sample
    moments, for which the jackknife variance is consistent; O(n) given the leave-one-out values.

    References
    ----------
    Efron & Tibshirani (1993), "An Introduction to the Bootstrap", ch. 11 (jackknife standard
    error); Efron & Stein (1981), Ann. Stat. 9.

    Examples
    --------
    >>> import numpy as np
    >>> low, high = jackknife_interval(0.5, np.array([0.4, 0.5, 0.6]))
    >>> round(low, 3), round(high, 3)
    (0.274, 0.726)
    """
    if not 0 < level < 1:
        raise SimilarityError(f"level must be in (0, 1), got {level!r}")
    loo = np.asarray(loo, dtype=np.float64)
    loo = loo[np.isfinite(loo)]
    n = loo.size
    if n < 2 or not np.isfinite(statistic):
        return float("nan"), float("nan")
    se = float(np.sqrt((n - 1) / n * np.sum((loo - loo.mean()) ** 2)))
    z = float(ndtri(0.5 + level / 2))
    return statistic - z * se, statistic + z * se
