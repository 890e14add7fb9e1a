"""Figures of Lyapunov analyses: the spectrum, its convergence, finite-time exponents, λ₁
against drive amplitude.

Each ``plot_*`` function takes a result from :mod:`dynan.lyapunov` (a spectrum or finite-time)
or :mod:`dynan.report.drive_sweep` and an optional axes, and returns the axes it drew on;
:func:`save_lyapunov_figures` writes the two figures of a spectrum for the CLI and the report.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes

from dynan.lyapunov import FiniteTimeLyapunov, LyapunovSpectrum
from dynan.report.drive_sweep import DriveSweep
from dynan.report.style import architecture_color, get_axes, save_figure

__all__ = [
    "plot_convergence",
    "plot_drive_sweep",
    "plot_finite_time",
    "plot_lambda1_comparison",
    "plot_spectrum",
    "save_lyapunov_figures",
]

#: Line style of each drive-sweep condition.
_CONDITION_STYLES = {"static": "-", "adaptive": "-", "fixed": "--", "joint": ":"}
#: Markers of successive checkpoints of one architecture.
_MARKERS = ("o", "s", "^", "v", "D")


def _color(result: LyapunovSpectrum | FiniteTimeLyapunov, color: str | None) -> str:
    return color or architecture_color(result.metadata.get("architecture", ""))


def _yerr(value: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Matplotlib's (2, n) ``yerr`` of an interval [low, high] around ``value``."""
    return np.abs(np.stack([np.subtract(value, low), np.subtract(high, value)]).reshape(2, -1))


def _title(result: LyapunovSpectrum | FiniteTimeLyapunov) -> str:
    name = result.metadata.get("checkpoint")
    if not name:
        return result.system
    mode = result.metadata.get("mode")
    return f"{Path(name).stem} ({mode})" if mode else Path(name).stem


def plot_spectrum(
    result: LyapunovSpectrum, ax: Axes | None = None, *, color: str | None = None
) -> Axes:
    """Exponents against their index with the confidence interval over trials.

    Exponents of −inf (collapsed directions) cannot be drawn and are counted in the legend.
    The text box gives λ₁, the Kaplan–Yorke dimension and the entropy-rate bound.
    """
    ax = get_axes(ax)
    color = _color(result, color)
    index = np.arange(1, result.k + 1)
    lam = result.exponents
    shown = np.isfinite(lam)
    ax.axhline(0.0, color="0.6", lw=0.8, zorder=0)
    errors = _yerr(lam, result.ci_low, result.ci_high)
    has_ci = shown & np.isfinite(errors).all(axis=0)
    ax.errorbar(
        index[has_ci], lam[has_ci], yerr=errors[:, has_ci], fmt="none", ecolor=color, alpha=0.5
    )
    label = f"{result.trials} trial{'s' if result.trials > 1 else ''}"
    if (~shown).any():
        label += f"; {(~shown).sum()} at −inf not shown"
    ax.plot(index[shown], lam[shown], "o-", color=color, ms=3.5, lw=1, label=label)
    ky = result.kaplan_yorke
    text = f"λ₁ = {lam[0]:+.4f}\nD_KY = {ky:.3f}" if np.isfinite(ky) else f"λ₁ = {lam[0]:+.4f}"
    text += f"\nΣλ⁺ = {result.entropy_rate:.4f}"
    ax.text(0.98, 0.97, text, transform=ax.transAxes, ha="right", va="top", fontsize=8)
    ax.set_xlabel("index i")
    ax.set_ylabel(f"λ_i ({result.units})")
    ax.set_title(f"Lyapunov spectrum: {_title(result)}")
    ax.legend(loc="lower left", fontsize=8, frameon=False)
    return ax


def plot_convergence(
    result: LyapunovSpectrum,
    ax: Axes | None = None,
    *,
    n_exponents: int = 3,
    color: str | None = None,
) -> Axes:
    """Running estimate of the leading exponents against measured steps (or time).

    Solid lines are the mean over trials, shaded bands the range over trials; a flat tail shows
    that ``n_steps`` sufficed.
    """
    ax = get_axes(ax)
    base = _color(result, color)
    steps = result.running_steps * (result.dt or 1.0)
    shades = np.linspace(1.0, 0.45, max(1, min(n_exponents, result.k)))
    for i, shade in enumerate(shades):
        run = result.running[:, :, i]
        if not np.isfinite(run).all():
            continue
        ax.fill_between(steps, run.min(1), run.max(1), color=base, alpha=0.15 * shade, lw=0)
        ax.plot(steps, run.mean(1), color=base, alpha=shade, lw=1.2, label=f"λ_{i + 1}")
    ax.axhline(0.0, color="0.6", lw=0.8, zorder=0)
    ax.set_xlabel("measured time" if result.dt else "measured steps")
    ax.set_ylabel(f"running estimate ({result.units})")
    ax.set_title(f"Convergence: {_title(result)}")
    if ax.get_legend_handles_labels()[0]:  # every leading exponent may be −inf
        ax.legend(loc="best", fontsize=8, frameon=False)
    return ax


def plot_finite_time(
    result: FiniteTimeLyapunov,
    ax: Axes | None = None,
    *,
    index: int = 0,
    label: str | None = None,
    color: str | None = None,
) -> Axes:
    """Finite-time exponent ``index`` (0: the maximal) against time from the event.

    Points sit at window centres; the band is the confidence interval over trials; the dashed
    line marks the event (e.g. drive onset).
    """
    ax = get_axes(ax)
    color = _color(result, color)
    centres = result.centers * (result.dt or 1.0)
    ax.axhline(0.0, color="0.6", lw=0.8, zorder=0)
    ax.axvline(0.0, color="0.4", lw=0.8, ls="--", zorder=0)
    low, high = result.ci_low[:, index], result.ci_high[:, index]
    if np.isfinite(low).all() and np.isfinite(high).all():
        ax.fill_between(centres, low, high, color=color, alpha=0.2, lw=0)
    ax.plot(centres, result.exponents[:, index], "o-", color=color, ms=3, lw=1.2, label=label)
    ax.set_xlabel("time from event" + ("" if result.dt else " (steps)"))
    ax.set_ylabel(f"finite-time λ_{index + 1} ({result.units}, window {result.window})")
    ax.set_title(f"Finite-time exponent: {_title(result)}")
    if label:
        ax.legend(loc="best", fontsize=8, frameon=False)
    return ax


def plot_drive_sweep(
    sweeps: DriveSweep | Sequence[DriveSweep],
    ax: Axes | None = None,
    *,
    conditions: Sequence[str] | None = None,
) -> Axes:
    """λ₁ against drive amplitude ξ for one or several networks, every condition a line.

    Colours follow the architecture (markers tell checkpoints of one architecture apart); line
    styles the condition (solid: adaptive or static, dashed: fixed shape parameters, dotted:
    joint state); the legend sits to the right of the axes. Bands are the confidence intervals
    over trials; the grey line marks λ₁ = 0 (the edge of chaos). ``conditions`` restricts the
    lines drawn (default all).
    """
    ax = get_axes(ax, figsize=(7.5, 3.8))
    sweeps = [sweeps] if isinstance(sweeps, DriveSweep) else list(sweeps)
    ax.axhline(0.0, color="0.6", lw=0.8, zorder=0)
    seen: dict[str, int] = {}  # checkpoints of one architecture share a colour: vary markers
    for sweep in sweeps:
        color = architecture_color(sweep.architecture)
        marker = _MARKERS[seen.get(sweep.architecture, 0) % len(_MARKERS)]
        seen[sweep.architecture] = seen.get(sweep.architecture, 0) + 1
        for row, condition in enumerate(sweep.conditions):
            if conditions is not None and condition not in conditions:
                continue
            low, high = sweep.ci_low[row], sweep.ci_high[row]
            if np.isfinite(low).all() and np.isfinite(high).all():
                ax.fill_between(sweep.amplitudes, low, high, color=color, alpha=0.12, lw=0)
            label = sweep.name if condition == "static" else f"{sweep.name} ({condition})"
            ax.plot(
                sweep.amplitudes, sweep.lambda1[row], marker=marker, ms=3.5, lw=1.2,
                color=color, ls=_CONDITION_STYLES.get(condition, "-"), label=label,
            )  # fmt: skip
    ax.set_xlabel("drive amplitude ξ")
    ax.set_ylabel("λ₁ (nats/step)")
    ax.set_title("Maximal exponent against drive")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    return ax


def plot_lambda1_comparison(
    results: Sequence[LyapunovSpectrum],
    ax: Axes | None = None,
    *,
    labels: Sequence[str] | None = None,
    frozen: Sequence[LyapunovSpectrum | None] | None = None,
) -> Axes:
    """λ₁ of several networks side by side: bars with their confidence intervals over trials.

    ``labels`` name the bars (default: the checkpoint stems or system names); ``frozen`` gives,
    per network, an optional second spectrum (an adaptive network's frozen mode) drawn as a
    diamond with its interval on the same bar. A λ₁ of −inf is written, not drawn.
    """
    ax = get_axes(ax, figsize=(max(4.0, 0.7 * len(results) + 1.5), 3.6))
    labels = [_title(r) for r in results] if labels is None else list(labels)
    frozen = [None] * len(results) if frozen is None else list(frozen)
    if not len(labels) == len(frozen) == len(results):
        raise ValueError(
            f"got {len(results)} results, {len(labels)} labels and {len(frozen)} frozen entries"
        )
    index = np.arange(len(results))
    legend = "frozen shape parameters"
    for i, result in enumerate(results):
        lam = result.exponents[0]
        if np.isfinite(lam):
            err = _yerr(lam, result.ci_low[0], result.ci_high[0])
            ax.bar(i, lam, 0.7, color=_color(result, None), alpha=0.85)
            if np.isfinite(err).all():
                ax.errorbar(i, lam, yerr=err, fmt="none", ecolor="0.2", capsize=3, lw=1)
        else:  # every direction collapses (e.g. all ReLU units silent): no bar to draw
            ax.text(i, 0.0, "−inf", ha="center", va="top", fontsize=7)
        other = frozen[i]
        if other is not None and np.isfinite(other.exponents[0]):
            oerr = _yerr(other.exponents[0], other.ci_low[0], other.ci_high[0])
            ax.errorbar(
                i, other.exponents[0], yerr=oerr if np.isfinite(oerr).all() else None,
                fmt="D", color="0.15", ms=5, capsize=2, lw=0.8,
                label=legend,
            )  # fmt: skip
            legend = None  # one legend entry
    ax.axhline(0.0, color="0.6", lw=0.8, zorder=0)
    ax.set_xticks(index, labels, rotation=35, ha="right", fontsize=8)
    ax.set_ylabel("λ₁ (nats/step)")
    ax.set_title("Maximal exponent by network")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize=8, frameon=False)
    return ax


def save_lyapunov_figures(
    result: LyapunovSpectrum, out: str | os.PathLike, *, prefix: str
) -> dict[str, Path]:
    """Write ``<prefix>-spectrum.png`` and ``<prefix>-convergence.png`` into ``out``."""
    out = Path(out)
    figures = {"spectrum": plot_spectrum, "convergence": plot_convergence}
    return {
        key: save_figure(plot(result).figure, out / f"{prefix}-{key}.png")
        for key, plot in figures.items()
    }
