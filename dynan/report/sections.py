"""The sections of a checkpoint page: one function per section, ``fn(net, ctx) -> Section``.

Each function reads the network (loaded by ``dynan.load``, with ``.checkpoint``) and the job
:class:`~dynan.report.jobs.Context` (cache, settings, tasks), calls its analysis through the
cache, and returns the section's items, result records, summary lines and headline numbers.
Sections that do not apply to a network (shape parameters of a GRU) say so instead of failing.
:data:`SECTIONS` lists them in page order; the report picks them by key.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dynan.report import model_figures
from dynan.report.builder import Section, figure_item, table_item
from dynan.report.fixed_point_sections import fixed_points_section
from dynan.report.fractional_sections import fractional_section
from dynan.report.jobs import Context
from dynan.report.lyapunov_sections import lyapunov_section
from dynan.report.model_data import (
    ShapeTraces,
    accuracy_table,
    shape_parameters,
    shape_traces,
)
from dynan.report.style import subplots
from dynan_models import ARUN, RecurrentNetwork

__all__ = [
    "SECTIONS",
    "accuracy_section",
    "adaptive_traces",
    "config_section",
    "shape_section",
]


def _param_count(net: RecurrentNetwork) -> int:
    return sum(p.numel() for p in net.parameters())


def config_section(net: RecurrentNetwork, ctx: Context) -> Section:
    """Architecture, constructor arguments, task, training settings and training metrics."""
    info = net.checkpoint
    network = [
        ("architecture", info.architecture),
        *((k, v) for k, v in info.arguments.items()),
        ("parameters", _param_count(net)),
        ("seed", info.seed),
        ("task", ", ".join(f"{k}={v}" for k, v in (info.task or {}).items()) or None),
        ("sha256", info.sha256[:16]),
        ("format / library", f"{info.format_version} / dynan {info.library_version}"),
    ]
    section = Section("Configuration")
    section.items.append(table_item(network, "Network", columns=("field", "value")))
    training_keys = (
        "epochs_trained",
        "best_epoch",
        "epochs",
        "batch_size",
        "lr",
        "optimizer",
        "scheduler",
        "clip",
        "seconds",
        "interrupted",
        "command",
    )
    training = [(k, info.training[k]) for k in training_keys if k in info.training]
    if training:
        section.items.append(table_item(training, "Training", columns=("setting", "value")))
    scalars = [(k, v) for k, v in info.metrics.items() if isinstance(v, int | float)]
    if scalars:
        section.items.append(table_item(scalars, "Training metrics", columns=("metric", "value")))
    test = info.metrics.get("test_accuracy")
    section.summary.append(
        f"{info.architecture}, {net.hidden_size} hidden units, {_param_count(net)} parameters"
        + (f", test accuracy {test:.3f}" if isinstance(test, int | float) else "")
    )
    section.headline.update(architecture=info.architecture, hidden=net.hidden_size)
    if isinstance(test, int | float):
        section.headline["test accuracy"] = float(test)
    return section


def accuracy_section(net: RecurrentNetwork, ctx: Context) -> Section:
    """Clean and perturbed test accuracy stored in the checkpoint, with bars."""
    table = accuracy_table([net])
    if np.isnan(table.accuracy).all():
        return Section.not_applicable(
            "Accuracy", "the checkpoint stores no accuracy metrics (metrics['accuracy'])"
        )
    rows = [
        (p, a, amp, r)
        for p, a, amp, r in zip(
            table.perturbations,
            table.accuracy[0],
            table.amplitudes,
            table.robustness[0],
            strict=True,
        )
    ]
    section = Section("Accuracy")
    section.items.append(
        table_item(
            rows,
            "Test accuracy",
            columns=("perturbation", "accuracy", "amplitude", "relative to clean"),
        )
    )
    ax = model_figures.plot_accuracy(table)
    section.items.append(
        figure_item(
            ax.figure,
            "Accuracy under perturbation",
            caption="Test accuracy clean and under the paper's perturbations: sinusoidal "
            "modulation of the inputs, a step drive and a noise drive added to every "
            "pre-activation in the window 200 < t < 400 of 784 (scaled to the sequence).",
        )
    )
    section.results["accuracy"] = table
    worst = int(np.nanargmin(table.robustness[0]))
    section.summary.append(
        ", ".join(
            f"{p} {a:.3f}"
            for p, a in zip(table.perturbations, table.accuracy[0], strict=True)
            if not np.isnan(a)
        )
    )
    section.summary.append(
        f"largest drop under {table.perturbations[worst]} "
        f"({table.robustness[0, worst]:.2f} of clean)"
    )
    for p, a in zip(table.perturbations, table.accuracy[0], strict=True):
        if p != "clean" and not np.isnan(a):
            section.headline[f"{p} accuracy"] = float(a)
    return section


def shape_section(net: RecurrentNetwork, ctx: Context) -> Section:
    """Learned n_i, s_i (static γ networks) or n_t, s_t under a step drive (ARUN)."""
    if isinstance(net, ARUN):
        return _adaptive_shape_section(net, ctx)
    shape = shape_parameters(net)
    if shape is None:
        return Section.not_applicable(
            "Shape parameters",
            f"{net.architecture} neurons have no γ shape parameters (n, s)",
        )
    section = Section("Shape parameters")
    rows = [
        (name, float(v.mean()), float(v.std()), float(v.min()), float(v.max()))
        for name, v in (("gain n", shape.n), ("saturation s", shape.s))
    ]
    section.items.append(
        table_item(
            rows, "Learned shape parameters", columns=("parameter", "mean", "std", "min", "max")
        )
    )
    ax = model_figures.plot_shape_parameters(shape)
    kind = "per neuron" if shape.n.size > 1 else "shared by all neurons"
    section.items.append(
        figure_item(
            ax.figure,
            "Learned n and s",
            caption=f"Gain n and saturation s of γ(x; n, s) = (1 − s) softplus_n(x) + s σ(nx), "
            f"{kind}. s = 0 is a softplus-like ramp, s = 1 a sigmoid.",
        )
    )
    section.results["shape"] = shape
    section.summary.append(
        f"n {shape.n.mean():.3g} ± {shape.n.std():.2g}, s {shape.s.mean():.3g} ± "
        f"{shape.s.std():.2g} ({kind})"
    )
    section.headline.update({"mean n": float(shape.n.mean()), "mean s": float(shape.s.mean())})
    return section


def adaptive_traces(net: ARUN, ctx: Context) -> ShapeTraces:
    """The cached n_t, s_t of an ARUN under the settings' step drives (also a sweep task)."""
    settings = ctx.settings
    params = {
        "examples": settings.examples,
        "amplitudes": list(settings.trace_amplitudes),
        "task": net.checkpoint.task,
    }
    return ctx.cache.get_or_compute(
        "shape-traces",
        net.checkpoint.sha256,
        params,
        ShapeTraces,
        lambda: shape_traces(
            net, ctx.tasks.inputs(net, settings.examples), amplitudes=settings.trace_amplitudes
        ),
    )


def _adaptive_shape_section(net: ARUN, ctx: Context) -> Section:
    traces = adaptive_traces(net, ctx)
    fig, (left, right) = subplots(1, 2, figsize=(9.5, 3.4))
    model_figures.plot_shape_traces(traces, left, parameter="n")
    model_figures.plot_shape_traces(traces, right, parameter="s")
    start, stop = traces.window
    section = Section("Shape parameters")
    section.items.append(
        figure_item(
            fig,
            "Adaptive n_t and s_t under a step drive",
            caption=f"Mean over {traces.batch} test inputs and over neurons (band: 10–90 % of "
            f"neurons) of the gain n_t and saturation s_t read out of each neuron's "
            f"controller, with a step drive ξ added to all pre-activations for "
            f"{start} ≤ t < {stop}.",
        )
    )
    on = slice(start, stop)
    before = slice(0, start) if start > 0 else slice(0, 1)
    rows = [
        (
            f"{a:g}",
            traces.n_mean[k, before].mean(),
            traces.n_mean[k, on].mean(),
            traces.s_mean[k, before].mean(),
            traces.s_mean[k, on].mean(),
        )
        for k, a in enumerate(traces.amplitudes)
    ]
    section.items.append(
        table_item(
            rows,
            "Mean shape before and during the drive",
            columns=("ξ", "n before", "n during", "s before", "s during"),
        )
    )
    section.results["traces"] = traces
    top = len(traces.amplitudes) - 1
    section.summary.append(
        f"under ξ = {traces.amplitudes[top]:g}: mean n {rows[top][1]:.3g} → {rows[top][2]:.3g}, "
        f"mean s {rows[top][3]:.3g} → {rows[top][4]:.3g}"
    )
    section.headline.update(
        {"mean n": float(traces.n_mean[0].mean()), "mean s": float(traces.s_mean[0].mean())}
    )
    return section


#: Section key → (title, function), in page order.
SECTIONS: dict[str, tuple[str, Callable[[RecurrentNetwork, Context], Section]]] = {
    "config": ("Configuration", config_section),
    "accuracy": ("Accuracy", accuracy_section),
    "shape": ("Shape parameters", shape_section),
    "lyapunov": ("Lyapunov spectrum", lyapunov_section),
    "fixed-points": ("Fixed points", fixed_points_section),
    "fractional": ("Single-neuron coding (fractional order)", fractional_section),
}
