"""dynan: dynamical-systems analysis of trained recurrent networks whose neurons adapt.

Public API (DESIGN.md): ``load``, ``as_system``, ``lyapunov_spectrum``, ``find_fixed_points``,
``fit_fractional_order``, ``cka``, ``report``, and the modules ``dynan.systems``,
``dynan.similarity``, ``dynan.fractional``.

Examples
--------
>>> import dynan
>>> logistic = dynan.systems.logistic(r=4.0)
>>> result = dynan.lyapunov_spectrum(logistic, n_steps=2000, transient=100, progress=False)
>>> round(float(result.exponents[0]), 1)
0.7
"""

from dynan import fractional, similarity, systems
from dynan.adapters import as_system
from dynan.checkpoint import load
from dynan.errors import CheckpointError, DynanError
from dynan.fixed_points import find_fixed_points
from dynan.fractional import fit_fractional_order
from dynan.lyapunov import lyapunov_spectrum
from dynan.similarity.cka import cka
from dynan_models import __version__

from dynan import report  # isort: skip  (a callable module: dynan.report(...) builds a report)

__all__ = [
    "CheckpointError",
    "DynanError",
    "__version__",
    "as_system",
    "cka",
    "find_fixed_points",
    "fit_fractional_order",
    "fractional",
    "load",
    "lyapunov_spectrum",
    "report",
    "similarity",
    "systems",
]
