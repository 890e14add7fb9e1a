"""Time-resolved (finite-time) Lyapunov exponents in windows relative to an event.

For a driven network the exponents change over time: Geadah et al. (2024) plot the maximal
exponent λ₁ against time from the onset of a drive. :func:`finite_time_lyapunov` runs the QR
method once over a whole input sequence and averages log |diag R| over consecutive windows whose
boundaries are aligned on the event step, so no window straddles the event (the
entry point for trained networks is :func:`dynan.lyapunov.network.network_finite_time_lyapunov`).

References
----------
Geadah, Horoi, Kerg, Wolf, Lajoie (2024), PLOS Comp. Biol. (λ₁ against time from drive onset).
Benettin et al. (1980), Meccanica 15; Eckmann & Ruelle (1985), Rev. Mod. Phys. 57 (finite-time
exponents as local averages of the QR log-growth). REFERENCES.md §1–2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from dynan.errors import SystemError_
from dynan.lyapunov._benettin import count, evolve, prepare, progress_bar, t_interval
from dynan.lyapunov._benettin import qr_device as qr_device_for
from dynan.results import Result

__all__ = ["FiniteTimeLyapunov", "finite_time_lyapunov"]


@dataclass(frozen=True)
class FiniteTimeLyapunov(Result):
    """Finite-time exponents in windows of ``window`` steps aligned on an event.

    Attributes
    ----------
    times : ndarray (n_windows,)
        Start of each window relative to the event, in steps (0: the window opening at it).
    exponents : ndarray (n_windows, k)
        Mean over trials of the window's exponents (column 0 is the maximal one), in ``units``.
    trial_exponents : ndarray (trials, n_windows, k)
    ci_low, ci_high : ndarray (n_windows, k)
        Student-t confidence interval over trials at ``confidence`` (NaN with one trial).
    metadata : dict
        Free-form provenance (drive, mode, checkpoint) added by callers.
    """

    times: np.ndarray
    exponents: np.ndarray
    trial_exponents: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    window: int
    event: int
    confidence: float
    units: str
    dt: float | None
    k: int
    dim: int
    n_steps: int
    tangent_transient: int
    qr_every: int
    trials: int
    seed: int
    system: str
    metadata: dict = field(default_factory=dict)

    @property
    def centers(self) -> np.ndarray:
        """Window centres relative to the event, in steps."""
        return self.times + self.window / 2


def finite_time_lyapunov(
    system: Any,
    *,
    event: int,
    window: int,
    n_steps: int | None = None,
    inputs: Tensor | np.ndarray | None = None,
    k: int = 1,
    tangent_transient: int | None = None,
    qr_every: int = 1,
    trials: int | None = None,
    seed: int = 0,
    h0: Tensor | np.ndarray | None = None,
    dt: float | None = None,
    confidence: float = 0.95,
    progress: bool = True,
    qr_device: str = "auto",
) -> FiniteTimeLyapunov:
    """Finite-time top-k exponents in consecutive windows aligned on an event step.

    Parameters
    ----------
    system
        A :class:`~dynan.system.DynamicalSystem` or anything :func:`dynan.as_system` accepts.
    event : int
        Step index of the event (e.g. drive onset) in the input sequence; a window boundary.
    window : int
        Window length in steps (a multiple of ``qr_every``).
    n_steps : int, optional
        Total steps run from the start; default the length T of ``inputs``.
    inputs : tensor (B, T, input_dim), optional
        Input sequence (as for :func:`~dynan.lyapunov.lyapunov_spectrum`).
    k : int
        Number of exponents per window (1: the maximal exponent).
    tangent_transient : int, optional
        Steps the tangents run before the first window may open; default ``window``. The state
        runs from step 0 (its start is part of the experiment, e.g. a sequence's zero state).
    qr_every, trials, seed, h0, dt, confidence, progress, qr_device
        As in :func:`~dynan.lyapunov.lyapunov_spectrum` (the run follows ``system.device``).

    Returns
    -------
    FiniteTimeLyapunov
        Windows [event + j·window, event + (j+1)·window) for every j with the window inside
        [first start ≥ tangent_transient, n_steps).

    Raises
    ------
    SystemError_
        Bad arguments or shapes, no complete window, a non-finite state (naming the step).

    Notes
    -----
    The QR method of REFERENCES.md §2, with the log-growth Σ log |R_ii| summed per window
    instead of over the whole run: λ_i(window) = Σ_window log |R_ii| / window, natural log (per
    unit time with ``dt``). The mean of all windows equals the spectrum over their span.
    Cost: n_steps × (one step and a k-column Jacobian product + a QR every ``qr_every`` steps)
    time; O(B dim k) memory plus O(B k) per window.

    References
    ----------
    Geadah et al. (2024), PLOS Comp. Biol.; Benettin et al. (1980), Meccanica 15.

    Examples
    --------
    >>> import torch
    >>> from dynan.system import CallableSystem
    >>> system = CallableSystem(lambda x, u: u * x, dim=1, input_dim=1)
    >>> gain = torch.cat([torch.full((1, 40, 1), 0.5), torch.full((1, 40, 1), 2.0)], 1)
    >>> result = finite_time_lyapunov(system, inputs=gain, event=40, window=10, progress=False)
    >>> result.times.tolist(), result.exponents[:, 0].round(3).tolist()
    ([-30, -20, -10, 0, 10, 20, 30], [-0.693, -0.693, -0.693, 0.693, 0.693, 0.693, 0.693])
    """
    if n_steps is None:
        if inputs is None or np.ndim(inputs) != 3:
            raise SystemError_("give n_steps, or inputs of shape (batch, T, input_dim)")
        n_steps = int(inputs.shape[1])
    n_steps = count("n_steps", n_steps, minimum=1)
    setup = prepare(
        system, k=k, inputs=inputs, trials=trials, seed=seed, h0=h0, dt=dt, steps=n_steps
    )
    system = setup.system
    qr_every = count("qr_every", qr_every, minimum=1)
    qr_on = qr_device_for(qr_device, system.device, setup.k)
    window = count("window", window, minimum=1)
    if window % qr_every:
        raise SystemError_(f"window ({window}) must be a multiple of qr_every ({qr_every})")
    event = count("event", event)
    if event > n_steps:
        raise SystemError_(f"event (step {event}) lies after the last step ({n_steps})")
    tangent_transient = count(
        "tangent_transient", window if tangent_transient is None else tangent_transient
    )
    if not 0 < confidence < 1:
        raise SystemError_(f"confidence must lie in (0, 1), got {confidence!r}")
    first = event + math.ceil((tangent_transient - event) / window) * window
    n_windows = (n_steps - first) // window
    if n_windows < 1:
        raise SystemError_(
            f"no complete window of {window} steps between the tangent transient "
            f"({tangent_transient}) and the last step ({n_steps}) aligned on event {event}"
        )
    sums: list[Tensor] = []
    with (
        torch.no_grad(),
        progress_bar(first + n_windows * window, f"ftle {system.name}", progress) as bar,
    ):
        x, tangents = evolve(
            system, setup.x, setup.tangents, setup.inputs, start=0, steps=first,
            qr_every=qr_every, bar=bar, qr_on=qr_on,
        )  # fmt: skip
        evolve(
            system, x, tangents, setup.inputs, start=first, steps=n_windows * window,
            qr_every=qr_every, block=window, on_block=lambda _, s: sums.append(s), bar=bar,
            qr_on=qr_on,
        )  # fmt: skip
    scale = 1.0 if setup.dt is None else setup.dt
    trial_exponents = torch.stack(sums, 1).cpu().numpy() / (window * scale)
    low, high = t_interval(trial_exponents, confidence=confidence)
    return FiniteTimeLyapunov(
        times=first - event + window * np.arange(n_windows, dtype=np.int64),
        exponents=trial_exponents.mean(axis=0),
        trial_exponents=trial_exponents,
        ci_low=low,
        ci_high=high,
        window=window,
        event=event,
        confidence=float(confidence),
        units="nats/step" if setup.dt is None else "nats/time",
        dt=setup.dt,
        k=setup.k,
        dim=system.dim,
        n_steps=n_steps,
        tangent_transient=tangent_transient,
        qr_every=qr_every,
        trials=setup.trials,
        seed=seed,
        system=system.name,
    )
