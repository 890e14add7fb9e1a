"""Figures of model facts that are not analysis-specific: accuracy, learned and adaptive shapes.

Each function takes a record from :mod:`dynan.report.model_data` and an optional axes, and
returns the axes it drew on (house style from :mod:`dynan.report.style`).
"""

from __future__ import annotations

import matplotlib.colors as mcolors
import numpy as np
from matplotlib.axes import Axes

from dynan.report.model_data import AccuracyTable, ShapeParameters, ShapeTraces
from dynan.report.style import PALETTE, architecture_color, get_axes

__all__ = ["plot_accuracy", "plot_shape_parameters", "plot_shape_traces"]


def _colors(architectures: tuple) -> list:
    """One colour per checkpoint: its architecture's, lightened for repeated architectures."""
    seen: dict[str, int] = {}
    out = []
    for arch in architectures:
        k = seen.get(arch, 0)
        seen[arch] = k + 1
        rgb = np.array(mcolors.to_rgb(architecture_color(arch)))
        out.append(tuple(rgb + (1 - rgb) * min(0.6, 0.25 * k)))
    return out


def plot_accuracy(table: AccuracyTable, ax: Axes | None = None, *, relative: bool = False) -> Axes:
    """Grouped bars: accuracy per perturbation (x) for each checkpoint (colour).

    Parameters
    ----------
    table : AccuracyTable
    ax : Axes, optional
    relative : bool
        Plot perturbed / clean accuracy (robustness) instead of raw accuracy.
    """
    width_in = max(5.0, 1.2 + 0.35 * table.accuracy.size)
    ax = get_axes(ax, figsize=(min(width_in, 12.0), 3.6))
    values = table.robustness if relative else table.accuracy
    n_ckpt, n_pert = values.shape
    width = 0.8 / n_ckpt
    x = np.arange(n_pert)
    for i, (name, color) in enumerate(zip(table.names, _colors(table.architectures), strict=True)):
        heights = np.nan_to_num(values[i], nan=0.0)
        ax.bar(
            x - 0.4 + width * (i + 0.5),
            heights,
            width,
            color=color,
            label=name,
            edgecolor="white",
            linewidth=0.5,
        )
    labels = [
        p if p == "clean" or np.isnan(a) else f"{p}\n(amp. {a:g})"
        for p, a in zip(table.perturbations, table.amplitudes, strict=True)
    ]
    ax.set_xticks(x, labels)
    ax.set_ylabel("perturbed / clean accuracy" if relative else "test accuracy")
    ax.set_ylim(0, max(1.0, float(np.nanmax(values, initial=1.0))) * 1.02)
    if n_ckpt > 1:
        ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return ax


def plot_shape_parameters(shape: ShapeParameters, ax: Axes | None = None) -> Axes:
    """Scatter of the learned gain n_i against saturation s_i, one point per neuron.

    Parameters
    ----------
    shape : ShapeParameters
    ax : Axes, optional
    """
    ax = get_axes(ax, figsize=(4.5, 3.6))
    color = architecture_color(shape.architecture)
    n, s = np.broadcast_arrays(shape.n, shape.s)
    ax.scatter(
        n, s, s=18 if n.size > 1 else 60, color=color, alpha=0.8, edgecolor="white", linewidth=0.4
    )
    ax.axhline(0.0, color="0.7", lw=0.8, zorder=0)
    ax.axhline(1.0, color="0.7", lw=0.8, ls="--", zorder=0)
    ax.set_xlabel("gain $n_i$")
    ax.set_ylabel("saturation $s_i$")
    ax.set_title(f"{shape.name}: {n.size} neuron{'s' if n.size > 1 else ''}", fontsize="small")
    return ax


def plot_shape_traces(
    traces: ShapeTraces, ax: Axes | None = None, *, parameter: str = "n"
) -> Axes:
    """Mean n_t (or s_t) over time for each drive amplitude, with the 10–90 % band over neurons.

    Parameters
    ----------
    traces : ShapeTraces
    ax : Axes, optional
    parameter : {"n", "s"}

    Raises
    ------
    ValueError
        If ``parameter`` is neither "n" nor "s".
    """
    if parameter not in ("n", "s"):
        raise ValueError(f"parameter must be 'n' or 's', got {parameter!r}")
    ax = get_axes(ax, figsize=(5.0, 3.4))
    mean, low, high = (getattr(traces, f"{parameter}_{k}") for k in ("mean", "low", "high"))
    t = np.arange(traces.steps)
    driven = [a for a in traces.amplitudes if a != 0]
    ramp = dict(zip(driven, _ramp(len(driven)), strict=True))
    for k, amplitude in enumerate(traces.amplitudes):
        color = ramp.get(amplitude, "0.45")
        ax.fill_between(t, low[k], high[k], color=color, alpha=0.15, lw=0)
        ax.plot(t, mean[k], color=color, lw=1.6, label=f"ξ = {amplitude:g}")
    start, stop = traces.window
    ax.axvspan(start, stop, color="0.5", alpha=0.12, lw=0, label="drive on")
    ax.set_xlabel("time step t")
    ax.set_ylabel(f"${parameter}_t$ (mean over neurons)")
    ax.legend(fontsize="x-small", loc="best")
    return ax


def _ramp(count: int) -> list:
    """``count`` colours from light to dark red (the ARUN colour family)."""
    base = np.array(mcolors.to_rgb(PALETTE["arun"]))
    weights = np.linspace(0.55, 0.0, count) if count > 1 else np.zeros(1)
    return [tuple(base + (1 - base) * w) for w in weights]
