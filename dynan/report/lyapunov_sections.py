"""Report sections of the Lyapunov analyses: one for the checkpoint page, one for the compare page.

- :func:`lyapunov_section` (``fn(net, ctx)``): the spectrum of the network on its task's test
  inputs (one trial per sequence) with its convergence, the Kaplan–Yorke dimension and the
  entropy-rate bound, and the finite-time λ₁ around the onset of a step drive. ARUN networks get
  both modes: ``frozen`` (h with the shape parameters n_t, s_t held, the paper's analysis) and
  ``joint`` (h and every controller state); other networks run their whole state.
- :func:`lambda_comparison` (``fn(named, ctx)``): λ₁ of every checkpoint side by side and λ₁
  against the amplitude of a constant drive (:func:`dynan.report.drive_sweep.drive_sweep`).

Every analysis goes through ``ctx.cache`` with the parameters of ``ctx.settings`` ("lyapunov"
and "drive-sweep" in :data:`dynan.report.jobs.FAST`); both sections share the spectrum entries,
so the compare page reads what the checkpoint pages computed. :func:`prefetch_lambda` fills the
cache for one network (the compare page's per-checkpoint work, for parallel report workers).

References: Geadah et al. (2024), PLOS Comp. Biol. (λ₁ against drive and time from onset);
Benettin et al. (1980) (QR method); Kaplan & Yorke (1979). REFERENCES.md §1–2.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dynan.lyapunov import (
    FiniteTimeLyapunov,
    LyapunovSpectrum,
    network_finite_time_lyapunov,
    network_lyapunov,
)
from dynan.report import lyapunov_figures
from dynan.report.builder import Section, figure_item, table_item
from dynan.report.drive_sweep import DriveSweep, drive_sweep
from dynan.report.jobs import Context
from dynan.report.style import subplots
from dynan_models import ARUN, RecurrentNetwork
from dynan_models.perturbations import default_window

__all__ = ["lambda_comparison", "lyapunov_section", "prefetch_lambda"]

Named = list[tuple[str, RecurrentNetwork]]

#: Page title of each section.
TITLE = "Lyapunov spectrum"
COMPARE_TITLE = "Lyapunov exponents"


def modes(net: RecurrentNetwork) -> tuple[str, ...]:
    """System modes analysed: ARUN frozen and joint; every other network its whole state."""
    return ("frozen", "joint") if isinstance(net, ARUN) else ("joint",)


def spectrum(net: RecurrentNetwork, ctx: Context, mode: str) -> LyapunovSpectrum:
    """The cached spectrum of ``net`` in ``mode`` on its task's test inputs.

    ``k`` exponents ("lyapunov" settings; ``joint_k`` for the N·(1 + G)-dimensional joint state
    of an ARUN), one trial per test sequence, ``transient`` steps discarded, the rest measured.
    Cost: O(examples · T · k (N² + N G²) + examples · T · dim k²) time.
    """
    p = ctx.settings.params("lyapunov")
    k = p["joint_k"] if isinstance(net, ARUN) and mode == "joint" else p["k"]
    params = {
        "mode": mode,
        "k": k,
        "examples": p["examples"],
        "transient": p["transient"],
        "task": net.checkpoint.task,
    }
    return ctx.cache.get_or_compute(
        "lyapunov",
        net.checkpoint.sha256,
        params,
        LyapunovSpectrum,
        lambda: network_lyapunov(
            net,
            mode=mode,
            k=k,
            x=ctx.tasks.inputs(net, p["examples"], zero=True),
            transient=p["transient"],
            progress=ctx.steps(f"{mode} spectrum, step"),
        ),
    )


def finite_time(net: RecurrentNetwork, ctx: Context, mode: str) -> FiniteTimeLyapunov:
    """The cached finite-time λ₁ in ``window``-step windows aligned on a step drive's onset.

    The drive ξ = ``drive`` is added to every pre-activation in the paper's window 200 ≤ t < 400
    of 784 scaled to the task's length (:func:`dynan_models.perturbations.default_window`); one
    trial per test sequence. Cost: O(examples · T · (N² + N G²)) time.
    """
    p = ctx.settings.params("lyapunov")
    params = {
        "mode": mode,
        "examples": p["examples"],
        "window": p["window"],
        "drive": p["drive"],
        "task": net.checkpoint.task,
    }

    def compute() -> FiniteTimeLyapunov:
        x = ctx.tasks.inputs(net, p["examples"], zero=True)
        onset, offset = default_window(x.shape[1])
        return network_finite_time_lyapunov(
            net,
            amplitude=p["drive"],
            onset=onset,
            offset=offset,
            n_steps=x.shape[1],
            window=p["window"],
            mode=mode,
            x=x,
            progress=ctx.steps(f"{mode} finite-time λ₁, step"),
        )

    return ctx.cache.get_or_compute(
        "lyapunov-finite-time", net.checkpoint.sha256, params, FiniteTimeLyapunov, compute
    )


def sweep(net: RecurrentNetwork, ctx: Context) -> DriveSweep:
    """The cached λ₁ against constant drive ("drive-sweep" settings) on the task's inputs.

    Cost: that of :func:`dynan.report.drive_sweep.drive_sweep` on ``examples`` sequences.
    """
    p = ctx.settings.params("drive-sweep")
    params = {**p, "task": net.checkpoint.task}
    return ctx.cache.get_or_compute(
        "drive-sweep",
        net.checkpoint.sha256,
        params,
        DriveSweep,
        lambda: drive_sweep(
            net,
            ctx.tasks.inputs(net, p["examples"], zero=True),
            amplitudes=p["amplitudes"],
            transient=p["transient"],
            progress=ctx.steps("drive sweep, step"),
        ),
    )


def prefetch_lambda(net: RecurrentNetwork, ctx: Context) -> None:
    """Compute into the cache what :func:`lambda_comparison` needs of ``net``."""
    for mode in modes(net):
        spectrum(net, ctx, mode)
    sweep(net, ctx)


# -- the checkpoint page ----------------------------------------------------------------------


def lyapunov_section(net: RecurrentNetwork, ctx: Context) -> Section:
    """Spectrum, convergence, Kaplan–Yorke, entropy rate and λ₁ around a drive onset.

    Cost: :func:`spectrum` and :func:`finite_time` per mode plus one figure; with the "fast"
    settings about 1 s (static) to 3 s (ARUN, both modes) of one core for a 64-unit zoo
    checkpoint, over half of it drawing.
    """
    runs = {mode: (spectrum(net, ctx, mode), finite_time(net, ctx, mode)) for mode in modes(net)}
    drive = ctx.settings.params("lyapunov")["drive"]
    fig, axes = subplots(len(runs), 3, figsize=(13.5, 3.5 * len(runs)))
    for row, (spec, ft) in enumerate(runs.values()):
        lyapunov_figures.plot_spectrum(spec, axes[3 * row])
        lyapunov_figures.plot_convergence(spec, axes[3 * row + 1])
        lyapunov_figures.plot_finite_time(ft, axes[3 * row + 2], label=f"ξ = {drive:g}")
    section = Section(TITLE)
    spec0, ft0 = next(iter(runs.values()))
    onset, offset = ft0.metadata["drive_window"]
    section.items.append(
        figure_item(
            fig,
            "Lyapunov spectrum, convergence and λ₁ around a drive onset",
            caption=f"Top {spec0.k} exponents (natural log per step) on {spec0.trials} test "
            f"sequences of the checkpoint's task, {spec0.transient} steps discarded and "
            f"{spec0.n_steps} measured, with {int(spec0.confidence * 100)} % t-intervals over "
            "sequences; the running estimate per exponent (band: range over sequences); and "
            f"the finite-time λ₁ in {ft0.window}-step windows against time from the onset of a "
            f"step drive added to every pre-activation for {onset} ≤ t < {offset}. "
            + _mode_note(net),
        )
    )
    section.items.append(
        table_item(
            [_row(mode, spec, ft) for mode, (spec, ft) in runs.items()],
            "Exponents",
            columns=(
                "mode",
                "state dim",
                "λ₁",
                "95 % interval",
                "λ₂",
                "Kaplan–Yorke",
                "Σλ⁺",
                "λ₁ before drive",
                "λ₁ during drive",
            ),
            caption="Kaplan–Yorke dimension from the exponents computed ('–' when the top k "
            "do not determine it); Σλ⁺ bounds the entropy rate (nats/step). λ₁ before/during: "
            "mean of the finite-time windows before and inside the drive window.",
        )
    )
    for mode, (spec, ft) in runs.items():
        section.results[f"spectrum-{mode}"] = spec
        section.results[f"finite-time-{mode}"] = ft
        section.summary.append(
            f"{mode}: λ₁ = {spec.exponents[0]:+.4f} nats/step "
            f"[{spec.ci_low[0]:+.4f}, {spec.ci_high[0]:+.4f}], D_KY = "
            f"{_fmt(spec.kaplan_yorke)}, Σλ⁺ = {spec.entropy_rate:.4f} "
            f"({spec.k} of {spec.dim} exponents)"
        )
        section.headline["λ₁" if mode == "joint" else f"λ₁ {mode}"] = float(spec.exponents[0])
    return section


def _row(mode: str, spec: LyapunovSpectrum, ft: FiniteTimeLyapunov) -> tuple[Any, ...]:
    onset, offset = ft.metadata["drive_window"]
    starts = ft.times + ft.event
    before = ft.exponents[starts + ft.window <= onset, 0]
    during = ft.exponents[(starts >= onset) & (starts + ft.window <= offset), 0]
    return (
        mode,
        spec.dim,
        float(spec.exponents[0]),
        f"[{spec.ci_low[0]:+.3f}, {spec.ci_high[0]:+.3f}]",
        float(spec.exponents[1]) if spec.k > 1 else None,
        spec.kaplan_yorke,
        spec.entropy_rate,
        float(before.mean()) if before.size else None,
        float(during.mean()) if during.size else None,
    )


def _mode_note(net: RecurrentNetwork) -> str:
    if isinstance(net, ARUN):
        return (
            "Top row: frozen mode (h only, n_t and s_t held at the values the controllers "
            "produce, the paper's analysis); bottom row: joint mode (h and every neuron's "
            "controller state)."
        )
    return "The network's whole state (its activation is fixed)."


def _fmt(value: float) -> str:
    return f"{value:.3f}" if np.isfinite(value) else "–"


# -- the compare page -------------------------------------------------------------------------


def lambda_comparison(named: Named, ctx: Context) -> Section:
    """λ₁ of every checkpoint side by side, and λ₁ against drive amplitude, in one figure.

    Cost: the spectra (shared with :func:`lyapunov_section`) and :func:`sweep` per network
    (with the "fast" settings ≈ 0.5 s for ARUN, < 0.1 s otherwise, on one core) plus one
    figure (≈ 1 s).
    """
    names = [name for name, _ in named]
    spectra = [{m: spectrum(net, ctx, m) for m in modes(net)} for _, net in named]
    sweeps = [sweep(net, ctx) for _, net in named]
    fig, (left, right) = subplots(1, 2, figsize=(14, 4.4))
    lyapunov_figures.plot_lambda1_comparison(
        [s["joint"] for s in spectra],
        left,
        labels=names,
        frozen=[s.get("frozen") for s in spectra],
    )
    lyapunov_figures.plot_drive_sweep(sweeps, right)
    section = Section(COMPARE_TITLE)
    p = ctx.settings.params("drive-sweep")
    section.items.append(
        figure_item(
            fig,
            "λ₁ across checkpoints and against drive amplitude",
            caption="Left: λ₁ of each checkpoint's whole state on its test sequences (bars, "
            "95 % t-interval over sequences); for ARUN also the frozen-mode λ₁ (diamonds). "
            f"Right: λ₁ (k = 1) on {p['examples']} test sequences with a constant drive ξ "
            "added to every pre-activation; ARUN solid: shape parameters adapting to the "
            "drive (frozen at each step), dashed: fixed at their undriven values, dotted: "
            "the joint state of h and the controllers.",
        )
    )
    rows = []
    for name, spec, sw in zip(names, spectra, sweeps, strict=True):
        at_top = [
            float(sw.lambda1[sw.condition(c), -1]) if c in sw.conditions else None
            for c in ("static", "adaptive", "fixed", "joint")
        ]
        frozen = spec.get("frozen")
        rows.append(
            (
                name,
                sw.architecture,
                float(spec["joint"].exponents[0]),
                None if frozen is None else float(frozen.exponents[0]),
                spec["joint"].kaplan_yorke,
                *at_top,
            )
        )
        section.results[f"{name} drive sweep"] = sw
    xi = sweeps[0].amplitudes[-1] if sweeps else 0.0
    section.items.append(
        table_item(
            rows,
            "λ₁ by checkpoint",
            columns=(
                "checkpoint",
                "architecture",
                "λ₁ (whole state)",
                "λ₁ (frozen)",
                "Kaplan–Yorke",
                f"λ₁ static, ξ={xi:g}",
                f"λ₁ adaptive, ξ={xi:g}",
                f"λ₁ fixed, ξ={xi:g}",
                f"λ₁ joint, ξ={xi:g}",
            ),
            caption="Natural log per step. The last four columns are at the largest drive.",
        )
    )
    lam = np.array([r[2] for r in rows])
    if lam.size:
        closest = int(np.argmin(np.abs(lam)))
        section.summary.append(
            f"closest to the edge of chaos (|λ₁| smallest): {names[closest]} "
            f"(λ₁ = {lam[closest]:+.4f})"
        )
    for sw in sweeps:
        if "adaptive" in sw.conditions:
            a, f = sw.lambda1[sw.condition("adaptive")], sw.lambda1[sw.condition("fixed")]
            section.summary.append(
                f"{sw.name}: λ₁ from ξ = {sw.amplitudes[0]:g} to {sw.amplitudes[-1]:g}: "
                f"adaptive {a[0]:+.3f} → {a[-1]:+.3f}, fixed {f[0]:+.3f} → {f[-1]:+.3f}"
            )
    return section
