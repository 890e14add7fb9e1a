"""Where are the attractors? Fixed points, slow points, their stability and the skeleton that
connects them.

- :mod:`~dynan.fixed_points.result`: the records, :class:`FixedPoints` and
  :class:`Connections`, and :func:`fixed_point_graph`;
- :mod:`~dynan.fixed_points.finder`: :func:`find_fixed_points` of any system;
- :mod:`~dynan.fixed_points.solvers`: the batched Levenberg–Marquardt, Krylov and Adam solvers;
- :mod:`~dynan.fixed_points.skeleton`: :func:`heteroclinic_connections`, saddle → attractor;
- :mod:`~dynan.fixed_points.network`: the entry points for trained networks (task trajectories
  as starts, the ARUN controller's own fixed points).

References: Sussillo & Barak (2013), Neural Comput. 25:626; Golub & Sussillo (2018), JOSS 3,
1003; REFERENCES.md §3.
"""

from dynan.fixed_points.finder import METHODS, find_fixed_points
from dynan.fixed_points.network import (
    controller_fixed_points,
    network_fixed_points,
    network_starts,
    task_trajectories,
)
from dynan.fixed_points.result import Connections, FixedPoints, fixed_point_graph
from dynan.fixed_points.skeleton import heteroclinic_connections

__all__ = [
    "METHODS",
    "Connections",
    "FixedPoints",
    "controller_fixed_points",
    "find_fixed_points",
    "fixed_point_graph",
    "heteroclinic_connections",
    "network_fixed_points",
    "network_starts",
    "task_trajectories",
]
