"""Figures of fixed-point analyses: points in the PCA plane of the trajectories, the skeleton.

Each ``plot_*`` function takes a :class:`~dynan.fixed_points.FixedPoints` result and an optional
axes, and returns the axes it drew on; :func:`save_fixed_point_figures` writes them for the CLI.
Colours follow :data:`~dynan.report.style.KIND_COLORS` (stable, saddle, unstable).
"""

from __future__ import annotations

import os
from pathlib import Path

import networkx as nx
import numpy as np
from matplotlib.axes import Axes
from matplotlib.lines import Line2D

from dynan.fixed_points import FixedPoints
from dynan.report.style import KIND_COLORS, get_axes, save_figure

__all__ = [
    "plot_fixed_point_graph",
    "plot_fixed_points",
    "plot_fixed_points_by_input",
    "save_fixed_point_figures",
]

_MARKERS = {"stable": "o", "saddle": "X", "unstable": "s"}


def _family(kind: str) -> str:
    """ "saddle-3" → "saddle"."""
    return kind.split("-")[0]


def _pca(data: np.ndarray, k: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """(mean (d,), the k leading principal axes (k, d)), zero rows past the rank. O(n d²)."""
    mean = data.mean(0)
    _, _, vt = np.linalg.svd(data - mean, full_matrices=False)
    axes = np.zeros((k, data.shape[1]))
    axes[: min(k, vt.shape[0])] = vt[:k]
    return mean, axes


def _variance_labels(ax: Axes, data: np.ndarray, mean: np.ndarray, axes: np.ndarray) -> None:
    total = float(((data - mean) ** 2).sum())
    share = ((data - mean) @ axes.T) ** 2
    for i, set_label in enumerate((ax.set_xlabel, ax.set_ylabel)):
        pct = 100 * share[:, i].sum() / total if total > 0 else 0.0
        set_label(f"PC{i + 1} ({pct:.0f}% var.)")


def _scatter_kinds(ax: Axes, xy: np.ndarray, kinds: tuple[str, ...], *, size: float) -> None:
    for family, color in KIND_COLORS.items():
        mask = np.array([_family(k) == family for k in kinds], dtype=bool)
        if mask.any():
            ax.scatter(
                xy[mask, 0], xy[mask, 1], s=size, c=color, marker=_MARKERS[family],
                edgecolors="black", linewidths=0.6, zorder=3, label=f"{family} ({mask.sum()})",
            )  # fmt: skip


def plot_fixed_points(
    result: FixedPoints,
    ax: Axes | None = None,
    *,
    trajectories: np.ndarray | None = None,
    slow: bool = True,
    max_lines: int = 32,
) -> Axes:
    """Fixed points coloured by kind, in the plane of the two leading principal components.

    Parameters
    ----------
    result : FixedPoints
    ax : Axes, optional
    trajectories : array (B, T, dim), optional
        Drawn as thin grey lines (at most ``max_lines``); the principal axes are those of the
        trajectories when given, else of the points.
    slow : bool, default True
        Draw the slow points as small hollow circles.
    max_lines : int, default 32
    """
    ax = get_axes(ax, figsize=(5, 4.2))
    points = result.states
    if trajectories is not None:
        trajectories = np.asarray(trajectories, dtype=float)
        if trajectories.ndim != 3 or trajectories.shape[2] != points.shape[1]:
            raise ValueError(
                f"trajectories must have shape (B, T, {points.shape[1]}), got {trajectories.shape}"
            )
    basis_data = trajectories.reshape(-1, points.shape[1]) if trajectories is not None else points
    if len(basis_data) == 0:
        ax.text(0.5, 0.5, "no fixed points", ha="center", va="center", transform=ax.transAxes)
        return ax
    mean, axes = _pca(basis_data)
    if trajectories is not None:
        for orbit in trajectories[:max_lines]:
            xy = (orbit - mean) @ axes.T
            ax.plot(xy[:, 0], xy[:, 1], color="0.6", lw=0.5, alpha=0.6, zorder=1)
            ax.plot(xy[0, 0], xy[0, 1], ".", color="0.4", ms=3, zorder=1)
    sp = result.slow_points
    if slow and sp is not None and len(sp):
        xy = (sp.states - mean) @ axes.T
        ax.scatter(
            xy[:, 0], xy[:, 1], s=12, facecolors="none", edgecolors="0.3", linewidths=0.6,
            zorder=2, label=f"slow ({len(sp)})",
        )  # fmt: skip
    _scatter_kinds(ax, (points - mean) @ axes.T, result.kinds, size=55)
    _variance_labels(ax, basis_data, mean, axes)
    ax.set_title(f"Fixed points: {result.system}")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize=7, frameon=False)
    return ax


def plot_fixed_point_graph(result: FixedPoints, ax: Axes | None = None) -> Axes:
    """The heteroclinic skeleton: saddle → attractor arrows between points placed by PCA.

    Nodes sit at the points' two leading principal components and carry their index; arrow
    width grows with the number of orbits along the edge; a dashed ring marks a point with
    orbits that reached no attractor.
    """
    ax = get_axes(ax, figsize=(5, 4.2))
    graph = result.graph()
    if graph.number_of_nodes() == 0:
        ax.text(0.5, 0.5, "no fixed points", ha="center", va="center", transform=ax.transAxes)
        return ax
    mean, axes = _pca(result.states)
    xy = (result.states - mean) @ axes.T
    pos = {i: xy[i] for i in graph.nodes}
    widths = [0.8 + 0.6 * graph.edges[e]["n_paths"] for e in graph.edges]
    nx.draw_networkx_edges(
        graph, pos, ax=ax, width=widths, edge_color="0.35", arrowsize=12, node_size=220,
        connectionstyle="arc3,rad=0.08",
    )  # fmt: skip
    _scatter_kinds(ax, xy, result.kinds, size=220)
    lost = [i for i in graph.nodes if graph.nodes[i]["unresolved"]]
    if lost:
        ax.scatter(xy[lost, 0], xy[lost, 1], s=420, facecolors="none", edgecolors="0.3",
                   linestyles="--", linewidths=0.8, zorder=2)  # fmt: skip
    if len(graph) <= 40:
        nx.draw_networkx_labels(graph, pos, ax=ax, font_size=7)
    _variance_labels(ax, result.states, mean, axes)
    ax.set_title(f"Skeleton: {graph.number_of_edges()} connections")
    handles, labels = ax.get_legend_handles_labels()
    if lost:
        handles.append(Line2D([], [], ls="none", marker="o", mfc="none", mec="0.3", ms=9))
        labels.append("orbits unresolved")
    ax.legend(handles, labels, loc="best", fontsize=7, frameon=False, markerscale=0.5)
    ax.tick_params(left=True, bottom=True, labelleft=True, labelbottom=True)
    return ax


def plot_fixed_points_by_input(
    result: FixedPoints, ax: Axes | None = None, *, component: int = 0
) -> Axes:
    """A principal component of the points against the (first) constant input, by kind.

    For a range of inputs (e.g. the ARUN controller under constant pre-activations a) this
    shows how the fixed points move with the input and where they change kind.
    """
    ax = get_axes(ax, figsize=(5, 3.6))
    if result.inputs.shape[1] == 0:
        raise ValueError("plot_fixed_points_by_input needs a result with inputs (input_dim > 0)")
    if len(result) == 0:
        ax.text(0.5, 0.5, "no fixed points", ha="center", va="center", transform=ax.transAxes)
        return ax
    mean, axes = _pca(result.states, k=component + 1)
    pc = (result.states - mean) @ axes[component]
    xy = np.stack([result.inputs[:, 0], pc], 1)
    _scatter_kinds(ax, xy, result.kinds, size=30)
    ax.set_xlabel("constant input")
    ax.set_ylabel(f"PC{component + 1} of the fixed points")
    ax.set_title(f"Fixed points against input: {result.system}")
    ax.legend(loc="best", fontsize=7, frameon=False)
    return ax


def save_fixed_point_figures(
    result: FixedPoints,
    out: str | os.PathLike,
    *,
    prefix: str,
    trajectories: np.ndarray | None = None,
) -> dict[str, Path]:
    """Write the PCA figure and the skeleton (and, for several inputs, the input figure).

    Returns
    -------
    dict of str to Path
        ``{"pca": ..., "graph": ...}`` plus ``"inputs"`` when the points have several inputs.
    """
    out = Path(out)
    paths = {
        "pca": save_figure(
            plot_fixed_points(result, trajectories=trajectories).figure, out / f"{prefix}-pca.png"
        ),
        "graph": save_figure(plot_fixed_point_graph(result).figure, out / f"{prefix}-graph.png"),
    }
    if result.inputs.shape[1] and len(np.unique(result.inputs, axis=0)) > 1:
        figure = plot_fixed_points_by_input(result).figure
        paths["inputs"] = save_figure(figure, out / f"{prefix}-inputs.png")
    return paths
