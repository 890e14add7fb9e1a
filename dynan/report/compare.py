"""The cross-checkpoint page: ``compare(checkpoints, out=DIR)`` and ``dynan compare``.

One page across checkpoints, each section a function ``fn(named, ctx) -> Section`` where
``named`` is the list of (page name, network) pairs; :data:`COMPARE_SECTIONS` lists them in page
order. The page is written as ``compare.html`` with ``compare.json`` and ``compare.md`` beside
it; ``report`` builds the same page next to the per-checkpoint pages.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from dynan.report import model_figures
from dynan.report.builder import Page, Section, figure_item, table_item
from dynan.report.cache import AnalysisCache
from dynan.report.cka_sections import cka_comparison, cka_representations
from dynan.report.fractional_sections import alpha_comparison, fractional_result
from dynan.report.jobs import (
    Context,
    Progress,
    ReportSummary,
    Settings,
    get_settings,
    load_checkpoints,
    page_entry,
    provenance,
    run_section,
)
from dynan.report.lyapunov_sections import lambda_comparison, prefetch_lambda
from dynan.report.model_data import accuracy_table
from dynan_models import RecurrentNetwork

__all__ = [
    "COMPARE_PREFETCH",
    "COMPARE_SECTIONS",
    "accuracy_comparison",
    "compare",
    "compare_page",
    "prefetch",
]

Named = list[tuple[str, RecurrentNetwork]]

#: File stem of the comparison page.
PAGE_NAME = "compare"


def accuracy_comparison(named: Named, ctx: Context) -> Section:
    """Accuracy and robustness of every checkpoint: a table and two bar charts."""
    table = accuracy_table([net for _, net in named], names=[name for name, _ in named])
    if np.isnan(table.accuracy).all():
        return Section.not_applicable(
            "Accuracy and robustness", "no checkpoint stores accuracy metrics"
        )
    section = Section("Accuracy and robustness")
    perturbed = table.robustness[:, 1:]
    columns = ("checkpoint", "architecture", *table.perturbations, "mean relative")
    rows = []
    for i, name in enumerate(table.names):
        mean_rel = float(np.nanmean(perturbed[i])) if np.isfinite(perturbed[i]).any() else np.nan
        rows.append((name, table.architectures[i], *table.accuracy[i], mean_rel))
    section.items.append(
        table_item(
            rows,
            "Test accuracy",
            columns=columns,
            caption="Accuracy on each checkpoint's test split, clean and perturbed; "
            "'mean relative' averages perturbed / clean over the perturbations.",
        )
    )
    section.items.append(
        figure_item(model_figures.plot_accuracy(table).figure, "Accuracy by perturbation")
    )
    section.items.append(
        figure_item(
            model_figures.plot_accuracy(table, relative=True).figure,
            "Robustness (perturbed / clean)",
        )
    )
    section.results["accuracy"] = table
    clean = table.accuracy[:, 0]
    if np.isfinite(clean).any():
        best = int(np.nanargmax(clean))
        section.summary.append(f"highest clean accuracy: {table.names[best]} ({clean[best]:.3f})")
    scores = np.array([r[-1] for r in rows], dtype=float)
    if np.isfinite(scores).any():
        robust = int(np.nanargmax(scores))
        section.summary.append(
            f"most robust: {table.names[robust]} (mean {scores[robust]:.2f} of clean)"
        )
    return section


#: Section key → (title, function), in page order.
COMPARE_SECTIONS: dict[str, tuple[str, Callable[[Named, Context], Section]]] = {
    "accuracy": ("Accuracy and robustness", accuracy_comparison),
    "lyapunov": ("Lyapunov exponents", lambda_comparison),
    "alpha": ("Fractional order across checkpoints", alpha_comparison),
    "cka": ("Representational similarity (CKA)", cka_comparison),
}

#: Section key → function computing (into the cache) what that section needs of one network,
#: so ``report(jobs > 1)`` can spread the per-checkpoint work over its page workers.
COMPARE_PREFETCH: dict[str, Callable[[RecurrentNetwork, Context], object]] = {
    "lyapunov": prefetch_lambda,
    "alpha": fractional_result,
    "cka": cka_representations,
}


def prefetch(key: str, net: RecurrentNetwork, ctx: Context) -> None:
    """Fill the cache with section ``key``'s per-network analyses of ``net``.

    Errors are left for the section itself to meet and show: a failure here only means the
    comparison page computes (and fails) again.
    """
    try:
        COMPARE_PREFETCH[key](net, ctx)
    except Exception:
        return


def check_compare_sections(sections: Sequence[str] | None) -> list[str]:
    """Validated compare section keys (all when None)."""
    if sections is None:
        return list(COMPARE_SECTIONS)
    bad = [s for s in sections if s not in COMPARE_SECTIONS]
    if bad:
        raise ValueError(f"unknown compare section(s) {bad}; valid: {', '.join(COMPARE_SECTIONS)}")
    return list(sections)


def compare_page(
    named: Named, ctx: Context, *, sections: Sequence[str], progress: Progress
) -> Page:
    """Build the comparison page of already loaded checkpoints (one bar step per section)."""
    page = Page(
        f"Comparison of {len(named)} checkpoints",
        kind="compare",
        subtitle=f"preset {ctx.settings.name}",
        checkpoints=[provenance(name, net) for name, net in named],
    )
    ctx.status = progress.status
    for key in sections:
        title, function = COMPARE_SECTIONS[key]
        progress.start(f"compare: {title}")
        page.add_section(run_section(title, function, named, ctx))
        progress.advance()
    return page


def compare(
    checkpoints: Sequence[str | os.PathLike],
    *,
    out: str | os.PathLike,
    sections: Sequence[str] | None = None,
    preset: str | Settings = "fast",
    cache: bool = True,
    progress: bool = True,
    device: str = "cpu",
) -> ReportSummary:
    """Write one page comparing checkpoints: ``out/compare.html`` (+ ``.json``, ``.md``).

    Parameters
    ----------
    checkpoints : sequence of paths
        ``.safetensors`` checkpoints (loaded in float64).
    out : path
        Output directory (created); analysis results are cached in ``out/.cache``.
    sections : sequence of str, optional
        Keys of :data:`COMPARE_SECTIONS` to build (default all).
    preset : str or Settings
        Analysis settings ("fast" or "full").
    cache : bool
        Read cached results (fresh results are always written).
    progress : bool
        Show one progress bar over the job.
    device : str or torch.device
        Where the networks are loaded (in float64) and the analyses run.

    Returns
    -------
    ReportSummary
        With one page entry; ``.failures`` lists sections that failed (shown on the page).

    Raises
    ------
    ValueError
        No checkpoints, an unknown section or preset.
    dynan.CheckpointError
        A checkpoint that cannot be loaded (nothing is written).

    Notes
    -----
    Each section runs its analyses through the cache, so a second run only redraws. Cost: the
    sum of the sections' analyses plus O(figures) to render.

    Examples
    --------
    >>> import tempfile, os
    >>> from dynan_models import build, save_checkpoint
    >>> tmp = tempfile.mkdtemp()
    >>> paths = [os.path.join(tmp, f"{a}.safetensors") for a in ("relu", "softplus")]
    >>> for a, p in zip(("relu", "softplus"), paths):
    ...     _ = save_checkpoint(build(a, input_size=1, hidden_size=4, output_size=2), p,
    ...                         metrics={"accuracy": {"clean": 0.9, "step": 0.6}})
    >>> summary = compare(paths, out=tmp, progress=False)
    >>> os.path.exists(os.path.join(tmp, "compare.html")), summary.ok
    (True, True)
    """
    started = time.perf_counter()
    settings = get_settings(preset)
    keys = check_compare_sections(sections)
    named = load_checkpoints(checkpoints, device=device)
    out = Path(out)
    ctx = Context(AnalysisCache(out, enabled=cache), settings)
    bar = Progress(len(keys), enabled=progress, desc="dynan compare")
    try:
        page = compare_page(named, ctx, sections=keys, progress=bar)
        page.save(out, PAGE_NAME)
    finally:
        bar.close()
    return ReportSummary(
        title=page.title,
        out=str(out),
        preset=settings.name,
        pages=(page_entry(PAGE_NAME, page),),
        cache_hits=ctx.cache.hits,
        cache_misses=ctx.cache.misses,
        seconds=round(time.perf_counter() - started, 3),
    )
