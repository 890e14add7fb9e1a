"""Numerical kernels of the fixed-point search (used by :mod:`dynan.fixed_points`).

Starting states, batched Levenberg–Marquardt (dense, or matrix-free in Krylov subspaces) and
Adam on q = ½‖F(x, u) − x‖², deduplication in (x, u), outlier exclusion and the
eigen-decomposition. Each function states its cost; the algorithm as a whole is documented in
:func:`dynan.fixed_points.find_fixed_points`.

References
----------
J. Nocedal, S. J. Wright (2006). Numerical Optimization, 2nd ed., Springer (§10.3
Levenberg–Marquardt; §11.1 inexact Newton with Krylov solves). D. W. Marquardt (1963). An
algorithm for least-squares estimation of nonlinear parameters. J. SIAM 11, 431. P. N. Brown,
Y. Saad (1990). Hybrid Krylov methods for nonlinear systems of equations. SIAM J. Sci. Stat.
Comput. 11, 450.
L. Giraud, J. Langou, M. Rozložník (2005). The loss of orthogonality in the Gram-Schmidt
processes. Comput. Math. Appl. 50, 1069 (CGS2). D. P. Kingma, J. Ba (2015). Adam:
a method for stochastic optimization. ICLR. R. B. Lehoucq, D. C. Sorensen, C. Yang (1998).
ARPACK Users' Guide, SIAM. Sussillo & Barak (2013), Neural Comput. 25:626 (REFERENCES.md §3).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigs
from torch import Tensor
from tqdm.auto import tqdm

from dynan.errors import SystemError_
from dynan.system import DynamicalSystem, check_state, simulate

__all__ = [
    "DENSE_LIMIT",
    "POLISH_GAIN",
    "SEARCH_GAIN",
    "adam_descent",
    "expand_inputs",
    "inliers",
    "krylov_lm",
    "levenberg_marquardt",
    "order_points",
    "q_values",
    "reference_scale",
    "rows",
    "sample_starts",
    "spectrum",
    "unique_points",
]

#: Above this state dimension dense Jacobians are avoided (matrix-free Krylov LM, ARPACK for the
#: leading eigenvalues).
DENSE_LIMIT = 1024
_MEMORY = 2**27  # bytes of Jacobians held at once by the batched LM (128 MiB)
_MU_MAX = 1e8
_WINDOW = 5  # iterations over which a row's progress is judged
#: Least fraction of q a row must shed per window: the search stops rows that do not fall
#: 10-fold (screening many starts), the polish only rows that fall by less than 10% (patient
#: with the few candidates, e.g. roots with J − I near singular, reached only linearly).
SEARCH_GAIN, POLISH_GAIN = 0.9, 0.1
_KRYLOV = 40  # Krylov subspace dimension of the matrix-free LM
_DIVERGED = 1e6  # trajectories whose spread grows by more than this have no attractor to sample


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
        orbits = _orbits(system, x_init, steps, u_seq)
        pools.append(orbits.reshape(-1, system.dim))
        which = torch.randint(n_traj, (n_inits,), generator=gen)
        log_t = torch.rand(n_inits, generator=gen, dtype=torch.float64) * math.log(steps + 1)
        when = (log_t.exp().floor().long() - 1).clamp(0, steps)
        starts.append(orbits[which.to(orbits.device), when.to(orbits.device)])
    return torch.cat(pools), torch.cat(starts)


def _orbits(system, x_init, steps, u_seq) -> Tensor:
    """Trajectories (B, steps + 1, dim); SystemError_ when they diverge (nothing to sample)."""
    advice = "pass inits= (states near the fixed points you expect) or fewer steps="
    try:
        orbits = simulate(system, x_init, steps, u_seq)
    except SystemError_ as err:
        raise SystemError_(f"{err}: the trajectories diverge; {advice}") from err
    start, spread = reference_scale(x_init), reference_scale(orbits[:, -1])
    if spread > _DIVERGED * max(start, 1.0):
        raise SystemError_(
            f"trajectories of {system.name} diverge (spread {start:.3g} at step 0, {spread:.3g} "
            f"at step {steps}): there is no attractor to sample starts from; {advice}"
        )
    return orbits


def reference_scale(reference: Tensor) -> float:
    """RMS distance of the states (..., dim) from their mean (1 when zero or not finite)."""
    reference = reference.reshape(-1, reference.shape[-1])
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


class _StallRule:
    """Which rows still iterate: finite q above the floor, μ < 1e8, not stalled, not done.

    A row has stalled when 5 iterations lowered its q by less than the fraction ``gain``. With
    gain = 0.9 (the search): LM near a regular root converges quadratically (orders of magnitude
    per step), so a slower row is heading for a slow point (a local minimum of q > 0, reached
    only linearly) or has no root nearby, and the search stops spending Jacobians on it. It is
    done when an accepted step moved it by less than round-off, ‖δ‖ ≤ 1e-15 ‖x‖.
    """

    def __init__(self, q: Tensor, gain: float):
        self.gain = gain
        self.q_ref = q.clone()
        self.stopped = torch.zeros_like(q, dtype=torch.bool)

    def active(self, it: int, q: Tensor, mu: Tensor, q_floor: float) -> Tensor:
        if it % _WINDOW == 0 and it:
            self.stopped |= q > (1 - self.gain) * self.q_ref
            self.q_ref = q.clone()
        live = torch.isfinite(q) & (q > q_floor) & (mu < _MU_MAX) & ~self.stopped
        return live.nonzero()[:, 0]

    def accepted(self, idx: Tensor, x: Tensor, trial: Tensor) -> None:
        """Rows idx moved from x to trial: stop those that moved by round-off only."""
        step = (trial - x).norm(dim=1)
        self.stopped[idx] |= step <= 1e-15 * x.norm(dim=1)


def levenberg_marquardt(
    system, x, u, *, max_iter, q_floor, progress, gain=SEARCH_GAIN
) -> tuple[Tensor, Tensor]:
    """Batched Levenberg–Marquardt on q; every row is its own problem with its own μ.

    Step: (AᵀA + μ·mean diag(AᵀA)·I) δ = −Aᵀ r with A = J − I, r = F(x) − x (Cholesky, batched),
    tried for up to four μ (×10 each) on one Jacobian (see :func:`_damped_step`). A row stops at
    q ≤ q_floor, at μ > 1e8, when stalled (q falls by less than the fraction ``gain`` in 5
    iterations) or when the step reaches round-off (see :class:`_StallRule`).
    Cost per iteration: one Jacobian (dim jvp columns) and a few d×d Cholesky factorisations
    per active row, O(d³); memory O(chunk · d²) with chunks of at most 128 MiB of Jacobians.
    """
    dim = system.dim
    eye = torch.eye(dim, dtype=x.dtype, device=x.device)

    def linearise(xc, uc):
        f, jac = system.step_and_jvp(xc, uc, eye.expand(len(xc), dim, dim))
        a = jac - eye
        return a.mT @ a, -(a.mT @ (f - xc)[..., None])[..., 0], lambda y, sel: y

    chunk = max(1, _MEMORY // (8 * dim * dim))
    return _lm_loop(system, x, u, linearise, chunk, max_iter, q_floor, gain, progress, "LM")


def krylov_lm(
    system, x, u, *, max_iter, q_floor, progress, gain=SEARCH_GAIN, krylov_dim=_KRYLOV
) -> tuple[Tensor, Tensor]:
    """Batched matrix-free Levenberg–Marquardt in Krylov subspaces (large systems).

    Per iteration and row: m = min(krylov_dim, dim) Arnoldi steps on A = J − I from −r
    (one batched jvp each, classical Gram–Schmidt applied twice) give A V_m = V_{m+1} H; the
    step is δ = V_m y with (HᵀH + μ·mean diag(HᵀH)·I) y = ‖r‖ Hᵀe₁ — Levenberg–Marquardt
    restricted to K_m(A, r); μ → 0 is the GMRES Newton step (Brown & Saad 1990). μ and the
    stopping rules as in :func:`levenberg_marquardt`.
    Cost per iteration: m batched jvps plus O(C m² dim) for the orthogonalisation; memory
    O(chunk · dim · m), chunks of at most 128 MiB of basis vectors.
    """
    m = min(krylov_dim, system.dim)

    def linearise(xc, uc):
        basis, hess, beta = _arnoldi(system, xc, uc, m)
        rhs = beta[:, None] * hess[:, 0, :]
        return hess.mT @ hess, rhs, lambda y, sel: (y[:, None, :] @ basis[sel, :m])[:, 0]

    chunk = max(1, _MEMORY // (8 * system.dim * (m + 1)))
    return _lm_loop(system, x, u, linearise, chunk, max_iter, q_floor, gain, progress, "Krylov-LM")


def _lm_loop(system, x, u, linearise, chunk, max_iter, q_floor, gain, progress, desc):
    """The LM iterations shared by both solvers; ``linearise(x, u) -> (N, g, to_step)``."""
    x = x.clone()
    with torch.no_grad():
        q = q_values(system, x, u)
        mu = torch.full_like(q, 1e-3)
        rule = _StallRule(q, gain)
        for it in tqdm(range(max_iter), desc=desc, disable=progress is not True, leave=False):
            active = rule.active(it, q, mu, q_floor)
            if active.numel() == 0:
                break
            for idx in active.split(chunk):
                if callable(progress):  # per chunk: a chunk of a large system takes seconds
                    progress(it, max_iter)
                xc, uc = x[idx], rows(u, idx)
                normal, rhs, to_step = linearise(xc, uc)
                new, q_new, mu[idx], ok = _damped_step(
                    system, xc, uc, q[idx], mu[idx], normal, rhs, to_step
                )
                rule.accepted(idx[ok], xc[ok], new[ok])
                x[idx], q[idx] = new, q_new
    return x, q


def _damped_step(system, x, u, q, mu, normal, rhs, to_step, tries=4):
    """Solve (N + μ·mean diag(N)·I) y = g, δ = to_step(y, rows) for μ, 10μ, … on one
    linearisation, keeping each row's first step that lowers q.

    Returns (states, q, next μ, accepted mask); the next μ is μ/10 after a success at the first
    try, the μ that succeeded after a retry (Marquardt 1963: a row whose steps keep needing
    10μ would otherwise pay two factorisations per iteration) and 10⁴μ after none. Each try
    costs a Cholesky of N, two triangular solves and one step of the map for the rows still
    pending.
    """
    scale = normal.diagonal(dim1=1, dim2=2).mean(1) + 1e-300
    x, q, mu = x.clone(), q.clone(), mu.clone()
    done = torch.zeros(len(q), dtype=torch.bool, device=q.device)
    first = torch.zeros(len(q), dtype=torch.bool, device=q.device)
    for k in range(tries):
        sel = (~done).nonzero()[:, 0]
        if sel.numel() == 0:
            break
        damped = normal[sel]
        damped.diagonal(dim1=1, dim2=2).add_((mu[sel] * scale[sel])[:, None])
        chol, info = torch.linalg.cholesky_ex(damped)
        y = torch.linalg.solve_triangular(chol, rhs[sel, :, None], upper=False)
        y = torch.linalg.solve_triangular(chol.mT, y, upper=True)[..., 0]
        trial = x[sel] + to_step(y, sel)
        q_trial = q_values(system, trial, rows(u, sel))
        ok = (info == 0) & torch.isfinite(q_trial) & (q_trial < q[sel])
        x[sel[ok]], q[sel[ok]] = trial[ok], q_trial[ok]
        done[sel[ok]] = True
        first[sel[ok]] = k == 0
        mu[sel[~ok]] *= 10
    mu = torch.where(first, (mu / 10).clamp_min(1e-15), mu)
    return x, q, mu, done


def adam_descent(system, x, u, *, max_iter, lr, tol_q, progress) -> tuple[Tensor, Tensor]:
    """Adam on Σ q; a row stops (frozen) once q < tol_q; lr halves on a 100-step plateau."""
    x = x.clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=lr)
    best, since = math.inf, 0
    done = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
    for it in tqdm(range(max_iter), desc="Adam", disable=progress is not True, leave=False):
        if callable(progress):
            progress(it, max_iter)
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


def _arnoldi(system, x, u, m) -> tuple[Tensor, Tensor, Tensor]:
    """Batched Arnoldi on A = J − I from −r: (V (B, m+1, dim), H (B, m+1, m), ‖r‖ (B,))."""
    r = system.step(x, u) - x
    beta = r.norm(dim=1)
    basis = r.new_zeros(x.shape[0], m + 1, system.dim)  # rows are the basis vectors
    hess = r.new_zeros(x.shape[0], m + 1, m)
    basis[:, 0] = -r / beta.clamp_min(1e-300)[:, None]
    for j in range(m):
        w = system.jvp(x, u, basis[:, j, :, None])[..., 0] - basis[:, j]
        v = basis[:, : j + 1]
        for _ in range(2):  # CGS2: twice is enough (Giraud et al. 2005)
            h = (v @ w[..., None])[..., 0]
            w = w - (h[:, None, :] @ v)[:, 0]
            hess[:, : j + 1, j] += h
        norm = w.norm(dim=1)
        hess[:, j + 1, j] = norm
        live = norm > 1e-14 * beta  # else the subspace is invariant: the step is exact
        basis[:, j + 1] = torch.where(live[:, None], w / norm.clamp_min(1e-300)[:, None], 0)
    return basis, hess, beta


# -- dedup, outliers, spectrum ---------------------------------------------------------------
def unique_points(x: Tensor, u: Tensor | None, q: Tensor, tol: float) -> Tensor:
    """Indices of the points kept by greedy dedup in (x, u): lowest q first. O(C K (d + m)).

    The greedy loop reads a distance per candidate, so it runs on a CPU copy (one transfer,
    not one per candidate, for a system on a GPU); the indices come back on x's device."""
    z = (x if u is None else torch.cat([x, u], 1)).cpu()
    kept: list[int] = []
    for i in torch.argsort(q.cpu()).tolist():
        if kept and float(torch.cdist(z[i : i + 1], z[kept]).min()) < tol:
            continue
        kept.append(i)
    return torch.tensor(kept, dtype=torch.long, device=x.device)


def inliers(x: Tensor, reference: Tensor, outlier: float | None) -> Tensor:
    if outlier is None or x.shape[0] == 0:
        return torch.ones(x.shape[0], dtype=torch.bool, device=x.device)
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
            jac = system.jacobian(x, u).cpu().numpy()  # LAPACK's geev: no GPU eig in torch
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
            return system.jvp(xi, ui, t.to(xi.device, x.dtype))[0, :, 0].cpu().numpy()

        op = LinearOperator((dim, dim), matvec=matvec, dtype=np.float64)
        try:
            w, v = eigs(op, k=k, which="LM", tol=1e-10)
        except ArpackNoConvergence as err:
            w, v = err.eigenvalues, err.eigenvectors
        values[i, : len(w)], vectors[i, :, : len(w)] = w, v
    return values, vectors


def order_points(u: Tensor | None, values: np.ndarray, q: Tensor) -> np.ndarray:
    """Sort by input (lexicographic), then number of unstable directions, then q."""
    keys = [q.cpu().numpy(), (np.abs(values) >= 1).sum(1)]
    if u is not None:
        keys += [u[:, j].cpu().numpy() for j in reversed(range(u.shape[1]))]
    return np.lexsort(keys) if len(q) else np.zeros(0, dtype=int)
