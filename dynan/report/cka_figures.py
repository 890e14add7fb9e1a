"""Figures of CKA analyses: matrices across networks, the similarity graph, maps, manipulation.

Each ``plot_*`` function takes a result from :mod:`dynan.similarity` and an optional axes and
returns the axes it drew on; :func:`save_comparison_figures` writes the figures of a
:class:`~dynan.similarity.CKAComparison` for the CLI.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import networkx as nx
import numpy as np
from matplotlib.axes import Axes

from dynan.report.style import architecture_color, get_axes, save_figure, subplots
from dynan.similarity import CKAComparison, CKAMap, ManipulationResult, similarity_graph

__all__ = [
    "plot_cka_map",
    "plot_cka_matrix",
    "plot_manipulation",
    "plot_similarity_graph",
    "save_comparison_figures",
]

#: Verdict → edge colour in the similarity graph.
VERDICT_COLORS = {"reliable": "#2a9d8f", "caution": "#e9c46a", "": "#8c8c8c"}
_CLUSTER_COLORS = ("#4c72b0", "#c44e52", "#55a868", "#8172b2", "#ccb974", "#64b5cd", "#8c8c8c")


def _heatmap(
    ax: Axes,
    matrix: np.ndarray,
    rows: Sequence[str],
    columns: Sequence[str],
    *,
    title: str,
    label: str,
) -> Axes:
    """One annotated CKA heatmap (values written in the cells when there are few of them)."""
    finite = matrix[np.isfinite(matrix)]
    low = min(0.0, float(finite.min())) if finite.size else 0.0
    image = ax.imshow(matrix, vmin=low, vmax=1.0, cmap="viridis", interpolation="nearest")
    ax.figure.colorbar(image, ax=ax, shrink=0.8, label=label)
    ax.set_xticks(range(len(columns)), columns, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(rows)), rows, fontsize=7)
    if matrix.size <= 144:
        for (i, j), value in np.ndenumerate(matrix):
            text = "–" if not np.isfinite(value) else f"{value:.2f}"
            shade = "white" if np.isfinite(value) and value < low + 0.6 * (1 - low) else "black"
            ax.text(j, i, text, ha="center", va="center", fontsize=6.5, color=shade)
    ax.set_title(title)
    return ax


def plot_cka_matrix(
    comparison: CKAComparison,
    ax: Axes | None = None,
    *,
    debiased: bool = False,
    label: str | None = None,
) -> Axes:
    """Heatmap of CKA between the networks at one label (the last by default).

    ``label="all"`` draws the whole (networks × labels) matrix, networks in blocks separated by
    lines. NaN cells (a constant representation) are shown as "–".
    """
    kind = "debiased CKA (HSIC₁)" if debiased else "linear CKA"
    if label == "all":
        ax = get_axes(ax, figsize=(7.5, 6.5))
        matrix = comparison.debiased if debiased else comparison.linear
        rows = [f"{n} {lab}" for n in comparison.names for lab in comparison.labels]
        _heatmap(ax, matrix, rows, rows, title=f"{kind}, every step", label=kind)
        k = len(comparison.labels)
        for edge in range(k, len(rows), k):
            ax.axhline(edge - 0.5, color="white", lw=1)
            ax.axvline(edge - 0.5, color="white", lw=1)
        return ax
    size = 1.2 + 0.45 * len(comparison.names)
    ax = get_axes(ax, figsize=(size + 1.2, size))
    s = comparison.label_index(label)
    matrix = comparison.block(comparison.labels[s], debiased=debiased)
    names = comparison.names
    return _heatmap(ax, matrix, names, names, title=f"{kind}, {comparison.labels[s]}", label=kind)


def plot_similarity_graph(
    comparison: CKAComparison,
    ax: Axes | None = None,
    *,
    label: str | None = None,
    threshold: float | None = None,
) -> Axes:
    """The similarity graph: networks joined where CKA ≥ threshold and the pair is not
    "unreliable"; node colour = cluster, ring colour = architecture, edge width ∝ CKA and edge
    colour = verdict. The layout is a seeded spring layout weighted by CKA (deterministic)."""
    ax = get_axes(ax, figsize=(6, 5))
    graph = similarity_graph(comparison, label=label, threshold=threshold)
    pos = nx.spring_layout(graph, weight="weight", seed=0)
    weights = np.array([d["weight"] for *_, d in graph.edges(data=True)])
    if weights.size:
        nx.draw_networkx_edges(
            graph,
            pos,
            ax=ax,
            width=0.5 + 4 * np.clip(weights, 0, 1) ** 2,
            edge_color=[
                VERDICT_COLORS.get(d["verdict"], "#8c8c8c") for *_, d in graph.edges(data=True)
            ],
            alpha=0.8,
        )
    nodes = list(graph.nodes)
    nx.draw_networkx_nodes(
        graph,
        pos,
        ax=ax,
        node_size=420,
        node_color=[
            _CLUSTER_COLORS[graph.nodes[n]["cluster"] % len(_CLUSTER_COLORS)] for n in nodes
        ],
        edgecolors=[architecture_color(graph.nodes[n]["architecture"]) for n in nodes],
        linewidths=2.5,
    )
    nx.draw_networkx_labels(graph, pos, ax=ax, font_size=7, verticalalignment="bottom")
    if comparison.verdicts:
        for verdict in ("reliable", "caution"):
            ax.plot([], [], color=VERDICT_COLORS[verdict], lw=2, label=verdict)
        ax.legend(loc="lower right", fontsize=7, frameon=False, title="pair verdict")
    clusters = len(set(nx.get_node_attributes(graph, "cluster").values()))
    ax.set_title(
        f"Similarity graph, {graph.graph['label']}: CKA ≥ {graph.graph['threshold']:g}, "
        f"{clusters} cluster{'s' if clusters != 1 else ''}",
        fontsize=9,
    )
    ax.margins(0.15)
    ax.set_axis_off()
    return ax


def plot_cka_map(cka_map: CKAMap, ax: Axes | None = None) -> Axes:
    """Heatmap of a CKA map (layers or time steps of one network against another's)."""
    ax = get_axes(ax, figsize=(5.5, 4.5))
    kind = "debiased CKA" if cka_map.debiased else "CKA"
    return _heatmap(
        ax,
        cka_map.matrix,
        [f"{cka_map.name_a} {s}" for s in cka_map.labels_a],
        [f"{cka_map.name_b} {s}" for s in cka_map.labels_b],
        title=f"{cka_map.kernel} {kind}: {cka_map.name_a} vs {cka_map.name_b}",
        label=kind,
    )


def plot_manipulation(
    result: ManipulationResult, axes: Sequence[Axes] | None = None
) -> list[Axes]:
    """The manipulation experiment: the map before, the target and the map reached, with the
    accuracy before and after in the titles (three axes)."""
    if axes is None:
        _, axes = subplots(1, 3, figsize=(12, 3.8))
    ticks = [f"t={t}" for t in result.steps]
    panels = [
        (result.map_before, f"before (accuracy {result.accuracy_before:.3f})"),
        (result.target, "target"),
        (result.map_after, f"after (accuracy {result.accuracy_after:.3f})"),
    ]
    for ax, (matrix, title) in zip(axes, panels, strict=True):
        _heatmap(ax, matrix, ticks, ticks, title=title, label="debiased CKA")
        ax.set_ylabel(result.name)
        ax.set_xlabel(result.reference)
    return list(axes)


def save_comparison_figures(
    comparison: CKAComparison, out: str | os.PathLike, *, prefix: str = "cka"
) -> dict[str, Path]:
    """Write the heatmaps (linear, debiased; every step when there are several) and the graph."""
    out = Path(out)
    figures = {
        "matrix": plot_cka_matrix(comparison),
        "matrix-debiased": plot_cka_matrix(comparison, debiased=True),
        "graph": plot_similarity_graph(comparison),
    }
    if len(comparison.labels) > 1:
        figures["matrix-all"] = plot_cka_matrix(comparison, label="all")
    return {
        key: save_figure(ax.figure, out / f"{prefix}-{key}.png") for key, ax in figures.items()
    }
