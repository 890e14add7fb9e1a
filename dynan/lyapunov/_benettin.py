"""The kernel of Benettin's QR method, shared by :mod:`dynan.lyapunov` and
:mod:`dynan.lyapunov.finite_time`.

:func:`prepare` validates the arguments at the public boundary and draws the starting states
and random orthonormal tangent bases from one seed. :func:`evolve` advances a batch of states
and k tangent vectors with ``system.step_and_jvp`` (J at the pre-step state, never Jᵀ),
re-orthonormalises by QR (rows sorted, :func:`orthonormalize`) every ``qr_every`` steps and
hands the summed log |diag R| of each block of steps to a callback. Finiteness is checked once
per block; on failure the block is replayed step by step (:func:`_locate`) to name the exact
step, so the check costs nothing otherwise.

Devices: everything runs where the system lives (``system.device``); starts and tangent bases
are drawn on the CPU from the seed and moved there once, inputs are moved once, and the
per-step loop reads nothing back to the host (one finiteness check per block). Only the QR may
run elsewhere: see :func:`qr_device` (small batched QRs are faster on the CPU than on a GPU).

References: Benettin, Galgani, Giorgilli, Strelcyn (1980), Meccanica 15; REFERENCES.md §2.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy import stats
from torch import Tensor
from tqdm.auto import tqdm

from dynan.errors import SystemError_
from dynan.system import DynamicalSystem, check_state

#: About this many records of the running estimate (and finiteness checks) per run: enough
#: for a convergence plot, few enough that their bookkeeping stays below ~5 % of a step of a
#: 64-unit network.
RECORDS = 64

#: ``qr_device="auto"`` does the QR on the CPU when the system is on a GPU and k is at most
#: this. Batched QRs of small matrices are much slower on CUDA than on the CPU in PyTorch
#: (cuSOLVER/MAGMA factor one matrix at a time with several kernel launches each:
#: pytorch/pytorch#143281, #22573), while the copy of the (B, dim, k) tangents is cheap. Not
#: measured here for lack of a GPU; ``analyses/benchmarks/device.py`` measures both placements.
QR_CPU_MAX_K = 64

#: The valid ``qr_device`` choices.
QR_DEVICES = ("auto", "cpu", "system")


@dataclass(frozen=True)
class Setup:
    """What :func:`prepare` hands back: the system, starts (B, dim), tangents (B, dim, k), …"""

    system: DynamicalSystem
    x: Tensor
    tangents: Tensor
    inputs: Tensor | None
    trials: int
    k: int
    dt: float | None


def count(name: str, value: Any, *, minimum: int = 0) -> int:
    """``value`` as an int ≥ ``minimum``, else a ``SystemError_`` naming the argument."""
    if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < minimum:
        raise SystemError_(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def progress_options(progress: bool | Callable[[int, int], None]) -> dict:
    """tqdm options: shown only for runs longer than a second, and only if ``progress`` is
    True (a callable gets the steps instead, through :func:`progress_bar`)."""
    return {"disable": progress is not True, "delay": 1.0, "unit": "step", "leave": False}


class _CallbackBar:
    """tqdm's ``update`` for a ``progress(done, total)`` callable (e.g. a report's status).

    :func:`evolve` updates it after every step (one step of a paper-size network takes
    seconds); the callable hears at most every :attr:`EVERY` seconds, and at the end.
    """

    EVERY = 0.5

    def __init__(self, total: int, callback: Callable[[int, int], None]):
        self.total, self.done, self.callback = total, 0, callback
        self.last = -math.inf

    def update(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if now - self.last >= self.EVERY or self.done >= self.total:
            self.last = now
            self.callback(self.done, self.total)

    def __enter__(self) -> _CallbackBar:
        self.callback(0, self.total)
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def progress_bar(total: int, desc: str, progress: bool | Callable[[int, int], None]) -> Any:
    """A tqdm bar over ``total`` steps, or, when ``progress`` is a callable, an object with
    tqdm's ``update`` that calls ``progress(steps done, total)`` (see :class:`_CallbackBar`)."""
    if callable(progress):
        return _CallbackBar(total, progress)
    return tqdm(total=total, desc=desc, **progress_options(progress))


def t_interval(samples: np.ndarray, *, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Student-t interval of the mean over axis 0; NaN where fewer than two samples."""
    n = samples.shape[0]
    if n < 2:
        nan = np.full(samples.shape[1:], np.nan)
        return nan, nan.copy()
    with np.errstate(invalid="ignore"):
        mean = samples.mean(axis=0)
        half = stats.t.ppf(0.5 + confidence / 2, n - 1) * samples.std(axis=0, ddof=1)
        half = half / math.sqrt(n)
        return mean - half, mean + half


def prepare(
    system: Any,
    *,
    k: int | None,
    inputs: Tensor | np.ndarray | None,
    trials: int | None,
    seed: int,
    h0: Tensor | np.ndarray | None,
    dt: float | None,
    steps: int,
) -> Setup:
    """Validate everything at the public boundary; draw starts and tangent bases from ``seed``."""
    if not isinstance(system, DynamicalSystem):
        from dynan.adapters import as_system

        system = as_system(system)
    k = system.dim if k is None else count("k", k, minimum=1)
    if k > system.dim:
        raise SystemError_(f"k={k} exceeds the state dimension {system.dim} of {system.name}")
    seed = count("seed", seed)
    if trials is not None:
        trials = count("trials", trials, minimum=1)
    device = system.device
    inputs = _check_inputs(system, inputs, steps=steps)
    if h0 is not None:
        h0 = check_state(system, torch.as_tensor(h0), where="h0")
    if trials is None:
        batches = [len(t) for t in (inputs, h0) if t is not None and len(t) > 1]
        trials = batches[0] if batches else 1
    if inputs is not None and inputs.shape[0] != trials:
        if inputs.shape[0] != 1:
            raise SystemError_(
                f"inputs has {inputs.shape[0]} sequences but trials={trials} "
                "(give one sequence per trial, or one shared by all)"
            )
        inputs = inputs.expand(trials, -1, -1)
    generator = torch.Generator().manual_seed(seed)  # on the CPU: the same draws on any device
    if h0 is None:
        x = system.initial_state(trials, generator=generator).to(device, system.dtype)
    else:
        x = h0
        if x.shape[0] == 1:
            x = x.expand(trials, -1)
        elif x.shape[0] != trials:
            raise SystemError_(f"h0 has {x.shape[0]} states but trials={trials}")
    basis = torch.randn(trials, system.dim, k, generator=generator, dtype=torch.float64)
    tangents = torch.linalg.qr(basis)[0].to(device, system.dtype)  # same basis in any dtype
    if dt is None:
        dt = system.dt
    elif not (isinstance(dt, int | float) and math.isfinite(dt) and dt > 0):
        raise SystemError_(f"dt must be a positive finite number, got {dt!r}")
    return Setup(system, x, tangents, inputs, trials, k, None if dt is None else float(dt))


def _check_inputs(
    system: DynamicalSystem, inputs: Tensor | np.ndarray | None, *, steps: int
) -> Tensor | None:
    if inputs is None:
        return None  # a driven system then uses its default input, or says that it needs one
    if system.input_dim == 0:
        raise SystemError_(f"{system.name} is autonomous (input_dim=0) but inputs were given")
    inputs = torch.as_tensor(inputs, dtype=system.dtype).to(system.device)
    if inputs.ndim != 3 or inputs.shape[1] < steps or inputs.shape[2] != system.input_dim:
        raise SystemError_(
            f"inputs must have shape (batch, >= {steps}, {system.input_dim}) for "
            f"{system.name} (transient + measured steps), got {tuple(inputs.shape)}"
        )
    if not torch.isfinite(inputs).all():
        raise SystemError_("inputs contain NaN or inf")
    return inputs


def evolve(
    system: DynamicalSystem,
    x: Tensor,
    tangents: Tensor | None,
    inputs: Tensor | None,
    *,
    start: int,
    steps: int,
    qr_every: int = 1,
    block: int | None = None,
    on_block: Callable[[int, Tensor], None] | None = None,
    bar: Any = None,
    qr_on: torch.device | None = None,
) -> tuple[Tensor, Tensor | None]:
    """Advance ``steps`` steps from input index ``start``; tangents None evolves the state only.

    ``block`` (a multiple of ``qr_every``; default all steps) sets how often finiteness is
    checked and ``on_block(steps_done, summed log|diag R| (B, k))`` is called; a QR closes
    every block. ``qr_on``: where the QRs run (default the tangents' device; see
    :func:`qr_device`).
    """
    if block is None:  # one block, or about RECORDS when someone watches the progress
        per = max(1, math.ceil(steps / (qr_every * RECORDS)))
        block = steps if bar is None else qr_every * per
    done = 0
    while done < steps:
        n = min(block, steps - done)
        args = (system, x, tangents, inputs, start + done, n, qr_every, qr_on)
        tick = bar.update if isinstance(bar, _CallbackBar) else None  # per step
        new_x, new_tangents, logsum = _block(*args, tick=tick)
        finite = torch.isfinite(new_x).all()
        if new_tangents is not None:  # log|R_ii| = −inf is legitimate (a collapsed direction)
            finite = finite & ~(torch.isnan(logsum) | torch.isposinf(logsum)).any()
        if not finite:  # the block's one read-back (a device sync on a GPU)
            _locate(*args)
        x, tangents, done = new_x, new_tangents, done + n
        if on_block is not None:
            on_block(done, logsum)
        if bar is not None and tick is None:
            bar.update(n)
    return x, tangents


def _block(
    system: DynamicalSystem,
    x: Tensor,
    tangents: Tensor | None,
    inputs: Tensor | None,
    start: int,
    steps: int,
    qr_every: int,
    qr_on: torch.device | None = None,
    *,
    tick: Callable[[int], None] | None = None,
) -> tuple[Tensor, Tensor | None, Tensor | None]:
    if tangents is None:
        for t in range(start, start + steps):
            x = system.step(x, None if inputs is None else inputs[:, t])
            if tick is not None:
                tick(1)
        return x, None, None
    logsum = None
    for i in range(steps):
        u = None if inputs is None else inputs[:, start + i]
        x, tangents = system.step_and_jvp(x, u, tangents)
        if (i + 1) % qr_every == 0 or i == steps - 1:
            tangents, log_r = orthonormalize(tangents, qr_on=qr_on)
            logsum = log_r if logsum is None else logsum + log_r
        if tick is not None:
            tick(1)
    return x, tangents, logsum


def qr_device(choice: str, device: torch.device, k: int) -> torch.device:
    """Where the QRs of k tangent columns of a system on ``device`` run.

    ``"system"``: on ``device``; ``"cpu"``: on the CPU (the tangents are copied there and back
    at each QR, nowhere else); ``"auto"``: the CPU when ``device`` is a GPU and
    k ≤ :data:`QR_CPU_MAX_K` (small batched QRs are slow on CUDA: pytorch/pytorch#143281,
    #22573), else ``device``. On a CPU system every choice is the CPU.

    Raises ``SystemError_`` for an unknown choice.

    Examples
    --------
    >>> qr_device("auto", torch.device("cuda", 0), 16), qr_device("auto", torch.device("cpu"), 16)
    (device(type='cpu'), device(type='cpu'))
    """
    if choice not in QR_DEVICES:
        raise SystemError_(f"unknown qr_device {choice!r}; valid names: {', '.join(QR_DEVICES)}")
    device = torch.device(device)
    if choice == "cpu" or (choice == "auto" and device.type != "cpu" and k <= QR_CPU_MAX_K):
        return torch.device("cpu")
    return device


def orthonormalize(v: Tensor, *, qr_on: torch.device | None = None) -> tuple[Tensor, Tensor]:
    """Q and log |diag R| of V = Q R for tangents V (B, dim, k), accurate for graded V.

    Householder QR with the rows sorted by decreasing norm first (then Q's rows put back).
    Plain Householder QR is backward stable only normwise, so when the rows of V span many
    orders of magnitude — J = diag(φ') W with φ' from saturated units (γ with n ≈ 6 gives
    φ' < 1e-13 at a = −5) — the small R_ii drown in the rounding of the large rows and
    Σ log |R_ii| misses log |det J| by O(1) in a single step. With the rows sorted the
    factorisation is backward stable row by row, and each step's Σ log |R_ii| matches
    log |det J| to ~1e-14. k = 1 needs no sorting (R_11 = ‖v‖).

    Cost: O(B dim k) (row norms, two gathers) and O(B dim log dim) (sort) on top of the
    O(B dim k²) of the QR. With ``qr_on`` another device than V's, all of this runs there and
    Q, log |diag R| come back: two copies of O(B dim k) numbers (see :func:`qr_device`).

    References: M. J. D. Powell, J. K. Reid (1969), On applying Householder transformations to
    linear least squares problems, IFIP Congress; A. J. Cox, N. J. Higham (1998), Stability of
    Householder QR factorization for weighted least squares problems, in Numerical Analysis
    1997, Pitman Res. Notes Math. 380.
    """
    if qr_on is not None and torch.device(qr_on) != v.device:
        q, log_r = orthonormalize(v.to(qr_on))
        return q.to(v.device, non_blocking=True), log_r.to(v.device, non_blocking=True)
    if v.shape[-1] == 1:
        q, r = torch.linalg.qr(v)
    else:
        order = v.norm(dim=2).argsort(dim=1, descending=True)[..., None].expand_as(v)
        q_sorted, r = torch.linalg.qr(torch.gather(v, 1, order))
        q = torch.empty_like(q_sorted).scatter_(1, order, q_sorted)
    return q, r.diagonal(dim1=-2, dim2=-1).abs().log()


def _locate(
    system: DynamicalSystem,
    x: Tensor,
    tangents: Tensor | None,
    inputs: Tensor | None,
    start: int,
    steps: int,
    qr_every: int,
    qr_on: torch.device | None = None,
) -> None:
    """Replay a block that went non-finite one step at a time and raise naming the step."""
    for i in range(steps):
        u = None if inputs is None else inputs[:, start + i]
        if tangents is None:
            x = system.step(x, u)
        else:
            x, tangents = system.step_and_jvp(x, u, tangents)
        if not torch.isfinite(x).all():
            raise SystemError_(
                f"{system.name}: the state became non-finite (NaN or inf) at step {start + i + 1}"
            )
        if tangents is not None:
            if not torch.isfinite(tangents).all():
                raise SystemError_(
                    f"{system.name}: the tangent vectors became non-finite at step "
                    f"{start + i + 1} (non-finite Jacobian, or overflow: lower qr_every)"
                )
            if (i + 1) % qr_every == 0 or i == steps - 1:
                tangents = orthonormalize(tangents)[0]
    raise SystemError_(
        f"{system.name}: non-finite values between steps {start + 1} and {start + steps}"
    )
