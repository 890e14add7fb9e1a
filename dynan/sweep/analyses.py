"""The analyses a sweep can run, and the table columns each adds.

:data:`ANALYSES` maps a name to an :class:`Analysis`: the headline columns it adds to the table
(always all of them, NaN where a number does not apply, so every sweep's table has the same
columns for the same analyses), the settings it depends on, and a function ``(net, ctx) ->
(results, values)`` that computes through the report's cache (:mod:`dynan.report.cache`) with
the report's own keys, so ``dynan report`` and ``dynan sweep`` into one directory share work.

References: the analyses are those of the report (Geadah et al. 2024; Benettin et al. 1980;
Sussillo & Barak 2013; REFERENCES.md §1–3); see each section module.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dynan.report.jobs import Context, Settings
from dynan.results import Result
from dynan_models import ARUN, RecurrentNetwork

__all__ = ["ANALYSES", "DEFAULT_ANALYSES", "Analysis", "check_analyses"]

NAN = math.nan
Computed = tuple[dict[str, Result], dict[str, Any]]


@dataclass(frozen=True)
class Analysis:
    """One analysis of a sweep: its table columns, its settings and its function."""

    name: str
    columns: tuple[str, ...]
    settings: Callable[[Settings], dict[str, Any]]
    run: Callable[[RecurrentNetwork, Context], Computed]
    types: Mapping[str, str] = field(default_factory=dict)  # column → "int" | "str"; else float
    float64: bool = True  # False: the network keeps the dtype its weights were saved in


def _finite(x: Any) -> float:
    """A float, NaN for None or anything not finite."""
    try:
        value = float(x)
    except (TypeError, ValueError):
        return NAN
    return value if math.isfinite(value) else NAN


# -- accuracy under perturbation ----------------------------------------------------------------

ACCURACY_COLUMNS = ("acc_clean", "acc_sinusoid", "acc_step", "acc_noise")


def _accuracy(net: RecurrentNetwork, ctx: Context) -> Computed:
    """Test accuracy clean and under each of the paper's perturbations (``evaluate_all`` on the
    checkpoint's task: the numbers ``dynan evaluate`` prints). Cost: one pass over the test split
    per perturbation, O(4 n T (N² + D N)). NaN for a checkpoint without a task (``dynan
    import`` without ``--task``): there is nothing to score it on."""
    from dynan.report.model_data import AccuracyTable
    from dynan_models.evaluation import evaluate_all
    from dynan_models.perturbations import PERTURBATIONS

    if not getattr(net.checkpoint, "task", None):
        return {}, dict.fromkeys(ACCURACY_COLUMNS, NAN)

    def compute() -> AccuracyTable:
        acc = evaluate_all(net, ctx.tasks.task(net))
        return AccuracyTable(
            names=(net.checkpoint.name,),
            architectures=(net.architecture,),
            perturbations=tuple(p.name for p in PERTURBATIONS),
            accuracy=np.array([[acc[p.name] for p in PERTURBATIONS]], dtype=np.float64),
            amplitudes=tuple(float(p.amplitude) for p in PERTURBATIONS),
        )

    table = ctx.cache.get_or_compute(
        "accuracy-evaluated",
        net.checkpoint.sha256,
        {"split": "test", "task": net.checkpoint.task, "dtype": str(net.readout.weight.dtype)},
        AccuracyTable,
        compute,
    )
    pairs = zip(table.perturbations, table.accuracy[0], strict=True)
    values = {f"acc_{p}": _finite(a) for p, a in pairs}
    return {"accuracy": table}, values


# -- Lyapunov -----------------------------------------------------------------------------------

LYAPUNOV_COLUMNS = (
    "lambda1",
    "lambda1_low",
    "lambda1_high",
    "lambda1_mode",
    "lambda1_frozen",
    "lambda1_frozen_low",
    "lambda1_frozen_high",
    "kaplan_yorke",
    "entropy_rate",
    "lyapunov_k",
    "state_dim",
)


def _lyapunov(net: RecurrentNetwork, ctx: Context) -> Computed:
    """λ₁ with its 95 % interval over test sequences: the whole state (mode "joint"); ARUN also
    the frozen mode (h with n_t, s_t held, the paper's analysis)."""
    from dynan.report.lyapunov_sections import modes, spectrum

    spectra = {mode: spectrum(net, ctx, mode) for mode in modes(net)}
    joint = spectra["joint"]
    frozen = spectra.get("frozen")
    values = {
        "lambda1": _finite(joint.exponents[0]),
        "lambda1_low": _finite(joint.ci_low[0]),
        "lambda1_high": _finite(joint.ci_high[0]),
        "lambda1_mode": "joint",
        "lambda1_frozen": NAN if frozen is None else _finite(frozen.exponents[0]),
        "lambda1_frozen_low": NAN if frozen is None else _finite(frozen.ci_low[0]),
        "lambda1_frozen_high": NAN if frozen is None else _finite(frozen.ci_high[0]),
        "kaplan_yorke": _finite(joint.kaplan_yorke),
        "entropy_rate": _finite(joint.entropy_rate),
        "lyapunov_k": int(joint.k),
        "state_dim": int(joint.dim),
    }
    return {f"spectrum-{mode}": s for mode, s in spectra.items()}, values


# -- fixed points -------------------------------------------------------------------------------

FIXED_POINT_COLUMNS = (
    "fp_total",
    "fp_stable",
    "fp_saddle1",
    "fp_saddle2plus",
    "fp_unstable",
    "fp_slow",
    "fp_max_q",
    "fp_mode",
)


def _fixed_points(net: RecurrentNetwork, ctx: Context) -> Computed:
    """Fixed points under zero input by kind (stable; saddle with 1 or ≥ 2 unstable directions;
    unstable in every direction), slow points, the largest q, and the mode (ARUN: frozen)."""
    from dynan.report.fixed_point_sections import fixed_points_result

    result = fixed_points_result(net, ctx)
    n_unstable = result.n_unstable
    dim = result.states.shape[1]
    saddle = (n_unstable > 0) & (n_unstable < dim)
    values = {
        "fp_total": len(result),
        "fp_stable": int((n_unstable == 0).sum()),
        "fp_saddle1": int((saddle & (n_unstable == 1)).sum()),
        "fp_saddle2plus": int((saddle & (n_unstable >= 2)).sum()),
        "fp_unstable": int((n_unstable == dim).sum()) if dim else 0,
        "fp_slow": 0 if result.slow_points is None else len(result.slow_points),
        "fp_max_q": _finite(result.q.max()) if len(result) else NAN,
        "fp_mode": "frozen" if isinstance(net, ARUN) else "joint",
    }
    return {"fixed-points": result}, values


# -- fractional order ---------------------------------------------------------------------------

FRACTIONAL_COLUMNS = (
    "alpha_xi",
    "alpha_isolated",
    "alpha_isolated_low",
    "alpha_isolated_high",
    "alpha_intact",
    "alpha_intact_low",
    "alpha_intact_high",
    "median_alpha_isolated",
    "median_alpha_intact",
    "gain_exponent_b",
)


def _median(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(np.median(finite)) if finite.size else NAN


def _fractional(net: RecurrentNetwork, ctx: Context) -> Computed:
    """Population α (with its bootstrap interval) and the median neuron α at the largest drive,
    isolated and intact, and the gain-scaling exponent b of n ≈ a ξ^(−b) + c (adaptive only)."""
    from dynan.report.fractional_sections import fractional_result

    analysis = fractional_result(net, ctx)
    values: dict[str, Any] = {"alpha_xi": _finite(analysis.isolated.amplitudes[-1])}
    for name, probe in (("isolated", analysis.isolated), ("intact", analysis.intact)):
        ci = np.asarray(probe.population.ci[-1], dtype=np.float64)
        values[f"alpha_{name}"] = _finite(probe.population.alpha[-1])
        values[f"alpha_{name}_low"] = _finite(ci[0])
        values[f"alpha_{name}_high"] = _finite(ci[1])
        values[f"median_alpha_{name}"] = _median(np.asarray(probe.neurons.alpha[-1]))
    gain = analysis.gain
    values["gain_exponent_b"] = _finite(gain.n_params[1]) if gain.n_ok else NAN
    return {"fractional": analysis}, values


# -- shape parameters ---------------------------------------------------------------------------

SHAPE_COLUMNS = ("shape_kind", "mean_n", "std_n", "mean_s", "std_s")


def _shape(net: RecurrentNetwork, ctx: Context) -> Computed:
    """Mean and spread over neurons of the gain n and saturation s: learned (static γ
    networks), or n_t, s_t of an ARUN without drive (ξ = 0, mean over time); NaN otherwise."""
    from dynan.report.model_data import shape_parameters
    from dynan.report.sections import adaptive_traces

    if isinstance(net, ARUN):
        traces = adaptive_traces(net, ctx)
        k = int(np.argmin(np.abs(np.asarray(traces.amplitudes))))
        n, s = np.asarray(traces.n_mean[k]), np.asarray(traces.s_mean[k])
        values = {
            "shape_kind": "adaptive",
            "mean_n": _finite(n.mean()),
            "mean_s": _finite(s.mean()),
        }
        values.update(std_n=NAN, std_s=NAN)  # the traces hold means over neurons only
        return {"traces": traces}, values
    shape = shape_parameters(net)
    if shape is None:
        return {}, {"shape_kind": "none", **dict.fromkeys(SHAPE_COLUMNS[1:], NAN)}
    values = {
        "shape_kind": "static",
        "mean_n": _finite(shape.n.mean()),
        "std_n": _finite(shape.n.std()),
        "mean_s": _finite(shape.s.mean()),
        "std_s": _finite(shape.s.std()),
    }
    return {"shape": shape}, values


#: Analysis name → Analysis, in table order.
ANALYSES: dict[str, Analysis] = {
    # in the saved dtype, as `dynan evaluate` and training measure it (a float64 network draws
    # another noise realisation: a different sample of the noise-drive accuracy)
    "accuracy": Analysis("accuracy", ACCURACY_COLUMNS, lambda s: {}, _accuracy, float64=False),
    "shape": Analysis(
        "shape",
        SHAPE_COLUMNS,
        lambda s: {"examples": s.examples, "amplitudes": list(s.trace_amplitudes)},
        _shape,
        {"shape_kind": "str"},
    ),
    "lyapunov": Analysis(
        "lyapunov",
        LYAPUNOV_COLUMNS,
        lambda s: s.params("lyapunov"),
        _lyapunov,
        {"lambda1_mode": "str", "lyapunov_k": "int", "state_dim": "int"},
    ),
    "fixed-points": Analysis(
        "fixed-points",
        FIXED_POINT_COLUMNS,
        lambda s: s.params("fixed-points"),
        _fixed_points,
        dict.fromkeys(FIXED_POINT_COLUMNS[:6], "int") | {"fp_mode": "str"},
    ),
    "fractional": Analysis(
        "fractional", FRACTIONAL_COLUMNS, lambda s: s.params("fractional"), _fractional
    ),
}

#: What ``dynan sweep`` runs without ``--analyses``: all of them.
DEFAULT_ANALYSES: tuple[str, ...] = tuple(ANALYSES)


def check_analyses(names: Any) -> tuple[str, ...]:
    """Validated analysis names (default all), in table order.

    Raises
    ------
    ValueError
        For an unknown name (listing the valid ones) or an empty selection.
    """
    if names is None:
        return DEFAULT_ANALYSES
    names = [names] if isinstance(names, str) else list(names)
    bad = [n for n in names if n not in ANALYSES]
    if bad:
        raise ValueError(f"unknown analysis(es) {bad}; valid: {', '.join(ANALYSES)}")
    if not names:
        raise ValueError(f"no analyses selected; valid: {', '.join(ANALYSES)}")
    return tuple(a for a in ANALYSES if a in names)
