"""dynan: dynamical-systems analysis of trained recurrent networks whose neurons adapt.

Public API (DESIGN.md): ``load``, ``as_system``, ``lyapunov_spectrum``, ``find_fixed_points``,
``fit_fractional_order``, ``cka``, ``report``, and the modules ``dynan.systems``,
``dynan.similarity``, ``dynan.fractional``.
"""

from dynan.adapters import as_system
from dynan.checkpoint import load
from dynan.errors import CheckpointError, DynanError
from models import __version__

__all__ = [
    "CheckpointError",
    "DynanError",
    "__version__",
    "as_system",
    "load",
]
