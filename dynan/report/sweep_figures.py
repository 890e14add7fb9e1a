"""Figures and the comparison page of a sweep table: variants compared with their spread.

- :func:`plot_metric` (``ax=None``): one headline column of a sweep table by architecture, each
  checkpoint (seed) a point, with the mean and its 95 % t-interval over seeds.
- :func:`comparison_page`: ``comparison.html`` (+ JSON, Markdown, PNGs) beside the table, one
  panel per headline column that has numbers, and a table of mean ± sd and n per architecture.

The table comes from :mod:`dynan.sweep.table` (one row per checkpoint); rows with an error keep
their other numbers. Plotting only; nothing here computes an analysis.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes

from dynan.lyapunov._benettin import t_interval
from dynan.report.builder import Page, Section, figure_item, table_item, text_item
from dynan.report.style import architecture_color, get_axes, subplots

__all__ = ["COMPARED", "comparison_page", "plot_metric"]

#: Headline columns shown, with their axis label, in page order.
COMPARED = {
    "acc_clean": "test accuracy (clean)",
    "acc_sinusoid": "accuracy, sinusoidal input",
    "acc_step": "accuracy, step drive",
    "acc_noise": "accuracy, noise drive",
    "lambda1": "λ₁, whole state (nats/step)",
    "lambda1_frozen": "λ₁, frozen n, s (nats/step)",
    "fp_total": "fixed points",
    "fp_stable": "stable fixed points",
    "alpha_isolated": "population α, isolated",
    "alpha_intact": "population α, intact",
    "mean_n": "mean gain n",
    "mean_s": "mean saturation s",
}


def _interval(values: np.ndarray) -> float:
    """Half-width of the 95 % t-interval of the mean (NaN below two values)."""
    low, high = t_interval(values[np.isfinite(values)], confidence=0.95)  # NaN below two
    return float(high - low) / 2


def plot_metric(
    table: pd.DataFrame, column: str, ax: Axes | None = None, *, label: str = ""
) -> Axes:
    """``column`` by variant (architecture, and task where tasks differ): every checkpoint a
    point, the mean ± its 95 % t-interval over them beside.

    Parameters
    ----------
    table : DataFrame
        A sweep table (columns ``architecture`` and ``column``).
    column : str
    ax : Axes, optional
    label : str
        The y-axis label (default the column name).

    Returns
    -------
    Axes
    """
    ax = get_axes(ax, figsize=(4.5, 3.2))
    data = _grouped(table)[["variant", "architecture", column]].dropna()
    data = data[data["architecture"] != ""]
    order = sorted(data["variant"].unique())
    palette = {v: architecture_color(v.split(" · ")[0]) for v in order}
    sns.stripplot(
        data=data, x="variant", y=column, hue="variant", order=order,
        palette=palette, ax=ax, size=6, jitter=0.12, legend=False, alpha=0.85,
    )  # fmt: skip
    for i, variant in enumerate(order):
        values = data.loc[data["variant"] == variant, column].to_numpy(dtype=float)
        half = _interval(values)
        ax.errorbar(
            i + 0.3, values.mean(), yerr=None if math.isnan(half) else half,
            fmt="D", color="black", markersize=4, capsize=3, linewidth=1,
        )  # fmt: skip
    ax.set_xlim(-0.5, len(order) - 0.5)
    ax.set_xlabel("")
    ax.set_ylabel(label or column)
    ax.tick_params(axis="x", rotation=30)
    return ax


def _grouped(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with a ``variant`` column: the architecture, and the task where tasks differ
    (a GRU on digits and one on the flip-flop are not seeds of one variant)."""
    named = table[table["architecture"] != ""]
    several = named["task"].nunique() > 1
    variant = table["architecture"] + (" · " + table["task"] if several else "")
    return table.assign(variant=variant)


def _summary_rows(table: pd.DataFrame, columns: Sequence[str]) -> list[tuple]:
    rows = []
    grouped = _grouped(table)
    for arch, group in grouped[grouped["architecture"] != ""].groupby("variant", sort=True):
        cells = []
        for column in columns:
            values = group[column].to_numpy(dtype=float)
            values = values[np.isfinite(values)]
            if values.size == 0:
                cells.append("–")
            elif values.size == 1:
                cells.append(f"{values[0]:.3g}")
            else:
                cells.append(f"{values.mean():.3g} ± {values.std(ddof=1):.2g}")
        rows.append((arch, len(group), *cells))
    return rows


def comparison_page(
    table: pd.DataFrame, out: str | os.PathLike, *, preset: str = "", name: str = "comparison"
) -> Path | None:
    """Write ``out/comparison.html`` from a sweep table; None when nothing can be compared.

    Cost: one strip plot per headline column with numbers (≈ 0.1 s each) and the PNGs.
    """
    shown = [
        c
        for c in COMPARED
        if c in table and pd.to_numeric(table[c], errors="coerce").notna().any()
    ]
    if not shown or (table["architecture"] == "").all():
        return None
    ncols = min(4, len(shown))
    nrows = math.ceil(len(shown) / ncols)
    fig, axes = subplots(nrows, ncols, figsize=(4.2 * ncols, 3.3 * nrows))
    for ax, column in zip(axes, shown, strict=False):
        plot_metric(table, column, ax, label=COMPARED[column])
    for ax in axes[len(shown) :]:
        ax.set_visible(False)
    section = Section("Variants compared")
    section.items.append(
        figure_item(
            fig,
            "Headline numbers by architecture",
            caption="Each point is one checkpoint (seeds, epochs or tasks of one architecture); "
            "black diamond: mean over them with its 95 % t-interval (none for a single "
            "checkpoint).",
        )
    )
    section.items.append(
        table_item(
            _summary_rows(table, shown),
            "Mean ± sd over checkpoints",
            columns=("variant", "checkpoints", *shown),
        )
    )
    failed = table[table["error"] != ""]
    if len(failed):
        section.items.append(
            text_item([f"{r.name}: {r.error}" for r in failed.itertuples()], "Errors")
        )
    page = Page(
        "Sweep comparison",
        kind="compare",
        subtitle=f"{len(table)} checkpoints" + (f", preset {preset}" if preset else ""),
    )
    page.add_section(section)
    return page.save(out, name)["html"]
