"""What every report job shares: settings presets, checkpoint loading, the section funnel.

- :class:`Settings` and :data:`PRESETS`: the analysis parameters of a report ("fast" is the
  default: a few seconds per zoo checkpoint on one core; "full" is closer to the paper).
- :func:`load_checkpoints`: load every path up front in float64 (a bad file stops the job
  before anything is computed, with the file's ``CheckpointError``), with unique page names.
- :class:`Context`: the cache, settings and task store handed to every section function.
- :func:`run_section`: runs one section function, timing it; an exception becomes a section
  that shows the one-line error instead of stopping the report.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from tqdm.auto import tqdm

from dynan.checkpoint import load
from dynan.report.builder import Page, Section
from dynan.report.cache import AnalysisCache
from dynan.results import Result
from dynan_models import RecurrentNetwork
from dynan_models.tasks import SequenceTask, load_task

__all__ = [
    "PRESETS",
    "Context",
    "Progress",
    "ReportSummary",
    "Settings",
    "TaskStore",
    "get_settings",
    "load_checkpoints",
    "page_entry",
    "provenance",
    "run_section",
    "unique_names",
]


#: Analysis parameters of the "fast" preset, by analysis (each section reads its own).
FAST: dict[str, dict[str, Any]] = {
    # spectrum on task inputs (one trial per test sequence; k exponents, joint_k for the
    # N·(1 + G)-dimensional joint state of ARUN), and λ₁ around a step-drive onset
    "lyapunov": {
        "k": 16,
        "joint_k": 16,
        "examples": 16,
        "transient": 16,
        "window": 8,
        "drive": 1.0,
    },
    # λ₁ (k = 1) under a constant drive ξ; ARUN: joint state, and frozen shape parameters
    # adapting to the drive or fixed at their undriven values
    "drive-sweep": {"amplitudes": [0.0, 0.5, 1.0, 2.0, 4.0], "examples": 8, "transient": 16},
    # the probe protocol sizes of dynan.neuron_probes
    "fractional": {"preset": "fast", "method": "gl", "seed": 0},
    # fixed points of the hidden dynamics under zero input, starts from test trajectories
    "fixed-points": {"examples": 16, "n_inits": 128, "seed": 0},
    # CKA across checkpoints: test inputs, hidden-state steps, per-pair diagnostics preset,
    # smallest CKA drawn as a graph edge
    "cka": {
        "examples": 256,
        "steps": "final",
        "reliability": "quick",
        "threshold": 0.5,
        "seed": 0,
    },
}


def _changed(base: dict[str, dict[str, Any]], changes: dict[str, dict[str, Any]]) -> dict:
    """A deep copy of ``base`` with each analysis' parameters updated from ``changes``."""
    merged = copy.deepcopy(base)
    for analysis, params in changes.items():
        merged[analysis].update(params)
    return merged


#: "full": FAST with these changes — closer to the paper, minutes per checkpoint.
FULL: dict[str, dict[str, Any]] = _changed(
    FAST,
    {
        "lyapunov": {"k": None, "joint_k": 64, "examples": 64},
        "drive-sweep": {"amplitudes": [0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0], "examples": 32},
        "fractional": {"preset": "full", "method": "spectral"},
        "fixed-points": {"examples": 64, "n_inits": 1024},
        "cka": {"examples": 1000, "reliability": "fast"},
    },
)


@dataclass(frozen=True)
class Settings:
    """Analysis parameters of a report; each section reads its own.

    Attributes
    ----------
    name : str
        Preset name (recorded on the pages).
    examples : int
        Test examples of the checkpoint's task used as inputs of the shape traces.
    trace_amplitudes : tuple of float
        Step-drive amplitudes ξ for the n_t, s_t traces of adaptive networks.
    analyses : dict
        Parameters of each analysis, by analysis name (see ``FAST``); they are part of the
        cache key of that analysis' results.
    """

    name: str = "fast"
    examples: int = 16
    trace_amplitudes: tuple[float, ...] = (0.0, 1.0, 2.0)
    analyses: dict[str, dict[str, Any]] = field(default_factory=lambda: copy.deepcopy(FAST))

    def params(self, analysis: str) -> dict[str, Any]:
        """The parameters of ``analysis`` (a copy).

        Raises
        ------
        KeyError
            If the settings have none for ``analysis``.
        """
        if analysis not in self.analyses:
            raise KeyError(f"settings {self.name!r} have no parameters for {analysis!r}")
        return copy.deepcopy(self.analyses[analysis])


#: Named settings. "fast" keeps the whole zoo report within minutes on two cores.
PRESETS: dict[str, Settings] = {
    "fast": Settings(),
    "full": Settings(
        name="full",
        examples=64,
        trace_amplitudes=(0.0, 0.5, 1.0, 2.0, 4.0),
        analyses=copy.deepcopy(FULL),
    ),
}


def get_settings(preset: str | Settings) -> Settings:
    """A :class:`Settings` from a preset name (or the settings themselves).

    Raises
    ------
    ValueError
        For an unknown preset name, listing the valid ones.
    """
    if isinstance(preset, Settings):
        return preset
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; valid presets: {', '.join(PRESETS)}")
    return PRESETS[preset]


#: Tasks already built in this process, by spec (a build can take seconds; tasks are small).
_TASKS: dict[str, SequenceTask] = {}


class TaskStore:
    """Tasks rebuilt from checkpoint specs, each built once per process."""

    def task(self, net: RecurrentNetwork) -> SequenceTask:
        """The task a checkpoint was trained on.

        Raises
        ------
        ValueError
            If the checkpoint records no task.
        """
        spec = getattr(getattr(net, "checkpoint", None), "task", None)
        if not spec:
            raise ValueError("the checkpoint records no task (save it with task={...})")
        key = json.dumps(spec, sort_keys=True)
        if key not in _TASKS:
            _TASKS[key] = load_task(spec)
        return _TASKS[key]

    def inputs(self, net: RecurrentNetwork, count: int, *, zero: bool = False) -> torch.Tensor:
        """The first ``count`` test inputs (count, T, D) of the checkpoint's task, in float64.

        A checkpoint without a task (``dynan import`` without ``--task``) gets seeded N(0, 1)
        stand-ins, or zeros with ``zero=True`` (:func:`dynan.importers.analysis_inputs`).
        """
        if not getattr(getattr(net, "checkpoint", None), "task", None):
            from dynan.importers import analysis_inputs

            return analysis_inputs(net, count, zero=zero)
        return self.task(net).test.x[:count].to(torch.float64)


@dataclass
class Context:
    """What a section function gets besides the network."""

    cache: AnalysisCache
    settings: Settings = field(default_factory=Settings)
    tasks: TaskStore = field(default_factory=TaskStore)
    #: Told how a long analysis is getting on ("joint spectrum: 3200/6400"); the report's bar
    #: shows it after the section's name, so the bar moves within a section.
    status: Callable[[str], None] = field(default=lambda text: None)

    def steps(self, label: str) -> Callable[[int, int], None]:
        """A ``progress(done, total)`` callable for an analysis, reporting to :attr:`status`."""
        return lambda done, total: self.status(f"{label} {done}/{total}")


def load_checkpoints(
    paths: Sequence[str | os.PathLike], *, device: str | torch.device = "cpu"
) -> list[tuple[str, RecurrentNetwork]]:
    """Load checkpoints in float64 on ``device`` with unique page names (file stem, or
    stem-sha8 if repeated).

    Raises
    ------
    ValueError
        If ``paths`` is empty.
    dynan.CheckpointError
        For the first file that cannot be loaded.
    """
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    paths = list(paths)
    if not paths:
        raise ValueError("no checkpoints given")
    nets = [load(p, dtype=torch.float64, device=device) for p in paths]
    names = unique_names(
        [net.checkpoint.name for net in nets], [net.checkpoint.sha256 for net in nets]
    )
    return list(zip(names, nets, strict=True))


def unique_names(stems: Sequence[str], sha256s: Sequence[str]) -> list[str]:
    """Page (or row) names: each stem, or stem-sha8 where stems repeat, then -2, -3, ... where
    even that repeats (the same file given twice), so no two pages share a file name."""
    counts = Counter(stems)
    taken: set[str] = set()
    names = []
    for stem, sha in zip(stems, sha256s, strict=True):
        name = stem if counts[stem] == 1 else f"{stem}-{sha[:8]}"
        base, k = name, 1
        while name in taken:
            k += 1
            name = f"{base}-{k}"
        taken.add(name)
        names.append(name)
    return names


def run_section(
    title: str, function: Callable[..., Section], *args: Any, **kwargs: Any
) -> Section:
    """Run one section function; any exception becomes a "failed" section with its message.

    Catching every ``Exception`` is deliberate: a report of many analyses must show what went
    wrong in one section and carry on. ``KeyboardInterrupt`` still stops the job.
    """
    started = time.perf_counter()
    try:
        section = function(*args, **kwargs)
    except Exception as err:
        section = Section.failed(title, err)
    return dataclasses.replace(section, title=title, seconds=time.perf_counter() - started)


class Progress:
    """One progress bar over a whole job, advanced once per finished section."""

    def __init__(self, total: int, *, enabled: bool, desc: str):
        self._bar = tqdm(total=total, desc=desc, unit="section", disable=not enabled)
        self._label = ""

    def start(self, label: str) -> None:
        self._label = label
        self._bar.set_postfix_str(label, refresh=True)

    def status(self, text: str) -> None:
        """Show how the running section is getting on, after its label."""
        self._bar.set_postfix_str(f"{self._label} · {text}", refresh=True)

    def advance(self) -> None:
        self._bar.update(1)

    def close(self) -> None:
        self._bar.close()


def provenance(name: str, net: RecurrentNetwork) -> dict[str, str]:
    """The checkpoint facts shown on a page: page name, path, sha256 and architecture."""
    info = net.checkpoint
    return {
        "name": name,
        "path": info.path,
        "sha256": info.sha256,
        "architecture": info.architecture,
    }


def page_entry(name: str, page: Page) -> dict[str, Any]:
    """One page's row of the index and of :class:`ReportSummary`."""
    return {
        "name": name,
        "href": f"{name}.html",
        "kind": page.kind,
        "sections": [dataclasses.asdict(s) for s in page.sections.values()],
        "values": dict(page.headline),
    }


@dataclass(frozen=True)
class ReportSummary(Result):
    """What a report or compare job wrote (also the index's JSON).

    Attributes
    ----------
    title, out, preset : str
    pages : tuple of dict
        One entry per page: name, href, kind, sections (title, status, message, seconds) and
        values (headline numbers).
    cache_hits, cache_misses : int
        Analyses read from the cache and computed in this run (not written to JSON).
    seconds : float
        Wall time of the job (not written to JSON, nor are the sections' seconds).
    """

    title: str
    out: str
    preset: str
    pages: tuple
    cache_hits: int = dataclasses.field(default=0, compare=False)
    cache_misses: int = dataclasses.field(default=0, compare=False)
    seconds: float = dataclasses.field(default=0.0, compare=False)

    def to_dict(self) -> dict:
        """The record without what differs between two runs of the same report (cache
        statistics, seconds of the job and of each section): a rebuild writes the same bytes.
        Those stay on the object; the CLI prints them and the report keeps them in
        ``.cache/timings.json``."""
        data = super().to_dict()
        for key in ("cache_hits", "cache_misses", "seconds"):
            data.pop(key)
        data["pages"] = [
            {
                **p,
                "sections": [
                    {k: v for k, v in s.items() if k != "seconds"} for s in p["sections"]
                ],
            }
            for p in data["pages"]
        ]
        return data

    @property
    def failures(self) -> list[tuple[str, str, str]]:
        """(page, section, message) of every failed section."""
        return [
            (p["name"], s["title"], s["message"])
            for p in self.pages
            for s in p["sections"]
            if s["status"] == "failed"
        ]

    @property
    def ok(self) -> bool:
        """True when no section failed (every one succeeded or did not apply)."""
        return not self.failures
