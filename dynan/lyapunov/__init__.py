"""How chaotic are the dynamics? Lyapunov exponents by the QR (Benettin) method.

- :mod:`~dynan.lyapunov.spectrum`: :func:`lyapunov_spectrum` of any system, the
  :class:`LyapunovSpectrum` record and the Kaplan–Yorke dimension;
- :mod:`~dynan.lyapunov.finite_time`: exponents in windows aligned on an event
  (:func:`finite_time_lyapunov`);
- :mod:`~dynan.lyapunov.network`: the entry points for trained networks (frozen or joint
  system, task inputs, the paper's drive);
- :mod:`~dynan.lyapunov._benettin`: the stepping kernel both analyses share.

References: Benettin et al. (1980), Meccanica 15; Eckmann & Ruelle (1985), Rev. Mod. Phys. 57;
REFERENCES.md §2.
"""

from dynan.lyapunov.finite_time import FiniteTimeLyapunov, finite_time_lyapunov
from dynan.lyapunov.network import network_finite_time_lyapunov, network_lyapunov
from dynan.lyapunov.spectrum import LyapunovSpectrum, kaplan_yorke_dimension, lyapunov_spectrum

__all__ = [
    "FiniteTimeLyapunov",
    "LyapunovSpectrum",
    "finite_time_lyapunov",
    "kaplan_yorke_dimension",
    "lyapunov_spectrum",
    "network_finite_time_lyapunov",
    "network_lyapunov",
]
