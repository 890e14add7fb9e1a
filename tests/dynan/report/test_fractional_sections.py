"""The fractional-order sections: checkpoint page and comparison page, through the cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from report_helpers import make_checkpoint

from dynan.checkpoint import load
from dynan.neuron_probes import AlphaComparison, FractionalAnalysis, fractional_analysis
from dynan.report.builder import Page
from dynan.report.cache import AnalysisCache
from dynan.report.fractional_sections import (
    alpha_comparison,
    fractional_result,
    fractional_section,
)
from dynan.report.jobs import Context, Settings

PNG = b"\x89PNG\r\n\x1a\n"
PARAMS = {"preset": "fast", "method": "gl", "seed": 0}


@pytest.fixture(scope="module")
def named(tmp_path_factory):
    """ARUN and ReLU with 8 units, GRU with 5 (the comparison pads to the widest)."""
    folder = tmp_path_factory.mktemp("fractional-section")
    out = []
    for arch, hidden in (("arun", 8), ("relu", 8), ("gru", 5)):
        path = make_checkpoint(folder, arch, hidden=hidden)
        out.append((path.stem, load(path, dtype=torch.float64)))
    return out


def _context(root, params=PARAMS) -> Context:
    return Context(AnalysisCache(root), Settings(analyses={"fractional": dict(params)}))


def test_fractional_section_adaptive_network(named, tmp_path):
    ctx = _context(tmp_path)
    _, net = named[0]
    section = fractional_section(net, ctx)
    assert section.status == "ok" and (ctx.cache.hits, ctx.cache.misses) == (0, 1)
    kinds = [item.kind for item in section.items]
    assert kinds == ["figure", "figure", "figure", "table", "figure"]
    assert all(item.data.startswith(PNG) for item in section.items if item.kind == "figure")
    assert [i.title for i in section.items][:3] == [
        "Fractional order per neuron",
        "Gain scaling",
        "Adaptation index",
    ]
    result = section.results["fractional"]
    assert isinstance(result, FractionalAnalysis)
    # the settings' parameters reach the analysis: the same numbers as a direct call
    direct = fractional_analysis(net, progress=False, **PARAMS)
    np.testing.assert_array_equal(result.isolated.neurons.alpha, direct.isolated.neurons.alpha)
    np.testing.assert_array_equal(result.intact.population.ci, direct.intact.population.ci)
    table = section.items[3].data
    assert len(table["rows"]) == 2 * result.isolated.amplitudes.size
    assert section.headline["population α (intact)"] == result.intact.population.alpha[-1]
    fits = [line for line in section.summary if line.startswith(("n ", "n:", "s ", "s:"))]
    assert len(fits) == 2  # each law: its exponent, or why there is none
    page = Page("arun", kind="checkpoint")
    page.add_section(section)  # the page JSON round-trips the analysis
    back = page.result().results[section.title]["fractional"]
    assert back["isolated"]["neurons"]["alpha"]["shape"] == [4, 8]
    # second call: read from the cache, same result
    again = fractional_section(net, ctx)
    assert (ctx.cache.hits, ctx.cache.misses) == (1, 1)
    np.testing.assert_array_equal(
        again.results["fractional"].intact.neurons.alpha, result.intact.neurons.alpha
    )


def test_fractional_section_static_network_explains_missing_gain_scaling(named, tmp_path):
    section = fractional_section(named[1][1], _context(tmp_path))
    assert section.status == "ok"
    text = [item for item in section.items if item.kind == "text"]
    assert len(text) == 1 and "no shape parameters" in text[0].data[0]
    assert [item.kind for item in section.items].count("figure") == 3


def test_fractional_section_parameters_are_the_cache_key(named, tmp_path):
    _, net = named[2]
    spectral = {**PARAMS, "method": "spectral", "target": "response"}
    first = fractional_result(net, _context(tmp_path))
    other = _context(tmp_path, spectral)
    second = fractional_result(net, other)
    assert (other.cache.hits, other.cache.misses) == (0, 1)  # not the gl result
    assert first.method == "gl" and second.method == "spectral"
    assert "Lundstrom" in second.isolated.neurons.convention


def test_alpha_comparison_reuses_each_checkpoint_result(named, tmp_path):
    ctx = _context(tmp_path)
    analyses = [fractional_result(net, ctx) for _, net in named]  # as the pages would
    misses = ctx.cache.misses
    section = alpha_comparison(named, ctx)
    assert section.status == "ok"
    assert ctx.cache.misses == misses and ctx.cache.hits == len(named)
    assert [item.kind for item in section.items] == ["figure", "table"]
    assert section.items[0].data.startswith(PNG)
    result = section.results["alpha"]
    assert isinstance(result, AlphaComparison)
    assert result.names == tuple(name for name, _ in named)
    assert result.neuron_alpha.shape == (3, 2, 8) and result.hidden.tolist() == [8, 8, 5]
    for i, analysis in enumerate(analyses):
        width = result.hidden[i]
        np.testing.assert_array_equal(
            result.neuron_alpha[i, 1, :width], analysis.intact.neurons.alpha[-1]
        )
        assert result.population_alpha[i, 0] == analysis.isolated.population.alpha[-1]
    assert np.isnan(result.neuron_alpha[2, :, 5:]).all()  # GRU padded
    exponents = [a.gain.n_params[1] if a.gain.n_ok else np.nan for a in analyses]
    np.testing.assert_array_equal(result.gain_exponent, exponents)
    assert np.isnan(result.gain_exponent[1:]).all()  # ReLU and GRU have no gain n
    assert len(section.items[1].data["rows"]) == 3
    assert any(line.startswith("median intact α from") for line in section.summary)
