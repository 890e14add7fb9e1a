"""Gain scaling: how the mean shape parameters n_t, s_t follow the drive amplitude ξ.

Geadah et al. (2024) find that adaptive units lower their gain as the drive grows,
n ≈ a ξ^{−b} + c, and that their saturation follows s ≈ a e^{−bξ} + c.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

from dynan.neuron_probes._probes import NeuronProbe
from dynan.neuron_probes._simulate import ProbeError
from dynan.results import Result

__all__ = ["GainScaling", "exponential_law", "gain_scaling", "power_law"]


def power_law(xi: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    """a ξ^{−b} + c (the gain n against ξ > 0)."""
    return a * np.power(xi, -b) + c


def exponential_law(xi: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    """a e^{−bξ} + c (the saturation s against ξ)."""
    return a * np.exp(-b * xi) + c


@dataclass(frozen=True)
class GainScaling(Result):
    """Mean shape parameters against drive amplitude, with the paper's two laws fitted.

    Attributes
    ----------
    amplitudes : ndarray (K,)
        Drive amplitudes ξ.
    n, s : ndarray (K,)
        n_t and s_t averaged over neurons, realisations and ``span`` (NaN without shape
        parameters).
    n_params : ndarray (3,)
        (a, b, c) of n ≈ a ξ^{−b} + c; NaN when the fit is not ``n_ok``.
    s_params : ndarray (3,)
        (a, b, c) of s ≈ a e^{−bξ} + c; NaN when not ``s_ok``.
    n_stderr, s_stderr : ndarray (3,)
        Standard errors of the parameters (square roots of the diagonal of curve_fit's
        covariance); NaN or inf when the data cannot determine them (e.g. 3 amplitudes for
        3 parameters).
    n_ok, s_ok : bool
        Whether each fit converged to finite values.
    n_message, s_message : str
        Why a fit was not made or failed ("" when it succeeded).
    span : (int, int)
        Steps averaged (the steady part of the drive window).
    architecture, connectivity, drive : str
        Where the trajectories came from.
    """

    amplitudes: np.ndarray
    n: np.ndarray
    s: np.ndarray
    n_params: np.ndarray
    s_params: np.ndarray
    n_stderr: np.ndarray
    s_stderr: np.ndarray
    n_ok: bool
    s_ok: bool
    n_message: str
    s_message: str
    span: tuple[int, int]
    architecture: str
    connectivity: str
    drive: str


def _fit_law(
    law: Callable, xi: np.ndarray, y: np.ndarray, guess: tuple[float, float, float], what: str
) -> tuple[np.ndarray, np.ndarray, bool, str]:
    """curve_fit with every failure turned into (NaN params, NaN errors, False, reason)."""
    failed = np.full(3, np.nan)
    keep = np.isfinite(y)
    if not keep.any():
        return failed, failed, False, f"{what}: the network has no shape parameters"
    xi, y = xi[keep], y[keep]
    if xi.size < 3:
        reason = f"{what}: {xi.size} usable amplitudes, 3 needed for a 3-parameter law"
        return failed, failed, False, reason
    if np.ptp(y) <= 1e-9 * max(1.0, np.abs(y).max()):
        return failed, failed, False, f"{what}: does not vary with ξ (static shape parameters)"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)
        try:
            params, cov = curve_fit(law, xi, y, p0=guess, maxfev=20000)
        except (RuntimeError, ValueError, FloatingPointError) as err:
            return failed, failed, False, f"{what}: fit failed ({err})"
    if not np.isfinite(params).all():
        return failed, failed, False, f"{what}: fit gave non-finite parameters"
    variance = np.diag(cov)
    stderr = np.where(variance >= 0, np.sqrt(np.abs(variance)), np.nan)
    if xi.size > params.size and not stderr[1] <= abs(params[1]):
        reason = (
            f"{what}: the fit leaves b undetermined (b = {params[1]:.3g} ± {stderr[1]:.2g}); "
            "the values do not follow the law"
        )
        return failed, failed, False, reason
    return params, stderr, True, ""


def gain_scaling(probe: NeuronProbe, *, span: tuple[int, int] | None = None) -> GainScaling:
    """Fit the paper's gain-scaling laws to the mean n_t and s_t of a probe.

    Parameters
    ----------
    probe : NeuronProbe
        From :func:`probe_neurons` (the paper uses the intact network).
    span : (int, int), optional
        Steps [start, stop) to average; default the second half of the drive window (after
        the adaptation transient).

    Returns
    -------
    GainScaling

    Raises
    ------
    ProbeError
        A span outside the probe's record.

    Notes
    -----
    n̄(ξ) and s̄(ξ) are means over neurons, realisations and ``span``. The laws
    n̄ = a ξ^{−b} + c (positive ξ only) and s̄ = a e^{−bξ} + c are fitted by nonlinear least
    squares (``scipy.optimize.curve_fit``, Levenberg–Marquardt, from a = first − last value,
    b = 1 (power) or 1/mean ξ (exponential), c = last value), with standard errors from the
    covariance curve_fit estimates (poorly determined with few amplitudes). Guards: no shape
    parameters (ReLU, GRU), constant values (static γ variants), fewer than 3 amplitudes, no
    convergence, non-finite parameters, or — with more amplitudes than parameters — an
    exponent b whose standard error exceeds |b| (values that do not follow the law, e.g. not
    monotonic in ξ) each give NaN parameters, ``*_ok`` False and a message.
    Cost: negligible (K points).

    References
    ----------
    Geadah et al. (2024), PLOS Comp. Biol. (gain scaling of adaptive units); REFERENCES.md §1.

    Examples
    --------
    >>> import dynan_models
    >>> from dynan.neuron_probes import probe_neurons
    >>> net = dynan_models.build(
    ...     "arun", input_size=1, hidden_size=8, output_size=10, controller_size=4
    ... )
    >>> probe = probe_neurons(net, connectivity="intact", amplitudes=(1, 2, 4, 8),
    ...                       realisations=2, steps=60, window=(20, 40), bootstrap=0)
    >>> gain_scaling(probe).n.shape
    (4,)
    """
    start, stop = probe.window
    span = (start + (stop - start) // 2, stop) if span is None else tuple(int(v) for v in span)
    if not 0 <= span[0] < span[1] <= probe.steps:
        raise ProbeError(f"span must satisfy 0 <= start < stop <= {probe.steps}, got {span}")
    n = probe.n_mean[:, span[0] : span[1]].mean(-1)
    s = probe.s_mean[:, span[0] : span[1]].mean(-1)
    xi = probe.amplitudes
    positive = xi > 0
    n_guess = (float(n[0] - n[-1]), 1.0, float(n[-1]))
    n_params, n_stderr, n_ok, n_message = _fit_law(
        power_law, xi[positive], n[positive], n_guess, "n"
    )
    s_guess = (float(s[0] - s[-1]), 1.0 / float(np.abs(xi).mean()), float(s[-1]))
    s_params, s_stderr, s_ok, s_message = _fit_law(exponential_law, xi, s, s_guess, "s")
    return GainScaling(
        amplitudes=xi,
        n=n,
        s=s,
        n_params=n_params,
        s_params=s_params,
        n_stderr=n_stderr,
        s_stderr=s_stderr,
        n_ok=n_ok,
        s_ok=s_ok,
        n_message=n_message,
        s_message=s_message,
        span=span,
        architecture=probe.architecture,
        connectivity=probe.connectivity,
        drive=probe.drive,
    )
