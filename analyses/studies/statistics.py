"""The statistics every study uses: group comparisons over networks, with intervals and tests.

The unit of replication is the trained network (one seed of one variant): a claim that one
neuron variant beats another compares the per-network values of two groups. Two numbers back
each comparison: a percentile bootstrap interval of the difference of group means (networks
resampled with replacement within each group) and a permutation test of the same statistic
(the group labels reshuffled over the pooled networks; exact enumeration when the number of
splits is small, Monte Carlo otherwise). One-sample claims (a value per network whose sign the
paper predicts) use the bootstrap of the mean and an exact sign-flip test.

References
----------
Efron & Tibshirani (1993), "An Introduction to the Bootstrap", ch. 13 (percentile intervals)
and ch. 15 (permutation tests). Phipson & Smyth (2010), Stat. Appl. Genet. Mol. Biol. 9
(Monte Carlo p-values (b + 1)/(B + 1), never zero).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

__all__ = [
    "ALTERNATIVES",
    "Comparison",
    "bootstrap_difference",
    "bootstrap_mean",
    "compare_groups",
    "compare_to_zero",
    "permutation_test",
    "sign_flip_test",
]

ALTERNATIVES = ("greater", "less", "two-sided")
#: Enumerate every split of the pooled networks up to this many; sample beyond.
_EXACT_LIMIT = 20000


def _values(values: Sequence[float], name: str) -> np.ndarray:
    out = np.asarray(values, dtype=np.float64).ravel()
    if out.size == 0:
        raise ValueError(f"{name}: no values")
    if not np.isfinite(out).all():
        raise ValueError(f"{name}: non-finite values {out.tolist()}")
    return out


def _check_alternative(alternative: str) -> None:
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}")


def bootstrap_difference(
    a: Sequence[float],
    b: Sequence[float],
    *,
    n_boot: int = 10000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """mean(a) − mean(b) and its percentile bootstrap interval, groups resampled separately.

    Parameters
    ----------
    a, b : sequences of float
        Per-network values of the two groups.
    n_boot : int
        Bootstrap replicates.
    confidence : float
        Level of the interval.
    seed : int
        Seeds the resampling.

    Returns
    -------
    (estimate, low, high) : tuple of float
        The interval is (NaN, NaN) when a group holds a single network: one value says nothing
        about the spread over seeds.

    Notes
    -----
    Cost O(n_boot (|a| + |b|)) time and memory.

    Examples
    --------
    >>> est, low, high = bootstrap_difference([3.0, 3.1, 2.9], [1.0, 1.2, 0.8])
    >>> round(est, 3), low > 1.5
    (2.0, True)
    """
    a, b = _values(a, "a"), _values(b, "b")
    estimate = float(a.mean() - b.mean())
    if a.size < 2 or b.size < 2:
        return estimate, math.nan, math.nan
    rng = np.random.default_rng(seed)
    ma = a[rng.integers(0, a.size, (n_boot, a.size))].mean(1)
    mb = b[rng.integers(0, b.size, (n_boot, b.size))].mean(1)
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(ma - mb, [tail, 100 - tail])
    return estimate, float(low), float(high)


def bootstrap_mean(
    values: Sequence[float], *, n_boot: int = 10000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """The mean and its percentile bootstrap interval (NaN interval for a single value).

    Examples
    --------
    >>> est, low, high = bootstrap_mean([1.0, 2.0, 3.0])
    >>> est, 1.0 <= low <= high <= 3.0
    (2.0, True)
    """
    v = _values(values, "values")
    if v.size < 2:
        return float(v.mean()), math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, v.size, (n_boot, v.size))].mean(1)
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(v.mean()), float(low), float(high)


def _p_value(null: np.ndarray, observed: float, alternative: str, extra: int) -> float:
    """Share of the null at least as extreme as ``observed`` (``extra`` = 1 for Monte Carlo)."""
    tol = 1e-12 * max(1.0, abs(observed))
    if alternative == "greater":
        hits = np.count_nonzero(null >= observed - tol)
    elif alternative == "less":
        hits = np.count_nonzero(null <= observed + tol)
    else:
        hits = np.count_nonzero(np.abs(null) >= abs(observed) - tol)
    return float((hits + extra) / (null.size + extra))


def permutation_test(
    a: Sequence[float],
    b: Sequence[float],
    *,
    alternative: str = "greater",
    n_perm: int = 9999,
    seed: int = 0,
) -> float:
    """p-value of mean(a) − mean(b) under random relabelling of the pooled networks.

    Parameters
    ----------
    a, b : sequences of float
    alternative : {"greater", "less", "two-sided"}
        "greater": the alternative is mean(a) > mean(b).
    n_perm : int
        Monte Carlo relabellings when there are more than 20000 distinct splits.
    seed : int

    Returns
    -------
    float
        Exact p-value (every split counted, the observed one included) when the splits number
        at most 20000; else (b + 1)/(B + 1). The smallest attainable value is 1/C(|a|+|b|, |a|):
        with 2 + 2 networks no outcome is significant at 0.05 (1/6).

    Notes
    -----
    Cost O(S (|a| + |b|)) for S splits.

    Examples
    --------
    >>> permutation_test([5.0, 6.0, 7.0], [1.0, 2.0, 3.0])  # the observed split is the top 1 of 20
    0.05
    """
    _check_alternative(alternative)
    a, b = _values(a, "a"), _values(b, "b")
    pooled = np.concatenate([a, b])
    n, k = pooled.size, a.size
    observed = float(a.mean() - b.mean())
    total = pooled.sum()
    if math.comb(n, k) <= _EXACT_LIMIT:
        picks = np.array(list(itertools.combinations(range(n), k)), dtype=np.intp)
        extra = 0
    else:
        rng = np.random.default_rng(seed)
        picks = np.argsort(rng.random((n_perm, n)), axis=1)[:, :k]
        extra = 1
    sum_a = pooled[picks].sum(1)
    null = sum_a / k - (total - sum_a) / (n - k)
    return _p_value(null, observed, alternative, extra)


def sign_flip_test(values: Sequence[float], *, alternative: str = "greater") -> float:
    """Exact one-sample test of mean > 0 (or < 0, or ≠ 0) by flipping the signs of the values.

    Under the null each value is symmetric about 0; all 2^m sign patterns are enumerated (m ≤
    14), so 3 networks can reach at best p = 1/8.

    Examples
    --------
    >>> sign_flip_test([1.0, 2.0, 3.0, 4.0])
    0.0625
    """
    _check_alternative(alternative)
    v = _values(values, "values")
    if v.size > 14:
        raise ValueError(f"sign_flip_test enumerates 2^m patterns; m = {v.size} > 14")
    signs = np.array(list(itertools.product((1.0, -1.0), repeat=v.size)))
    null = (signs * v).mean(1)
    return _p_value(null, float(v.mean()), alternative, 0)


@dataclass(frozen=True)
class Comparison:
    """A difference (or a mean) with its interval and test, and which sign the paper predicts.

    Attributes
    ----------
    label : str
        What is compared, e.g. "noise ξ=1: drop(static) − drop(ARUN)".
    estimate, low, high : float
        The effect and its 95 % bootstrap interval (NaN with a single network in a group).
    p_value : float
        One-sided, in the direction the paper predicts.
    p_opposite : float
        One-sided, in the other direction (for a verdict of "contradicted").
    expected_sign : int
        +1 or −1: the sign the paper predicts for ``estimate``.
    n_a, n_b : int
        Networks in each group (n_b = 0 for a one-sample test).
    test : str
        The test, in words.
    """

    label: str
    estimate: float
    low: float
    high: float
    p_value: float
    p_opposite: float
    expected_sign: int
    n_a: int
    n_b: int
    test: str

    def to_dict(self, digits: int = 4) -> dict:
        """JSON-ready, numbers rounded to ``digits`` significant digits (stable across CPUs)."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, float):
                out[key] = None if math.isnan(value) else float(f"{value:.{digits}g}")
        return out


def _comparison(
    label: str,
    interval: tuple[float, float, float],
    test: Callable[[str], float],
    *,
    expected_sign: int,
    sizes: tuple[int, int],
    description: str,
) -> Comparison:
    """A :class:`Comparison` from an (estimate, low, high) and a test taking the alternative."""
    if expected_sign not in (1, -1):
        raise ValueError(f"expected_sign must be +1 or -1, got {expected_sign!r}")
    forward, backward = ("greater", "less") if expected_sign > 0 else ("less", "greater")
    return Comparison(
        label, *interval, test(forward), test(backward), expected_sign, *sizes, description
    )


def compare_groups(
    label: str,
    a: Sequence[float],
    b: Sequence[float],
    *,
    expected_sign: int = 1,
    seed: int = 0,
) -> Comparison:
    """Effect mean(a) − mean(b) of two groups of networks: bootstrap interval and permutation p.

    Examples
    --------
    >>> c = compare_groups("a − b", [3.0, 3.1, 2.9], [1.0, 1.2, 0.8])
    >>> round(c.estimate, 3), c.p_value, c.n_a
    (2.0, 0.05, 3)
    """
    return _comparison(
        label,
        bootstrap_difference(a, b, seed=seed),
        lambda alternative: permutation_test(a, b, alternative=alternative, seed=seed),
        expected_sign=expected_sign,
        sizes=(len(a), len(b)),
        description="bootstrap 95% interval of the difference of group means (networks "
        "resampled within groups); one-sided permutation test over networks",
    )


def compare_to_zero(
    label: str, values: Sequence[float], *, expected_sign: int = 1, seed: int = 0
) -> Comparison:
    """Mean of per-network values against 0: bootstrap interval and exact sign-flip p.

    Examples
    --------
    >>> c = compare_to_zero("slope", [-1.0, -2.0, -1.5], expected_sign=-1)
    >>> c.p_value
    0.125
    """
    return _comparison(
        label,
        bootstrap_mean(values, seed=seed),
        lambda alternative: sign_flip_test(values, alternative=alternative),
        expected_sign=expected_sign,
        sizes=(len(values), 0),
        description="bootstrap 95% interval of the mean over networks; exact sign-flip test",
    )
