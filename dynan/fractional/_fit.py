"""Fitting a fractional order: the α whose derivative best maps one signal onto another.

The loss for one α is linear least squares (gain, offset and, for Grünwald–Letnikov, the
baseline transient), so the search over α is one-dimensional: a grid over the bounds refined by
a parabola through the three best points. Every series is fitted at once; noise realisations
are pooled, and resampled for a bootstrap confidence interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from dynan.fractional._derivative import _as_signal, _check_dt, _check_method, derivative
from dynan.fractional._search import (
    COMBINE,
    TINY,
    baseline_scale,
    bootstrap_alpha,
    grid_moments,
    refine,
    solve,
    solve_at,
    transient_trace,
    vertex,
)
from dynan.results import Result

__all__ = ["CONVENTIONS", "FractionalFit", "fit_fractional_order"]

#: What ``target`` means: which signal is the fractional derivative of which.
CONVENTIONS = {
    "stimulus": (
        "stimulus ≈ gain·D^α[response] + offset (Geadah et al. 2024): α < 0 when the neuron "
        "differentiates its input (adaptation), α > 0 when it integrates it"
    ),
    "response": (
        "response ≈ gain·D^α[stimulus] + offset (Lundstrom et al. 2008): α > 0 when the neuron "
        "differentiates its input (adaptation), α < 0 when it integrates it"
    ),
}


@dataclass(frozen=True)
class FractionalFit(Result):
    """Fractional order per series, with its linear coefficients and uncertainty.

    Attributes
    ----------
    alpha : ndarray (...)
        Fitted order per series (the response's shape without time and realisation axes);
        NaN where the series cannot be fitted (``valid`` False).
    gain, offset : ndarray (...)
        Linear coefficients: target ≈ gain·D^α[source] + transient·θ_α + offset.
    transient : ndarray (...)
        Coefficient of θ_α = (ζ_α − 1)/α, where ζ_α is the trace a unit baseline leaves in a
        Grünwald–Letnikov derivative, D^α[1] ∝ t^{−α}/Γ(1 − α), scaled to 1 at the first
        fitted sample (so that it stays defined at integer α). With the offset, θ_α spans
        what ζ_α does, and it stays a regressor at α = 0 (θ_0 = −Σ_{start<j≤k} 1/j ≈
        −log t), where ζ_α is constant: the model and its loss are continuous in α. A baseline
        b of the source is cancelled by transient = −gain·b·α·D^α[1](start) (and
        −gain·b·D^α[1](start) in the offset). 0 for the spectral method, whose DC term is
        zeroed.
    residual : ndarray (...)
        Relative residual 1 − R² at ``alpha`` over the fit range (0 is a perfect fit).
    ci : ndarray (..., 2)
        Bootstrap percentile interval of α over noise realisations (NaN without
        realisations or with ``bootstrap=0``).
    valid : ndarray (...) of bool
        False where the source (or target) is constant: no order can be defined.
    at_bound : ndarray (...) of bool
        The best α lies on a bound: the true minimum may lie outside ``bounds``.
    target : {"stimulus", "response"}
        Which signal is matched (see ``convention``).
    convention : str
        The model in words, with the meaning of the sign of α.
    method, dt, bounds, fit_range, resolution, realisations, combine, bootstrap, confidence
        The parameters that produced the fit.
    """

    alpha: np.ndarray
    gain: np.ndarray
    offset: np.ndarray
    transient: np.ndarray
    residual: np.ndarray
    ci: np.ndarray
    valid: np.ndarray
    at_bound: np.ndarray
    target: str
    convention: str
    method: str
    dt: float
    bounds: tuple[float, float]
    fit_range: tuple[int, int]
    resolution: float
    realisations: int
    combine: str
    bootstrap: int
    confidence: float

    def predict(self, response: ArrayLike, stimulus: ArrayLike) -> np.ndarray:
        """The fitted target, gain·D^α[source] + transient·θ_α + offset, for each series.

        ``response`` and ``stimulus`` are (..., T) series broadcasting against ``alpha``
        (e.g. one realisation, or the mean over realisations); NaN where ``valid`` is False.
        """
        source = response if self.target == "stimulus" else stimulus
        x = _as_signal(source, "source", -1)
        alpha = np.where(self.valid, self.alpha, 0.0)
        shape = np.broadcast_shapes(x.shape[:-1], alpha.shape)
        x = np.broadcast_to(x, (*shape, x.shape[-1]))
        alpha = np.broadcast_to(alpha, shape)
        out = self.gain[..., None] * derivative(x, alpha, self.dt, method=self.method)
        if self.method == "gl":
            trace = transient_trace(alpha, x.shape[-1], self.fit_range[0])
            with np.errstate(invalid="ignore"):
                out = out + self.transient[..., None] * trace
        out = out + self.offset[..., None]
        return np.where(self.valid[..., None] & np.isfinite(out), out, np.nan)


# -- validation ------------------------------------------------------------------------------


def check_fit_options(
    target: str, bounds: tuple[float, float], resolution: float, bootstrap: int, confidence: float
) -> tuple[float, float]:
    if target not in CONVENTIONS:
        raise ValueError(
            f"target must be one of {', '.join(map(repr, CONVENTIONS))}, got {target!r}"
        )
    try:
        lo, hi = (float(b) for b in bounds)
    except (TypeError, ValueError) as err:
        raise ValueError(f"bounds must be a pair (low, high) of numbers, got {bounds!r}") from err
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
        raise ValueError(f"bounds must be finite with low < high, got ({lo}, {hi})")
    if not (math.isfinite(resolution) and 0 < resolution <= hi - lo):
        raise ValueError(
            f"resolution must be in (0, {hi - lo}] (the bounds' width), got {resolution}"
        )
    if not isinstance(bootstrap, int | np.integer) or bootstrap < 0:
        raise ValueError(f"bootstrap must be a non-negative integer, got {bootstrap!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return lo, hi


def _prepare(
    response: ArrayLike, stimulus: ArrayLike, realisation_axis: int | None
) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """(response, stimulus) as float64 (R, M, T) and the batch shape of the result."""
    resp = _as_signal(response, "response", -1)
    stim = _as_signal(stimulus, "stimulus", -1)
    if resp.shape[-1] != stim.shape[-1]:
        raise ValueError(
            f"response and stimulus must have the same length: response has {resp.shape[-1]} "
            f"samples (shape {resp.shape}), stimulus {stim.shape[-1]} (shape {stim.shape})"
        )
    try:
        stim = np.broadcast_to(stim, resp.shape)
    except ValueError as err:
        raise ValueError(
            f"stimulus of shape {stim.shape} does not broadcast to the response's {resp.shape}"
        ) from err
    if realisation_axis is None:
        resp, stim = resp[None], stim[None]
    else:
        lead = resp.ndim - 1
        if not -lead <= realisation_axis < lead:
            raise ValueError(
                f"realisation_axis {realisation_axis} must index a non-time axis of the "
                f"response, shape {resp.shape}"
            )
        axis = realisation_axis % lead
        resp, stim = np.moveaxis(resp, axis, 0), np.moveaxis(stim, axis, 0)
    batch = resp.shape[1:-1]
    steps = resp.shape[-1]
    return resp.reshape(resp.shape[0], -1, steps), stim.reshape(stim.shape[0], -1, steps), batch


def _check_range(fit_range: tuple[int, int] | None, steps: int) -> tuple[int, int]:
    if fit_range is None:
        return 0, steps
    start, stop = (int(v) for v in fit_range)
    if not 0 <= start < stop <= steps or stop - start < 4:
        raise ValueError(
            f"fit_range must satisfy 0 <= start < stop <= {steps} with at least 4 samples, "
            f"got {fit_range}"
        )
    return start, stop


def _varies(x: np.ndarray) -> np.ndarray:
    """Whether each series (last axis) is not constant, relative to its magnitude."""
    spread = np.ptp(x, axis=-1)
    return spread > TINY * np.maximum(1.0, np.abs(x).max(axis=-1))


def fit_fractional_order(
    response: ArrayLike,
    stimulus: ArrayLike,
    dt: float = 1.0,
    *,
    method: str = "gl",
    bounds: tuple[float, float] = (-1.0, 1.0),
    target: str = "stimulus",
    realisation_axis: int | None = None,
    combine: str = "mean",
    fit_range: tuple[int, int] | None = None,
    resolution: float = 0.05,
    bootstrap: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
) -> FractionalFit:
    """Fit the fractional order α linking a stimulus and a response, for many series at once.

    Parameters
    ----------
    response : array_like (..., T)
        Responses, time last. Leading axes are independent series (neurons, drive levels…);
        ``realisation_axis`` may name one of them as noise realisations of the same series.
    stimulus : array_like (..., T)
        Stimuli, broadcasting to the response's shape (e.g. one (T,) stimulus for all).
    dt : float, default 1.0
        Sampling interval.
    method : {"gl", "spectral"}
        Operator of :func:`derivative`.
    bounds : (float, float), default (-1, 1)
        Search interval for α (low < high).
    target : {"stimulus", "response"}
        ``"stimulus"`` (Geadah et al.): find α such that gain·D^α[response] + offset matches
        the stimulus — α < 0 for a neuron that differentiates its input. ``"response"``
        (Lundstrom et al.): gain·D^α[stimulus] + offset matches the response — α > 0 for a
        neuron that differentiates its input. The two are negatives of each other for a pure
        fractional operator; the result states its convention.
    realisation_axis : int or None
        Axis of the response holding independent noise realisations of the same series; they
        are combined (``combine``) and resampled for the bootstrap interval.
    combine : {"mean", "stack"}, default "mean"
        ``"mean"``: fit the average over realisations of response and stimulus (the paper
        averages responses before differentiating; with ``target="stimulus"`` the response
        noise enters the regressor D^α[response], and averaging shrinks the bias this
        errors-in-variables noise causes). ``"stack"``: lay the realisations end to end as one
        record sharing α, gain and offset — for stimuli that differ between realisations
        (e.g. noise drives), whose average would cancel.
    fit_range : (int, int) or None
        Samples [start, stop) entering the loss (e.g. to drop an onset transient); the
        derivative itself always uses the whole record. Default: all samples.
    resolution : float, default 0.05
        Grid step of the search over α before the parabolic refinements.
    bootstrap : int, default 200
        Number of bootstrap resamples of the realisations (0: no interval).
    confidence : float, default 0.95
        Coverage of the percentile interval.
    seed : int, default 0
        Seed of the bootstrap resampling.

    Returns
    -------
    FractionalFit
        α, gain, offset, transient coefficient, relative residual, interval, validity flags and
        the parameters; arrays of the response's shape without time and realisation axes.

    Raises
    ------
    ValueError
        Lengths or shapes that do not match, NaN/inf values, a stimulus that is constant over
        the fit range, reversed or non-finite bounds, an unknown method or target, a fit range
        outside the record.

    Notes
    -----
    For each α the best (gain, offset) — and for Grünwald–Letnikov the coefficient of the
    baseline transient D^α[1] = t^{−α}/Γ(1 − α), so that a response's non-zero baseline leaves
    no trace (as the regressor (D^α[1] − D^α[1](start))/α, which keeps the loss continuous
    through α = 0) — is the linear least-squares solution for the combined record, computed in
    closed form from per-realisation sums (partial covariances; Gram matrices over pairs of
    realisations for ``"mean"``). The loss, 1 − R² over ``fit_range``,
    is evaluated on a grid of step ``resolution`` over ``bounds``; the best grid point is
    refined by the vertex of the parabola through it and its neighbours, then polished by a
    second parabola through exact losses at ±``resolution``/4 around it (so a coarse grid
    still gives an accurate α); a minimum on a bound is flagged in ``at_bound``. The
    bootstrap draws realisations with replacement and reuses the per-realisation sums, so
    each resample costs O(G M R) rather than new derivatives (grid and first parabola only,
    shifted by the polish of the full-sample estimate).
    A constant response (a silent neuron) gives ``valid`` False and NaN values rather than an
    error; a constant stimulus is an error.

    Cost: G = (high − low)/resolution + 4 orders, S = R·M series of T samples:
    O(G S T log T) time for the derivatives (+ O(G R S T) for the ``"mean"`` Gram sums),
    O(B G M R²) (``"stack"``: O(B G M R)) for B bootstrap resamples; memory O(G S R) for the
    sums plus blocks of ~2·10⁶ numbers.

    References
    ----------
    Geadah, V. et al. (2024). Neural networks with optimized single-neuron adaptation uncover
    biologically plausible regularization. PLOS Comp. Biol. (α minimising the error between
    D^α h and the step).
    Lundstrom, B. N., Higgs, M. H., Spain, W. J., Fairhall, A. L. (2008). Fractional
    differentiation by neocortical pyramidal neurons. Nat. Neurosci. 11, 1335–1342 (α ≈ 0.15).
    Efron, B., Tibshirani, R. (1993). An Introduction to the Bootstrap (percentile interval).

    Examples
    --------
    >>> import numpy as np
    >>> from dynan.fractional import derivative, fit_fractional_order
    >>> rng = np.random.default_rng(0)
    >>> stimulus = rng.normal(size=400)
    >>> response = 2.0 * derivative(stimulus, -0.3) + 1.0  # integrates: α = +0.3 (paper)
    >>> fit = fit_fractional_order(response, stimulus, bootstrap=0)
    >>> round(float(fit.alpha), 3), round(float(fit.gain), 3)
    (0.3, 0.5)
    """
    _check_method(method)
    dt = _check_dt(dt)
    lo, hi = check_fit_options(target, bounds, resolution, bootstrap, confidence)
    if combine not in COMBINE:
        raise ValueError(
            f"combine must be one of {', '.join(map(repr, COMBINE))}, got {combine!r}"
        )
    mean = combine == "mean"
    resp, stim, batch = _prepare(response, stimulus, realisation_axis)
    realisations, steps = resp.shape[0], resp.shape[-1]
    start, stop = _check_range(fit_range, steps)

    def varies(x: np.ndarray, window: slice = slice(None)) -> np.ndarray:
        """Per series (M,): the combined record is not constant over ``window``."""
        return _varies(x.mean(0)[..., window]) if mean else _varies(x[..., window]).any(0)

    if not varies(stim, slice(start, stop)).all():
        raise ValueError(
            f"the stimulus is constant over samples [{start}, {stop}) for some series: "
            "no fractional order links a constant stimulus to a response"
        )
    source, y = (resp, stim) if target == "stimulus" else (stim, resp)
    valid = varies(source) & varies(y, slice(start, stop))
    source_mean = source.mean(axis=(0, 2))
    target_mean = y[..., start:stop].mean(axis=(0, 2))
    source = source - source_mean[:, None]
    y = y - target_mean[:, None]

    grid = np.linspace(lo, hi, max(3, math.ceil((hi - lo) / resolution - 1e-9) + 1))
    at = {"method": method, "dt": dt, "window": (start, stop), "mean": mean}
    moments = grid_moments(source, y, grid, **at)
    loss = solve(moments, np.ones((1, realisations)))["loss"][0].T  # (M, G)
    alpha, at_bound = refine(loss, grid)
    on_grid = alpha
    alpha = np.where(valid, alpha, np.nan)

    # polish: a second parabola through exact losses at α ± step/4, then the coefficients
    at.update(source=source, y=y)
    order = np.where(valid, alpha, 0.0)
    delta = 0.25 * (grid[1] - grid[0])
    centre = solve_at(order, **at)
    if not at_bound.all():
        lm, lp = (solve_at(np.clip(order + d, lo, hi), **at)["loss"] for d in (-delta, delta))
        polished = order + vertex(lm, centre["loss"], lp) * delta
        order = np.where(at_bound, order, polished)
        alpha = np.where(valid, order, np.nan)
        centre = solve_at(order, **at)
    gain, transient = centre["gain"], centre["transient"]
    offset = centre["offset"] + target_mean
    if method == "gl":  # D^α[s − s̄] = D^α[s] − s̄ D^α[1], D^α[1] = scale·(1 + α θ_α)
        shift = gain * source_mean * baseline_scale(order, start, dt)
        transient = transient - shift * order
        offset = offset - shift

    ci = np.full((alpha.size, 2), np.nan)
    if bootstrap > 0 and realisations > 1:
        draws = bootstrap_alpha(moments, grid, realisations, bootstrap, seed)[:, valid]
        tail = 100 * (1 - confidence) / 2
        polish = (alpha - on_grid)[valid]  # resamples use the grid parabola: same shift
        ci[valid] = np.percentile(draws, [tail, 100 - tail], axis=0).T + polish[:, None]

    def shaped(a: np.ndarray) -> np.ndarray:
        return np.where(valid, a, np.nan).reshape(batch)

    return FractionalFit(
        alpha=alpha.reshape(batch),
        gain=shaped(gain),
        offset=shaped(offset),
        transient=shaped(transient),
        residual=shaped(centre["loss"]),
        ci=ci.reshape((*batch, 2)),
        valid=valid.reshape(batch),
        at_bound=(at_bound & valid).reshape(batch),
        target=target,
        convention=CONVENTIONS[target],
        method=method,
        dt=dt,
        bounds=(lo, hi),
        fit_range=(start, stop),
        resolution=float(resolution),
        realisations=realisations,
        combine=combine,
        bootstrap=int(bootstrap) if realisations > 1 else 0,
        confidence=float(confidence),
    )
