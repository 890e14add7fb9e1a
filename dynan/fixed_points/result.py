"""The records of a fixed-point analysis: :class:`FixedPoints` (the points, their
linearisation and kinds) and :class:`Connections` (the orbits of the heteroclinic skeleton), and
:func:`fixed_point_graph`, the skeleton as a directed graph. Both the finder
(:mod:`dynan.fixed_points.finder`) and the skeleton search (:mod:`dynan.fixed_points.skeleton`)
build on this module; it imports neither.

References: Sussillo & Barak (2013), Neural Comput. 25:626; REFERENCES.md §3.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass

import networkx as nx
import numpy as np
from numpy.typing import ArrayLike

from dynan.results import Result

__all__ = ["Connections", "FixedPoints", "fixed_point_graph"]


@dataclass(frozen=True)
class Connections(Result):
    """Orbits leaving the fixed points along their unstable eigenvectors, one row per orbit.

    Attributes
    ----------
    source : ndarray (E,) int
        Index of the saddle/unstable point the orbit leaves.
    target : ndarray (E,) int
        Index of the stable point it reaches, −1 when none was reached within ``max_steps``
        (a limit cycle, chaos, divergence, or an attractor the search missed).
    mode : ndarray (E,) int
        Index of the eigenvector (column of ``FixedPoints.eigenvectors``).
    sign : ndarray (E,) int
        +1 or −1: the side of the eigenvector the orbit starts on.
    steps : ndarray (E,) int
        Map steps until arrival (``max_steps`` when unresolved).
    length : ndarray (E,) float
        Arc length Σ ‖x_{t+1} − x_t‖ of the path.
    eps, radius : float
        Start offset and arrival radius, in units of ``FixedPoints.scale``.
    max_steps : int
    """

    source: np.ndarray
    target: np.ndarray
    mode: np.ndarray
    sign: np.ndarray
    steps: np.ndarray
    length: np.ndarray
    eps: float = 1e-3
    radius: float = 0.01
    max_steps: int = 2000


@dataclass(frozen=True)
class FixedPoints(Result):
    """Fixed points of a system (one row per point), with their linearisation.

    Attributes
    ----------
    states : ndarray (K, dim)
        The points, sorted by input, then by number of unstable directions, then by q.
    inputs : ndarray (K, input_dim)
        The constant input of each point (width 0 for an autonomous map).
    q : ndarray (K,)
        ½ ‖F(x, u) − x‖² at each point.
    eigenvalues : ndarray (K, m), complex
        Eigenvalues of ∂F/∂x, sorted by decreasing modulus; m = dim, or the ``n_modes`` leading
        ones for large systems.
    eigenvectors : ndarray (K, dim, k), complex
        Unit right eigenvectors of the k leading modes (k ≥ every point's unstable count).
    system : str
        Name of the system.
    scale : float
        RMS distance of the reference states (trajectories or inits) from their mean: the unit
        of ``noise``, ``tol_unique``, ``outlier`` and the graph's ε.
    parameters : dict
        Every option that produced the result, and counts (candidates, dropped outliers).
    slow_points : FixedPoints or None
        Points with tol_q ≤ q < tol_slow (same fields; their own ``slow_points`` is None),
        located where Levenberg–Marquardt stalled: near a local minimum of q, not at it (the
        minimum of q > 0 is reached only linearly), so one slow region may give several.
    connections : Connections or None
        The heteroclinic skeleton (see :mod:`dynan.fixed_points.skeleton`).
    """

    states: np.ndarray
    inputs: np.ndarray
    q: np.ndarray
    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    system: str = ""
    scale: float = 1.0
    parameters: dict = dataclasses.field(default_factory=dict)
    slow_points: FixedPoints | None = None
    connections: Connections | None = None

    def __len__(self) -> int:
        return int(self.states.shape[0])

    @property
    def n_unstable(self) -> np.ndarray:
        """Number of directions with |λ| ≥ 1 (marginal ones count: not asymptotically stable)."""
        return (np.abs(self.eigenvalues) >= 1.0).sum(axis=1)

    @property
    def is_stable(self) -> np.ndarray:
        """True where every |λ| < 1 (discrete-time map)."""
        return self.n_unstable == 0

    @property
    def kinds(self) -> tuple[str, ...]:
        """ "stable", "saddle-k" or "unstable" (every direction unstable) per point."""
        dim = self.states.shape[1]
        return tuple(_kind(int(k), dim) for k in self.n_unstable)

    def graph(self) -> nx.DiGraph:
        """The heteroclinic skeleton as a ``networkx.DiGraph`` (see ``fixed_point_graph``)."""
        return fixed_point_graph(self)

    def summary(self) -> str:
        """One line: the points by kind, the largest q, the slow points, the skeleton's edges."""
        kinds = Counter(kind.split("-")[0] for kind in self.kinds)
        counts = ", ".join(f"{kinds[k]} {k}" for k in ("stable", "saddle", "unstable") if kinds[k])
        q_max = f", max q {self.q.max():.1e}" if len(self) else ""
        slow = 0 if self.slow_points is None else len(self.slow_points)
        edges = self.graph().number_of_edges()
        return (
            f"{_count(len(self), 'fixed point')} ({counts or 'none'}){q_max}, "
            f"{_count(slow, 'slow point')}, {_count(edges, 'saddle→attractor connection')}"
        )

    def select(self, mask: ArrayLike) -> FixedPoints:
        """The points where ``mask`` (boolean or indices) holds; connections are dropped."""
        idx = np.arange(len(self))[np.asarray(mask)]
        return dataclasses.replace(
            self,
            states=self.states[idx],
            inputs=self.inputs[idx],
            q=self.q[idx],
            eigenvalues=self.eigenvalues[idx],
            eigenvectors=self.eigenvectors[idx],
            connections=None,
        )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _kind(n_unstable: int, dim: int) -> str:
    if n_unstable == 0:
        return "stable"
    return "unstable" if n_unstable >= dim else f"saddle-{n_unstable}"


def fixed_point_graph(points: FixedPoints) -> nx.DiGraph:
    """The fixed points as a directed graph, edges saddle → attractor (heteroclinic skeleton).

    Parameters
    ----------
    points : FixedPoints
        With ``connections`` (``find_fixed_points(..., connect=True)``); without them the graph
        has the nodes only.

    Returns
    -------
    networkx.DiGraph
        Node i (row i of ``points``) has ``state``, ``input``, ``q``, ``kind``, ``n_unstable``,
        ``is_stable``, ``max_abs_eigenvalue`` and ``unresolved`` (orbits that reached no
        attractor). Edge (i, j) has ``steps`` and ``length`` of the shortest orbit from i to j,
        ``mode`` and ``sign`` of that orbit, and ``n_paths`` (orbits from i that reach j).

    Notes
    -----
    O(K + E) time and memory.

    References
    ----------
    Sussillo & Barak (2013), Neural Comput. 25:626.

    Examples
    --------
    >>> import numpy as np
    >>> from dynan.fixed_points import FixedPoints, fixed_point_graph
    >>> fp = FixedPoints(np.zeros((1, 1)), np.zeros((1, 0)), np.zeros(1),
    ...                  np.array([[0.5 + 0j]]), np.ones((1, 1, 1), complex))
    >>> fixed_point_graph(fp).nodes[0]["kind"]
    'stable'
    """
    graph = nx.DiGraph()
    kinds, n_unstable, stable = points.kinds, points.n_unstable, points.is_stable
    top = np.abs(points.eigenvalues).max(1) if points.eigenvalues.size else np.zeros(len(points))
    for i in range(len(points)):
        graph.add_node(
            i, state=points.states[i], input=points.inputs[i], q=float(points.q[i]),
            kind=kinds[i], n_unstable=int(n_unstable[i]), is_stable=bool(stable[i]),
            max_abs_eigenvalue=float(top[i]), unresolved=0,
        )  # fmt: skip
    links = points.connections
    if links is None:
        return graph
    for e in np.argsort(links.steps, kind="stable"):
        i, j = int(links.source[e]), int(links.target[e])
        if j < 0:
            graph.nodes[i]["unresolved"] += 1
        elif graph.has_edge(i, j):
            graph.edges[i, j]["n_paths"] += 1
        else:
            graph.add_edge(
                i, j, steps=int(links.steps[e]), length=float(links.length[e]),
                mode=int(links.mode[e]), sign=int(links.sign[e]), n_paths=1,
            )  # fmt: skip
    return graph
