"""Numerical kernels of the fixed-point search (used by :mod:`dynan.fixed_points`).

Starting states, batched Levenberg–Marquardt and Adam on q = ½‖F(x, u) − x‖², matrix-free
Newton–GMRES, deduplication in (x, u), outlier exclusion and the eigen-decomposition. Each
function states its cost; the algorithm as a whole is documented in
:func:`dynan.fixed_points.find_fixed_points`.

References
----------
J. Nocedal, S. J. Wright (2006). Numerical Optimization, 2nd ed., Springer (§10.3
Levenberg–Marquardt; §11.1 inexact Newton with Krylov solves). D. P. Kingma, J. Ba (2015). Adam:
a method for stochastic optimization. ICLR. R. B. Lehoucq, D. C. Sorensen, C. Yang (1998).
ARPACK Users' Guide, SIAM. Sussillo & Barak (2013), Neural Comput. 25:626 (REFERENCES.md §3).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigs, gmres
from torch import Tensor
from tqdm.auto import tqdm

from dynan.system import DynamicalSystem, check_state, simulate

__all__ = [
    "DENSE_LIMIT",
    "adam_descent",
    "expand_inputs",
    "inliers",
    "levenberg_marquardt",
    "newton_krylov",
    "order_points",
    "q_values",
    "reference_scale",
    "rows",
    "sample_starts",
    "spectrum",
    "unique_points",
]

#: Above this state dimension dense Jacobians are avoided (Adam search, Newton–GMRES polish,
#: ARPACK for the leading eigenvalues).
DENSE_LIMIT = 1024
_MEMORY = 2**27  # bytes of Jacobians held at once by the batched LM (128 MiB)
_MU_MAX = 1e8


# -- starting states -------------------------------------------------------------------------
def sample_starts(system, u_list, inits, n_inits, steps, gen) -> tuple[Tensor, Tensor]:
    """(reference states, starts (M·B, dim)), the starts grouped by input.

    Times are drawn log-uniformly in [0, steps] (as many starts per octave of time), so the
    transients, where orbits pass near saddles, are sampled as densely as the attractors.
    """
    m = 1 if u_list is None else u_list.shape[0]
    if inits is not None:
        if not isinstance(inits, Tensor):
            inits = torch.as_tensor(np.asarray(inits, dtype=np.float64))
        x0 = check_state(system, inits, where="inits")
        return x0, x0.repeat(m, 1)
    pools, starts = [], []
    n_traj = min(n_inits, 64)
    for i in range(m):
        u_seq = None if u_list is None else u_list[i].expand(n_traj, steps, -1)
        x_init = check_state(system, system.initial_state(n_traj, generator=gen), where="initial")
        orbits = simulate(system, x_init, steps, u_seq)
        pools.append(orbits.reshape(-1, system.dim))
        which = torch.randint(n_traj, (n_inits,), generator=gen)
        log_t = torch.rand(n_inits, generator=gen, dtype=torch.float64) * math.log(steps + 1)
        when = (log_t.exp().floor().long() - 1).clamp(0, steps)
        starts.append(orbits[which, when])
    return torch.cat(pools), torch.cat(starts)


def reference_scale(reference: Tensor) -> float:
    spread = float((reference - reference.mean(0)).pow(2).sum(1).mean().sqrt())
    return spread if spread > 0 and math.isfinite(spread) else 1.0


def expand_inputs(u_list: Tensor | None, count: int) -> Tensor | None:
    """Per-candidate inputs (count, input_dim) for starts grouped by input, or None."""
    return None if u_list is None else u_list.repeat_interleave(count // u_list.shape[0], 0)


def rows(u: Tensor | None, idx: Tensor) -> Tensor | None:
    return None if u is None else u[idx]


# -- search and polish kernels ---------------------------------------------------------------
def q_values(system: DynamicalSystem, x: Tensor, u: Tensor | None) -> Tensor:
    r = system.step(x, u) - x
    return 0.5 * (r * r).sum(1)


def levenberg_marquardt(system, x, u, *, max_iter, q_floor, progress) -> tuple[Tensor, Tensor]:
    """Batched Levenberg–Marquardt on q; every row is its own problem with its own μ."""
    dim = system.dim
    x = x.clone()
    with torch.no_grad():
        q = q_values(system, x, u)
        mu = torch.full_like(q, 1e-3)
        eye = torch.eye(dim, dtype=x.dtype)
        chunk = max(1, _MEMORY // (8 * dim * dim))
        for _ in tqdm(range(max_iter), desc="LM", disable=not progress, leave=False):
            active = (torch.isfinite(q) & (q > q_floor) & (mu < _MU_MAX)).nonzero()[:, 0]
            if active.numel() == 0:
                break
            for idx in active.split(chunk):
                xc, uc = x[idx], rows(u, idx)
                f, jac = system.step_and_jvp(xc, uc, eye.expand(len(idx), dim, dim))
                a = jac - eye
                r = f - xc
                h = a.mT @ a
                damp = mu[idx] * (h.diagonal(dim1=1, dim2=2).mean(1) + 1e-300)
                chol, info = torch.linalg.cholesky_ex(h + damp[:, None, None] * eye)
                delta = -torch.cholesky_solve((a.mT @ r[..., None]), chol)[..., 0]
                trial = xc + delta
                q_trial = q_values(system, trial, uc)
                ok = (info == 0) & torch.isfinite(q_trial) & (q_trial < q[idx])
                x[idx[ok]], q[idx[ok]] = trial[ok], q_trial[ok]
                mu[idx] = torch.where(ok, (mu[idx] / 10).clamp_min(1e-15), mu[idx] * 10)
    return x, q


def adam_descent(system, x, u, *, max_iter, lr, tol_q, progress) -> tuple[Tensor, Tensor]:
    """Adam on Σ q; a row stops (frozen) once q < tol_q; lr halves on a 100-step plateau."""
    x = x.clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=lr)
    best, since = math.inf, 0
    done = torch.zeros(x.shape[0], dtype=torch.bool)
    for _ in tqdm(range(max_iter), desc="Adam", disable=not progress, leave=False):
        q = q_values(system, x, u)
        done |= (q < tol_q).detach()
        live = torch.isfinite(q.detach()) & ~done
        if not live.any():
            break
        opt.zero_grad()
        q[live].sum().backward()
        frozen = x.detach()[~live].clone()
        opt.step()
        with torch.no_grad():
            x[~live] = frozen
        total = float(q.detach()[live].sum())
        best, since = (total, 0) if total < 0.99 * best else (best, since + 1)
        if since >= 100:
            opt.param_groups[0]["lr"] *= 0.5
            best, since = total, 0
    with torch.no_grad():
        x = x.detach()
        return x, q_values(system, x, u)


def newton_krylov(system, x, u, *, max_iter, q_floor, progress) -> tuple[Tensor, Tensor]:
    """Newton with GMRES on (J − I) δ = −r (matrix-free, via jvp) and backtracking on q."""
    dim = system.dim
    x = x.clone()
    q = q_values(system, x, u)
    for i in tqdm(range(x.shape[0]), desc="Newton-GMRES", disable=not progress, leave=False):
        xi, ui, qi = x[i : i + 1], rows(u, slice(i, i + 1)), float(q[i])

        def matvec(v, xi=xi, ui=ui):
            t = torch.as_tensor(np.asarray(v, dtype=np.float64).reshape(1, dim, 1))
            return (system.jvp(xi, ui, t.to(x.dtype))[0, :, 0] - t[0, :, 0]).numpy()

        for _ in range(max_iter):
            if not qi > q_floor:
                break
            r = (system.step(xi, ui) - xi)[0].numpy()
            op = LinearOperator((dim, dim), matvec=matvec, dtype=np.float64)
            delta, _ = gmres(op, -r, rtol=min(1e-2, math.sqrt(qi)), restart=min(dim, 60),
                             maxiter=20)  # fmt: skip
            delta_t = torch.as_tensor(delta, dtype=x.dtype)[None]
            for t in (1.0, 0.5, 0.25, 0.1, 0.01):
                trial = xi + t * delta_t
                q_trial = float(q_values(system, trial, ui)[0])
                if q_trial < qi:
                    xi, qi = trial, q_trial
                    break
            else:
                break
        x[i], q[i] = xi[0], qi
    return x, q


# -- dedup, outliers, spectrum ---------------------------------------------------------------
def unique_points(x: Tensor, u: Tensor | None, q: Tensor, tol: float) -> Tensor:
    """Indices of the points kept by greedy dedup in (x, u): lowest q first. O(C K (d + m))."""
    z = x if u is None else torch.cat([x, u], 1)
    kept: list[int] = []
    for i in torch.argsort(q).tolist():
        if kept and float(torch.cdist(z[i : i + 1], z[kept]).min()) < tol:
            continue
        kept.append(i)
    return torch.tensor(kept, dtype=torch.long)


def inliers(x: Tensor, reference: Tensor, outlier: float | None) -> Tensor:
    if outlier is None or x.shape[0] == 0:
        return torch.ones(x.shape[0], dtype=torch.bool)
    centre = reference.mean(0)
    radius = float((reference - centre).norm(dim=1).max())
    return (x - centre).norm(dim=1) <= outlier * max(radius, 1e-12)


def spectrum(system, x, u, n_modes, n_vectors) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (K, n_modes) by decreasing |λ| and eigenvectors (K, dim, k)."""
    dim, count = system.dim, x.shape[0]
    if count == 0:
        k = min(n_vectors, n_modes)
        return np.zeros((0, n_modes), complex), np.zeros((0, dim, k), complex)
    if dim <= DENSE_LIMIT:
        with torch.no_grad():
            jac = system.jacobian(x, u).numpy()
        values, vectors = np.linalg.eig(jac)
    else:
        values, vectors = _arpack(system, x, u, n_modes)
    order = np.argsort(-np.abs(values), axis=1, kind="stable")[:, :n_modes]
    values = np.take_along_axis(values, order, 1).astype(complex)
    n_unstable = int((np.abs(values) >= 1).sum(1).max())
    k = min(n_modes, max(n_vectors, n_unstable))
    vectors = np.take_along_axis(vectors, order[:, None, :k], 2).astype(complex)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-300)
    return values, vectors


def _arpack(system, x, u, n_modes) -> tuple[np.ndarray, np.ndarray]:
    """Leading eigenpairs of each J by ARPACK on the system's jvp (matrix-free)."""
    dim = system.dim
    k = min(n_modes, dim - 2)
    values = np.zeros((x.shape[0], n_modes), complex)
    vectors = np.zeros((x.shape[0], dim, n_modes), complex)
    for i in range(x.shape[0]):
        xi, ui = x[i : i + 1], rows(u, slice(i, i + 1))

        def matvec(v, xi=xi, ui=ui):
            t = torch.as_tensor(np.asarray(v, dtype=np.float64).reshape(1, dim, 1))
            return system.jvp(xi, ui, t.to(x.dtype))[0, :, 0].numpy()

        op = LinearOperator((dim, dim), matvec=matvec, dtype=np.float64)
        try:
            w, v = eigs(op, k=k, which="LM", tol=1e-10)
        except ArpackNoConvergence as err:
            w, v = err.eigenvalues, err.eigenvectors
        values[i, : len(w)], vectors[i, :, : len(w)] = w, v
    return values, vectors


def order_points(u: Tensor | None, values: np.ndarray, q: Tensor) -> np.ndarray:
    """Sort by input (lexicographic), then number of unstable directions, then q."""
    keys = [q.numpy(), (np.abs(values) >= 1).sum(1)]
    if u is not None:
        keys += [u[:, j].numpy() for j in reversed(range(u.shape[1]))]
    return np.lexsort(keys) if len(q) else np.zeros(0, dtype=int)
