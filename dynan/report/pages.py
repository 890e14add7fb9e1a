"""``report(checkpoints, out=DIR)``: one page per checkpoint, a comparison page and an index.

Layout of ``out``::

    index.html  index.json  index.md           the index (ReportSummary as JSON)
    <name>.html <name>.json <name>.md          one page per checkpoint
    compare.html compare.json compare.md       across checkpoints (when there are several)
    figures/<name>/<section>--<figure>.png     every figure as a file (also embedded)
    .cache/<analysis>/...json                  cached analysis results

Every file is written atomically; the index is written last, so it never links to a page that
does not exist.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

from dynan.report.builder import Page, render_index, write_atomic
from dynan.report.cache import AnalysisCache
from dynan.report.compare import PAGE_NAME, check_compare_sections, compare_page
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
from dynan.report.sections import SECTIONS
from models import RecurrentNetwork

__all__ = ["report"]

INDEX = "index"


def _check_sections(sections: Sequence[str] | None) -> list[str]:
    if sections is None:
        return list(SECTIONS)
    bad = [s for s in sections if s not in SECTIONS]
    if bad:
        raise ValueError(f"unknown section(s) {bad}; valid: {', '.join(SECTIONS)}")
    return list(sections)


def _subtitle(net: RecurrentNetwork, settings: Settings) -> str:
    task = (net.checkpoint.task or {}).get("name", "no task")
    return (
        f"{net.architecture} · {net.hidden_size} hidden units · task {task} · "
        f"preset {settings.name}"
    )


def checkpoint_page(
    name: str, net: RecurrentNetwork, ctx: Context, *, sections: Sequence[str], progress: Progress
) -> Page:
    """Build one checkpoint's page (one bar step per section)."""
    page = Page(
        name,
        kind="checkpoint",
        subtitle=_subtitle(net, ctx.settings),
        checkpoints=[provenance(name, net)],
    )
    for key in sections:
        title, function = SECTIONS[key]
        progress.start(f"{name}: {title}")
        page.add_section(run_section(title, function, net, ctx))
        progress.advance()
    return page


def report(
    checkpoints: Sequence[str | os.PathLike],
    *,
    out: str | os.PathLike,
    sections: Sequence[str] | None = None,
    compare: bool = True,
    compare_sections: Sequence[str] | None = None,
    preset: str | Settings = "fast",
    cache: bool = True,
    progress: bool = True,
    title: str = "dynan report",
) -> ReportSummary:
    """Write the report of ``checkpoints`` into ``out``: a page per checkpoint and an index.

    Parameters
    ----------
    checkpoints : sequence of paths
        ``.safetensors`` checkpoints written by ``models.save_checkpoint`` (loaded in float64).
    out : path
        Output directory (created).
    sections : sequence of str, optional
        Keys of :data:`dynan.report.sections.SECTIONS` to build on each page (default all).
    compare : bool
        Also write the comparison page (``compare.html``) when there are several checkpoints.
    compare_sections : sequence of str, optional
        Keys of :data:`dynan.report.compare.COMPARE_SECTIONS` (default all).
    preset : str or Settings
        Analysis settings: "fast" (default; seconds per zoo checkpoint) or "full".
    cache : bool
        Read analysis results cached in ``out/.cache`` by earlier runs (fresh results are
        always written there), so a second run only redraws.
    progress : bool
        Show one progress bar over the whole job.
    title : str
        Title of the index page.

    Returns
    -------
    ReportSummary
        Pages written, section statuses, headline numbers and cache statistics; ``.ok`` is
        False if any section failed (its page shows the one-line error).

    Raises
    ------
    ValueError
        No checkpoints, an unknown section or preset.
    dynan.CheckpointError
        A checkpoint that cannot be loaded; all are loaded before anything is computed.

    Notes
    -----
    A section whose analysis raises shows ``ExceptionType: message`` on its page and the job
    carries on. Every file is written atomically (temporary file + ``os.replace``), pages one
    by one and the index last. Cost: the sum of the sections' analyses (cached), plus
    O(figures) for drawing; the "fast" preset aims at seconds per 64-unit checkpoint.

    References
    ----------
    The page model follows MNE-Python's ``Report`` (content items funnelled through one
    add-or-replace method, Jinja templates, base64-embedded figures).

    Examples
    --------
    >>> import tempfile, os
    >>> from models import build, save_checkpoint
    >>> tmp = tempfile.mkdtemp()
    >>> path = os.path.join(tmp, "relu.safetensors")
    >>> _ = save_checkpoint(build("relu", input_size=1, hidden_size=4, output_size=2), path)
    >>> summary = report([path], out=tmp, sections=["config"], progress=False)
    >>> sorted(p.name for p in __import__("pathlib").Path(tmp).glob("*.html"))
    ['index.html', 'relu.html']
    """
    started = time.perf_counter()
    settings = get_settings(preset)
    keys = _check_sections(sections)
    named = load_checkpoints(checkpoints)
    with_compare = compare and len(named) > 1
    compare_keys = check_compare_sections(compare_sections) if with_compare else []
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ctx = Context(AnalysisCache(out, enabled=cache), settings)
    links = [("Index", f"{INDEX}.html")]
    if with_compare:
        links.append(("Comparison", f"{PAGE_NAME}.html"))
    total = len(named) * len(keys) + len(compare_keys)
    bar = Progress(total, enabled=progress, desc="dynan report")
    entries = []
    try:
        for name, net in named:
            page = checkpoint_page(name, net, ctx, sections=keys, progress=bar)
            page.save(out, name, links=links)
            entries.append(page_entry(name, page))
        if with_compare:
            page = compare_page(named, ctx, sections=compare_keys, progress=bar)
            page.save(out, PAGE_NAME, links=links)
            entries.append(page_entry(PAGE_NAME, page))
    finally:
        bar.close()
    summary = ReportSummary(
        title=title,
        out=str(out),
        preset=settings.name,
        pages=tuple(entries),
        cache_hits=ctx.cache.hits,
        cache_misses=ctx.cache.misses,
        seconds=round(time.perf_counter() - started, 3),
    )
    _write_index(summary, out, links=links)
    return summary


def _write_index(summary: ReportSummary, out: Path, *, links: list[tuple[str, str]]) -> None:
    columns: list[str] = []
    for entry in summary.pages:
        columns += [c for c in entry["values"] if c not in columns]
    notes = [
        f"{len(summary.pages)} pages, preset {summary.preset}; analyses computed "
        f"{summary.cache_misses}, read from cache {summary.cache_hits}; "
        f"{summary.seconds:.1f} s.",
    ]
    if summary.failures:
        notes.append(f"{len(summary.failures)} section(s) failed; their pages show the error.")
    html = render_index(
        summary.pages, title=summary.title, columns=columns, links=links, notes=notes
    )
    write_atomic(out / f"{INDEX}.json", summary.to_json())
    write_atomic(out / f"{INDEX}.md", _index_markdown(summary))
    write_atomic(out / f"{INDEX}.html", html)


def _index_markdown(summary: ReportSummary) -> str:
    lines = [f"# {summary.title}", "", f"Preset `{summary.preset}`, {summary.seconds:.1f} s.", ""]
    for entry in summary.pages:
        statuses = ", ".join(f"{s['title']}: {s['status']}" for s in entry["sections"])
        lines.append(f"- [{entry['name']}]({entry['href']}) — {statuses}")
    for page, section, message in summary.failures:
        lines.append(f"- **failed** {page} / {section}: {message}")
    return "\n".join(lines) + "\n"
