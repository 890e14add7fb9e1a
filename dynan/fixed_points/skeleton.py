"""The heteroclinic skeleton: which attractor each unstable direction of each fixed point leads to.

From every saddle or unstable fixed point x*, the map is iterated from x* ± ε·v for each unstable
eigenvector v (|λ| ≥ 1; the real part for a complex pair, once per pair) until the orbit enters
a small ball around a stable fixed point of the same input. The result is a directed graph —
nodes the fixed points, edges saddle → attractor with the number of steps and the arc length of
the path — the skeleton on which the dynamics between memories run (a saddle between two
attractors of a flip-flop network connects to both).

References
----------
D. Sussillo, O. Barak (2013). Opening the black box. Neural Computation 25, 626–649 (unstable
modes of saddles connect the attractors). M. D. Golub, D. Sussillo (2018), JOSS 3, 1003.
J. Guckenheimer, P. Holmes (1983). Nonlinear Oscillations, Dynamical Systems, and Bifurcations
of Vector Fields, Springer, §1.3 (unstable manifolds; tangent to the unstable eigenspace).
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from dynan.fixed_points.result import Connections, FixedPoints
from dynan.system import DynamicalSystem

__all__ = ["heteroclinic_connections"]

#: Steps between the host's checks whether any orbit still runs (one device sync each).
_CHECK_EVERY = 16


def heteroclinic_connections(
    system: DynamicalSystem,
    points: FixedPoints,
    *,
    eps: float = 1e-3,
    radius: float = 0.01,
    max_steps: int = 2000,
    progress: bool = False,
) -> Connections:
    """Follow the map from each saddle along ±ε·v, v each unstable eigenvector, to an attractor.

    Parameters
    ----------
    system : DynamicalSystem
        The system the points belong to.
    points : FixedPoints
        True fixed points with their eigenvectors (from ``find_fixed_points``).
    eps : float, default 1e-3
        Start offset, × ``points.scale``.
    radius : float, default 0.01
        Arrival radius around a stable point, × ``points.scale``, capped at half the distance
        from that point to the nearest other fixed point of the same input.
    max_steps : int, default 2000
        Step budget per orbit.
    progress : bool, default False
        Show a tqdm progress bar.

    Returns
    -------
    Connections
        One row per orbit (2 per real unstable mode, 2 per complex pair).

    Notes
    -----
    The unstable manifold of x* is tangent to its unstable eigenspace, so a start at distance
    ε along ±v lies (to O(ε²)) on it and the orbit traces the connection (Guckenheimer &
    Holmes 1983, §1.3). An orbit stops when it enters a stable point's ball (target found),
    stops moving (‖Δx‖ < 1e-12·scale: a point outside the list), or turns non-finite. All
    orbits run as one batch: O(max_steps · P · c_step) time for P orbits, O(P (dim + S)) memory
    for S stable points.

    References
    ----------
    Sussillo & Barak (2013), Neural Comput. 25:626; Guckenheimer & Holmes (1983), §1.3.

    Examples
    --------
    >>> import torch
    >>> from dynan.system import CallableSystem
    >>> from dynan.fixed_points import find_fixed_points
    >>> well = CallableSystem(
    ...     lambda x, u: torch.stack([x[:, 0] + 0.1 * (x[:, 0] - x[:, 0] ** 3), 0.5 * x[:, 1]], 1),
    ...     dim=2)
    >>> fp = find_fixed_points(well, n_inits=64, connect=False)
    >>> links = heteroclinic_connections(well, fp)
    >>> sorted(links.target.tolist())
    [0, 1]
    """
    scale = points.scale
    src, mode, sign, starts = _starts(points, eps * scale)
    stable = np.flatnonzero(points.is_stable)
    target = np.full(len(src), -1)
    steps = np.full(len(src), max_steps)
    length = np.zeros(len(src))
    if len(src) and len(stable):
        put = {"dtype": system.dtype, "device": system.device}
        same = torch.as_tensor(_same_input(points.inputs[src], points.inputs[stable]))
        x = torch.as_tensor(starts, **put)
        u = torch.as_tensor(points.inputs[src], **put) if system.input_dim else None
        found = _follow(
            system, x, u, torch.as_tensor(points.states[stable], **put),
            torch.as_tensor(_balls(points, stable, radius * scale), **put), same.to(x.device),
            torch.as_tensor(stable, device=x.device), scale, max_steps, progress,
        )  # fmt: skip
        target, steps, length = (t.cpu().numpy() for t in found)
    return Connections(
        source=src, target=target, mode=mode, sign=sign, steps=steps, length=length,
        eps=eps, radius=radius, max_steps=max_steps,
    )  # fmt: skip


def _follow(system, x, u, targets, balls, same, stable, scale, max_steps, progress):
    """(target, steps, length) of the orbits from x: all rows step together on the system's
    device, stopped rows masked; the host reads whether any row still runs once every
    :data:`_CHECK_EVERY` steps, never per step."""
    n = x.shape[0]
    live = torch.ones(n, dtype=torch.bool, device=x.device)
    target = torch.full((n,), -1, dtype=torch.long, device=x.device)
    steps = torch.full((n,), max_steps, dtype=torch.long, device=x.device)
    length = torch.zeros(n, dtype=x.dtype, device=x.device)
    with torch.no_grad():
        for t in tqdm(range(1, max_steps + 1), desc="skeleton", disable=progress is not True,
                      leave=False):  # fmt: skip
            if t % _CHECK_EVERY == 1 and not live.any():
                break
            if callable(progress) and t % _CHECK_EVERY == 1:
                progress(t, max_steps)
            new = system.step(x, u)
            moved = (new - x).norm(dim=1)
            x = torch.where(live[:, None], new, x)
            length = torch.where(live, length + moved, length)
            dist = torch.cdist(new, targets)
            inside = (dist < balls[None]) & same
            hit = inside.any(1) & live
            nearest = stable[torch.where(inside, dist, torch.inf).argmin(1)]
            target = torch.where(hit, nearest, target)
            steps = torch.where(hit, t, steps)
            live &= ~(hit | ~torch.isfinite(moved) | (moved < 1e-12 * scale))
    return target, steps, length


def _starts(points: FixedPoints, offset: float):
    """(source, mode, sign, start states) for ±offset along each unstable eigenvector."""
    src, mode, sign, starts = [], [], [], []
    values = points.eigenvalues
    for i in np.flatnonzero(~points.is_stable):
        for j in range(points.eigenvectors.shape[2]):
            lam = values[i, j]
            if abs(lam) < 1 or lam.imag < 0:  # stable, or the conjugate of a pair already used
                continue
            v = points.eigenvectors[i, :, j]
            d = v.real if np.linalg.norm(v.real) > 1e-8 else v.imag
            d = d / max(np.linalg.norm(d), 1e-300)
            for s in (1, -1):
                src.append(i), mode.append(j), sign.append(s)
                starts.append(points.states[i] + s * offset * d)
    dim = points.states.shape[1]
    as_int = lambda a: np.asarray(a, dtype=np.int64)  # noqa: E731
    return as_int(src), as_int(mode), as_int(sign), np.asarray(starts).reshape(-1, dim)


def _same_input(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(P, S) mask: orbit p and stable point s share the constant input."""
    if a.shape[1] == 0:
        return np.ones((a.shape[0], b.shape[0]), dtype=bool)
    gap = np.abs(a[:, None, :] - b[None, :, :]).max(-1)
    return gap <= 1e-12 * (1 + np.abs(b).max(-1))[None]


def _balls(points: FixedPoints, stable: np.ndarray, radius: float) -> np.ndarray:
    """Arrival radius of each stable point: ≤ radius, ≤ half the gap to its nearest neighbour."""
    states = points.states
    out = np.full(len(stable), radius)
    for n, i in enumerate(stable):
        others = _same_input(points.inputs[i : i + 1], points.inputs)[0]
        others[i] = False
        if others.any():
            gap = np.linalg.norm(states[others] - states[i], axis=1).min()
            out[n] = min(radius, 0.5 * gap)
    return out
