"""The search behind ``fit_fractional_order``: closed-form pooled least squares on a grid of α.

For one order α the best gain, offset and baseline-transient coefficient follow from running
sums over the fit range (partial covariances), per realisation; pooling realisations, or
resampling them for the bootstrap, is then a weighted sum of those sums. The order is found on
a grid, refined by parabolas.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from dynan.fractional._derivative import _OPERATORS, derivative

TINY = 1e-12
CHUNK = 2_000_000  # elements per temporary block (memory bound of the grid and the bootstrap)


def baseline_trace(alpha: ArrayLike, steps: int, start: int) -> np.ndarray:
    """Shape of D^α[1] by Grünwald–Letnikov, scaled to 1 at sample ``start``: (..., steps).

    D^α[1] at sample k is dt^{−α} z_k, z_k = Π_{j≤k} (j − 1 − (α − 1))/j = Π_{j≤k} (j − α)/j
    (partial sums of the weights; ≈ t^{−α}/Γ(1 − α)). Scaled by z_start, the shape
    ζ_k = Π_{start<j≤k} (j − α)/j stays continuous through integer α ≤ start, where z itself
    vanishes on [start, ∞). Before ``start``, ζ_k = Π_{k<j≤start} j/(j − α) (infinite at an
    integer α in (k, start]).
    """
    a = np.asarray(alpha, dtype=np.float64)[..., None]
    j = np.arange(1, steps, dtype=np.float64)
    ratios = (j - a) / j  # factor of sample j
    ones = np.ones((*a.shape[:-1], 1))
    after = np.cumprod(ratios[..., start:], axis=-1)
    with np.errstate(divide="ignore"):
        before = np.cumprod(1.0 / ratios[..., :start][..., ::-1], axis=-1)[..., ::-1]
    return np.concatenate([before, ones, after], axis=-1)


def transient_trace(alpha: ArrayLike, steps: int, start: int) -> np.ndarray:
    """The baseline-transient regressor θ_α = (ζ_α − 1)/α, continuous through α = 0: (..., steps).

    ζ_α (:func:`baseline_trace`) is constant at α = 0, where it would drop out of the fit and
    make the loss jump (the model loses a regressor that every α ≠ 0 has). With the offset in
    the model, θ_α spans the same space as ζ_α for α ≠ 0, and tends to −Σ_{start<j≤k} 1/j
    (≈ −log(k/start)) as α → 0. It is summed from the recursions ζ_m − ζ_{m−1} = −α ζ_{m−1}/m
    (m > start) and ζ_k − ζ_{k+1} = α ζ_k/(k + 1) (k < start), so no α is divided out:
    θ_k = −Σ_{start<m≤k} ζ_{m−1}/m after ``start``, θ_k = Σ_{k≤i<start} ζ_i/(i + 1) before.
    Cost O(steps) per order.
    """
    zeta = baseline_trace(alpha, steps, start)
    m = np.arange(1, steps, dtype=np.float64)
    zeros = np.zeros((*zeta.shape[:-1], 1))
    after = -np.cumsum(zeta[..., start:-1] / m[start:], axis=-1)
    with np.errstate(invalid="ignore"):
        terms = zeta[..., :start] / m[:start]
        before = np.cumsum(terms[..., ::-1], axis=-1)[..., ::-1]
    return np.concatenate([before, zeros, after], axis=-1)


def baseline_scale(alpha: ArrayLike, start: int, dt: float) -> np.ndarray:
    """dt^{−α} z_start: D^α[1] = baseline_scale · baseline_trace."""
    a = np.asarray(alpha, dtype=np.float64)
    j = np.arange(1, start + 1, dtype=np.float64)
    return np.prod((j - a[..., None]) / j, axis=-1) * dt ** (-a)


#: How realisations enter the fit: averaged before differentiating, or stacked as records.
COMBINE = ("mean", "stack")


@dataclass
class Moments:
    """Sums over the fit range for order g, realisation r (and s), series m.

    ``mean``: realisations will be averaged, so the quadratic sums are Gram matrices over
    realisation pairs (x_r·x_s: (G, R, R, M)); otherwise only their diagonal, (G, R, M).
    z sums are per order and series, (G, M') with M' = 1 or M; zero without a transient.
    """

    length: int
    mean: bool
    sx: np.ndarray  # (G, R, M)
    sxz: np.ndarray
    syz: np.ndarray
    sxx: np.ndarray  # (G, R, R, M) or (G, R, M)
    sxy: np.ndarray
    sy: np.ndarray  # (R, M)
    syy: np.ndarray  # (R, R, M) or (R, M)
    sz: np.ndarray  # (G, M')
    szz: np.ndarray


def compute_moments(x: np.ndarray, y: np.ndarray, z: np.ndarray | None, *, mean: bool) -> Moments:
    """x (G, R, M, L), y (R, M, L), z (G, M', L) or None."""
    zeros = np.zeros(x.shape[:1] + x.shape[2:3])
    zeros_grm = np.zeros(x.shape[:3])
    if mean:
        sxx = np.einsum("grml,gsml->grsm", x, x)
        sxy = np.einsum("grml,sml->grsm", x, y)
        syy = np.einsum("rml,sml->rsm", y, y)
    else:
        sxx = np.einsum("grml,grml->grm", x, x)
        sxy = np.einsum("grml,rml->grm", x, y)
        syy = np.einsum("rml,rml->rm", y, y)
    return Moments(
        length=x.shape[-1],
        mean=mean,
        sx=x.sum(-1),
        sxz=zeros_grm if z is None else (x * z[:, None]).sum(-1),
        syz=zeros_grm if z is None else (y[None] * z[:, None]).sum(-1),
        sxx=sxx,
        sxy=sxy,
        sy=y.sum(-1),
        syy=syy,
        sz=zeros if z is None else z.sum(-1),
        szz=zeros if z is None else (z * z).sum(-1),
    )


def concat(parts: list[Moments]) -> Moments:
    """Join moments computed for consecutive blocks of orders."""
    first = parts[0]
    per_order = ("sx", "sxz", "syz", "sxx", "sxy", "sz", "szz")
    joined = {k: np.concatenate([getattr(p, k) for p in parts]) for k in per_order}
    return Moments(first.length, first.mean, sy=first.sy, syy=first.syy, **joined)


def _linear(weights: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Σ_r w[b, r] a[g, r, m] → (B, G, M), one matrix product."""
    g, r, m = a.shape
    flat = np.ascontiguousarray(a.transpose(1, 0, 2)).reshape(r, g * m)
    return (weights @ flat).reshape(-1, g, m)


def _quadratic(weights: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Σ_rs w[b, r] w[b, s] a[g, r, s, m] → (B, G, M)."""
    return np.einsum("br,bs,grsm->bgm", weights, weights, a, optimize=True)


def _pooled(m: Moments, weights: np.ndarray) -> dict[str, np.ndarray]:
    """Sums of the combined record for realisation weights (B, R), each (B, G, M)-broadcastable.

    ``mean``: the record is the weighted average Σ_r v_r (x_r, y_r), v = w/Σw, of length L;
    ``stack``: the realisations laid end to end, w_r copies of each, of length L Σw.
    """
    total = weights.sum(1)[:, None, None]
    if m.mean:
        v = weights / weights.sum(1, keepdims=True)
        return {
            "n": np.full_like(total, m.length, dtype=np.float64),
            "sx": _linear(v, m.sx),
            "sxz": _linear(v, m.sxz),
            "syz": _linear(v, m.syz),
            "sxx": _quadratic(v, m.sxx),
            "sxy": _quadratic(v, m.sxy),
            "sy": (v @ m.sy)[:, None, :],
            "syy": _quadratic(v, m.syy[None]),
            "sz": m.sz[None],
            "szz": m.szz[None],
        }
    linear = {k: _linear(weights, getattr(m, k)) for k in ("sx", "sxz", "syz", "sxx", "sxy")}
    return {
        "n": m.length * total,
        "sy": (weights @ m.sy)[:, None, :],
        "syy": (weights @ m.syy)[:, None, :],
        "sz": total * m.sz[None],
        "szz": total * m.szz[None],
        **linear,
    }


def solve(m: Moments, weights: np.ndarray) -> dict[str, np.ndarray]:
    """Least squares y ≈ g x + e z + c of the combined record, for weights (B, R): (B, G, M).

    Partial covariances (Frisch–Waugh): centre by the record's means, partial out z, then
    g = C_xy·z / C_xx·z. Guards: C_zz = 0 (no transient regressor) skips the z step; a source
    collinear with (1, z) (C_xx·z ≈ 0) leaves the loss at 1 (nothing explained).
    """
    p = _pooled(m, weights)
    n, sx, sy, sz = p["n"], p["sx"], p["sy"], p["sz"]
    sxx, sxy, syy, sxz, syz, szz = (p[k] for k in ("sxx", "sxy", "syy", "sxz", "syz", "szz"))
    cxx = sxx - sx * sx / n
    cxy = sxy - sx * sy / n
    cyy = syy - sy * sy / n
    cxz = sxz - sx * sz / n
    cyz = syz - sy * sz / n
    czz = szz - sz * sz / n
    has_z = czz > TINY * np.maximum(szz, 1.0)
    safe_zz = np.where(has_z, czz, 1.0)
    cxx_z = np.where(has_z, cxx - cxz * cxz / safe_zz, cxx)
    cxy_z = np.where(has_z, cxy - cxz * cyz / safe_zz, cxy)
    cyy_z = np.where(has_z, cyy - cyz * cyz / safe_zz, cyy)
    fitted = cxx_z > TINY * np.maximum(cxx, TINY)
    gain = np.where(fitted, cxy_z / np.where(fitted, cxx_z, 1.0), 0.0)
    sse = np.maximum(cyy_z - gain * cxy_z, 0.0)
    safe_yy = np.where(cyy > 0, cyy, 1.0)
    loss = np.where(cyy > 0, sse / safe_yy, np.nan)
    transient = np.where(has_z, (cyz - gain * cxz) / safe_zz, 0.0)
    offset = (sy - gain * sx - transient * sz) / n
    return {"loss": loss, "gain": gain, "transient": transient, "offset": offset}


def grid_moments(
    source: np.ndarray,
    y: np.ndarray,
    grid: np.ndarray,
    *,
    method: str,
    dt: float,
    window: tuple[int, int],
    mean: bool,
) -> Moments:
    """Moments of D^α[source] for every order of ``grid``, in blocks bounded by CHUNK."""
    start, stop = window
    block = max(1, CHUNK // (source.size * 2))
    yk = y[..., start:stop]
    parts = []
    for i in range(0, grid.size, block):
        orders = grid[i : i + block]
        x = _OPERATORS[method](source[None], orders[:, None, None], dt)[..., start:stop]
        z = transient_trace(orders, source.shape[-1], start)[:, None, start:stop]
        parts.append(compute_moments(x, yk, z if method == "gl" else None, mean=mean))
    return concat(parts)


def solve_at(
    order: np.ndarray,
    source: np.ndarray,
    y: np.ndarray,
    *,
    method: str,
    dt: float,
    window: tuple[int, int],
    mean: bool,
) -> dict[str, np.ndarray]:
    """Least squares at one order per series (M,): loss and coefficients, each (M,)."""
    start, stop = window
    x = derivative(source, np.broadcast_to(order, source.shape[:-1]), dt, method=method)
    z = (
        transient_trace(order, source.shape[-1], start)[None, :, start:stop]
        if method == "gl"
        else None
    )
    sums = compute_moments(x[None, ..., start:stop], y[..., start:stop], z, mean=mean)
    return {k: v[0, 0] for k, v in solve(sums, np.ones((1, source.shape[0]))).items()}


def vertex(lm: np.ndarray, l0: np.ndarray, lp: np.ndarray) -> np.ndarray:
    """Offset (in steps, within ±½) of the vertex of the parabola through (−1, 0, 1)."""
    with np.errstate(invalid="ignore"):
        curvature = lm - 2 * l0 + lp
        ok = np.isfinite(curvature) & (curvature > 0)
        shift = np.where(ok, 0.5 * (lm - lp) / np.where(ok, curvature, 1.0), 0.0)
    return np.clip(shift, -0.5, 0.5)


def refine(loss: np.ndarray, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Minimiser of ``loss`` (..., G) on ``grid``: best point refined by a parabola.

    Returns (alpha, at_bound); NaN where the loss is all NaN.
    """
    finite = np.isfinite(loss).any(-1)
    filled = np.where(np.isfinite(loss), loss, np.inf)
    best = np.argmin(filled, axis=-1)
    interior = (best > 0) & (best < grid.size - 1)
    i = np.clip(best, 1, grid.size - 2)
    lm, l0, lp = (np.take_along_axis(filled, (i + d)[..., None], -1)[..., 0] for d in (-1, 0, 1))
    alpha = grid[best] + vertex(lm, l0, lp) * (grid[1] - grid[0]) * interior
    return np.where(finite, alpha, np.nan), finite & ~interior


def bootstrap_alpha(
    sums: Moments, grid: np.ndarray, realisations: int, draws: int, seed: int
) -> np.ndarray:
    """Orders refitted on ``draws`` resamples (with replacement) of the realisations: (B, M)."""
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(realisations, np.full(realisations, 1 / realisations), size=draws)
    pairs = realisations if sums.mean else 1
    block = max(1, CHUNK // (grid.size * sums.sx.shape[-1] * pairs))
    out = []
    for i in range(0, draws, block):
        loss = solve(sums, counts[i : i + block].astype(np.float64))["loss"]
        out.append(refine(np.moveaxis(loss, 1, -1), grid)[0])
    return np.concatenate(out)
