"""Fixed points of trained networks: starts from task trajectories, and the ARUN controller alone.

A network's interesting fixed points lie where its trajectories go, so the starting states are
the states it visits on its own task's inputs (Sussillo & Barak 2013), each then run a random,
log-uniform number of steps under the constant input, so that the starts also cover where the
constant-input dynamics go (the attractors, and the slow passages near saddles); the fixed
points are those of the network under that constant input (default: no stimulus, x = 0). For
an adaptive network (ARUN) the joint system — hidden state h and every neuron's controller
state g — is used, so a fixed point is one of the real network, controllers included. The
controller alone under a range of constant pre-activations a gives the paper's
input-dependent controller fixed points.

References
----------
D. Sussillo, O. Barak (2013). Opening the black box. Neural Computation 25, 626–649.
Geadah, Horoi, Kerg, Wolf, Lajoie (2024). Neural networks with optimized single-neuron
adaptation uncover biologically plausible regularization. PLOS Comp. Biol. (REFERENCES.md §1:
controller trajectories under constant input converge to input-dependent fixed points).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike
from torch import Tensor

from dynan.adapters.controller import controller_system
from dynan.adapters.network import NetworkSystem, network_system
from dynan.errors import SystemError_
from dynan.fixed_points.finder import find_fixed_points
from dynan.fixed_points.result import FixedPoints
from dynan.system import simulate
from dynan_models import ARUN, RecurrentNetwork

__all__ = [
    "controller_fixed_points",
    "network_fixed_points",
    "network_starts",
    "task_trajectories",
]

#: Relaxed starts stay within this multiple of the largest distance of a task state from the
#: centroid of the task states (the default outlier bound of find_fixed_points).
_REGION = 2.0


def task_trajectories(
    system: NetworkSystem,
    *,
    x: ArrayLike | None = None,
    n_sequences: int = 32,
    seed: int = 0,
) -> Tensor:
    """States (B, T + 1, dim) the network visits on task inputs, from its initial state.

    Parameters
    ----------
    system : NetworkSystem
        From ``dynan.adapters.network.network_system`` (or ``dynan.as_system(net)``).
    x : array (B, T, D), optional
        Input sequences. Default: the first ``n_sequences`` test sequences of the task stored in
        the network's checkpoint (``net.checkpoint.task``); for a checkpoint without a task,
        seeded N(0, 1) stand-ins (:func:`dynan.importers.analysis_inputs`).
    n_sequences : int, default 32
        Sequences taken from the task when ``x`` is not given.
    seed : int, default 0
        Seed of the initial-state noise (``system.initial_state``).

    Returns
    -------
    Tensor (B, T + 1, dim), float64

    Raises
    ------
    SystemError_
        ``system`` is not a network system, or no ``x`` and no checkpoint.
    ValueError
        ``x`` of the wrong shape.

    Notes
    -----
    One run of the system: O(B T c_step) time, O(B T dim) memory.

    Examples
    --------
    >>> import torch
    >>> from dynan_models import build
    >>> from dynan.adapters.network import network_system
    >>> system = network_system(build("relu", input_size=1, hidden_size=8, output_size=2))
    >>> task_trajectories(system, x=torch.zeros(3, 5, 1)).shape
    torch.Size([3, 6, 8])
    """
    if not isinstance(system, NetworkSystem):
        raise SystemError_(
            f"task_trajectories needs a network system, got {type(system).__name__}"
        )
    if x is None:
        x = _task_inputs(system.network, n_sequences)
    x = x.detach() if isinstance(x, Tensor) else np.asarray(x, dtype=np.float64)
    u = system.inputs(torch.as_tensor(x, dtype=system.dtype))  # on the network's device
    gen = torch.Generator().manual_seed(seed)
    return simulate(system, system.initial_state(x.shape[0], generator=gen), x.shape[1], u)


def network_fixed_points(
    net: RecurrentNetwork,
    *,
    mode: str = "joint",
    x: ArrayLike | None = None,
    input: ArrayLike | None = None,
    n_sequences: int = 32,
    n_inits: int = 256,
    relax: int = 1000,
    hold: int = 200,
    seed: int = 0,
    progress: bool = False,
    dtype: torch.dtype = torch.float64,
    **options: Any,
) -> FixedPoints:
    """Fixed points of a network under a constant input, started from its task trajectories.

    Parameters
    ----------
    net : RecurrentNetwork
        A zoo network (``dynan.load``), best loaded in float64.
    mode : {"joint", "frozen"}, default "joint"
        System (see ``network_system``). joint: the network's whole state (for ARUN h and the
        controllers — fixed points of the real network). frozen: h only with the shape
        parameters held at those the network reaches after ``hold`` steps of the constant input.
    x : array (B, T, D), optional
        Sequences whose states seed the search (default: the checkpoint's task test split).
    input : array (D,), optional
        The constant network input (default 0: no stimulus).
    n_sequences : int, default 32
        Task sequences used when ``x`` is not given.
    n_inits : int, default 256
        Starting states drawn from the trajectories.
    relax : int, default 1000
        Each start is run t steps of the constant input first, t log-uniform in [0, relax]
        (0: the task states themselves): early t sample the passages near saddles, late t
        the attractors — slow ones too (a flip-flop GRU's memories relax with |λ| ≈ 0.99, and
        Levenberg–Marquardt from far away stops at slow points instead).
    hold : int, default 200
        Steps of the constant input run to read the shape parameters in frozen mode.
    seed : int, default 0
    progress : bool, default False
    dtype : torch.dtype, default float64
        Precision of the system (a copy of the network on its device). In float32, q stops
        near 1e-15–1e-13 (float64: ~1e-30), within a factor of 10 of ``tol_q`` = 1e-12: the
        zoo networks give the same points, but a root in a stiffer network may end as a slow
        point. float64 is the safe choice (README: GPUs).
    **options
        Passed to :func:`~dynan.fixed_points.find_fixed_points` (tolerances, method, ...).

    Returns
    -------
    FixedPoints
        In the system's flat state (``network_system(net, mode=mode).layout`` names the blocks).

    Raises
    ------
    SystemError_
        Bad mode or network, ``input`` of the wrong shape, no task and no ``x``.

    Notes
    -----
    Cost: the trajectories O(B T c_step), the relaxation O(relax · n_inits · c_step), then
    :func:`find_fixed_points` on ``n_inits`` starts. The defaults (256 starts, dense LM) take
    about a second for a 64-unit Elman or GRU network on one core; ARUN joint, dim N(1 + G),
    above 1024 uses the matrix-free Krylov LM and ARPACK and takes longer.

    References
    ----------
    Sussillo & Barak (2013), Neural Comput. 25:626; Geadah et al. (2024), PLOS Comp. Biol.

    Examples
    --------
    >>> import torch
    >>> from dynan_models import build
    >>> net = build("gru", input_size=1, hidden_size=8, output_size=2).double()
    >>> fp = network_fixed_points(net, x=torch.rand(4, 20, 1), n_inits=32)
    >>> fp.states.shape[1], bool(fp.q.max() < 1e-24)
    (8, True)
    """
    system = network_system(net, mode=mode, dtype=dtype)
    constant = _constant_input(system, input, hold)
    starts = network_starts(
        system, constant, x=x, n_sequences=n_sequences, n_inits=n_inits, relax=relax, seed=seed,
        progress=progress if callable(progress) else None,
    )  # fmt: skip
    result = find_fixed_points(
        system, inputs=constant, inits=starts, seed=seed, progress=progress, **options
    )
    return _record_network(
        result, net, architecture=net.architecture, mode=mode, relax=relax, hold=hold,
        n_sequences=n_sequences if x is None else len(x),
        input=None if input is None else np.asarray(input, dtype=float).ravel().tolist(),
    )  # fmt: skip


def controller_fixed_points(
    net: ARUN,
    *,
    inputs: ArrayLike | None = None,
    n_inits: int = 64,
    seed: int = 0,
    progress: bool = False,
    **options: Any,
) -> FixedPoints:
    """Fixed points g* of the ARUN controller alone under constant pre-activations a.

    Parameters
    ----------
    net : ARUN
        An adaptive network.
    inputs : array (M,), optional
        Constant pre-activations a (default: 17 values from −4 to 4).
    n_inits : int, default 64
        Starts per input, sampled from controller trajectories under that input.
    seed : int, default 0
    progress : bool, default False
    **options
        Passed to :func:`~dynan.fixed_points.find_fixed_points`.

    Returns
    -------
    FixedPoints
        States g* (G,), ``inputs`` the a of each point.

    Raises
    ------
    SystemError_
        ``net`` is not an ARUN, or ``inputs`` is not a 1-D array of finite numbers.

    Notes
    -----
    The controller g' = tanh(u_g a + W_g g + b_g) is a G-unit tanh network (Geadah et al.
    2024, REFERENCES.md §1); the search runs all inputs as one batch: O(M n_inits G³) per LM
    iteration.

    References
    ----------
    Geadah et al. (2024), PLOS Comp. Biol. (input-dependent controller fixed points).

    Examples
    --------
    >>> from dynan_models import build
    >>> net = build("arun", input_size=1, hidden_size=4, output_size=2, controller_size=3)
    >>> fp = controller_fixed_points(net.double(), inputs=[-1.0, 0.0, 1.0], n_inits=8)
    >>> fp.inputs[:, 0].tolist()
    [-1.0, 0.0, 1.0]
    """
    if not isinstance(net, ARUN):
        raise SystemError_(
            f"controller fixed points need an ARUN network, got {type(net).__name__}"
        )
    a = np.linspace(-4.0, 4.0, 17) if inputs is None else np.asarray(inputs, dtype=np.float64)
    if a.ndim != 1 or a.size == 0 or not np.isfinite(a).all():
        raise SystemError_(
            f"inputs must be a 1-D array of finite pre-activations, got shape {a.shape}"
        )
    result = find_fixed_points(
        controller_system(net), inputs=a[:, None], n_inits=n_inits, seed=seed,
        progress=progress, **options,
    )  # fmt: skip
    return _record_network(result, net, architecture="arun", mode="controller")


def network_starts(
    system: NetworkSystem,
    constant: Tensor,
    *,
    x: ArrayLike | None = None,
    n_sequences: int = 32,
    n_inits: int = 256,
    relax: int = 1000,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> Tensor:
    """The starting states of :func:`network_fixed_points`, (n_inits, dim).

    ``progress(step, steps)``, if given, is told the relaxation's steps (every 1/64th of them;
    for a paper-size network they take tens of seconds).

    ``n_inits`` states drawn from the network's trajectories on ``x`` (default: its task's
    first ``n_sequences`` test sequences), each then run t_i steps of the constant system input
    ``constant`` (input_dim,), t_i log-uniform in [0, relax]. A run that would leave the region
    of the task states (twice their largest distance from their centroid: the constant-input
    map may diverge, e.g. an ARUN with frozen shape parameters) stops at its last state inside,
    so the starts, and the scale the search derives from them, stay where the network works.
    Cost: O((B T + relax · n_inits)
    c_step) time, O(B T dim) memory.

    Raises
    ------
    ValueError
        ``relax`` is not a non-negative integer.

    Examples
    --------
    >>> import torch
    >>> from dynan_models import build
    >>> from dynan.adapters.network import network_system
    >>> system = network_system(build("gru", input_size=1, hidden_size=4, output_size=2))
    >>> u = torch.zeros(system.input_dim, dtype=torch.float64)
    >>> network_starts(system, u, x=torch.rand(2, 9, 1), n_inits=5).shape
    torch.Size([5, 4])
    """
    if not isinstance(relax, int) or isinstance(relax, bool) or relax < 0:
        raise ValueError(f"relax must be a non-negative integer, got {relax!r}")
    orbits = task_trajectories(system, x=x, n_sequences=n_sequences, seed=seed)
    pool = orbits[:, 1:].reshape(-1, system.dim)
    gen = torch.Generator().manual_seed(seed)
    x = pool[torch.randperm(pool.shape[0], generator=gen)[:n_inits].to(pool.device)]
    log_t = torch.rand(x.shape[0], generator=gen, dtype=torch.float64) * math.log(relax + 1)
    when = (log_t.exp().floor().long() - 1).clamp(0, relax).to(pool.device)
    centre = pool.mean(0)
    bound = _REGION * float((pool - centre).norm(dim=1).max())
    out, u_batch = x.clone(), constant.expand(x.shape[0], -1)
    with torch.no_grad():
        last = int(when.max())
        every = max(1, last // 64)
        for t in range(1, last + 1):
            if progress is not None and (t - 1) % every == 0:
                progress(t - 1, last)
            new = system.step(x, u_batch)
            inside = (new - centre).norm(dim=1) <= bound  # finite too
            x = torch.where(inside[:, None], new, x)
            out = torch.where((when == t)[:, None], x, out)  # no read-back per step
    return out


def _record_network(result: FixedPoints, net: RecurrentNetwork, **fields: Any) -> FixedPoints:
    """``result`` with ``parameters["network"]``: ``fields`` and the checkpoint's path."""
    path = getattr(getattr(net, "checkpoint", None), "path", None)
    network = {**fields, "checkpoint": path}
    return dataclasses.replace(result, parameters={**result.parameters, "network": network})


def _task_inputs(net: RecurrentNetwork, n_sequences: int) -> Tensor:
    from dynan.importers import analysis_inputs

    if getattr(net, "checkpoint", None) is None:
        raise SystemError_(
            "the network has no checkpoint and so no task: pass x (B, T, D), the input "
            "sequences whose states seed the fixed-point search"
        )
    return analysis_inputs(net, n_sequences)  # a checkpoint without a task: N(0, 1) stand-ins


def _constant_input(system: NetworkSystem, value: ArrayLike | None, hold: int) -> Tensor:
    """The system input u (input_dim,) for the constant network input ``value`` (D,)."""
    d = system.network.input_size
    x = np.zeros(d) if value is None else np.asarray(value, dtype=np.float64).reshape(-1)
    if x.shape != (d,) or not np.isfinite(x).all():
        raise SystemError_(
            f"input must be {d} finite number(s) (the network's input size), got {np.shape(value)}"
        )
    seq = torch.as_tensor(x, dtype=system.dtype).expand(1, hold, d)
    return system.inputs(seq)[0, -1]
