"""The search behind ``fit_fractional_order``: closed-form pooled least squares on a grid of α.

For one order α the best gain, offset and baseline-transient coefficient follow from running
sums over the fit range (partial covariances), per realisation; pooling realisations, or
resampling them for the bootstrap, is then a weighted sum of those sums. The order is found on
a grid, refined by parabolas.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dynan.fractional._derivative import _OPERATORS, derivative, gl_weights

TINY = 1e-12
CHUNK = 2_000_000  # elements per temporary block (memory bound of the grid and the bootstrap)


def baseline_trace(alpha: np.ndarray, steps: int, dt: float) -> np.ndarray:
    """D^α[1] by Grünwald–Letnikov: partial sums of the weights times dt^{−α}, (..., steps)."""
    a = np.asarray(alpha, dtype=np.float64)
    return np.cumsum(gl_weights(a, steps), axis=-1) * dt ** (-a[..., None])


@dataclass
class Moments:
    """Sums over the fit range: per order g, realisation r, series m (z: per g, m or g, 1)."""

    length: int
    sx: np.ndarray  # (G, R, M)
    sxx: np.ndarray
    sxy: np.ndarray
    sxz: np.ndarray
    syz: np.ndarray
    sy: np.ndarray  # (R, M)
    syy: np.ndarray
    sz: np.ndarray  # (G, M') — zero without a transient regressor
    szz: np.ndarray


def compute_moments(x: np.ndarray, y: np.ndarray, z: np.ndarray | None) -> Moments:
    """x (G, R, M, L), y (R, M, L), z (G, M', L) or None."""
    zeros = np.zeros(x.shape[:1] + x.shape[2:3])
    zeros_grm = np.zeros(x.shape[:3])
    return Moments(
        length=x.shape[-1],
        sx=x.sum(-1),
        sxx=np.einsum("grml,grml->grm", x, x),
        sxy=np.einsum("grml,rml->grm", x, y),
        sxz=zeros_grm if z is None else (x * z[:, None]).sum(-1),
        syz=zeros_grm if z is None else (y[None] * z[:, None]).sum(-1),
        sy=y.sum(-1),
        syy=np.einsum("rml,rml->rm", y, y),
        sz=zeros if z is None else z.sum(-1),
        szz=zeros if z is None else (z * z).sum(-1),
    )


def concat(parts: list[Moments]) -> Moments:
    first = parts[0]
    cat = {
        k: np.concatenate([getattr(p, k) for p in parts])
        for k in ("sx", "sxx", "sxy", "sxz", "syz")
    }
    zcat = {k: np.concatenate([getattr(p, k) for p in parts]) for k in ("sz", "szz")}
    return Moments(first.length, sy=first.sy, syy=first.syy, **cat, **zcat)


def pool(weights: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Σ_r weights[b, r] a[g, r, m] → (B, G, M), as one matrix product."""
    g, r, m = a.shape
    flat = np.ascontiguousarray(a.transpose(1, 0, 2)).reshape(r, g * m)
    return (weights @ flat).reshape(-1, g, m)


def solve(m: Moments, weights: np.ndarray) -> dict[str, np.ndarray]:
    """Pooled least squares y ≈ g x + e z + c for realisation weights (B, R): (B, G, M) each.

    Partial covariances (Frisch–Waugh): centre by the pooled means, partial out z, then
    g = C_xy·z / C_xx·z. Guards: C_zz = 0 (no transient regressor) skips the z step; a source
    collinear with (1, z) (C_xx·z ≈ 0) leaves the loss at 1 (nothing explained).
    """
    total = weights.sum(1)  # (B,)
    n = m.length * total[:, None, None]
    sx, sxx, sxy, sxz, syz = (pool(weights, a) for a in (m.sx, m.sxx, m.sxy, m.sxz, m.syz))
    sy = (weights @ m.sy)[:, None, :]
    syy = (weights @ m.syy)[:, None, :]
    sz = total[:, None, None] * m.sz[None]
    szz = total[:, None, None] * m.szz[None]
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
) -> Moments:
    """Moments of D^α[source] for every order of ``grid``, in blocks bounded by CHUNK."""
    start, stop = window
    block = max(1, CHUNK // (source.size * 2))
    yk = y[..., start:stop]
    parts = []
    for i in range(0, grid.size, block):
        orders = grid[i : i + block]
        x = _OPERATORS[method](source[None], orders[:, None, None], dt)[..., start:stop]
        z = baseline_trace(orders, source.shape[-1], dt)[:, None, start:stop]
        parts.append(compute_moments(x, yk, z if method == "gl" else None))
    return concat(parts)


def solve_at(
    order: np.ndarray,
    source: np.ndarray,
    y: np.ndarray,
    *,
    method: str,
    dt: float,
    window: tuple[int, int],
) -> dict[str, np.ndarray]:
    """Pooled least squares at one order per series (M,): loss and coefficients, each (M,)."""
    start, stop = window
    x = derivative(source, np.broadcast_to(order, source.shape[:-1]), dt, method=method)
    z = (
        baseline_trace(order, source.shape[-1], dt)[None, :, start:stop]
        if method == "gl"
        else None
    )
    sums = compute_moments(x[None, ..., start:stop], y[..., start:stop], z)
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
    block = max(1, CHUNK // (grid.size * sums.sx.shape[-1]))
    out = []
    for i in range(0, draws, block):
        loss = solve(sums, counts[i : i + block].astype(np.float64))["loss"]
        out.append(refine(np.moveaxis(loss, 1, -1), grid)[0])
    return np.concatenate(out)
