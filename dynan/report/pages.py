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

import json
import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from dynan.checkpoint import load
from dynan.report.builder import Page, write_atomic
from dynan.report.cache import AnalysisCache
from dynan.report.compare import (
    COMPARE_PREFETCH,
    COMPARE_SECTIONS,
    PAGE_NAME,
    check_compare_sections,
    compare_page,
    prefetch,
)
from dynan.report.index_page import render_index
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
from dynan.sweep.engine import Scheduler, TaskRun, default_workers, emit, run_tasks
from dynan_models import RecurrentNetwork
from dynan_models.training import keep_freed_memory

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
    task = (net.checkpoint.task or {}).get("name", "none (zero or random stand-in inputs)")
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
    ctx.status = progress.status
    for key in sections:
        title, function = SECTIONS[key]
        progress.start(f"{name}: {title}")
        page.add_section(run_section(title, function, net, ctx))
        progress.advance()
    return page


@dataclass(frozen=True)
class _PageJob:
    """Everything a worker process needs to build and save one checkpoint's page."""

    path: str
    name: str
    out: str
    sections: tuple[str, ...]
    prefetch: tuple[str, ...]
    settings: Settings
    cache: bool
    links: tuple[tuple[str, str], ...]
    device: str = "cpu"
    topic: str = ""  # where the worker sends its progress labels


def _run_page_job(
    job: _PageJob, net: RecurrentNetwork, ctx: Context, progress: Progress
) -> dict[str, Any]:
    """Build and save one page, then compute what the comparison page needs of ``net``."""
    page = checkpoint_page(job.name, net, ctx, sections=job.sections, progress=progress)
    page.save(job.out, job.name, links=job.links)
    for key in job.prefetch:
        progress.start(f"{job.name}: data for {COMPARE_SECTIONS[key][0]}")
        prefetch(key, net, ctx)
        progress.advance()
    return page_entry(job.name, page)


class _EventProgress:
    """Progress of a page job on a Dask worker: its labels go to the caller's bar as events
    (the caller counts a page's sections when its task ends, so nothing is lost)."""

    def __init__(self, topic: str):
        self.topic = topic
        self._last = 0.0

    def start(self, label: str) -> None:
        emit(self.topic, ("start", label))

    def advance(self) -> None:
        pass

    def status(self, text: str) -> None:
        now = time.monotonic()
        if now - self._last >= 0.5:  # a few messages a second at most, however fast the steps
            self._last = now
            emit(self.topic, ("status", text))


def _worker(job: _PageJob) -> tuple[dict[str, Any], int, int]:
    """One page on a worker of the sweep engine (one torch thread: one task per core)."""
    torch.set_num_threads(1)
    keep_freed_memory()  # Dask's nanny sets MALLOC_TRIM_THRESHOLD_ (see dynan.sweep.tasks)
    net = load(job.path, dtype=torch.float64, device=job.device)
    ctx = Context(AnalysisCache(job.out, enabled=job.cache), job.settings)
    entry = _run_page_job(job, net, ctx, _EventProgress(job.topic))  # type: ignore[arg-type]
    return entry, ctx.cache.hits, ctx.cache.misses


def _run_parallel(
    jobs: list[_PageJob], workers: int, bar: Progress, *, scheduler: Scheduler, steps: int
) -> list[tuple]:
    """Page jobs as tasks of :func:`dynan.sweep.engine.run_tasks`: an embedded LocalCluster
    of ``workers`` processes or ``scheduler``; labels relayed to ``bar``, ``steps`` bar steps
    per finished page.

    Raises
    ------
    RuntimeError
        A page whose task failed outside its sections (e.g. its worker died repeatedly).
    """

    def relay(message: tuple[str, str]) -> None:
        kind, label = message
        show = getattr(bar, kind, None)  # "start" or "status"
        if show is not None:
            show(label)

    def finished(index: int, run: TaskRun) -> None:
        for _ in range(steps):
            bar.advance()

    runs = run_tasks(
        _worker,
        jobs,
        labels=[job.name for job in jobs],
        scheduler=scheduler,
        workers=workers,
        progress=False,
        on_result=finished,
        events=(jobs[0].topic, relay) if jobs else None,
    )
    failed = [run for run in runs if not run.ok]
    if failed:
        raise RuntimeError(f"page {failed[0].label} could not be built: {failed[0].error}")
    return [run.value for run in runs]


def report(
    checkpoints: Sequence[str | os.PathLike],
    *,
    out: str | os.PathLike,
    sections: Sequence[str] | None = None,
    compare: bool = True,
    compare_sections: Sequence[str] | None = None,
    preset: str | Settings = "fast",
    cache: bool = True,
    jobs: int = 1,
    progress: bool = True,
    title: str = "dynan report",
    device: str | torch.device = "cpu",
    scheduler: Scheduler = None,
) -> ReportSummary:
    """Write the report of ``checkpoints`` into ``out``: a page per checkpoint and an index.

    Parameters
    ----------
    checkpoints : sequence of paths
        ``.safetensors`` checkpoints written by ``dynan_models.save_checkpoint`` (loaded in
        float64).
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
    jobs : int
        Checkpoint pages built at once on the sweep engine (:mod:`dynan.sweep.engine`): an
        embedded Dask ``LocalCluster`` of ``jobs`` worker processes with one torch thread each
        (1: in this process; 0: one per CPU core).
    progress : bool
        Show one progress bar over the whole job.
    title : str
        Title of the index page.
    device : str or torch.device
        Where the networks are loaded (in float64) and the analyses run; every worker of
        ``jobs`` uses the same device.
    scheduler : None, str, Client or cluster object
        A running Dask cluster for the page work (``"tcp://host:8786"``, a
        ``distributed.Client``, ``dask_jobqueue.SLURMCluster``); ``jobs`` is then ignored. Its
        workers must see the checkpoints and ``out`` at the same paths.

    Returns
    -------
    ReportSummary
        Pages written, section statuses, headline numbers and cache statistics; ``.ok`` is
        False if any section failed (its page shows the one-line error).

    Raises
    ------
    ValueError
        No checkpoints, an unknown section or preset, a negative ``jobs``.
    dynan.CheckpointError
        A checkpoint that cannot be loaded; all are loaded before anything is computed.

    Notes
    -----
    A section whose analysis raises shows ``ExceptionType: message`` on its page and the job
    carries on. Every file is written atomically (temporary file + ``os.replace``), pages one
    by one and the index last. With ``jobs > 1`` the per-checkpoint analyses of the comparison
    page are computed (into the cache) by the page workers, so the comparison page, built last
    in this process, mostly reads and draws. Cost: the sum of the sections' analyses (cached),
    plus O(figures) for drawing, divided among ``jobs`` processes; the "fast" preset aims at
    seconds per 64-unit checkpoint.

    References
    ----------
    The page model follows MNE-Python's ``Report`` (content items funnelled through one
    add-or-replace method, Jinja templates, base64-embedded figures).

    Examples
    --------
    >>> import tempfile, os
    >>> from dynan_models import build, save_checkpoint
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
    if not isinstance(jobs, int) or jobs < 0:
        raise ValueError(f"jobs must be a non-negative integer, got {jobs!r}")
    named = load_checkpoints(checkpoints, device=device)
    with_compare = compare and len(named) > 1
    compare_keys = check_compare_sections(compare_sections) if with_compare else []
    prefetch_keys = tuple(k for k in compare_keys if k in COMPARE_PREFETCH)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ctx = Context(AnalysisCache(out, enabled=cache), settings)
    links = [("Index", f"{INDEX}.html")]
    if with_compare:
        links.append(("Comparison", f"{PAGE_NAME}.html"))
    topic = f"dynan-report-{uuid.uuid4().hex}"
    page_jobs = [
        _PageJob(
            net.checkpoint.path,
            name,
            str(out),
            tuple(keys),
            prefetch_keys,
            settings,
            cache,
            tuple(links),
            str(device),
            topic,
        )
        for name, net in named
    ]
    workers = min(len(named), jobs or default_workers())  # 0: the cores this process may use
    total = len(named) * (len(keys) + len(prefetch_keys)) + len(compare_keys)
    bar = Progress(total, enabled=progress, desc="dynan report")
    hits = misses = 0
    try:
        if workers > 1 or scheduler is not None:
            steps = len(keys) + len(prefetch_keys)
            results = _run_parallel(page_jobs, workers, bar, scheduler=scheduler, steps=steps)
            entries = [entry for entry, _, _ in results]
            hits = sum(r[1] for r in results)
            misses = sum(r[2] for r in results)
        else:
            entries = [
                _run_page_job(job, net, ctx, bar)
                for job, (_, net) in zip(page_jobs, named, strict=True)
            ]
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
        cache_hits=hits + ctx.cache.hits,
        cache_misses=misses + ctx.cache.misses,
        seconds=round(time.perf_counter() - started, 3),
    )
    _write_index(summary, out, links=links)
    return summary


def _write_index(summary: ReportSummary, out: Path, *, links: list[tuple[str, str]]) -> None:
    columns: list[str] = []
    for entry in summary.pages:
        columns += [c for c in entry["values"] if c not in columns]
    # nothing of this run (seconds, cache statistics): a rebuild writes the same bytes
    notes = [f"{len(summary.pages)} pages, preset {summary.preset}."]
    if summary.failures:
        notes.append(f"{len(summary.failures)} section(s) failed; their pages show the error.")
    html = render_index(
        summary.pages, title=summary.title, columns=columns, links=links, notes=notes
    )
    write_atomic(out / f"{INDEX}.json", summary.to_json())
    _write_timings(summary, out)
    write_atomic(out / f"{INDEX}.md", _index_markdown(summary))
    write_atomic(out / f"{INDEX}.html", html)


def _write_timings(summary: ReportSummary, out: Path) -> None:
    """This run's seconds and cache statistics, in ``out/.cache/timings.json`` (git-ignored):
    numbers of one run on one machine, never in the committed pages."""
    timings = {
        "seconds": summary.seconds,
        "cache_hits": summary.cache_hits,
        "cache_misses": summary.cache_misses,
        "pages": {
            p["name"]: {s["title"]: round(s.get("seconds", 0.0), 3) for s in p["sections"]}
            for p in summary.pages
        },
    }
    write_atomic(out / ".cache" / "timings.json", json.dumps(timings, indent=1) + "\n")


def _index_markdown(summary: ReportSummary) -> str:
    lines = [f"# {summary.title}", "", f"Preset `{summary.preset}`.", ""]
    for entry in summary.pages:
        statuses = ", ".join(f"{s['title']}: {s['status']}" for s in entry["sections"])
        lines.append(f"- [{entry['name']}]({entry['href']}) — {statuses}")
    for page, section, message in summary.failures:
        lines.append(f"- **failed** {page} / {section}: {message}")
    return "\n".join(lines) + "\n"
