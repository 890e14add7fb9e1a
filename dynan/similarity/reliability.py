"""Can this CKA value be trusted? Davari et al.'s diagnostics, gathered into a verdict.

For one comparison CKA(X, Y) (linear kernel) :func:`assess_reliability` measures

- per-example influence: the change when one example is left out (closed form), and when one
  example is moved outward by a few RMS radii (closed form, both sides);
- the single-outlier limits of Theorem 1: how far one example could drive the value;
- sensitivity to invertible linear maps (which keep all linearly decodable information);
- significance (permutation p-value), spread (bootstrap or jackknife interval), small-sample
  bias (biased vs debiased), and agreement with Procrustes, CCA, SVCCA and RSA;

and turns them into flags and a verdict: "reliable" (no flag), "caution", "unreliable".

References
----------
Davari, Horoi, Natik, Lajoie, Wolf, Belilovsky (2023), "Reliability of CKA as a similarity
measure in deep learning", ICLR. Kornblith et al. (2019), ICML. REFERENCES.md §5.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dynan.results import Result
from dynan.similarity._checks import (
    SimilarityError,
    check_choice,
    check_pair,
    check_positive,
    is_constant,
)
from dynan.similarity.cka import cka_matrix
from dynan.similarity.inference import bootstrap_ci, jackknife_interval, permutation_test
from dynan.similarity.measures import SIMILARITIES, centred_reduced
from dynan.similarity.translation import single_point_limits, single_point_translation

__all__ = [
    "PRESETS",
    "THRESHOLDS",
    "LinearMapSensitivity",
    "ReliabilityVerdict",
    "assess_reliability",
    "leave_one_out",
    "linear_map_sensitivity",
]

#: Flag thresholds (documented defaults; override with ``assess_reliability(thresholds=...)``).
THRESHOLDS = {
    "alpha": 0.05,  # not-significant: permutation p-value above this
    "bias": 0.1,  # small-sample-bias: |biased − debiased CKA| above this
    "interval": 0.2,  # wide-interval: confidence interval wider than this
    "leave_one_out": 0.05,  # outlier-dominated: one example left out moves CKA more than this
    "single_point": 0.1,  # single-point-sensitive: one example moved by `outlier_scale` radii
    "linear_map": 0.3,  # linear-map-sensitive: CKA range over maps of condition `condition`
    "high": 0.7,  # measures-disagree: CKA ≥ high while a cross-check is ≤ low, or vice versa
    "low": 0.3,
}
#: Cost presets: (permutations, bootstrap replicates, random linear maps); 0 replicates means a
#: jackknife interval from the leave-one-out values, which are computed anyway ("quick": for
#: many pairs, e.g. every pair of a report's checkpoints).
PRESETS = {"quick": (49, 0, 4), "fast": (99, 100, 8), "thorough": (999, 1000, 32)}
_MAJOR = ("outlier-dominated", "single-point-sensitive", "measures-disagree")


@dataclass(frozen=True)
class LinearMapSensitivity(Result):
    """CKA(X A_k, Y) for random invertible A_k with condition number ≤ ``condition``."""

    baseline: float
    values: np.ndarray
    condition: float
    seed: int | None

    @property
    def spread(self) -> float:
        """max − min over the baseline and the mapped values."""
        allv = np.append(self.values, self.baseline)
        return float(np.nanmax(allv) - np.nanmin(allv))


@dataclass(frozen=True)
class ReliabilityVerdict(Result):
    """Everything :func:`assess_reliability` measured about one comparison, and the verdict."""

    cka: float
    cka_debiased: float
    n: int
    widths: tuple[int, int]
    p_value: float
    ci_low: float
    ci_high: float
    loo_max_change: float
    loo_worst_index: int
    point_max_change: float
    point_worst_index: int
    outlier_scale: float
    outlier_limit_max: float
    linear_map_spread: float
    measures: dict
    flags: tuple[str, ...]
    reasons: tuple[str, ...]
    verdict: str
    thresholds: dict = field(default_factory=dict)
    interval: str = "bootstrap"  # how [ci_low, ci_high] was made: "bootstrap" or "jackknife"


def leave_one_out(x: Any, y: Any) -> np.ndarray:
    """Linear (biased) CKA with example i left out, for every i at once; shape (n,).

    Notes
    -----
    With X, Y centred, leaving out example i and re-centring changes the cross-covariance to
    C − k xᵢyᵢᵀ, k = n/(n − 1), so ‖C₋ᵢ‖² = ‖C‖² − 2k xᵢᵀCyᵢ + k²‖xᵢ‖²‖yᵢ‖², and likewise for the
    self terms. O(n (p² + q² + pq)) in total instead of O(n² (p² + q² + pq)).

    References
    ----------
    Davari et al. (2023), ICLR, §4 (sensitivity to single examples).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(50, 3))
    >>> bool(np.allclose(leave_one_out(x, 2 * x), 1.0))
    True
    """
    x, y = check_pair(x, y)
    n = x.shape[0]
    if n < 3:
        raise SimilarityError(f"leave-one-out CKA needs at least 3 examples, got n={n}")
    xc, yc = centred_reduced(x), centred_reduced(y)
    k = n / (n - 1)
    dx, dy = (xc**2).sum(1), (yc**2).sum(1)

    def downdated(a, b, da, db):
        c = a.T @ b
        return (c**2).sum() - 2 * k * ((a @ c) * b).sum(1) + k**2 * da * db

    sxx, syy = downdated(xc, xc, dx, dx), downdated(yc, yc, dy, dy)
    out = np.full(n, np.nan)
    ok = (sxx > 0) & (syy > 0)
    out[ok] = downdated(xc, yc, dx, dy)[ok] / np.sqrt(sxx[ok] * syy[ok])
    return out


def linear_map_sensitivity(
    x: Any, y: Any, *, n_maps: int = 8, condition: float = 10.0, seed: int | None = 0
) -> LinearMapSensitivity:
    """How much linear CKA moves when X goes through random invertible linear maps.

    Every invertible A keeps all the information a linear read-out can use, yet CKA is not
    invariant to it (only to orthogonal maps and isotropic scaling): a large spread says the
    value reflects the variance scales of X as much as its content.

    Parameters
    ----------
    n_maps : int
        Number of random maps A = U diag(s) Vᵀ, U, V Haar-orthogonal, log s uniform on
        [−½ log κ, ½ log κ] (so the condition number is at most κ).
    condition : float
        κ ≥ 1.

    Notes
    -----
    O(n_maps · n (p² + q² + pq)); widths above n are first reduced to n (same Gram).

    References
    ----------
    Davari et al. (2023), ICLR; Kornblith et al. (2019), ICML, §3 (invariance).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(100, 4))
    >>> linear_map_sensitivity(x, x, condition=1.0).spread < 1e-12
    True
    """
    check_positive(n_maps, "n_maps", integer=True)
    if not condition >= 1:
        raise SimilarityError(f"condition must be >= 1, got {condition!r}")
    x, y = check_pair(x, y)
    xr, yr = centred_reduced(x), centred_reduced(y)
    rng = np.random.default_rng(seed)
    p = xr.shape[1]
    maps = []
    for _ in range(n_maps):
        u, _ = np.linalg.qr(rng.normal(size=(p, p)))
        v, _ = np.linalg.qr(rng.normal(size=(p, p)))
        s = np.exp(rng.uniform(-0.5, 0.5, size=p) * np.log(condition))
        maps.append(xr @ (u * s) @ v.T)
    values = cka_matrix([xr, *maps], [yr])[:, 0]
    return LinearMapSensitivity(float(values[0]), values[1:], float(condition), seed)


def _flags(v: dict, t: dict) -> list[tuple[str, str]]:
    out = []
    if not v["p_value"] <= t["alpha"]:
        out.append(("not-significant", f"permutation p = {v['p_value']:.3g} > {t['alpha']}"))
    if abs(v["cka"] - v["cka_debiased"]) > t["bias"]:
        out.append((
            "small-sample-bias",
            f"biased {v['cka']:.3f} vs debiased {v['cka_debiased']:.3f} CKA (n = {v['n']})",
        ))  # fmt: skip
    if v["ci_high"] - v["ci_low"] > t["interval"]:
        out.append((
            "wide-interval",
            f"{v['interval']} interval [{v['ci_low']:.3f}, {v['ci_high']:.3f}]",
        ))  # fmt: skip
    if v["loo_max_change"] > t["leave_one_out"]:
        out.append((
            "outlier-dominated",
            f"leaving out example {v['loo_worst_index']} moves CKA by {v['loo_max_change']:.3f}",
        ))  # fmt: skip
    if v["point_max_change"] > t["single_point"]:
        out.append((
            "single-point-sensitive",
            f"moving example {v['point_worst_index']} by {v['outlier_scale']:g} RMS radii "
            f"moves CKA by {v['point_max_change']:.3f}",
        ))  # fmt: skip
    if v["linear_map_spread"] > t["linear_map"]:
        out.append((
            "linear-map-sensitive",
            f"invertible maps (condition ≤ {v['condition']:g}) spread CKA over "
            f"{v['linear_map_spread']:.3f}",
        ))  # fmt: skip
    cka = v["cka"]
    against = [
        f"{name} {value:.2f}"
        for name, value in v["measures"].items()
        if (cka >= t["high"] and value <= t["low"]) or (cka <= t["low"] and value >= t["high"])
    ]
    if against:
        out.append(("measures-disagree", f"CKA {cka:.2f} but " + ", ".join(against)))
    return out


def _undefined(x: np.ndarray, y: np.ndarray, constant: list[str], t: dict) -> ReliabilityVerdict:
    """The verdict of a comparison whose CKA is undefined (a constant representation)."""
    nan = float("nan")
    return ReliabilityVerdict(
        **dict.fromkeys(
            ("cka", "cka_debiased", "p_value", "ci_low", "ci_high", "loo_max_change"), nan
        ),
        **dict.fromkeys(("point_max_change", "outlier_limit_max", "linear_map_spread"), nan),
        n=x.shape[0],
        widths=(x.shape[1], y.shape[1]),
        loo_worst_index=-1,
        point_worst_index=-1,
        outlier_scale=nan,
        measures={},
        flags=("constant",),
        reasons=tuple(
            f"{name} is constant (every example the same): CKA is undefined" for name in constant
        ),
        verdict="undefined",
        thresholds=t,
        interval="none",
    )


def assess_reliability(
    x: Any,
    y: Any,
    *,
    preset: str = "fast",
    outlier_scale: float = 3.0,
    condition: float = 3.0,
    thresholds: dict | None = None,
    seed: int | None = 0,
) -> ReliabilityVerdict:
    """Run every reliability diagnostic on linear CKA(x, y) and return a verdict.

    Parameters
    ----------
    x, y : (n, p), (n, q) array-likes
        Two representations of the same n ≥ 4 examples.
    preset : {"quick", "fast", "thorough"}
        Permutations / bootstrap replicates / random maps: 49 / jackknife / 4, 99 / 100 / 8 or
        999 / 1000 / 32. "quick" takes its interval from the leave-one-out values (about a
        quarter of the cost of "fast"), for verdicts on many pairs.
    outlier_scale : float
        How far (in RMS radii of the moved representation) one example is moved for the
        single-point sensitivity.
    condition : float
        Condition number of the random invertible maps (3: mild re-weightings of the features;
        at 10, CKA of a representation with itself already spreads over ~0.5).
    thresholds : dict, optional
        Overrides of :data:`THRESHOLDS`.
    seed : int or None
        Seed of every random draw.

    Returns
    -------
    ReliabilityVerdict
        ``verdict`` is "unreliable" when the value is not significant or at least two major
        flags (outlier-dominated, single-point-sensitive, measures-disagree) are raised,
        "caution" for any other flag, else "reliable"; ``reasons`` say why in words. A constant
        representation (CKA undefined) gives "undefined", the flag "constant" and NaN values.

    Raises
    ------
    SimilarityError
        Bad shapes, n < 4, unknown preset or threshold names.

    Notes
    -----
    The closed forms (leave-one-out, single-point moves, Theorem 1 limits) cost O(n (p² + q² +
    pq)); the permutation test O(B n p q); the bootstrap and the random maps one CKA each;
    Procrustes, CCA and SVCCA O(n (p² + q²)); RSA O(n² (p + q)). Widths above n are reduced to n
    first (exact for all but RSA, which sees the raw features). About 0.3 s for n = 256,
    p = q = 64 with the fast preset on one core, 0.1 s with "quick".

    References
    ----------
    Davari et al. (2023), ICLR. REFERENCES.md §5.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(200, 5)) * [3, 2, 1, 0.5, 0.2]
    >>> v = assess_reliability(x, x + 0.1 * rng.normal(size=(200, 5)))
    >>> v.verdict, round(v.cka, 3)
    ('reliable', 0.998)
    >>> assess_reliability(x, rng.normal(size=(200, 5))).verdict
    'unreliable'
    """
    check_choice(preset, "preset", tuple(PRESETS))
    t = dict(THRESHOLDS)
    unknown = set(thresholds or {}) - set(t)
    if unknown:
        raise SimilarityError(f"unknown thresholds {sorted(unknown)}; valid: {sorted(t)}")
    t.update(thresholds or {})
    x, y = check_pair(x, y)
    n = x.shape[0]
    if n < 4:
        raise SimilarityError(f"reliability diagnostics need at least 4 examples, got n={n}")
    constant = [name for name, z in (("X", x), ("Y", y)) if is_constant(z)]
    if constant:
        return _undefined(x, y, constant, t)
    n_perm, n_boot, n_maps = PRESETS[preset]
    xr, yr = centred_reduced(x), centred_reduced(y)
    both = cka_matrix([xr], [yr])[0, 0], cka_matrix([xr], [yr], debiased=True)[0, 0]
    loo = leave_one_out(xr, yr)
    moved = np.stack([
        single_point_translation(xr, yr, scale=outlier_scale),
        single_point_translation(yr, xr, scale=outlier_scale),
    ])  # fmt: skip
    point_change = np.nanmax(np.abs(moved - both[0]), axis=0)
    loo_change = np.abs(loo - both[0])
    if n_boot:
        ci = bootstrap_ci(xr, yr, n_boot=n_boot, seed=seed)
        interval = (ci.low, ci.high)
    else:
        interval = jackknife_interval(float(both[0]), loo)
    measures = {
        name: (fn(x, y) if name == "rsa" else fn(xr, yr)) for name, fn in SIMILARITIES.items()
    }
    values = {
        "cka": float(both[0]),
        "cka_debiased": float(both[1]),
        "n": n,
        "widths": (x.shape[1], y.shape[1]),
        "p_value": permutation_test(xr, yr, n_permutations=n_perm, seed=seed).p_value,
        "ci_low": float(interval[0]),
        "ci_high": float(interval[1]),
        "loo_max_change": float(np.nanmax(loo_change)),
        "loo_worst_index": int(np.nanargmax(loo_change)),
        "point_max_change": float(np.nanmax(point_change)),
        "point_worst_index": int(np.nanargmax(point_change)),
        "outlier_scale": float(outlier_scale),
        "outlier_limit_max": float(
            max(single_point_limits(xr).max(), single_point_limits(yr).max())
        ),
        "linear_map_spread": linear_map_sensitivity(
            xr, yr, n_maps=n_maps, condition=condition, seed=seed
        ).spread,
        "measures": {k: float(v) for k, v in measures.items()},
    }
    kind = "bootstrap" if n_boot else "jackknife"
    flags = _flags({**values, "condition": condition, "interval": kind}, t)
    names = [f for f, _ in flags]
    major = sum(f in _MAJOR for f in names)
    verdict = (
        "unreliable"
        if "not-significant" in names or major >= 2
        else ("caution" if names else "reliable")
    )
    return ReliabilityVerdict(
        **values,
        flags=tuple(names),
        reasons=tuple(reason for _, reason in flags),
        verdict=verdict,
        thresholds=t,
        interval=kind,
    )
