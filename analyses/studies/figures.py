"""Figures of the studies (matplotlib, Agg): every network shown, never only a group mean."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from dynan.report.style import architecture_color

__all__ = ["alpha_by_drive", "group_strips", "lines_by_network", "matrix", "translation_curves"]


def translation_curves(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float], float]], *, title: str
) -> Figure:
    """CKA against translation distance c (log axis), one line per network, limits dashed."""
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for i, (name, (scales, values, limit)) in enumerate(curves.items()):
        c = np.asarray(scales, dtype=float)
        keep = c > 0
        color = f"C{i % 10}"
        ax.plot(c[keep], np.asarray(values)[keep], "o-", ms=3, color=color, label=name)
        ax.axhline(limit, color=color, ls="--", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("translation c (RMS radii of X)")
    ax.set_ylabel("linear CKA(X, X′)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=6, ncol=2)
    return fig


def group_strips(
    panels: Mapping[str, Mapping[str, Sequence[float]]], *, ylabel: str, title: str
) -> Figure:
    """One panel per condition: each variant's per-network values as dots, the mean as a bar."""
    fig, axes = plt.subplots(1, len(panels), figsize=(3.0 * len(panels), 3.4), squeeze=False)
    for ax, (panel, groups) in zip(axes[0], panels.items(), strict=True):
        for j, (variant, values) in enumerate(groups.items()):
            v = np.asarray(values, dtype=float)
            color = architecture_color(variant)
            ax.scatter(np.full(v.size, j) + np.linspace(-0.12, 0.12, v.size), v, s=14, color=color)
            if v.size:
                ax.hlines(v.mean(), j - 0.3, j + 0.3, color=color, lw=2)
        ax.set_xticks(range(len(groups)))
        ax.set_xticklabels(list(groups), rotation=40, ha="right", fontsize=7)
        ax.set_title(panel, fontsize=9)
        ax.axhline(0, color="0.6", lw=0.6)
    axes[0][0].set_ylabel(ylabel)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def lines_by_network(
    x: Sequence[float],
    lines: Mapping[str, tuple[str, Sequence[float]]],
    *,
    xlabel: str,
    ylabel: str,
    title: str,
    logx: bool = False,
) -> Figure:
    """One line per network, coloured by variant: ``lines[name] = (variant, values)``."""
    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    seen = set()
    for variant, values in lines.values():
        label = None if variant in seen else variant
        seen.add(variant)
        ax.plot(x, values, "o-", ms=3, lw=1, color=architecture_color(variant), label=label)
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return fig


def matrix(values: np.ndarray, labels: Sequence[str], *, title: str, cbar: str) -> Figure:
    """A labelled square heat map."""
    fig, ax = plt.subplots(figsize=(5.0, 4.2))
    image = ax.imshow(values, cmap="viridis")
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=60, ha="right", fontsize=6)
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels(labels, fontsize=6)
    fig.colorbar(image, ax=ax, label=cbar)
    ax.set_title(title, fontsize=9)
    return fig


def alpha_by_drive(
    amplitudes: Sequence[float], alphas: Mapping[str, tuple[Sequence[float], Sequence[float]]]
) -> Figure:
    """Population α against ξ per network: isolated neurons solid, intact network dashed."""
    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    for i, (name, (isolated, intact)) in enumerate(alphas.items()):
        color = f"C{i % 10}"
        ax.plot(amplitudes, isolated, "o-", ms=3, color=color, label=f"{name} isolated")
        ax.plot(amplitudes, intact, "s--", ms=3, color=color, label=f"{name} intact")
    ax.axhline(0, color="0.6", lw=0.6)
    ax.set_xlabel("step amplitude ξ")
    ax.set_ylabel("population α (α > 0 integrates)")
    ax.set_title("G5: fractional order of the neuron-averaged response", fontsize=9)
    ax.legend(fontsize=6)
    return fig
