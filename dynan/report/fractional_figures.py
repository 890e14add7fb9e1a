"""Figures of single-neuron coding: fractional orders, gain scaling, example fits, Bode plots.

Each ``plot_*`` function takes a result from :mod:`dynan.fractional` or
:mod:`dynan.neuron_probes` and an optional axes, and returns the axes it drew on;
``figure_*`` functions lay several out for the CLI and the report.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from dynan.fractional import FrequencyResponse
from dynan.neuron_probes import (
    AlphaComparison,
    FractionalAnalysis,
    GainScaling,
    NeuronProbe,
    exponential_law,
    power_law,
)
from dynan.report.style import architecture_color, get_axes, save_figure, use_style

__all__ = [
    "figure_alpha",
    "figure_alpha_comparison",
    "figure_examples",
    "figure_gain",
    "plot_adaptation_index",
    "plot_alpha_comparison",
    "plot_alpha_distribution",
    "plot_example_responses",
    "plot_frequency_response",
    "plot_gain_scaling",
    "plot_population_alpha",
    "save_fractional_figures",
]

_INTACT = "#333333"


def _colors(analysis: FractionalAnalysis) -> dict[str, str]:
    return {"isolated": architecture_color(analysis.architecture), "intact": _INTACT}


def _alpha_label(target: str) -> str:
    sign = "paper" if target == "stimulus" else "Lundstrom"
    return f"fractional order α ({sign} convention)"


def plot_alpha_distribution(
    analysis: FractionalAnalysis, ax: Axes | None = None, *, amplitude: int = -1
) -> Axes:
    """Histogram of per-neuron α, isolated vs intact, at one drive amplitude.

    Vertical dashed lines mark the population α (fit of the neuron-averaged response); the
    legend counts the neurons whose best α lies on a bound of the search (piled in the edge
    bins: their true order may lie beyond it).
    """
    ax = get_axes(ax)
    colors = _colors(analysis)
    probes = {"isolated": analysis.isolated, "intact": analysis.intact}
    lo, hi = analysis.isolated.neurons.bounds
    bins = np.linspace(lo, hi, 21)
    for name, probe in probes.items():
        alpha = probe.neurons.alpha[amplitude]
        alpha = alpha[np.isfinite(alpha)]
        bound = int(probe.neurons.at_bound[amplitude].sum())
        label = f"{name} (n={alpha.size}" + (f", {bound} at a bound)" if bound else ")")
        ax.hist(alpha, bins=bins, color=colors[name], alpha=0.55, label=label, edgecolor="white")
        pop = probe.population.alpha[amplitude]
        if np.isfinite(pop):
            ax.axvline(pop, color=colors[name], linestyle="--", linewidth=1.5)
    ax.axvline(0.0, color="#bbbbbb", linewidth=0.8, zorder=0)
    xi = analysis.isolated.amplitudes[amplitude]
    ax.set(xlabel=_alpha_label(analysis.target), ylabel="neurons", xlim=(lo, hi))
    ax.set_title(f"{analysis.name}: α per neuron at ξ = {xi:g}")
    ax.plot([], [], color="#555555", linestyle="--", label="population α")
    _legend_below(ax)
    return ax


def plot_population_alpha(analysis: FractionalAnalysis, ax: Axes | None = None) -> Axes:
    """Population α against ξ with bootstrap intervals, and the median per-neuron α."""
    ax = get_axes(ax)
    colors = _colors(analysis)
    for name, probe in (("isolated", analysis.isolated), ("intact", analysis.intact)):
        xi = probe.amplitudes
        pop, ci = probe.population.alpha, probe.population.ci
        err = np.abs(np.stack([pop - ci[:, 0], ci[:, 1] - pop]))
        ax.errorbar(
            xi,
            pop,
            yerr=np.nan_to_num(err),
            color=colors[name],
            marker="o",
            capsize=3,
            label=f"{name}: population",
        )
        finite = np.isfinite(probe.neurons.alpha).any(axis=1)
        median = np.full(xi.size, np.nan)
        median[finite] = np.nanmedian(probe.neurons.alpha[finite], axis=1)
        ax.plot(xi, median, color=colors[name], linestyle=":", label=f"{name}: median neuron")
    ax.axhline(0.0, color="#bbbbbb", linewidth=0.8, zorder=0)
    ax.set(xlabel="drive amplitude ξ", ylabel=_alpha_label(analysis.target))
    ax.set_title("α against drive amplitude")
    ax.legend(frameon=False, fontsize="small", loc="best")
    return ax


def plot_adaptation_index(analysis: FractionalAnalysis, ax: Axes | None = None) -> Axes:
    """Adaptation index (r_early − r_late)/(r_early + r_late) against ξ: median and IQR."""
    ax = get_axes(ax)
    colors = _colors(analysis)
    for name, probe in (("isolated", analysis.isolated), ("intact", analysis.intact)):
        index = probe.adaptation_index
        defined = np.isfinite(index).any(axis=1)
        quartiles = np.full((3, index.shape[0]), np.nan)
        quartiles[:, defined] = np.nanpercentile(index[defined], [25, 50, 75], axis=1)
        xi = probe.amplitudes
        ax.plot(xi, quartiles[1], marker="o", color=colors[name], label=f"{name}: median")
        ax.fill_between(xi, quartiles[0], quartiles[2], color=colors[name], alpha=0.2, lw=0)
    ax.axhline(0.0, color="#bbbbbb", linewidth=0.8, zorder=0)
    ax.set(xlabel="drive amplitude ξ", ylabel="adaptation index")
    ax.set_title("adaptation index per neuron (band: 25–75 %)")
    ax.legend(frameon=False, fontsize="small", loc="best")
    return ax


def plot_alpha_comparison(
    comparison: AlphaComparison, ax: Axes | None = None, *, connectivity: str = "isolated"
) -> Axes:
    """Per-neuron α of several networks side by side (each at its largest ξ).

    One box (quartiles, whiskers to 1.5 IQR) with the neurons as points per network, coloured
    by architecture; a black diamond marks the population α.
    """
    if connectivity not in comparison.connectivities:
        raise ValueError(
            f"connectivity must be one of {comparison.connectivities}, got {connectivity!r}"
        )
    j = comparison.connectivities.index(connectivity)
    count = len(comparison.names)
    ax = get_axes(ax, figsize=(max(4.0, 0.7 * count + 1.5), 3.8))
    rng = np.random.default_rng(0)  # jitter only
    for k, architecture in enumerate(comparison.architectures):
        alpha = comparison.neuron_alpha[k, j]
        alpha = alpha[np.isfinite(alpha)]
        color = architecture_color(architecture)
        if alpha.size:
            ax.boxplot(
                alpha,
                positions=[k],
                widths=0.6,
                showfliers=False,
                medianprops={"color": color, "linewidth": 2},
            )
            jitter = rng.uniform(-0.18, 0.18, alpha.size)
            ax.plot(k + jitter, alpha, ".", color=color, alpha=0.6, markersize=4)
        ax.plot(k, comparison.population_alpha[k, j], "D", color="k", markersize=5)
    ax.plot([], [], "D", color="k", markersize=5, label="population α")
    ax.axhline(0.0, color="#bbbbbb", linewidth=0.8, zorder=0)
    ax.set_xticks(range(count), comparison.names, rotation=35, ha="right")
    ax.set_xlim(-0.6, count - 0.4)
    ax.set(ylabel=_alpha_label(comparison.target).replace("fractional order ", ""))
    ax.set_title(f"{connectivity} neurons: α at the largest ξ")
    ax.legend(frameon=False, fontsize="small", loc="best")
    return ax


def plot_gain_scaling(gain: GainScaling, ax: Axes | None = None, *, parameter: str = "n") -> Axes:
    """Mean n (or s) against ξ with the fitted a ξ^{−b} + c (or a e^{−bξ} + c)."""
    if parameter not in ("n", "s"):
        raise ValueError(f"parameter must be 'n' or 's', got {parameter!r}")
    ax = get_axes(ax)
    values = getattr(gain, parameter)
    params = getattr(gain, f"{parameter}_params")
    ok = getattr(gain, f"{parameter}_ok")
    color = architecture_color(gain.architecture)
    name = {"n": "gain n", "s": "saturation s"}[parameter]
    ax.set(xlabel="drive amplitude ξ", ylabel=f"mean {name}")
    ax.set_title(f"{name} against ξ ({gain.connectivity})")
    if not np.isfinite(values).any():
        ax.text(
            0.5, 0.5, getattr(gain, f"{parameter}_message"), ha="center", transform=ax.transAxes
        )
        return ax
    ax.plot(gain.amplitudes, values, "o", color=color, label="measured")
    if ok:
        law, text = (
            (power_law, "a ξ^(−b) + c") if parameter == "n" else (exponential_law, "a e^(−bξ) + c")
        )
        xi = np.linspace(max(gain.amplitudes.min(), 1e-3), gain.amplitudes.max(), 200)
        a, b, c = params
        b_err = getattr(gain, f"{parameter}_stderr")[1]
        label = f"{text}, b = {b:.3g} ± {b_err:.2g}"
        ax.plot(xi, law(xi, a, b, c), "--", color=color, label=label)
    else:
        ax.text(
            0.02,
            0.02,
            getattr(gain, f"{parameter}_message"),
            transform=ax.transAxes,
            fontsize="small",
        )
    ax.legend(frameon=False, fontsize="small")
    return ax


def _legend_below(ax: Axes) -> None:
    ax.legend(
        frameon=False, fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3
    )


def _unit(curve: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``curve`` mapped by the affine map that sends ``reference`` onto [0, 1]."""
    finite = reference[np.isfinite(reference)]
    if finite.size == 0:
        return np.full_like(curve, np.nan)
    return (curve - finite.min()) / (np.ptp(finite) or 1.0)


def plot_example_responses(
    probe: NeuronProbe, ax: Axes | None = None, *, amplitude: int = -1
) -> Axes:
    """Example neurons: response (solid), matched signal (grey) and its fractional fit (dashed).

    Each neuron is stacked; its response is scaled to [0, 1], the matched signal too and the
    fit with the same map as the matched signal (so a good fit overlays it). The drive window
    is shaded; each neuron is labelled with its α (* on a bound of the search) and the R² of
    its fit.
    """
    ax = get_axes(ax, figsize=(5, 4.5))
    t = np.arange(probe.steps)
    color = architecture_color(probe.architecture)
    for k, neuron in enumerate(probe.examples):
        base = -1.3 * k
        response = probe.example_response[amplitude, :, k]
        target = probe.example_target[amplitude, :, k]
        fit = probe.example_fit[amplitude, :, k].copy()
        start, stop = probe.neurons.fit_range
        fit[:start], fit[stop:] = np.nan, np.nan  # the fit holds only where it was fitted
        ax.plot(t, base + _unit(response, response), color=color, linewidth=1.2)
        ax.plot(t, base + _unit(target, target), color="#999999", linewidth=1.2)
        ax.plot(t, base + _unit(fit, target), color="k", linestyle="--", linewidth=1.2)
        alpha = probe.neurons.alpha[amplitude, neuron]
        bound = "*" if probe.neurons.at_bound[amplitude, neuron] else ""
        r2 = 1 - probe.neurons.residual[amplitude, neuron]
        label = f" #{neuron}\n α={alpha:.2f}{bound}\n R²={r2:.2f}"
        ax.text(probe.steps, base + 0.5, label, va="center", fontsize="small")
    ax.axvspan(*probe.window, color="#f2e8c9", zorder=0)
    ax.set_yticks([])
    ax.set(xlabel="step t", xlim=(0, probe.steps * 1.15))
    xi = probe.amplitudes[amplitude]
    ax.set_title(f"{probe.connectivity}: response, drive and fit (ξ = {xi:g})")
    ax.plot([], [], color=color, label="response h")
    ax.plot([], [], color="#999999", label="matched signal")
    ax.plot([], [], color="k", linestyle="--", label="fractional fit")
    _legend_below(ax)
    return ax


def plot_frequency_response(
    result: FrequencyResponse,
    ax: Axes | None = None,
    *,
    quantity: str = "gain",
    series: tuple[int, ...] = (),
) -> Axes:
    """Gain (log–log, with the (2πf)^α_gain line) or phase (/90°, with α_gain) of one series."""
    if quantity not in ("gain", "phase"):
        raise ValueError(f"quantity must be 'gain' or 'phase', got {quantity!r}")
    ax = get_axes(ax)
    f = result.frequencies
    alpha = float(result.alpha_gain[series])
    if quantity == "gain":
        gain = result.gain[(slice(None), *series)]
        ax.loglog(f, gain, "o", color="k", label="measured")
        line = np.exp(np.mean(np.log(gain) - alpha * np.log(2 * np.pi * f)))
        ax.loglog(f, line * (2 * np.pi * f) ** alpha, "--", label=f"slope α = {alpha:.3f}")
        ax.set(xlabel="frequency", ylabel="gain |H|")
    else:
        phase = result.phase[(slice(None), *series)] / (np.pi / 2)
        ax.semilogx(f, phase, "o", color="k", label="measured phase / 90°")
        ax.axhline(alpha, linestyle="--", label=f"α from gain = {alpha:.3f}")
        ax.axhspan(alpha - result.tolerance, alpha + result.tolerance, color="#dddddd", zorder=0)
        ax.set(xlabel="frequency", ylabel="phase / 90°")
    agree = "agree" if bool(result.agree[series]) else "disagree"
    ax.set_title(f"gain and phase {agree} (deviation {float(result.deviation[series]):.3f})")
    ax.legend(frameon=False, fontsize="small")
    return ax


def _pair(figsize: tuple[float, float] = (10, 3.8)) -> tuple[Figure, np.ndarray]:
    use_style()
    return plt.subplots(1, 2, figsize=figsize, layout="constrained")


def figure_alpha(analysis: FractionalAnalysis) -> Figure:
    """α per neuron (isolated vs intact) and population α against ξ, side by side."""
    fig, axes = _pair()
    plot_alpha_distribution(analysis, axes[0])
    plot_population_alpha(analysis, axes[1])
    return fig


def figure_gain(analysis: FractionalAnalysis) -> Figure:
    """Gain scaling: mean n and mean s against ξ with their fits."""
    fig, axes = _pair()
    plot_gain_scaling(analysis.gain, axes[0], parameter="n")
    plot_gain_scaling(analysis.gain, axes[1], parameter="s")
    return fig


def figure_examples(analysis: FractionalAnalysis) -> Figure:
    """Example responses with their fits, isolated and intact."""
    fig, axes = _pair((11, 4.8))
    plot_example_responses(analysis.isolated, axes[0])
    plot_example_responses(analysis.intact, axes[1])
    return fig


def figure_alpha_comparison(comparison: AlphaComparison) -> Figure:
    """α per neuron across networks, isolated and intact side by side on one α scale."""
    fig, axes = _pair((max(8.0, 1.2 * len(comparison.names) + 3), 4.2))
    for ax, connectivity in zip(axes, comparison.connectivities, strict=True):
        plot_alpha_comparison(comparison, ax, connectivity=connectivity)
    lows, highs = zip(*(ax.get_ylim() for ax in axes), strict=True)
    for ax in axes:
        ax.set_ylim(min(lows), max(highs))
    return fig


def save_fractional_figures(
    analysis: FractionalAnalysis, out: str | os.PathLike, *, prefix: str | None = None
) -> dict[str, Path]:
    """Write the three figures as ``<prefix>-fractional-{alpha,gain,examples}.png`` in ``out``."""
    out = Path(out)
    prefix = analysis.name if prefix is None else prefix
    figures = {"alpha": figure_alpha, "gain": figure_gain, "examples": figure_examples}
    return {
        key: save_figure(make(analysis), out / f"{prefix}-fractional-{key}.png")
        for key, make in figures.items()
    }
