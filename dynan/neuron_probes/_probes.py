"""The paper's single-neuron protocol: noise plus drive steps, fractional order per neuron.

Geadah et al. (2024) probe each neuron of a trained network with N(0.8, 0.1²) noise on a private
input and a step of amplitude ξ added to its pre-activation, then ask which fractional
derivative of the response best reproduces the step. Here: several ξ and noise realisations
in one batch, per-neuron and population α with bootstrap intervals, and the adaptation index.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import ArrayLike

from dynan.fractional import METHODS, FractionalFit, fit_fractional_order
from dynan.fractional._fit import check_fit_options
from dynan.neuron_probes._simulate import ProbeError, check_network, simulate_probe
from dynan.results import Result
from dynan_models import RecurrentNetwork

__all__ = ["DRIVES", "NeuronProbe", "adaptation_index", "probe_neurons"]

#: Drive kinds: a step of amplitude ξ, or N(0, ξ²) noise, inside the window.
DRIVES = ("step", "noise")
_EXAMPLES = 4


@dataclass(frozen=True)
class NeuronProbe(Result):
    """What the protocol measured on one network with one connectivity.

    Attributes
    ----------
    architecture, connectivity, drive : str
        The network's registry name; "isolated" | "intact" | "feedforward"; "step" | "noise".
    amplitudes : ndarray (K,)
        Drive amplitudes ξ.
    window : (int, int)
        Drive window [start, stop) in steps; ``steps`` the probe length.
    realisations, noise_mean, noise_std, seed
        Noise realisations of the private inputs N(noise_mean, noise_std²), and the seed.
    neurons : FractionalFit
        Per-neuron fit, arrays (K, N) (``ci`` (K, N, 2)).
    population : FractionalFit
        Fit of the neuron-averaged response, arrays (K,): the paper's "α of the mean response".
    adaptation_index : ndarray (K, N)
        (r_early − r_late)/(r_early + r_late) of the mean response in the window.
    n_mean, s_mean : ndarray (K, T)
        Shape parameters averaged over neurons and realisations (NaN without them).
    examples : ndarray (E,)
        Indices of example neurons (spread over the α range at the largest ξ).
    example_response, example_target, example_fit : ndarray (K, T, E)
        Their mean responses, the matched signal and its fit (``FractionalFit.predict``).
    """

    architecture: str
    connectivity: str
    drive: str
    amplitudes: np.ndarray
    window: tuple[int, int]
    steps: int
    realisations: int
    noise_mean: float
    noise_std: float
    seed: int
    neurons: FractionalFit
    population: FractionalFit
    adaptation_index: np.ndarray
    n_mean: np.ndarray
    s_mean: np.ndarray
    examples: np.ndarray
    example_response: np.ndarray
    example_target: np.ndarray
    example_fit: np.ndarray


def adaptation_index(
    response: ArrayLike, window: tuple[int, int], *, span: int | None = None
) -> np.ndarray:
    """Adaptation index (r_early − r_late)/(r_early + r_late) of responses to a step.

    Parameters
    ----------
    response : array_like (..., T)
        Responses (rates), time last.
    window : (int, int)
        The step [start, stop).
    span : int, optional
        Samples averaged for r_early (from ``start``) and r_late (up to ``stop``); default
        30 % of the window, at least 1 (the paper's 15 of 50).

    Returns
    -------
    numpy.ndarray (...)
        In [−1, 1] for non-negative rates: 1 for a response that fully decays, 0 without
        adaptation, negative for a response that grows. NaN where |r_early + r_late| vanishes
        (relative to |r_early| + |r_late|, or both zero): the index is undefined there.

    Raises
    ------
    ValueError
        A window outside the record or a span longer than the window.

    Notes
    -----
    Cost O(numel) time. Rates are taken as they are (no baseline subtraction), as in the
    paper; for signed activities (tanh, GRU) the index can leave [−1, 1].

    References
    ----------
    Geadah et al. (2024), PLOS Comp. Biol.; REFERENCES.md §1.

    Examples
    --------
    >>> import numpy as np
    >>> r = np.r_[np.zeros(10), 2.0 * np.exp(-np.arange(20) / 3) + 1.0, np.zeros(10)]
    >>> round(float(adaptation_index(r, (10, 30), span=3)), 3)
    0.424
    """
    r = np.asarray(response, dtype=np.float64)
    start, stop = (int(v) for v in window)
    if r.ndim == 0 or not 0 <= start < stop <= r.shape[-1]:
        raise ValueError(f"window must satisfy 0 <= start < stop <= {r.shape[-1:]}, got {window}")
    span = max(1, round(0.3 * (stop - start))) if span is None else int(span)
    if not 1 <= span <= stop - start:
        raise ValueError(f"span must be in [1, {stop - start}] (the window length), got {span}")
    early = r[..., start : start + span].mean(-1)
    late = r[..., stop - span : stop].mean(-1)
    total = early + late
    scale = np.abs(early) + np.abs(late)
    defined = np.abs(total) > 1e-9 * np.maximum(scale, 1e-300)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(
            defined & (scale > 0), (early - late) / np.where(defined, total, 1.0), np.nan
        )


def _check_protocol(
    amplitudes: Sequence[float] | np.ndarray,
    realisations: int,
    steps: int,
    window: tuple[int, int],
    drive: str,
    noise_std: float,
) -> tuple[np.ndarray, tuple[int, int]]:
    amps = np.atleast_1d(np.asarray(amplitudes, dtype=np.float64))
    if amps.ndim != 1 or amps.size == 0 or not np.isfinite(amps).all():
        raise ProbeError(
            f"amplitudes must be a non-empty 1-D list of finite numbers, got {amplitudes!r}"
        )
    if (amps == 0).any():
        raise ProbeError("amplitudes must be non-zero: a zero drive has no order to fit")
    if not isinstance(realisations, int) or realisations < 1:
        raise ProbeError(f"realisations must be a positive integer, got {realisations!r}")
    if not isinstance(steps, int) or steps < 8:
        raise ProbeError(f"steps must be an integer >= 8, got {steps!r}")
    start, stop = (int(v) for v in window)
    if not 0 < start < stop < steps:
        raise ProbeError(
            f"window must satisfy 0 < start < stop < steps = {steps} (room before and after the "
            f"drive), got {window}"
        )
    if drive not in DRIVES:
        raise ProbeError(f"drive must be one of {', '.join(map(repr, DRIVES))}, got {drive!r}")
    if not math.isfinite(noise_std) or noise_std < 0:
        raise ProbeError(f"noise_std must be a non-negative number, got {noise_std}")
    return amps, (start, stop)


def _pick_examples(fit: FractionalFit, count: int) -> np.ndarray:
    """Valid neurons at evenly spaced ranks of α at the largest amplitude."""
    alpha = fit.alpha[-1]
    valid = np.flatnonzero(fit.valid[-1])
    if valid.size == 0:
        return np.arange(min(count, alpha.size))
    ranked = valid[np.argsort(alpha[valid], kind="stable")]
    picks = np.unique(
        np.round(np.linspace(0, ranked.size - 1, min(count, ranked.size))).astype(int)
    )
    return ranked[picks]


def probe_neurons(
    network: RecurrentNetwork,
    *,
    connectivity: str = "isolated",
    drive: str = "step",
    amplitudes: Sequence[float] | np.ndarray = (1.0, 2.5, 5.0, 10.0),
    realisations: int = 4,
    steps: int = 150,
    window: tuple[int, int] = (50, 100),
    noise_mean: float = 0.8,
    noise_std: float = 0.1,
    method: str = "gl",
    target: str = "stimulus",
    bounds: tuple[float, float] = (-1.0, 1.0),
    fit_range: tuple[int, int] | None = None,
    resolution: float = 0.05,
    bootstrap: int = 100,
    seed: int = 0,
    progress: bool = False,
) -> NeuronProbe:
    """Probe every neuron of a network with noise plus drives; fit a fractional order each.

    Parameters
    ----------
    network : dynan_models.RecurrentNetwork
        Any zoo network (Elman variants, ARUN, GRU, LSTM), e.g. from ``dynan.load``.
    connectivity : {"isolated", "intact", "feedforward"}
        Recurrence kept: only each neuron's self-connection (the paper's isolated neurons),
        all of it, or none. In every case neuron i receives only its private input x_i
        (the input weights replaced by their diagonal).
    drive : {"step", "noise"}
        Added to every pre-activation inside ``window``: ξ, or N(0, ξ²) noise per neuron.
    amplitudes : sequence of float
        Drive amplitudes ξ (non-zero).
    realisations : int
        Independent draws of the private inputs x_i(t) ~ N(noise_mean, noise_std²) (shared
        across amplitudes: common random numbers).
    steps, window
        Probe length and drive window [start, stop).
    method, target, bounds, fit_range, resolution, bootstrap
        Passed to :func:`dynan.fractional.fit_fractional_order`; ``fit_range`` defaults to
        [start // 2, steps) (dropping the onset from the zero initial state).
    seed : int
        Seeds the inputs and the bootstrap.
    progress : bool
        Show a progress bar over time steps.

    Returns
    -------
    NeuronProbe

    Raises
    ------
    ProbeError
        Not a network, unknown connectivity/drive, a window without room before and after it,
        zero or non-finite amplitudes, or non-finite activity.

    Notes
    -----
    Protocol (Geadah et al. 2024, REFERENCES.md §1): all R·K sequences (realisations ×
    amplitudes) run as one batch of the network's own recurrence in float64. The matched
    signal ("stimulus") is the drive. For a step drive the fit uses the response averaged over
    realisations (as the paper does; ``combine="mean"``), for a noise drive the realisations
    are stacked (their drives differ); the bootstrap interval resamples realisations. The
    population α fits the neuron-averaged response ("α of the mean response" in the paper).

    With ``target="stimulus"`` (the paper's convention) α < 0 marks a neuron that
    differentiates its input (adapts) and α > 0 one that integrates it. In that convention
    the response's noise passes through D^α (an errors-in-variables bias towards orders that
    amplify noise less): use several realisations, or ``target="response"``, whose noise
    stays in the fitted signal.

    What to expect: a ReLU neuron with no recurrence that stays active responds with
    h = u x + b + ξ (proportional to the step) → α = 0; one with a self-connection of 1
    integrates, h_t = h_{t−1} + a_t → α = 1 exactly (Grünwald–Letnikov).

    Cost: the simulation, O(R K T) network steps on N neurons, plus the fit,
    O(G R K N T log T) for G = (bounds width)/resolution orders.

    References
    ----------
    Geadah, V. et al. (2024). Neural networks with optimized single-neuron adaptation uncover
    biologically plausible regularization. PLOS Comp. Biol.

    Examples
    --------
    >>> import dynan_models
    >>> net = dynan_models.build(
    ...     "arun", input_size=1, hidden_size=8, output_size=10, controller_size=4
    ... )
    >>> probe = probe_neurons(net, amplitudes=(1.0, 2.0), realisations=2, steps=60,
    ...                       window=(20, 40), bootstrap=0)
    >>> probe.neurons.alpha.shape
    (2, 8)
    """
    hidden = check_network(network).hidden_size
    amps, window = _check_protocol(amplitudes, realisations, steps, window, drive, noise_std)
    if method not in METHODS:  # the fit's options are checked before the simulation runs
        raise ProbeError(f"method must be one of {', '.join(map(repr, METHODS))}, got {method!r}")
    try:
        check_fit_options(target, bounds, resolution, bootstrap, 0.95)
    except ValueError as err:
        raise ProbeError(str(err)) from err
    start, stop = window
    rng = torch.Generator().manual_seed(int(seed))
    noise = noise_mean + noise_std * torch.randn(realisations, 1, steps, hidden, generator=rng)
    mask = torch.zeros(steps, dtype=torch.float64)
    mask[start:stop] = 1.0
    shape = (realisations, amps.size, steps, hidden)
    if drive == "step":
        drive_signal = torch.ones(shape, dtype=torch.float64)
    else:
        drive_signal = torch.randn(shape, generator=rng, dtype=torch.float64)
    drive_signal = drive_signal * torch.as_tensor(amps)[None, :, None, None] * mask[:, None]
    x = noise.expand(shape).reshape(-1, steps, hidden).numpy()
    traj = simulate_probe(
        network,
        x,
        drive_signal.reshape(-1, steps, hidden).numpy(),
        connectivity=connectivity,
        progress=progress,
    )
    response = np.moveaxis(traj.hidden.reshape(shape), 2, 3)  # (R, K, N, T)
    stimulus = np.moveaxis(drive_signal.numpy(), 2, 3)
    options = {
        "method": method,
        "target": target,
        "bounds": bounds,
        "fit_range": (start // 2, steps) if fit_range is None else fit_range,
        "resolution": resolution,
        "bootstrap": bootstrap,
        "seed": seed,
        "realisation_axis": 0,
        "combine": "mean" if drive == "step" else "stack",
    }
    neurons = fit_fractional_order(response, stimulus, **options)
    population = fit_fractional_order(response.mean(2), stimulus.mean(2), **options)
    mean_response = response.mean(0)  # (K, N, T)
    mean_stimulus = stimulus.mean(0)
    examples = _pick_examples(neurons, _EXAMPLES)
    fitted = neurons.predict(mean_response, mean_stimulus)  # (K, N, T)
    matched = mean_stimulus if target == "stimulus" else mean_response
    matched = np.broadcast_to(matched, mean_response.shape)

    def traces(a: np.ndarray | None) -> np.ndarray:
        if a is None:
            return np.full((amps.size, steps), np.nan)
        return a.reshape(shape).mean(axis=(0, 3))

    return NeuronProbe(
        architecture=network.architecture,
        connectivity=connectivity,
        drive=drive,
        amplitudes=amps,
        window=window,
        steps=steps,
        realisations=realisations,
        noise_mean=float(noise_mean),
        noise_std=float(noise_std),
        seed=int(seed),
        neurons=neurons,
        population=population,
        adaptation_index=adaptation_index(mean_response, window),
        n_mean=traces(traj.n),
        s_mean=traces(traj.s),
        examples=examples,
        example_response=np.moveaxis(mean_response[:, examples], 1, 2),
        example_target=np.moveaxis(matched[:, examples], 1, 2),
        example_fit=np.moveaxis(fitted[:, examples], 1, 2),
    )
