"""The single-neuron coding sections: fractional order, gain scaling, adaptation index.

:func:`fractional_result` runs :func:`~dynan.neuron_probes.fractional_analysis` on one
checkpoint through the cache, with ``ctx.settings.params("fractional")`` (``preset``,
``method``, ``seed`` and optionally ``target``) as its keyword arguments; it is also the
per-checkpoint prefetch hook of the comparison section, so both sections share one result
per checkpoint. :func:`fractional_section` shows it on the checkpoint page (α per neuron,
isolated vs intact; population α against ξ; gain scaling with the paper's fits; adaptation
index; example fits), :func:`alpha_comparison` sets the α distributions of several
checkpoints side by side on the comparison page.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dynan.neuron_probes import (
    FractionalAnalysis,
    NeuronProbe,
    compare_alpha,
    fractional_analysis,
)
from dynan.report import fractional_figures as figures
from dynan.report.builder import Section, figure_item, table_item, text_item
from dynan.report.jobs import Context
from dynan_models import RecurrentNetwork

__all__ = ["alpha_comparison", "fractional_result", "fractional_section"]

TITLE = "Single-neuron coding (fractional order)"
COMPARE_TITLE = "Fractional order across checkpoints"
Named = Sequence[tuple[str, RecurrentNetwork]]


def fractional_result(net: RecurrentNetwork, ctx: Context) -> FractionalAnalysis:
    """The fractional analysis of one checkpoint (cached by its sha256 and the parameters).

    Cost: the protocol of the preset, two probes of O(R K T) network steps and
    O(G R K N T log T) for the fits (``"fast"``: about 1 s of CPU for a 64-unit zoo network;
    the page section's five figures add about 1.3 s).
    """
    params = ctx.settings.params("fractional")
    return ctx.cache.get_or_compute(
        "fractional",
        net.checkpoint.sha256,
        params,
        FractionalAnalysis,
        lambda: fractional_analysis(net, progress=False, **params),
    )


def _ci(alpha: float, ci: np.ndarray) -> str:
    """α with its interval, e.g. "+0.207 [+0.206, +0.209]" ("–" for NaN)."""
    if not np.isfinite(alpha):
        return "–"
    if not np.isfinite(ci).all():
        return f"{alpha:+.3f}"
    return f"{alpha:+.3f} [{ci[0]:+.3f}, {ci[1]:+.3f}]"


def _sign(target: str) -> str:
    """The sign convention in a few words."""
    if target == "stimulus":
        return "paper convention: α < 0 differentiates, α > 0 integrates"
    return "Lundstrom convention: α > 0 differentiates, α < 0 integrates"


def _median(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(np.median(finite)) if finite.size else float("nan")


def _probe_rows(probe: NeuronProbe) -> list[tuple]:
    """Per ξ: population α with its interval, median neuron α, neurons on a bound, median AI."""
    return [
        (
            probe.connectivity,
            f"{xi:g}",
            _ci(probe.population.alpha[k], probe.population.ci[k]),
            _median(probe.neurons.alpha[k]),
            int(probe.neurons.at_bound[k].sum()),
            _median(probe.adaptation_index[k]),
        )
        for k, xi in enumerate(probe.amplitudes)
    ]


def _gain_items(analysis: FractionalAnalysis) -> tuple[list, list[str]]:
    """The gain-scaling figure and summary for adaptive networks, else a text saying why not."""
    gain = analysis.gain
    if not (np.isfinite(gain.n).any() and np.ptp(gain.n) > 0):
        reason = gain.n_message or "the shape parameters do not follow the drive"
        return [text_item(f"No gain scaling ({reason}).", "Gain scaling")], []
    caption = (
        "Mean gain n_t and saturation s_t of the intact network over the second half of the "
        f"drive window (steps {gain.span[0]}–{gain.span[1]}), against drive amplitude ξ, with "
        "the paper's fits n ≈ a ξ^(−b) + c and s ≈ a e^(−bξ) + c (Geadah et al. 2024)."
    )
    items = [figure_item(figures.figure_gain(analysis), "Gain scaling", caption=caption)]
    summary = []
    for name, law, ok, params, err, message in (
        ("n", "a ξ^(−b) + c", gain.n_ok, gain.n_params, gain.n_stderr, gain.n_message),
        ("s", "a e^(−bξ) + c", gain.s_ok, gain.s_params, gain.s_stderr, gain.s_message),
    ):
        if ok:
            summary.append(f"{name} ≈ {law} with b = {params[1]:.3g} ± {err[1]:.2g}")
        else:
            summary.append(f"{name}: no fit ({message})")
    return items, summary


def fractional_section(net: RecurrentNetwork, ctx: Context) -> Section:
    """α per neuron (isolated vs intact), population α against ξ, gain scaling, adaptation."""
    analysis = fractional_result(net, ctx)
    iso, intact = analysis.isolated, analysis.intact
    convention = iso.neurons.convention
    xi = iso.amplitudes[-1]
    section = Section(TITLE)
    section.items.append(
        figure_item(
            figures.figure_alpha(analysis),
            "Fractional order per neuron",
            caption=f"Each neuron driven by private N({iso.noise_mean:g}, {iso.noise_std:g}²) "
            f"noise plus a step of amplitude ξ on steps {iso.window[0]}–{iso.window[1]}, "
            f"averaged over {iso.realisations} realisations; α fitted by the "
            f"{analysis.method} operator, {convention}. Left: α per neuron at ξ = {xi:g}, "
            "isolated (self-connection only) and intact; dashed: α of the neuron-averaged "
            "response. Right: population α (bootstrap 95 % intervals over realisations) and "
            "the median neuron against ξ.",
        )
    )
    gain_items, gain_summary = _gain_items(analysis)
    section.items.extend(gain_items)
    section.items.append(
        figure_item(
            figures.plot_adaptation_index(analysis).figure,
            "Adaptation index",
            caption="(r_early − r_late)/(r_early + r_late) of each neuron's mean response over "
            "the first and last 30 % of the step: 1 for a response that decays fully, 0 "
            "without adaptation, negative for one that grows.",
        )
    )
    section.items.append(
        table_item(
            _probe_rows(iso) + _probe_rows(intact),
            "Fractional order and adaptation against ξ",
            columns=(
                "neurons",
                "ξ",
                "population α [95 % CI]",
                "median neuron α",
                "neurons at a bound",
                "median adaptation index",
            ),
            caption=f"Search bounds {iso.neurons.bounds}; a neuron at a bound may have its "
            "order beyond it.",
        )
    )
    section.items.append(
        figure_item(
            figures.figure_examples(analysis),
            "Example fits",
            caption=f"Four neurons at evenly spaced ranks of α (ξ = {xi:g}): response, matched "
            "signal and the fractional fit over the fitted range, each rescaled to [0, 1].",
        )
    )
    section.results["fractional"] = analysis
    section.summary.append(
        f"population α at ξ = {xi:g}: isolated "
        f"{_ci(iso.population.alpha[-1], iso.population.ci[-1])}, intact "
        f"{_ci(intact.population.alpha[-1], intact.population.ci[-1])} "
        f"({_sign(analysis.target)})"
    )
    section.summary.append(
        f"median neuron α at ξ = {xi:g}: isolated {_median(iso.neurons.alpha[-1]):+.3f}, "
        f"intact {_median(intact.neurons.alpha[-1]):+.3f}"
    )
    section.summary.extend(gain_summary)
    section.headline.update(
        {
            "population α (isolated)": float(iso.population.alpha[-1]),
            "population α (intact)": float(intact.population.alpha[-1]),
        }
    )
    return section


def alpha_comparison(named: Named, ctx: Context) -> Section:
    """Per-neuron α of every checkpoint side by side, isolated and intact, with a table.

    Reads each checkpoint's :func:`fractional_result` (computed by its page or the prefetch
    hook, else here) and keeps only the compact :class:`~dynan.neuron_probes.AlphaComparison`.
    """
    comparison = compare_alpha(
        [fractional_result(net, ctx) for _, net in named], [name for name, _ in named]
    )
    section = Section(COMPARE_TITLE)
    section.items.append(
        figure_item(
            figures.figure_alpha_comparison(comparison),
            "Fractional order per neuron",
            caption="α of each neuron at the largest drive amplitude (box: quartiles; points: "
            "neurons; diamond: α of the neuron-averaged response), isolated (self-connection "
            f"only) and intact; {comparison.convention}.",
        )
    )
    rows = [
        (
            name,
            comparison.architectures[i],
            f"{comparison.amplitude[i]:g}",
            *(
                _ci(comparison.population_alpha[i, j], comparison.population_ci[i, j])
                for j in (0, 1)
            ),
            *comparison.median_alpha[i],
            *comparison.at_bound[i],
            comparison.gain_exponent[i],
        )
        for i, name in enumerate(comparison.names)
    ]
    section.items.append(
        table_item(
            rows,
            "Fractional order at the largest ξ",
            columns=(
                "checkpoint",
                "architecture",
                "ξ",
                "population α isolated",
                "population α intact",
                "median α isolated",
                "median α intact",
                "at a bound isolated",
                "at a bound intact",
                "gain-scaling exponent b",
            ),
        )
    )
    section.results["alpha"] = comparison
    for j, connectivity in enumerate(comparison.connectivities):
        median = comparison.median_alpha[:, j]
        if np.isfinite(median).any():
            low, high = int(np.nanargmin(median)), int(np.nanargmax(median))
            section.summary.append(
                f"median {connectivity} α from {median[low]:+.3f} ({comparison.names[low]}) "
                f"to {median[high]:+.3f} ({comparison.names[high]})"
            )
    return section
