"""Fractional derivatives of sampled signals: Grünwald–Letnikov and spectral (i2πf)^α.

Both operators act along one axis and are vectorised over all others; the order may differ
per series (an array broadcast against the other axes), which the batched fits rely on.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike
from scipy import fft as sfft

__all__ = ["METHODS", "derivative"]

#: The fractional-derivative operators, by name (validated in one place: ``_check_method``).
METHODS = ("gl", "spectral")


def _check_method(method: str) -> str:
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(map(repr, METHODS))}, got {method!r}")
    return method


def _check_dt(dt: float) -> float:
    dt = float(dt)
    if not math.isfinite(dt) or dt <= 0:
        raise ValueError(f"dt must be a positive finite number, got {dt!r}")
    return dt


def _as_signal(x: ArrayLike, name: str, axis: int) -> np.ndarray:
    """``x`` as float64 with the time axis moved last; finite, at least 2 samples."""
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim == 0:
        raise ValueError(f"{name} must have a time axis, got a scalar")
    if not -arr.ndim <= axis < arr.ndim:
        raise ValueError(f"axis {axis} is out of range for {name} of shape {arr.shape}")
    arr = np.moveaxis(arr, axis, -1)
    if arr.shape[-1] < 2:
        raise ValueError(f"{name} needs at least 2 samples along axis {axis}, got {arr.shape}")
    if not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).sum())
        raise ValueError(f"{name} contains {bad} NaN or infinite values")
    return arr


def _as_order(alpha: ArrayLike, batch_shape: tuple[int, ...]) -> np.ndarray:
    """The order(s) as float64, broadcast-compatible with ``batch_shape`` (the non-time axes)."""
    a = np.asarray(alpha, dtype=np.float64)
    if not np.isfinite(a).all():
        raise ValueError("alpha must be finite")
    try:
        fits = np.broadcast_shapes(a.shape, batch_shape) == batch_shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(
            f"alpha of shape {a.shape} must broadcast to the signal's other axes {batch_shape}"
        )
    return a


def gl_weights(alpha: ArrayLike, length: int) -> np.ndarray:
    """Grünwald–Letnikov weights w_0..w_{length−1} of order ``alpha`` (broadcast, last axis k).

    w_0 = 1, w_k = w_{k−1} (k − 1 − α)/k: the coefficients of (1 − z)^α. Cost O(length) per
    order.
    """
    a = np.asarray(alpha, dtype=np.float64)[..., None]
    k = np.arange(1, length, dtype=np.float64)
    ratios = (k - 1 - a) / k
    ones = np.ones((*a.shape[:-1], 1))
    return np.concatenate([ones, np.cumprod(ratios, axis=-1)], axis=-1)


def _gl(x: np.ndarray, alpha: np.ndarray, dt: float) -> np.ndarray:
    steps = x.shape[-1]
    nfft = sfft.next_fast_len(2 * steps - 1, real=True)
    spectrum = sfft.rfft(x, nfft, axis=-1)
    kernel = sfft.rfft(gl_weights(alpha, steps), nfft, axis=-1)
    out = sfft.irfft(spectrum * kernel, nfft, axis=-1)[..., :steps]
    return out * dt ** (-alpha[..., None])


def spectral_symbol(alpha: ArrayLike, steps: int, dt: float) -> np.ndarray:
    """(i2πf)^α on the ``rfft`` frequencies of ``steps`` samples; DC set to 0 (any α)."""
    a = np.asarray(alpha, dtype=np.float64)[..., None]
    omega = 2 * np.pi * sfft.rfftfreq(steps, dt)
    safe = np.where(omega > 0, omega, 1.0)
    symbol = np.power(safe, a) * np.exp(0.5j * np.pi * a)
    return np.where(omega > 0, symbol, 0.0)


def _spectral(x: np.ndarray, alpha: np.ndarray, dt: float) -> np.ndarray:
    steps = x.shape[-1]
    spectrum = sfft.rfft(x, axis=-1)
    return sfft.irfft(spectrum * spectral_symbol(alpha, steps, dt), steps, axis=-1)


_OPERATORS = {"gl": _gl, "spectral": _spectral}


def derivative(
    x: ArrayLike,
    alpha: ArrayLike,
    dt: float = 1.0,
    *,
    method: str = "gl",
    axis: int = -1,
) -> np.ndarray:
    """Fractional derivative D^α of sampled signals (α < 0 integrates).

    Parameters
    ----------
    x : array_like
        Real signals sampled every ``dt`` along ``axis``; any other axes are independent series.
    alpha : float or array_like
        Order. An array broadcasts against the shape of ``x`` without ``axis`` (one order per
        series). α = 0 is the identity (``"gl"``; ``"spectral"`` also removes the mean),
        α = 1 a derivative, α = −1 an integral.
    dt : float, default 1.0
        Sampling interval.
    method : {"gl", "spectral"}
        ``"gl"``: Grünwald–Letnikov, causal, the signal taken as zero before its first sample.
        ``"spectral"``: multiplication by (i2πf)^α in the Fourier domain (the signal taken as
        periodic; the DC term is zeroed), as in Geadah et al.
    axis : int, default -1
        Time axis.

    Returns
    -------
    numpy.ndarray
        float64, the shape of ``x``.

    Raises
    ------
    ValueError
        Unknown method, non-positive ``dt``, NaN/inf in ``x`` or ``alpha``, fewer than two
        samples, or ``alpha`` not broadcastable against the series.

    Notes
    -----
    Grünwald–Letnikov: D^α x[t] ≈ dt^{−α} Σ_{k=0}^{t} w_k x[t − k] with w_0 = 1,
    w_k = w_{k−1}(k − 1 − α)/k (the series of (1 − z)^α). It is computed as a LINEAR
    convolution by FFT zero-padded to at least 2T − 1 samples, so nothing wraps around (a
    circular FFT, as in the ``differint`` package, is wrong everywhere but the last sample).
    The discrete operators compose exactly: D^a D^b = D^{a+b}. First-order accurate: on t^β
    the error at fixed t > 0 is O(dt). A non-zero value at t = 0 acts as a jump from the zero
    past and leaves a transient x(0) t^{−α}/Γ(1 − α); subtract a baseline or drop the first
    samples (``fit_fractional_order`` regresses this transient out).

    Spectral: y = IFFT[(i2πf)^α FFT[x]] with (i2πf)^α = |2πf|^α e^{iπα/2} for f > 0 (the
    real-signal half-spectrum) and 0 at f = 0. Gain (2πf)^α and phase α·90° exactly on
    periodic signals; on the Nyquist bin of an even-length signal only the real part of the
    symbol survives. A non-periodic signal wraps around (edge artefacts at both ends).

    Cost: O(T log T) time per series, O(T) memory per series (2T for GL's padding).

    References
    ----------
    Podlubny, I. (1999). Fractional Differential Equations, §2.2 (Grünwald–Letnikov).
    Geadah, V., Horoi, S., Kerg, G., Wolf, G., Lajoie, G. (2024). Neural networks with optimized
    single-neuron adaptation uncover biologically plausible regularization. PLOS Comp. Biol.
    (spectral operator, DC zeroed). REFERENCES.md §4.

    Examples
    --------
    >>> import numpy as np
    >>> from dynan.fractional import derivative
    >>> np.round(derivative(np.array([1.0, 3.0, 6.0]), 1.0), 12).tolist()  # x[-1] = 0
    [1.0, 2.0, 3.0]
    >>> np.round(derivative(np.ones(4), -1.0), 12).tolist()  # integral of 1 (sum)
    [1.0, 2.0, 3.0, 4.0]
    """
    _check_method(method)
    dt = _check_dt(dt)
    signal = _as_signal(x, "x", axis)
    order = _as_order(alpha, signal.shape[:-1])
    out = _OPERATORS[method](signal, order, dt)
    return np.moveaxis(out, -1, axis)
