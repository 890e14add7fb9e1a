"""Frequency response from sinusoidal probes: is a filter a pure fractional derivative?

A fractional derivative of order α has the transfer function (i2πf)^α: its gain grows as
(2πf)^α and its phase is the constant α·90°. From responses to sinusoids of several
frequencies, α can be read from either, and only a pure fractional operator makes them agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from dynan.fractional._derivative import _as_signal, _check_dt
from dynan.results import Result

__all__ = ["FrequencyResponse", "frequency_response"]

_CONVENTION = (
    "response ≈ gain·D^α[stimulus] (Lundstrom et al. 2008): gain ∝ (2πf)^α, phase = α·90°; "
    "fit_fractional_order(target='stimulus') (Geadah et al.) gives −α for a pure operator"
)


@dataclass(frozen=True)
class FrequencyResponse(Result):
    """Gain and phase per probe frequency, and the two estimates of α.

    Attributes
    ----------
    frequencies : ndarray (F,)
        Probe frequencies (cycles per unit time).
    gain : ndarray (F, ...)
        |H(f)|, the response amplitude over the stimulus amplitude.
    phase : ndarray (F, ...)
        arg H(f) in radians, in (−π, π], after removing ``sign`` (a negative gain, e.g. an
        inhibitory input weight, is a sign, not a 180° phase).
    sign : ndarray (...)
        ±1, the sign of the real gain that best matches a fractional operator.
    alpha_gain : ndarray (...)
        Least-squares slope of log gain against log 2πf.
    alpha_phase : ndarray (...)
        Mean phase divided by 90°.
    deviation : ndarray (...)
        max over frequencies of |phase/90° − alpha_gain|: how far the measured phase strays
        from what the gain slope predicts for a pure fractional operator.
    agree : ndarray (...) of bool
        ``deviation <= tolerance``.
    tolerance, dt, discard
        Parameters of the analysis.
    convention : str
        Sign convention of α.
    """

    frequencies: np.ndarray
    gain: np.ndarray
    phase: np.ndarray
    sign: np.ndarray
    alpha_gain: np.ndarray
    alpha_phase: np.ndarray
    deviation: np.ndarray
    agree: np.ndarray
    tolerance: float
    dt: float
    discard: int
    convention: str = _CONVENTION


def _phasors(signal: np.ndarray, frequencies: np.ndarray, dt: float, discard: int) -> np.ndarray:
    """Least-squares complex amplitude a − ib of y ≈ a cos ωt + b sin ωt + c, per frequency.

    signal (F, S, T) → (F, S). The 3-column design is the same for every series of one
    frequency, so its pseudo-inverse is computed once: O(F (S + 1) T) time.
    """
    t = np.arange(discard, signal.shape[-1]) * dt
    out = np.empty(signal.shape[:2], dtype=np.complex128)
    for k, f in enumerate(frequencies):
        omega = 2 * np.pi * f
        design = np.stack([np.cos(omega * t), np.sin(omega * t), np.ones_like(t)], axis=1)
        coef = signal[k, :, discard:] @ np.linalg.pinv(design).T  # (S, 3)
        out[k] = coef[:, 0] - 1j * coef[:, 1]
    return out


def _check_frequencies(frequencies: ArrayLike, dt: float, kept: int) -> np.ndarray:
    f = np.asarray(frequencies, dtype=np.float64)
    if f.ndim != 1 or f.size < 2:
        raise ValueError(
            f"frequencies must be a 1-D array of at least 2 values, got shape {f.shape}"
        )
    nyquist = 0.5 / dt
    if not np.isfinite(f).all() or (f <= 0).any() or (f >= nyquist).any():
        raise ValueError(
            f"frequencies must lie in (0, {nyquist}) (the Nyquist frequency), got {f}"
        )
    if np.unique(f).size != f.size:
        raise ValueError(f"frequencies must be distinct, got {f}")
    if kept * dt * f.min() < 1:
        raise ValueError(
            f"the record after discard ({kept} samples) holds less than one period of the "
            f"lowest frequency {f.min()}"
        )
    return f


def frequency_response(
    response: ArrayLike,
    stimulus: ArrayLike,
    frequencies: ArrayLike,
    dt: float = 1.0,
    *,
    discard: int = 0,
    tolerance: float = 0.1,
) -> FrequencyResponse:
    """Gain and phase from sinusoidal probes; α from the gain slope and from the phase.

    Parameters
    ----------
    response : array_like (F, ..., T)
        Responses; row k answered a sinusoid of frequency ``frequencies[k]``. Other leading
        axes are independent series (e.g. neurons).
    stimulus : array_like (F, T) or (F, ..., T)
        The sinusoidal stimuli (any amplitude, phase and offset); (F, T) is shared by all
        series.
    frequencies : array_like (F,)
        Probe frequencies in cycles per unit time, distinct, in (0, 1/(2 dt)).
    dt : float, default 1.0
        Sampling interval.
    discard : int, default 0
        Initial samples to drop (onset transients).
    tolerance : float, default 0.1
        Largest |phase/90° − alpha_gain| (in units of α) for which the response counts as a
        pure fractional derivative.

    Returns
    -------
    FrequencyResponse

    Raises
    ------
    ValueError
        Shapes that do not match the frequencies, NaN/inf values, frequencies outside
        (0, Nyquist) or repeated, fewer than one period of the lowest frequency after
        ``discard``, or a stimulus with no component at a probe frequency.

    Notes
    -----
    At each frequency the response and the stimulus are fitted by least squares with
    a cos ωt + b sin ωt + c (ω = 2πf) over the kept samples; the transfer function is the
    ratio of their complex amplitudes, H = (a_r − i b_r)/(a_s − i b_s). For a fractional
    derivative of order α, |H| = (2πf)^α and arg H = α·π/2 at every f, so
    α_gain is the least-squares slope of log|H| on log 2πf and α_phase the mean phase over
    π/2. Any other filter can mimic a fractional one near a single frequency (a first-order
    low-pass at its corner has slope −½ and phase −45°), hence the test is that the phase at
    EVERY probed frequency matches the slope: ``deviation <= tolerance``. A negative real gain
    is taken as a sign (``sign`` = −1), chosen to minimise the deviation. Phases are assumed
    within ±180° (|α| < 2).

    Cost: O(F S T) time and O(F S) memory for S series.

    References
    ----------
    Lundstrom, B. N., Higgs, M. H., Spain, W. J., Fairhall, A. L. (2008). Fractional
    differentiation by neocortical pyramidal neurons. Nat. Neurosci. 11, 1335–1342 (gain
    slope and constant phase lead of sinusoidal responses). REFERENCES.md §4.

    Examples
    --------
    >>> import numpy as np
    >>> from dynan.fractional import derivative, frequency_response
    >>> f = np.array([4, 8, 16, 32]) / 512
    >>> stim = np.sin(2 * np.pi * f[:, None] * np.arange(512))
    >>> resp = derivative(stim, 0.5, method="spectral")
    >>> fr = frequency_response(resp, stim, f)
    >>> round(float(fr.alpha_gain), 6), round(float(fr.alpha_phase), 6), bool(fr.agree)
    (0.5, 0.5, True)
    """
    dt = _check_dt(dt)
    if not math.isfinite(tolerance) or tolerance <= 0:
        raise ValueError(f"tolerance must be a positive number, got {tolerance}")
    resp = _as_signal(response, "response", -1)
    stim = _as_signal(stimulus, "stimulus", -1)
    if resp.ndim < 2:
        raise ValueError(
            f"response must be (F, ..., T) with one row per frequency, got {resp.shape}"
        )
    steps = resp.shape[-1]
    if stim.shape[-1] != steps:
        raise ValueError(
            f"response and stimulus must have the same length: {steps} and "
            f"{stim.shape[-1]} samples"
        )
    if not isinstance(discard, int | np.integer) or not 0 <= discard <= steps - 4:
        raise ValueError(f"discard must be an integer in [0, {steps - 4}], got {discard!r}")
    f = _check_frequencies(frequencies, dt, steps - discard)
    if resp.shape[0] != f.size:
        raise ValueError(
            f"response has {resp.shape[0]} rows along axis 0 but {f.size} frequencies were given"
        )
    if stim.ndim == 2 and resp.ndim > 2:
        stim = stim.reshape(stim.shape[0], *([1] * (resp.ndim - 2)), steps)
    try:
        stim = np.broadcast_to(stim, resp.shape)
    except ValueError as err:
        raise ValueError(
            f"stimulus of shape {stim.shape} does not match the response's {resp.shape}"
        ) from err
    batch = resp.shape[1:-1]
    p_resp = _phasors(resp.reshape(f.size, -1, steps), f, dt, discard)
    p_stim = _phasors(stim.reshape(f.size, -1, steps), f, dt, discard)
    amplitude = np.abs(p_stim)
    weak = amplitude <= 1e-12 * np.maximum(1.0, np.abs(stim).max())
    if weak.any():
        k = int(np.argwhere(weak)[0, 0])
        raise ValueError(f"the stimulus has no component at frequency {f[k]} (row {k})")
    transfer = p_resp / p_stim
    gain = np.abs(transfer)
    if (gain <= 0).any():
        raise ValueError("a response has no component at its probe frequency: gain is 0")
    log_omega = np.log(2 * np.pi * f)
    centred = log_omega - log_omega.mean()
    alpha_gain = centred @ np.log(gain) / (centred @ centred)
    half_pi = np.pi / 2
    candidates = []
    for sign in (1.0, -1.0):
        phase = np.angle(sign * transfer)
        deviation = np.abs(phase / half_pi - alpha_gain).max(axis=0)
        candidates.append((sign, phase, deviation))
    flip = candidates[1][2] < candidates[0][2]
    phase = np.where(flip, candidates[1][1], candidates[0][1])
    deviation = np.where(flip, candidates[1][2], candidates[0][2])
    return FrequencyResponse(
        frequencies=f,
        gain=gain.reshape((f.size, *batch)),
        phase=phase.reshape((f.size, *batch)),
        sign=np.where(flip, -1.0, 1.0).reshape(batch),
        alpha_gain=alpha_gain.reshape(batch),
        alpha_phase=(phase.mean(axis=0) / half_pi).reshape(batch),
        deviation=deviation.reshape(batch),
        agree=(deviation <= tolerance).reshape(batch),
        tolerance=float(tolerance),
        dt=dt,
        discard=int(discard),
    )
