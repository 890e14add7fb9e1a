"""One figure style for every dynan figure, and atomic saving."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure

__all__ = [
    "KIND_COLORS",
    "PALETTE",
    "architecture_color",
    "get_axes",
    "save_figure",
    "subplots",
    "use_style",
]

#: Colour per neuron variant / architecture, used by every comparison figure.
PALETTE = {
    "relu": "#4c72b0",
    "softplus": "#55a868",
    "gamma-homogeneous": "#8172b2",
    "gamma-heterogeneous": "#ccb974",
    "arun": "#c44e52",
    "gru": "#64b5cd",
    "lstm": "#8c8c8c",
}
#: Colour of an architecture the palette does not name (distinct from every entry).
OTHER_COLOR = "#333333"


def architecture_color(architecture: str) -> str:
    """The palette colour of ``architecture``, or :data:`OTHER_COLOR` for an unknown one."""
    return PALETTE.get(architecture, OTHER_COLOR)


#: Colour per fixed-point kind.
KIND_COLORS = {"stable": "#2a9d8f", "saddle": "#e9c46a", "unstable": "#e76f51"}


def use_style() -> None:
    """Apply the house style (seaborn 'ticks', readable font sizes)."""
    sns.set_theme(context="notebook", style="ticks", font_scale=0.9)
    plt.rcParams.update(
        {
            "figure.dpi": 100,
            "savefig.dpi": 110,
            "axes.titleweight": "bold",
            "svg.hashsalt": "dynan",  # SVG element ids from a fixed salt, not a random one
        }
    )


#: Metadata that would make two saves of one figure differ (dates, the matplotlib version),
#: removed by format: a redrawn figure is byte-identical.
STABLE_METADATA = {
    "png": {"Software": None},
    "svg": {"Date": None, "Creator": None},
    "pdf": {"CreationDate": None, "Creator": None, "Producer": None},
}


def get_axes(ax: Axes | None = None, *, figsize: tuple[float, float] = (5, 3.5)) -> Axes:
    """``ax`` if given, else the axes of a new figure in the house style."""
    if ax is not None:
        return ax
    use_style()
    _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def subplots(
    nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float] = (9.5, 3.5)
) -> tuple[Figure, list[Axes]]:
    """A new figure in the house style with ``nrows × ncols`` axes, returned as a flat list."""
    use_style()
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, layout="constrained", squeeze=False)
    return fig, list(axes.ravel())


def save_figure(fig: Figure, path: str | os.PathLike) -> Path:
    """Save ``fig`` (format from the suffix) atomically, then close it; no dates, version
    strings or random ids in the file (:data:`STABLE_METADATA`), so a redraw is byte-identical."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    metadata = STABLE_METADATA.get(path.suffix.lstrip(".").lower())
    with plt.rc_context({"svg.hashsalt": "dynan"}):
        fig.savefig(tmp, bbox_inches="tight", metadata=metadata)
    os.replace(tmp, path)
    plt.close(fig)
    return path
