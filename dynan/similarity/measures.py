"""Other similarity measures, for cross-checking CKA: Procrustes/shape, CCA, SVCCA, RSA.

Invariances differ, which is the point of the cross-check: Procrustes similarity (and the
angular shape distance) is invariant to orthogonal maps, isotropic scaling and translation, like
CKA; mean CCA R² and SVCCA are invariant to every invertible linear map; RSA compares the
geometry of the examples through their dissimilarity matrices.

References
----------
Williams, Kunz, Kornblith, Linderman (2021), "Generalized shape metrics on neural
representations", NeurIPS (angular Procrustes shape distance). Hotelling (1936), "Relations
between two sets of variates", Biometrika (CCA). Raghu, Gilmer, Yosinski, Sohl-Dickstein (2017),
"SVCCA", NeurIPS. Kriegeskorte, Mur, Bandettini (2008), "Representational similarity analysis",
Front. Syst. Neurosci. Kornblith et al. (2019), ICML (R²_CCA, ρ̄_CCA). REFERENCES.md §5.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.spatial.distance import pdist
from scipy.stats import pearsonr, spearmanr

from dynan.similarity._checks import SimilarityError, check_choice, check_pair, warn

__all__ = [
    "SIMILARITIES",
    "angular_shape_distance",
    "cca_correlations",
    "mean_cca_r2",
    "procrustes_distance",
    "procrustes_similarity",
    "rsa",
    "svcca",
]

#: Singular values below this fraction of the largest are treated as zero (rank decisions).
RANK_RTOL = 1e-10


def centred_reduced(x: np.ndarray) -> np.ndarray:
    """Centred x, re-expressed in an n × r basis when p > n (same Gram, so same orthogonally
    invariant measures); cost O(n² p) then instead of O(n p²) for every later product."""
    xc = x - x.mean(0)
    if xc.shape[1] <= xc.shape[0]:
        return xc
    u, s, _ = np.linalg.svd(xc, full_matrices=False)
    keep = s > RANK_RTOL * (s[0] if s.size else 0.0)
    return u[:, keep] * s[keep]


def _procrustes(x: Any, y: Any) -> tuple[float, float]:
    """(‖X̂ᵀŶ‖_*, min_Q ‖X̂ − ŶQ‖_F) for centred, unit-Frobenius X̂, Ŷ (narrower one zero-padded).

    The distance is computed from the aligned residual, not as √(2 − 2s), so it keeps full
    precision near 0.
    """
    x, y = check_pair(x, y)
    xc, yc = centred_reduced(x), centred_reduced(y)
    nx, ny = np.linalg.norm(xc), np.linalg.norm(yc)
    if nx == 0 or ny == 0:
        warn("Procrustes similarity undefined, returned as NaN: a representation is constant")
        return float("nan"), float("nan")
    width = max(xc.shape[1], yc.shape[1])
    xp, yp = (np.pad(z / nz, ((0, 0), (0, width - z.shape[1]))) for z, nz in ((xc, nx), (yc, ny)))
    u, sv, vt = np.linalg.svd(yp.T @ xp)
    return float(min(sv.sum(), 1.0)), float(np.linalg.norm(xp - yp @ (u @ vt)))


def procrustes_similarity(x: Any, y: Any) -> float:
    """max over orthogonal Q of ⟨X̂, ŶQ⟩ = ‖X̂ᵀŶ‖_* for centred, unit-Frobenius X̂, Ŷ; in [0, 1].

    For p ≠ q the narrower representation is zero-padded. 1 iff Y is an orthogonal transform of X
    up to scale and translation.

    Raises
    ------
    SimilarityError
        Bad shapes. A constant representation gives NaN with a CKAWarning.

    Notes
    -----
    Orthogonal Procrustes (Schönemann 1966): the optimum is Q = UVᵀ from the SVD of ŶᵀX̂ and the
    value is the sum of its singular values. Cost O(n p q + max(p, q)³); widths above n are first
    reduced to n (same Gram, same value).

    References
    ----------
    Williams et al. (2021), NeurIPS. Schönemann (1966), Psychometrika 31.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(30, 3))
    >>> round(procrustes_similarity(x, 5 * x[:, ::-1] + 2), 12)
    1.0
    """
    return _procrustes(x, y)[0]


def procrustes_distance(x: Any, y: Any) -> float:
    """min over orthogonal Q of ‖X̂ − ŶQ‖_F = √(2 − 2 ‖X̂ᵀŶ‖_*), centred and unit-norm X̂, Ŷ.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(30, 3))
    >>> bool(procrustes_distance(x, -x) < 1e-14)
    True
    """
    return _procrustes(x, y)[1]


def angular_shape_distance(x: Any, y: Any) -> float:
    """Angle arccos ‖X̂ᵀŶ‖_* between the aligned shapes, in [0, π/2]; a metric (Williams 2021).

    Computed as 2 arcsin(d/2) from the chord :func:`procrustes_distance` d, which is exact near 0
    where arccos is not.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(30, 3))
    >>> bool(angular_shape_distance(x, 2 * x) < 1e-14)
    True
    """
    return float(2.0 * np.arcsin(min(procrustes_distance(x, y) / 2.0, 1.0)))


def _orthonormal_basis(xc: np.ndarray) -> np.ndarray:
    u, s, _ = np.linalg.svd(xc, full_matrices=False)
    return u[:, s > RANK_RTOL * (s[0] if s.size and s[0] > 0 else np.inf)]


def cca_correlations(x: Any, y: Any) -> np.ndarray:
    """Canonical correlations ρ₁ ≥ ρ₂ ≥ … of x (n, p) and y (n, q), min(rank x, rank y) of them.

    Raises
    ------
    SimilarityError
        Bad shapes.

    Notes
    -----
    ρ are the singular values of Q_xᵀQ_y with Q orthonormal bases of the centred column spaces
    (Björck & Golub 1973), ranks decided at ``RANK_RTOL``. When rank x + rank y ≥ n the spaces
    must intersect and some ρ = 1 by construction; a CKAWarning says so. A constant
    representation gives an empty array with a warning. Cost O(n (p² + q²)).

    References
    ----------
    Hotelling (1936), Biometrika 28. Björck & Golub (1973), Math. Comp. 27.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(50, 2))
    >>> np.round(cca_correlations(x, x @ [[1.0, 2.0], [3.0, -1.0]]), 12).tolist()
    [1.0, 1.0]
    """
    x, y = check_pair(x, y)
    qx, qy = _orthonormal_basis(x - x.mean(0)), _orthonormal_basis(y - y.mean(0))
    if qx.shape[1] == 0 or qy.shape[1] == 0:
        warn("CCA undefined: a representation is constant")
        return np.zeros(0)
    n = x.shape[0]
    if qx.shape[1] + qy.shape[1] >= n:
        warn(
            f"CCA with n={n} examples and ranks {qx.shape[1]} + {qy.shape[1]} >= n: the spaces "
            "intersect, so canonical correlations of 1 are forced; use more examples or SVCCA"
        )
    rho = np.linalg.svd(qx.T @ qy, compute_uv=False)
    return np.clip(rho, 0.0, 1.0)


def mean_cca_r2(x: Any, y: Any) -> float:
    """Mean squared canonical correlation R²_CCA = Σρᵢ² / min(rank x, rank y) (Kornblith 2019).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(50, 3))
    >>> round(mean_cca_r2(x, x @ np.diag([1.0, 10.0, 100.0])), 12)
    1.0
    """
    rho = cca_correlations(x, y)
    return float(np.mean(rho**2)) if rho.size else float("nan")


def svcca(x: Any, y: Any, *, keep: float = 0.99) -> float:
    """SVCCA: mean canonical correlation after keeping the top singular directions of each side.

    Parameters
    ----------
    keep : float in (0, 1]
        Fraction of the variance the kept directions must explain (Raghu et al. keep 99 %).

    Notes
    -----
    Each centred representation is projected on its leading right singular vectors explaining
    ``keep`` of the variance, then :func:`cca_correlations` runs on the projections; the value is
    the mean ρ. Cost O(n (p² + q²)).

    References
    ----------
    Raghu, Gilmer, Yosinski, Sohl-Dickstein (2017), NeurIPS.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(100, 4))
    >>> round(svcca(x, x @ np.diag([1.0, 2.0, 3.0, 4.0]), keep=1.0), 12)
    1.0
    """
    if not 0 < keep <= 1:
        raise SimilarityError(f"keep must be in (0, 1], got {keep!r}")
    x, y = check_pair(x, y)
    reduced = []
    for z in (x, y):
        zc = z - z.mean(0)
        u, s, _ = np.linalg.svd(zc, full_matrices=False)
        var = s**2
        if var.sum() == 0:
            warn("SVCCA undefined, returned as NaN: a representation is constant")
            return float("nan")
        k = int(np.searchsorted(np.cumsum(var) / var.sum(), keep - 1e-12) + 1)
        reduced.append(u[:, :k] * s[:k])
    rho = cca_correlations(*reduced)
    return float(np.mean(rho)) if rho.size else float("nan")


#: RDM correlation methods by name.
RSA_METHODS = {"spearman": spearmanr, "pearson": pearsonr}


def rsa(x: Any, y: Any, *, metric: str = "correlation", method: str = "spearman") -> float:
    """Representational similarity: correlation of the two dissimilarity matrices (RDMs).

    Parameters
    ----------
    metric : str
        Dissimilarity between examples, any ``scipy.spatial.distance.pdist`` metric; the default
        "correlation" (1 − Pearson r between activity patterns) follows Kriegeskorte et al.
    method : {"spearman", "pearson"}
        Correlation of the upper triangles of the two RDMs.

    Raises
    ------
    SimilarityError
        Bad shapes, fewer than 3 examples, an unknown method; NaN with a CKAWarning if an RDM is
        constant or undefined (e.g. an example with constant features under "correlation").

    Notes
    -----
    Cost O(n² (p + q)) time and O(n²) memory.

    References
    ----------
    Kriegeskorte, Mur, Bandettini (2008), Front. Syst. Neurosci. 2.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(20, 5))
    >>> round(rsa(x, 3 * x + 1), 12)
    1.0
    """
    check_choice(method, "method", tuple(RSA_METHODS))
    x, y = check_pair(x, y)
    if x.shape[0] < 3:
        raise SimilarityError(f"RSA needs at least 3 examples, got n={x.shape[0]}")
    try:
        dx, dy = pdist(x, metric=metric), pdist(y, metric=metric)
    except ValueError as err:
        raise SimilarityError(f"bad RSA metric {metric!r}: {err}") from err
    bad = [
        name for name, d in (("X", dx), ("Y", dy)) if not np.all(np.isfinite(d)) or np.ptp(d) == 0
    ]
    if bad:
        warn(f"RSA undefined, returned as NaN: the RDM of {' and '.join(bad)} is constant or NaN")
        return float("nan")
    return float(RSA_METHODS[method](dx, dy)[0])


#: Similarities in [0, 1] (1 = same up to the measure's invariances), by name, for cross-checks.
SIMILARITIES: dict[str, Callable[[Any, Any], float]] = {
    "procrustes": procrustes_similarity,
    "cca_r2": mean_cca_r2,
    "svcca": svcca,
    "rsa": rsa,
}
