"""Fixed points and slow points of a discrete-time system, their stability and their kind.

    q(x; u) = ½ ‖F(x, u) − x‖²,   fixed point: q = 0,   slow point: q small but not 0

Starting states are sampled from trajectories of the system under the constant input (or
given), all candidates are driven down q as one batch by Levenberg–Marquardt — with dense
Jacobians, or matrix-free in Krylov subspaces for large systems (Adam on q, the common approach,
is available for comparison) —, the survivors are deduplicated in the joint (x, u) space and
polished in float64 by the same solver, outliers far from the trajectories are dropped, and
the Jacobian at each point is eigen-decomposed: for a map a point is stable when every
|λ| < 1, and its kind is "stable", "saddle-k" (k directions with |λ| ≥ 1) or "unstable" (all
directions). Points whose q stays above ``tol_q`` are slow points, kept
apart in ``result.slow_points``.

References
----------
D. Sussillo, O. Barak (2013). Opening the black box: low-dimensional dynamics in
high-dimensional recurrent neural networks. Neural Computation 25, 626–649.
M. D. Golub, D. Sussillo (2018). FixedPointFinder: a TensorFlow toolbox for identifying and
characterizing fixed points in recurrent neural networks. JOSS 3(31), 1003.
J. Nocedal, S. J. Wright (2006). Numerical Optimization, 2nd ed., Springer (§10.3
Levenberg–Marquardt, §11.1 inexact Newton). P. N. Brown, Y. Saad (1990). Hybrid Krylov methods
for nonlinear systems of equations. SIAM J. Sci. Stat. Comput. 11, 450. REFERENCES.md §3.
"""

from __future__ import annotations

import dataclasses
import math
from functools import partial

import numpy as np
import torch
from numpy.typing import ArrayLike
from torch import Tensor

from dynan.errors import SystemError_
from dynan.fixed_points.result import FixedPoints
from dynan.fixed_points.skeleton import heteroclinic_connections
from dynan.fixed_points.solvers import (
    DENSE_LIMIT,
    POLISH_GAIN,
    adam_descent,
    expand_inputs,
    inliers,
    krylov_lm,
    levenberg_marquardt,
    order_points,
    reference_scale,
    rows,
    sample_starts,
    spectrum,
    unique_points,
)
from dynan.system import DynamicalSystem, check_state

__all__ = ["METHODS", "find_fixed_points"]

#: Search methods: batched Levenberg–Marquardt with dense Jacobians ("lm") or matrix-free in
#: Krylov subspaces ("krylov"), or Adam on q ("adam"); "auto" picks by dimension.
METHODS = ("auto", "lm", "krylov", "adam")


def find_fixed_points(
    system: DynamicalSystem,
    *,
    inputs: ArrayLike | None = None,
    inits: ArrayLike | None = None,
    n_inits: int = 1024,
    noise: float = 0.05,
    steps: int = 200,
    method: str = "auto",
    max_iter: int | None = None,
    lr: float = 0.01,
    krylov_dim: int = 40,
    polish: bool = True,
    polish_iter: int = 30,
    tol_q: float = 1e-12,
    tol_slow: float = 1e-6,
    tol_unique: float = 1e-3,
    outlier: float | None = 2.0,
    n_modes: int | None = None,
    n_vectors: int = 4,
    connect: bool = True,
    eps: float = 1e-3,
    connect_steps: int = 2000,
    seed: int = 0,
    progress: bool = False,
) -> FixedPoints:
    """Find the fixed points (and slow points) of ``system`` under constant inputs.

    Parameters
    ----------
    system : DynamicalSystem
        Any system from ``dynan.as_system``; it needs a Jacobian (analytic or autograd).
    inputs : array (input_dim,) or (M, input_dim), optional
        Constant input(s); with M rows the search runs for each (e.g. a range of inputs).
        Default: zero input (None for an autonomous map).
    inits : array (B, dim), optional
        Starting states (used for every input). Default: ``n_inits`` states sampled from
        trajectories of ``steps`` steps from ``system.initial_state`` under the constant input.
    n_inits : int, default 1024
        Starting states per input when ``inits`` is not given.
    noise : float, default 0.05
        Gaussian noise added to the starts, of norm ≈ ``noise × scale``.
    steps : int, default 200
        Length of the trajectories the starts are sampled from.
    method : {"auto", "lm", "krylov", "adam"}
        Batched search: Levenberg–Marquardt with dense Jacobians ("lm"), matrix-free
        Levenberg–Marquardt in Krylov subspaces of dimension ``krylov_dim`` ("krylov"), or Adam
        on q ("adam", the common approach, slow). "auto" is "lm" up to dim = 1024, else "krylov".
    max_iter : int, optional
        Search iterations (default 30 for lm and krylov, 3000 for adam).
    lr : float, default 0.01
        Adam step, in units of scale/√dim per coordinate.
    krylov_dim : int, default 40
        Krylov subspace dimension of the "krylov" method (capped at dim).
    polish : bool, default True
        Polish the deduplicated candidates in float64 (dense LM, or Krylov LM above dim 1024).
    polish_iter : int, default 30
        Polishing iterations per candidate.
    tol_q : float, default 1e-12
        A point is a true fixed point when q < tol_q.
    tol_slow : float, default 1e-6
        Points with tol_q ≤ q < tol_slow are slow points; the rest are discarded.
    tol_unique : float, default 1e-3
        Points closer than ``tol_unique × scale`` in the joint (x, u) space are one point (the
        lowest q is kept).
    outlier : float or None, default 2
        Drop points farther from the centroid of the reference states than ``outlier`` times
        the largest distance of a reference state from it (points the dynamics never come
        near, e.g. a GRU's saturated-gate points with |h| > 1); None keeps all.
    n_modes : int, optional
        Keep the n_modes leading eigenvalues (default: all when dim ≤ 1024, else 16).
    n_vectors : int, default 4
        Keep eigenvectors of at least this many leading modes (always all unstable ones).
    connect : bool, default True
        Compute the heteroclinic skeleton (``result.connections``, ``result.graph()``).
    eps, connect_steps : float, int
        Offset (× scale) along each unstable eigenvector, and the step budget, of the skeleton.
    seed : int, default 0
        Seed of the sampling and noise.
    progress : bool, default False
        Show tqdm progress bars.

    Returns
    -------
    FixedPoints
        True fixed points (q < tol_q); slow points in ``.slow_points``.

    Raises
    ------
    SystemError_
        ``system`` is not a DynamicalSystem, has no usable step or Jacobian, ``inits``/``inputs``
        have the wrong shape or are not finite, or the sampled trajectories diverge.
    ValueError
        An option out of range or an unknown method (the valid names are listed).

    Notes
    -----
    Algorithm (Sussillo & Barak 2013; Golub & Sussillo 2018; REFERENCES.md §3):
    1. starts: states of trajectories under each constant input (or ``inits``) plus noise;
    2. search on the whole batch (M·B candidates): LM steps (AᵀA + μ tr(AᵀA)/d I) δ = −Aᵀ r,
       A = J − I, r = F(x) − x, tried at μ, 10μ, 100μ, 1000μ on one Jacobian (the first
       that lowers q is taken; the next iteration starts from μ/10 when μ itself worked, else
       from the μ that worked, as in Marquardt 1963), until q reaches
       the round-off floor, μ > 1e8 or q falls less than 10-fold in 5 iterations (quadratic
       convergence is far faster: a slow point or no root). Large systems
       take the same step restricted to the Krylov subspace K_m(A, r) built by Arnoldi from
       jvps (μ → 0 is Newton–GMRES, Brown & Saad 1990). Or Adam on Σ q;
    3. drop LM candidates with q ≥ tol_slow (stalled far from a root); dedup in (x, u)
       keeping the lowest q; polish by the same LM, patient now (stopping only when q falls by
       less than 10% in 5 iterations), to machine precision (quadratic convergence near a
       regular root, linear where J − I is near singular; Nocedal & Wright §10.3, 11.1);
       dedup again; drop outliers; split fixed (q < tol_q) / slow / discarded;
    4. J at each point, eigenvalues sorted by |λ| (discrete map: stable iff all |λ| < 1);
    5. optionally the heteroclinic skeleton (``dynan.fixed_points.skeleton``).

    Cost, d = dim, C = M·B candidates, K kept points, I iterations: LM search
    O(I C (d·c_jvp + d³)) time, c_jvp the cost of one Jacobian-vector product, and
    O(min(C, 128 MiB/8d²) d²) memory; Krylov LM O(I C m (c_jvp + m d)) time, O(C m d) memory;
    Adam O(I C c_step); polish the same on K points; eigen-decomposition O(K d³) dense, or
    ARPACK O(K n_modes · restarts · c_jvp).

    References
    ----------
    Sussillo & Barak (2013), Neural Comput. 25:626; Golub & Sussillo (2018), JOSS 3:1003;
    Nocedal & Wright (2006), Numerical Optimization; Marquardt (1963), J. SIAM 11:431.

    Examples
    --------
    >>> import torch
    >>> from dynan.system import CallableSystem
    >>> from dynan.fixed_points import find_fixed_points
    >>> W = torch.tensor([[1.0, -1.0], [-1.0, 1.0]], dtype=torch.float64)
    >>> system = CallableSystem(lambda h, u: torch.tanh(h @ W.T), dim=2)
    >>> fp = find_fixed_points(system, n_inits=64)
    >>> fp.kinds
    ('stable', 'stable', 'saddle-1')
    >>> round(abs(float(fp.states[0, 0])), 6)
    0.957504
    """
    params = {
        "method": method, "max_iter": max_iter, "n_inits": n_inits, "noise": noise,
        "steps": steps, "lr": lr, "krylov_dim": krylov_dim, "polish": polish,
        "polish_iter": polish_iter, "tol_q": tol_q, "tol_slow": tol_slow, "tol_unique": tol_unique,
        "outlier": outlier, "n_modes": n_modes, "n_vectors": n_vectors, "connect": connect,
        "eps": eps, "connect_steps": connect_steps, "seed": seed,
    }  # fmt: skip
    params.update(_check_options(system, params))
    u_list = _constant_inputs(system, inputs)
    gen = torch.Generator().manual_seed(seed)
    _probe_jacobian(system, u_list)
    reference, starts = sample_starts(system, u_list, inits, n_inits, steps, gen)
    scale = reference_scale(reference)
    noise_std = noise * scale / math.sqrt(system.dim)
    noise = torch.randn(starts.shape, generator=gen, dtype=starts.dtype)  # CPU: same on all
    x = starts + noise_std * noise.to(starts.device)
    u = expand_inputs(u_list, x.shape[0])
    x, u, q = _search(system, x, u, scale, params, progress)
    keep = (q < tol_slow) & inliers(x, reference, outlier)
    params.update(
        n_candidates=int(starts.shape[0]), n_outliers=int(((q < tol_slow) & ~keep).sum())
    )
    x, u, q = x[keep], rows(u, keep), q[keep]
    values, vectors = spectrum(system, x, u, params["n_modes"], n_vectors)
    order = order_points(u, values, q)
    values, vectors = values[order], vectors[order]
    x, u, q = x.cpu(), None if u is None else u.cpu(), q.cpu()  # results are host arrays
    x, u, q = x[order], rows(u, order), q[order]
    if u is None:
        u = x.new_zeros(x.shape[0], 0)

    def record(mask: np.ndarray, slow: FixedPoints | None) -> FixedPoints:
        return FixedPoints(
            states=x.numpy()[mask],
            inputs=u.numpy()[mask],
            q=q.numpy()[mask],
            eigenvalues=values[mask],
            eigenvectors=vectors[mask],
            system=system.name,
            scale=scale,
            parameters=params,
            slow_points=slow,
        )

    fixed = q.numpy() < tol_q
    result = record(fixed, record(~fixed, None))
    if connect and len(result):
        links = heteroclinic_connections(
            system, result, eps=eps, max_steps=connect_steps, progress=progress
        )
        result = dataclasses.replace(result, connections=links)
    return result


def _search(system, x, u, scale, params, progress) -> tuple[Tensor, Tensor | None, Tensor]:
    """Batched search, dedup, polish, dedup: (states, inputs, q) of the distinct candidates."""
    q_floor = 1e-30 * max(scale, 1.0) ** 2  # round-off: ½ d (ε |x|)², ε = 2.2e-16
    iters = params["max_iter"]
    dense = system.dim <= DENSE_LIMIT
    krylov = partial(krylov_lm, krylov_dim=params["krylov_dim"])
    if params["method"] in ("lm", "krylov"):
        search = levenberg_marquardt if params["method"] == "lm" else krylov
        x, q = search(system, x, u, max_iter=iters, q_floor=q_floor, progress=progress)
    else:
        lr = params["lr"] * scale / math.sqrt(system.dim)
        x, q = adam_descent(
            system, x, u, max_iter=iters, lr=lr, tol_q=params["tol_q"], progress=progress
        )
    keep = torch.isfinite(q) & torch.isfinite(x).all(1)
    if params["method"] != "adam":  # LM stopped these rows far from any root
        keep &= q < params["tol_slow"]
    x, u, q = x[keep], rows(u, keep), q[keep]
    idx = unique_points(x, u, q, params["tol_unique"] * scale)
    x, u, q = x[idx], rows(u, idx), q[idx]
    if params["polish"] and x.shape[0]:
        kernel = levenberg_marquardt if dense else krylov
        x, q = kernel(
            system, x, u, max_iter=params["polish_iter"], q_floor=q_floor, gain=POLISH_GAIN,
            progress=progress,
        )  # fmt: skip
        idx = unique_points(x, u, q, params["tol_unique"] * scale)
        x, u, q = x[idx], rows(u, idx), q[idx]
    return x, u, q


# -- validation --------------------------------------------------------------------------------
def _check_options(system: DynamicalSystem, params: dict) -> dict:
    """Validate the options; return the resolved method, max_iter and n_modes."""
    if not isinstance(system, DynamicalSystem):
        raise SystemError_(
            f"find_fixed_points needs a DynamicalSystem, got {type(system).__name__}; "
            "turn networks and callables into one with dynan.as_system"
        )
    method = params["method"]
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; valid names: {', '.join(METHODS)}")
    counts = (
        "n_inits",
        "steps",
        "krylov_dim",
        "n_vectors",
        "connect_steps",
        "polish_iter",
        "max_iter",
        "n_modes",
    )
    positive = ("tol_q", "tol_slow", "tol_unique", "eps", "lr", "outlier")
    for name in counts + positive + ("noise",):
        value = params[name]
        if value is None and name in ("max_iter", "n_modes", "outlier"):
            continue
        if name in counts:
            ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
            if not ok:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        elif not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a non-negative finite number, got {value!r}")
        elif name != "noise" and value == 0:
            raise ValueError(f"{name} must be positive, got {value!r}")
    if params["tol_slow"] < params["tol_q"]:
        raise ValueError(
            f"tol_slow ({params['tol_slow']!r}) must be at least tol_q ({params['tol_q']!r})"
        )
    dense = system.dim <= DENSE_LIMIT
    if method == "auto":
        method = "lm" if dense else "krylov"
    return {
        "method": method,
        "max_iter": params["max_iter"] or (3000 if method == "adam" else 30),
        "n_modes": min(params["n_modes"] or (system.dim if dense else 16), system.dim),
    }


def _constant_inputs(system: DynamicalSystem, inputs: ArrayLike | None) -> Tensor | None:
    """(M, input_dim) constant inputs, or None for an autonomous map."""
    m = system.input_dim
    if inputs is None:
        return None if m == 0 else torch.zeros(1, m, dtype=system.dtype, device=system.device)
    if m == 0:
        raise SystemError_(f"{system.name} takes no input (input_dim = 0), but inputs were given")
    if isinstance(inputs, Tensor):  # e.g. the network entry points' input, on the device
        u = inputs.detach().to(system.device, system.dtype)
    else:
        u = torch.as_tensor(np.asarray(inputs, dtype=np.float64), dtype=system.dtype)
    u = (u[None] if u.ndim == 1 else u).to(system.device)
    if u.ndim != 2 or u.shape[1] != m or u.shape[0] == 0:
        raise SystemError_(
            f"inputs must have shape ({m},) or (M, {m}) for {system.name}, got "
            f"{tuple(np.shape(inputs))}"
        )
    if not torch.isfinite(u).all():
        raise SystemError_("inputs contain NaN or inf")
    return u


def _probe_jacobian(system: DynamicalSystem, u_list: Tensor | None) -> None:
    """Raise a clear SystemError_ when the system's step or Jacobian cannot be evaluated."""
    state = system.initial_state(1, generator=torch.Generator().manual_seed(0))
    x = check_state(system, state, where="initial state")
    u = None if u_list is None else u_list[:1]
    try:
        jac = system.jvp(x, u, torch.ones(1, system.dim, 1, dtype=x.dtype, device=x.device))
    except SystemError_:
        raise
    except (NotImplementedError, RuntimeError, TypeError, AttributeError) as err:
        reason = f"{type(err).__name__}: {err}" if str(err) else f"{type(err).__name__}"
        raise SystemError_(
            f"{system.name} has no usable step Jacobian ∂step/∂x ({reason}); fixed points need "
            "one: give an analytic jacobian or a step made of differentiable torch ops"
        ) from err
    if not isinstance(jac, Tensor) or tuple(jac.shape) != (1, system.dim, 1):
        got = tuple(jac.shape) if isinstance(jac, Tensor) else type(jac).__name__
        raise SystemError_(f"{system.name}: jvp must return (batch, {system.dim}, k), got {got}")
