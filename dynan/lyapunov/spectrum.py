"""Lyapunov spectra by the QR (Benettin) method: :func:`lyapunov_spectrum`, the
:class:`LyapunovSpectrum` record and the Kaplan–Yorke dimension. The stepping kernel lives in
:mod:`dynan.lyapunov._benettin` (shared with :mod:`dynan.lyapunov.finite_time`); the entry
points for trained networks in :mod:`dynan.lyapunov.network`.

References: Benettin, Galgani, Giorgilli, Strelcyn (1980), Meccanica 15; Eckmann & Ruelle
(1985), Rev. Mod. Phys. 57; Kaplan & Yorke (1979); REFERENCES.md §2.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from dynan.errors import SystemError_
from dynan.lyapunov._benettin import (
    RECORDS,
    count,
    evolve,
    prepare,
    progress_bar,
    t_interval,
)
from dynan.lyapunov._benettin import qr_device as qr_device_for
from dynan.results import Result

__all__ = [
    "LyapunovSpectrum",
    "kaplan_yorke_dimension",
    "lyapunov_spectrum",
]


@dataclass(frozen=True)
class LyapunovSpectrum(Result):
    """The top-k Lyapunov exponents of a system, per trial and averaged.

    Attributes
    ----------
    exponents : ndarray (k,)
        Mean over trials, in QR column order (descending up to finite-time noise), in ``units``.
    trial_exponents : ndarray (trials, k)
        One estimate per trial (independent start, tangent basis and input sequence).
    ci_low, ci_high : ndarray (k,)
        Two-sided Student-t confidence interval of the mean over trials at ``confidence``;
        NaN with a single trial.
    running : ndarray (n_records, trials, k)
        Running estimate (cumulative log-growth / elapsed steps, in ``units``) for
        convergence plots, recorded after ``running_steps`` measured steps.
    running_steps : ndarray (n_records,)
    units : str
        ``"nats/step"`` or ``"nats/time"`` (natural log; divided by ``dt`` for flows).
    metadata : dict
        Free-form provenance (checkpoint, mode, drive) added by callers such as the CLI.
    """

    exponents: np.ndarray
    trial_exponents: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    running: np.ndarray
    running_steps: np.ndarray
    confidence: float
    units: str
    dt: float | None
    k: int
    dim: int
    n_steps: int
    transient: int
    tangent_transient: int
    qr_every: int
    trials: int
    seed: int
    system: str
    metadata: dict = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """Whether the whole spectrum (k == dim) was computed."""
        return self.k == self.dim

    @property
    def kaplan_yorke(self) -> float:
        """Kaplan–Yorke dimension of :attr:`exponents` (see :func:`kaplan_yorke_dimension`)."""
        return kaplan_yorke_dimension(self.exponents, complete=self.complete)

    @property
    def entropy_rate(self) -> float:
        """Sum of the positive exponents (Pesin's upper bound on the KS entropy), in ``units``."""
        positive = self.exponents[self.exponents > 0]
        return float(positive.sum()) if positive.size else 0.0


def kaplan_yorke_dimension(exponents: np.ndarray | list[float], *, complete: bool = True) -> float:
    """Kaplan–Yorke (Lyapunov) dimension of a spectrum.

    Parameters
    ----------
    exponents : array-like (k,)
        Lyapunov exponents; sorted into descending order here.
    complete : bool
        Whether ``exponents`` is the whole spectrum. If not and every partial sum is ≥ 0, the
        dimension is not determined by the exponents given and NaN is returned.

    Returns
    -------
    float
        D_KY = j + (λ₁ + … + λ_j) / |λ_{j+1}|, j the largest index with λ₁ + … + λ_j ≥ 0;
        0 when λ₁ < 0; k when the whole spectrum sums to ≥ 0.

    Raises
    ------
    ValueError
        If ``exponents`` is empty, not one-dimensional, or contains NaN.

    Notes
    -----
    By construction λ_{j+1} < 0 (else j would be larger), so the division never meets zero.
    Cost O(k log k).

    References
    ----------
    J. L. Kaplan, J. A. Yorke (1979). Chaotic behavior of multidimensional difference
    equations. Lecture Notes in Mathematics 730. REFERENCES.md §2.

    Examples
    --------
    >>> round(kaplan_yorke_dimension([0.9056, 0.0, -14.5723]), 4)
    2.0621
    """
    lam = np.sort(np.asarray(exponents, dtype=np.float64))[::-1]
    if lam.ndim != 1 or lam.size == 0:
        raise ValueError(f"exponents must be a non-empty 1-d array, got shape {lam.shape}")
    if np.isnan(lam).any():
        raise ValueError("exponents contain NaN")
    with np.errstate(invalid="ignore"):
        partial = np.cumsum(lam)
    nonneg = np.flatnonzero(partial >= 0)
    if nonneg.size == 0:
        return 0.0
    j = int(nonneg[-1]) + 1
    if j == lam.size:
        return float(j) if complete else math.nan
    return j + float(partial[j - 1]) / abs(float(lam[j]))


def lyapunov_spectrum(
    system: Any,
    *,
    n_steps: int,
    transient: int,
    k: int | None = None,
    qr_every: int = 1,
    inputs: Tensor | np.ndarray | None = None,
    trials: int | None = None,
    seed: int = 0,
    h0: Tensor | np.ndarray | None = None,
    dt: float | None = None,
    tangent_transient: int | None = None,
    confidence: float = 0.95,
    progress: bool | Callable[[int, int], None] = True,
    qr_device: str = "auto",
) -> LyapunovSpectrum:
    """Top-k Lyapunov exponents by the QR method, averaged over trials run as one batch.

    Parameters
    ----------
    system
        A :class:`~dynan.system.DynamicalSystem`, or anything :func:`dynan.as_system` accepts
        with its default options.
    n_steps : int
        Measured steps (after the transient) over which log-growth is averaged.
    transient : int
        Steps discarded first. The state alone runs for ``transient - tangent_transient``
        steps, then the tangent vectors run too (re-orthonormalised, not counted).
    k : int, optional
        Number of exponents (the largest k); all ``system.dim`` when None.
    qr_every : int
        Steps between re-orthonormalisations (products of Jacobians in between).
    inputs : tensor (B, T, input_dim), optional
        Input sequence for driven systems, T ≥ transient + n_steps; B = 1 is shared by all
        trials. None: ``step`` gets ``u=None`` (a network system's default input, zeros).
    trials : int, optional
        Independent runs (own start, tangent basis and input sequence); default the batch
        size of ``inputs`` or ``h0``, else 1.
    seed : int
        Seeds the starting states (when ``h0`` is None) and the random tangent bases.
    h0 : tensor (trials, dim) or (dim,), optional
        Starting states; default ``system.initial_state``.
    dt : float, optional
        Time per step; exponents are then per unit time. Default ``system.dt`` (None: per step).
    tangent_transient : int, optional
        Steps of the transient during which tangents are evolved; default ``transient // 2``.
    confidence : float
        Level of the t-interval over trials.
    progress : bool or callable
        Show a progress bar (after one second); a callable ``progress(done, total)`` is
        called with the steps done instead, about :data:`RECORDS` times (a report's status).
    qr_device : {"auto", "cpu", "system"}
        Where the QRs run; everything else runs on ``system.device``. "auto" (default): on
        the CPU when the system is on a GPU and k ≤ 64 (small batched QRs are slow on CUDA),
        else on the system's device (see :func:`dynan.lyapunov._benettin.qr_device`).

    Returns
    -------
    LyapunovSpectrum

    Raises
    ------
    SystemError_
        Bad arguments or shapes (naming which), or a non-finite state/tangent (naming the step).

    Notes
    -----
    Benettin's algorithm as in REFERENCES.md §2: with Q₀ a random orthonormal (dim, k) basis,
    V = J(x_t, u_t) Q_t for each step (J at the pre-step state, applied by ``step_and_jvp``,
    matrix-free for systems without an explicit Jacobian), every ``qr_every`` steps
    Q R = V (Householder with V's rows sorted by norm, so saturated units do not spoil the
    small R_ii; see :func:`dynan.lyapunov._benettin.orthonormalize`), and
    λ_i = Σ log |R_ii| / n_steps
    (natural log) after a state transient and a tangent transient. The sum of all dim
    exponents equals the mean log |det J| along the orbit.
    Columns with R_ii = 0 (a tangent direction mapped to zero, e.g. dead ReLU units) give −inf,
    which is the exact exponent of such a direction.
    Cost: (transient + n_steps) × B × (one step and a k-column Jacobian product, plus an
    O(dim k²) QR every ``qr_every`` steps) time; O(B dim k) memory plus O(B k) per record.
    Devices: states, tangents and inputs live on ``system.device`` (starts and bases drawn on
    the CPU from ``seed``, so a seed gives the same run on every device up to rounding); the
    loop reads back to the host once per record block, never per step.

    References
    ----------
    G. Benettin, L. Galgani, A. Giorgilli, J.-M. Strelcyn (1980), Meccanica 15, 9–30.
    J.-P. Eckmann, D. Ruelle (1985), Rev. Mod. Phys. 57, 617–656.

    Examples
    --------
    >>> from dynan.systems import logistic
    >>> result = lyapunov_spectrum(logistic(4.0), n_steps=2000, transient=100, trials=4,
    ...                            progress=False)
    >>> round(float(result.exponents[0]), 2)
    0.69
    """
    setup = prepare(
        system,
        k=k,
        inputs=inputs,
        trials=trials,
        seed=seed,
        h0=h0,
        dt=dt,
        steps=count("n_steps", n_steps, minimum=1) + count("transient", transient),
    )
    system, x, tangents = setup.system, setup.x, setup.tangents
    qr_every = count("qr_every", qr_every, minimum=1)
    qr_on = qr_device_for(qr_device, system.device, setup.k)
    tangent_transient = transient // 2 if tangent_transient is None else tangent_transient
    tangent_transient = count("tangent_transient", tangent_transient)
    if tangent_transient > transient:
        raise SystemError_(
            f"tangent_transient ({tangent_transient}) cannot exceed transient ({transient})"
        )
    if not 0 < confidence < 1:
        raise SystemError_(f"confidence must lie in (0, 1), got {confidence!r}")
    block = qr_every * max(1, math.ceil(n_steps / (qr_every * RECORDS)))
    total = torch.zeros(setup.trials, setup.k, dtype=system.dtype, device=system.device)
    records, record_steps = [], []

    def accumulate(done: int, logsum: Tensor) -> None:
        nonlocal total
        total = total + logsum
        records.append(total / done)
        record_steps.append(done)

    desc = f"lyapunov {system.name}"
    with (
        torch.no_grad(),
        progress_bar(transient + n_steps, desc, progress) as bar,
    ):
        state_only = transient - tangent_transient
        x, _ = evolve(system, x, None, setup.inputs, start=0, steps=state_only, bar=bar)
        x, tangents = evolve(
            system, x, tangents, setup.inputs, start=state_only, steps=tangent_transient,
            qr_every=qr_every, bar=bar, qr_on=qr_on,
        )  # fmt: skip
        evolve(
            system, x, tangents, setup.inputs, start=transient, steps=n_steps,
            qr_every=qr_every, block=block, on_block=accumulate, bar=bar, qr_on=qr_on,
        )  # fmt: skip
    scale = 1.0 if setup.dt is None else setup.dt
    trial_exponents = (total / n_steps).cpu().numpy() / scale
    low, high = t_interval(trial_exponents, confidence=confidence)
    return LyapunovSpectrum(
        exponents=trial_exponents.mean(axis=0),
        trial_exponents=trial_exponents,
        ci_low=low,
        ci_high=high,
        running=torch.stack(records).cpu().numpy() / scale,
        running_steps=np.asarray(record_steps, dtype=np.int64),
        confidence=float(confidence),
        units="nats/step" if setup.dt is None else "nats/time",
        dt=setup.dt,
        k=setup.k,
        dim=system.dim,
        n_steps=n_steps,
        transient=transient,
        tangent_transient=tangent_transient,
        qr_every=qr_every,
        trials=setup.trials,
        seed=seed,
        system=system.name,
    )
