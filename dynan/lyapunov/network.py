"""The Lyapunov entry points for trained networks: build the system (frozen or joint) and its
inputs (task sequences or zeros, plus the paper's drive) from a ``dynan_models`` network, then run
:func:`~dynan.lyapunov.spectrum.lyapunov_spectrum` or
:func:`~dynan.lyapunov.finite_time.finite_time_lyapunov`. Used by the CLI and the report.

References: Geadah et al. (2024), PLOS Comp. Biol.; REFERENCES.md §1–2.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from dynan.adapters.network import MODES, has_shape_parameters, network_system
from dynan.errors import SystemError_
from dynan.lyapunov._benettin import count
from dynan.lyapunov.finite_time import FiniteTimeLyapunov, finite_time_lyapunov
from dynan.lyapunov.spectrum import LyapunovSpectrum, lyapunov_spectrum
from dynan_models import RecurrentNetwork

__all__ = ["network_finite_time_lyapunov", "network_inputs", "network_lyapunov"]


def network_lyapunov(
    net: Any,
    *,
    mode: str = "frozen",
    k: int | None = 16,
    n_steps: int | None = None,
    transient: int = 100,
    x: Tensor | np.ndarray | None = None,
    drive_amplitude: float = 0.0,
    trials: int | None = None,
    seed: int = 0,
    qr_every: int = 1,
    confidence: float = 0.95,
    progress: bool = True,
    qr_device: str = "auto",
    dtype: torch.dtype = torch.float64,
) -> LyapunovSpectrum:
    """Lyapunov spectrum of a ``dynan_models`` network: builds the system and its inputs, then runs
    :func:`lyapunov_spectrum`. The fast entry point for reports and the CLI.

    Parameters
    ----------
    net : dynan_models.RecurrentNetwork
        E.g. from ``dynan.load(path)``.
    mode : {"frozen", "joint"}
        frozen: h only, with the shape parameters n_t, s_t the full network produces along the
        same inputs (the paper's analysis); joint: h and every controller state. Networks with
        nothing to freeze (ReLU, GRU, LSTM) run in joint mode, recorded in ``metadata``.
    k : int or None
        Number of exponents, at most the state dimension (clipped to it); None for all.
    n_steps : int, optional
        Measured steps; default 400 with zero input, else the input length minus transient.
    transient : int
        Discarded steps (state, then tangents for the last half).
    x : tensor (B, T, input_size), optional
        Network inputs (e.g. a batch of digits-task sequences); default zeros.
    drive_amplitude : float
        Constant drive ξ added to every pre-activation at every step (the paper's drive).
    trials : int, optional
        Default: B when ``x`` is given, else 4 (independent starting states).
    seed, qr_every, confidence, progress, qr_device
        As in :func:`lyapunov_spectrum`. The run follows the network's device
        (``dynan.load(path, device="cuda")``); ``x`` is moved there.
    dtype : torch.dtype, default float64
        Precision of the system (a copy of the network cast to it). float32 is faster on GPUs;
        the starts and bases are the same (drawn in float64), and on the zoo networks (k = 8,
        400 steps, 4 trials) the exponents differ from float64's by 1e-7 (GRU flip-flop) to
        4e-3 (ARUN) nats/step, below the 95 % interval of λ₁ over trials, 0.005–0.025
        (README: GPUs).

    Returns
    -------
    LyapunovSpectrum
        With ``metadata``: architecture, mode used and requested, drive, input kind and the
        checkpoint file and hash when the network came from ``dynan.load``.

    Raises
    ------
    SystemError_
        Unknown mode, bad k/steps, inputs of the wrong shape or too short.

    Notes
    -----
    Cost: that of :func:`lyapunov_spectrum` on the adapter's system (frozen: O(B k N²) per
    step; ARUN joint: O(B k (N² + N G²)) per step, matrix-free) plus, in frozen mode, one
    forward pass of the network to get n_t, s_t. A 64-unit network with k = 16 and the
    defaults takes about a second (frozen) to a few seconds (ARUN joint) on one core.

    References
    ----------
    Geadah et al. (2024), PLOS Comp. Biol.: exponents of h_{t+1} = γ(W h_t; n_t, s_t) with QR
    every step (REFERENCES.md §1–2).

    Examples
    --------
    >>> from dynan_models import build
    >>> net = build("arun", input_size=1, hidden_size=8, output_size=2, controller_size=4)
    >>> result = network_lyapunov(net, k=3, n_steps=50, transient=20, progress=False)
    >>> result.exponents.shape, result.metadata["mode"]
    ((3,), 'frozen')
    """
    transient = count("transient", transient)
    if x is None:
        n_steps = 400 if n_steps is None else count("n_steps", n_steps, minimum=1)
        trials = 4 if trials is None else trials
    elif n_steps is None and np.ndim(x) == 3:
        n_steps = x.shape[1] - transient
    system, inputs, metadata = network_inputs(
        net, mode=mode, x=x, n_steps=transient + (n_steps or 0), amplitude=drive_amplitude,
        dtype=dtype,
    )  # fmt: skip
    result = lyapunov_spectrum(
        system, n_steps=n_steps, transient=transient,
        k=None if k is None else min(count("k", k, minimum=1), system.dim),
        qr_every=qr_every, inputs=inputs, trials=trials, seed=seed, confidence=confidence,
        progress=progress, qr_device=qr_device,
    )  # fmt: skip
    return dataclasses.replace(result, metadata=metadata)


def network_inputs(
    net: Any,
    *,
    mode: str,
    x: Tensor | np.ndarray | None,
    n_steps: int,
    amplitude: float,
    window: tuple[int, int | None] | None = None,
    dtype: torch.dtype = torch.float64,
) -> tuple[Any, Tensor, dict]:
    """(system, inputs (B, T, input_dim), metadata) for a network, x (default zeros of length
    ``n_steps``) and a drive of ``amplitude`` on every pre-activation for steps in ``window``
    (default all), the system a ``dtype`` copy of the network on its device. Frozen mode falls
    back to joint for networks without shape parameters."""
    if not isinstance(net, RecurrentNetwork):
        raise SystemError_(f"expected a dynan_models network, got {type(net).__name__}")
    if mode not in MODES:
        raise SystemError_(f"unknown mode {mode!r}; valid names: {', '.join(MODES)}")
    used = mode if has_shape_parameters(net) else "joint"
    system = network_system(net, mode=used, dtype=dtype)
    if x is None:
        x = torch.zeros(1, count("n_steps", n_steps, minimum=1), net.input_size)
    x = torch.as_tensor(x, dtype=system.dtype).to(system.device)
    if x.ndim != 3:
        raise SystemError_(
            f"x must have shape (batch, time, {net.input_size}), got {tuple(x.shape)}"
        )
    if not math.isfinite(float(amplitude)):
        raise SystemError_(f"the drive amplitude must be finite, got {amplitude!r}")
    drive = None
    start, stop = window or (0, None)
    stop = x.shape[1] if stop is None else stop
    if amplitude:
        if not 0 <= start < stop <= x.shape[1]:
            raise SystemError_(
                f"drive window [{start}, {stop}) must lie within the {x.shape[1]} input steps"
            )
        drive = x.new_zeros(*x.shape[:2], net.hidden_size)
        drive[:, start:stop] = float(amplitude)
    metadata = {
        "architecture": net.architecture,
        "hidden_size": net.hidden_size,
        "mode": used,
        "requested_mode": mode,
        "drive_amplitude": float(amplitude),
        "drive_window": [int(start), int(stop)],
        "input": "zeros" if not x.abs().max() else "given",
        "device": str(system.device),
        "dtype": str(system.dtype).removeprefix("torch."),
    }
    if used != mode:
        metadata["note"] = f"{net.architecture} has no shape parameters to freeze: joint mode"
    info = getattr(net, "checkpoint", None)
    if info is not None:
        metadata.update(checkpoint=info.path, sha256=info.sha256)
    return system, system.inputs(x, drive), metadata


def network_finite_time_lyapunov(
    net: Any,
    *,
    amplitude: float,
    onset: int,
    n_steps: int,
    window: int = 10,
    offset: int | None = None,
    mode: str = "frozen",
    k: int = 1,
    x: Tensor | np.ndarray | None = None,
    trials: int | None = None,
    seed: int = 0,
    tangent_transient: int | None = None,
    progress: bool = True,
    qr_device: str = "auto",
    dtype: torch.dtype = torch.float64,
) -> FiniteTimeLyapunov:
    """λ₁ of a network against time from the onset of a step drive (the paper's plot).

    Parameters
    ----------
    net : dynan_models.RecurrentNetwork
    amplitude : float
        Drive ξ added to every pre-activation for ``onset ≤ t < offset``.
    onset : int
        Drive onset (the event the windows are aligned on).
    n_steps : int
        Total steps (ignored beyond the input length when ``x`` is given: T is used).
    window : int
        Window length in steps.
    offset : int, optional
        Drive end (exclusive); default the end of the run.
    mode : {"frozen", "joint"}
        As in :func:`~dynan.lyapunov.network_lyapunov` (frozen: n_t, s_t of the full network
        under the same drive; networks without shape parameters run joint).
    k, trials, seed, tangent_transient, progress, qr_device
        As in :func:`finite_time_lyapunov`; trials default B of ``x``, else 4. The run follows
        the network's device.
    dtype : torch.dtype, default float64
        As in :func:`network_lyapunov`.
    x : tensor (B, T, input_size), optional
        Network inputs; default zeros of length ``n_steps``.

    Returns
    -------
    FiniteTimeLyapunov
        With ``metadata`` (architecture, modes, amplitude, onset, offset).

    Raises
    ------
    SystemError_
        Unknown mode, onset/offset outside the run, bad shapes.

    Notes
    -----
    One forward pass of the network for the frozen inputs plus :func:`finite_time_lyapunov`:
    O(n_steps · B · k N²) (frozen) or O(n_steps · B · k (N² + N G²)) (ARUN joint) time.

    References
    ----------
    Geadah et al. (2024), PLOS Comp. Biol., REFERENCES.md §1 (step drive for 200 < t < 400).

    Examples
    --------
    >>> from dynan_models import build
    >>> net = build("arun", input_size=1, hidden_size=8, output_size=2, controller_size=4)
    >>> result = network_finite_time_lyapunov(net, amplitude=1.0, onset=40, n_steps=80,
    ...                                       progress=False)
    >>> result.times.tolist()
    [-30, -20, -10, 0, 10, 20, 30]
    """
    system, inputs, metadata = network_inputs(
        net, mode=mode, x=x, n_steps=n_steps, amplitude=amplitude, window=(onset, offset),
        dtype=dtype,
    )  # fmt: skip
    if trials is None:
        trials = 4 if x is None else inputs.shape[0]
    result = finite_time_lyapunov(
        system, event=onset, window=window, inputs=inputs, k=min(count("k", k, minimum=1),
        system.dim), tangent_transient=tangent_transient, trials=trials, seed=seed,
        progress=progress, qr_device=qr_device,
    )  # fmt: skip
    return dataclasses.replace(result, metadata=metadata)
