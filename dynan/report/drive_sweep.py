"""λ₁ against the amplitude of a drive, with adapting and with fixed shape parameters.

The comparison of Geadah et al. (2024): a constant drive ξ is added to every pre-activation
while a network processes its task inputs, and the maximal Lyapunov exponent λ₁ is measured
along the trajectory. An adaptive network (ARUN) gets three conditions:

- ``joint``: the exponent of the whole network state (h and every neuron's controller state g)
  — what the adaptive network does as a dynamical system;
- ``adaptive``: the paper's analysis, h_{t+1} = γ(U x_t + W h_t + b + ξ; n_t, s_t) with the
  shape parameters frozen at each step at the values the controllers produce under the drive
  (the adapter's "frozen" mode);
- ``fixed``: the same frozen map, but with n_t, s_t those of the same inputs without the drive
  (the controllers do not see the drive: the network cannot adapt to it).

Their claim (REFERENCES.md §1): adaptation keeps λ₁ near 0 as ξ grows. Networks without
controllers have one condition, ``static``: the exponent of their whole state (h; an LSTM's
(h, c)), their own fixed activation included.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from dynan.adapters.network import NetworkSystem, network_system
from dynan.errors import SystemError_
from dynan.lyapunov import lyapunov_spectrum
from dynan.lyapunov._benettin import count, t_interval
from dynan.results import Result
from dynan_models import ARUN, RecurrentNetwork

__all__ = ["DriveSweep", "drive_sweep"]


@dataclass(frozen=True)
class DriveSweep(Result):
    """Maximal Lyapunov exponent of one network against drive amplitude.

    Attributes
    ----------
    name, architecture : str
        Checkpoint name (the architecture for a network not loaded from a file).
    conditions : tuple of str
        ("joint", "adaptive", "fixed") for ARUN, ("static",) otherwise (see the module).
    modes : tuple of str
        System mode of each condition ("joint" or "frozen").
    amplitudes : ndarray (A,)
        Drive amplitudes ξ.
    lambda1, ci_low, ci_high : ndarray (C, A)
        Mean λ₁ over trials (nats/step) and its Student-t interval at ``confidence``, per
        condition and amplitude.
    trial_lambda1 : ndarray (C, A, B)
        λ₁ of each trial (one per input sequence).
    trials, transient, n_steps, seed : int
        Input sequences; steps discarded and measured; seed of the tangent vectors.
    confidence : float
    """

    name: str
    architecture: str
    conditions: tuple[str, ...]
    modes: tuple[str, ...]
    amplitudes: np.ndarray
    lambda1: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    trial_lambda1: np.ndarray
    trials: int
    transient: int
    n_steps: int
    seed: int
    confidence: float = 0.95

    def condition(self, name: str) -> int:
        """Row index of condition ``name``; ValueError listing the conditions otherwise."""
        if name not in self.conditions:
            raise ValueError(f"no condition {name!r} in this sweep; it has {self.conditions}")
        return self.conditions.index(name)


def drive_sweep(
    net: RecurrentNetwork,
    x: Tensor | np.ndarray,
    *,
    amplitudes: Sequence[float],
    transient: int,
    seed: int = 0,
    confidence: float = 0.95,
    progress: bool | Callable[[int, int], None] = False,
) -> DriveSweep:
    """λ₁ of ``net`` on inputs ``x`` under constant drives ξ, per condition (see the module).

    Parameters
    ----------
    net : RecurrentNetwork
        A ``dynan_models`` network (ARUN gets the joint, adaptive and fixed conditions).
    x : tensor (B, T, D)
        Input sequences; each is one trial, run from the network's rest state (h = 0, g = 0)
        like a task sequence.
    amplitudes : sequence of float
        Drive amplitudes ξ, added to every pre-activation at every step.
    transient : int
        Steps discarded before measuring (the last half with the tangent vector running);
        T − transient steps are measured.
    seed : int
        Seed of the random starting tangent vectors.
    confidence : float
        Level of the t-intervals over trials.
    progress : bool or callable
        Show progress bars of the QR runs, or call ``progress(done, total)`` with their steps
        (see :func:`dynan.lyapunov.lyapunov_spectrum`).

    Returns
    -------
    DriveSweep

    Raises
    ------
    ValueError
        Empty or non-finite ``amplitudes``, ``x`` of the wrong shape (from the network's check).
    SystemError_
        Not a ``dynan_models`` network, ``transient`` outside [0, T).

    Notes
    -----
    Every amplitude and condition runs in one batch: one forward pass of the network on the
    A·B driven sequences (the adaptive n_t, s_t) and one on the B undriven ones (the fixed
    n_t, s_t), then :func:`dynan.lyapunov.lyapunov_spectrum` with k = 1 on the stacked inputs —
    once on the frozen system (adaptive and fixed, 2·A·B trials) and once on the joint system.
    Time O(A B T (N² + N G²)) for ARUN (O(A B T N²) otherwise), memory O(A B T (D + 3N)) for
    the input sequences.

    References
    ----------
    Geadah, Horoi, Kerg, Wolf, Lajoie (2024), PLOS Comp. Biol.: λ₁ against drive ξ, adaptive
    against fixed shape parameters. Benettin et al. (1980), Meccanica 15: the QR method.

    Examples
    --------
    >>> import torch
    >>> from dynan_models import build
    >>> net = build("arun", input_size=1, hidden_size=4, output_size=2, controller_size=3)
    >>> sweep = drive_sweep(net, torch.rand(2, 30, 1), amplitudes=[0, 1], transient=10)
    >>> sweep.conditions, sweep.lambda1.shape
    (('joint', 'adaptive', 'fixed'), (3, 2))
    """
    if not isinstance(net, RecurrentNetwork):
        raise SystemError_(f"drive_sweep expects a dynan_models network, got {type(net).__name__}")
    xi = np.asarray(list(amplitudes), dtype=np.float64)
    if xi.ndim != 1 or xi.size == 0 or not np.isfinite(xi).all():
        raise ValueError(f"amplitudes must be a non-empty list of finite numbers, got {xi}")
    joint = network_system(net, mode="joint")  # a float64 copy of the network
    x = torch.as_tensor(x, dtype=joint.dtype).to(joint.device)  # the network's device
    joint.network.check_inputs(x, None)
    batch, steps = x.shape[:2]
    transient = count("transient", transient)
    if transient >= steps:
        raise SystemError_(f"transient must be in [0, {steps}) for inputs of {steps} steps")
    # amplitude-major stacking: row j·B + b is sequence b under drive ξ_j
    x_all = x.repeat(xi.size, 1, 1)
    level = torch.as_tensor(xi).repeat_interleave(batch)[:, None, None].to(x)
    drive = level.expand(-1, steps, net.hidden_size)
    runs: list[tuple[NetworkSystem, Tensor, tuple[str, ...]]] = []
    runs.append(
        (joint, joint.inputs(x_all, drive), ("joint",) if isinstance(net, ARUN) else ("static",))
    )
    if isinstance(net, ARUN):
        frozen = network_system(net, mode="frozen")
        undriven = frozen.inputs(x)  # the controllers' n_t, s_t without the drive
        fixed = {k: undriven[..., frozen.input_layout[k]].repeat(xi.size, 1, 1) for k in "ns"}
        inputs = torch.cat([frozen.inputs(x_all, drive), frozen.inputs(x_all, drive, **fixed)])
        runs.append((frozen, inputs, ("adaptive", "fixed")))
    per_trial, conditions, modes = [], [], []
    for system, inputs, names in runs:
        result = lyapunov_spectrum(
            system, k=1, n_steps=steps - transient, transient=transient, inputs=inputs,
            trials=len(inputs), seed=seed, h0=_rest_state(system, len(inputs)),
            confidence=confidence, progress=progress,
        )  # fmt: skip
        per_trial.append(result.trial_exponents[:, 0].reshape(len(names), xi.size, batch))
        conditions += names
        modes += [system.mode] * len(names)
    trial_lambda1 = np.concatenate(per_trial)
    low, high = t_interval(np.moveaxis(trial_lambda1, 2, 0), confidence=confidence)
    info = getattr(net, "checkpoint", None)
    return DriveSweep(
        name=info.name if info is not None else net.architecture,
        architecture=net.architecture,
        conditions=tuple(conditions),
        modes=tuple(modes),
        amplitudes=xi,
        lambda1=trial_lambda1.mean(axis=2),
        ci_low=low,
        ci_high=high,
        trial_lambda1=trial_lambda1,
        trials=int(batch),
        transient=int(transient),
        n_steps=int(steps - transient),
        seed=int(seed),
        confidence=float(confidence),
    )


def _rest_state(system: NetworkSystem, batch: int) -> Tensor:
    """The state every task sequence starts from (zeros), in the system's flat layout."""
    state = system.network.initial_state(batch, dtype=system.dtype, device=system.device)
    return system.encode(state if system.mode == "joint" else state[:1])
