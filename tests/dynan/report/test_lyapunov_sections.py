"""The Lyapunov report sections: content, settings reaching the analyses, and the cache."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from report_helpers import context, load_networks

from dynan.lyapunov import LyapunovSpectrum
from dynan.report.drive_sweep import DriveSweep
from dynan.report.jobs import FAST, Context
from dynan.report.lyapunov_figures import plot_lambda1_comparison
from dynan.report.lyapunov_sections import (
    lambda_comparison,
    lyapunov_section,
    prefetch_lambda,
)

HIDDEN = 8


@pytest.fixture(scope="module")
def nets(tmp_path_factory):
    return load_networks(tmp_path_factory.mktemp("ckpt"), ("arun", "relu"), hidden=HIDDEN)


def _context(tmp_path) -> Context:
    return context(tmp_path)


def _kinds(section):
    return [item.kind for item in section.items]


def test_adaptive_network_gets_both_modes_and_second_call_hits_the_cache(nets, tmp_path):
    ctx = _context(tmp_path)
    section = lyapunov_section(nets["arun"], ctx)
    assert section.status == "ok" and _kinds(section) == ["figure", "table"]
    assert set(section.results) == {
        "spectrum-frozen", "spectrum-joint", "finite-time-frozen", "finite-time-joint",
    }  # fmt: skip
    p = FAST["lyapunov"]
    frozen, joint = section.results["spectrum-frozen"], section.results["spectrum-joint"]
    steps = ctx.tasks.inputs(nets["arun"], 1).shape[1]
    assert (frozen.dim, joint.dim) == (HIDDEN, HIDDEN * (1 + 4))
    assert (frozen.k, joint.k) == (min(p["k"], HIDDEN), p["joint_k"])
    for spec in (frozen, joint):
        assert spec.trials == p["examples"] and spec.transient == p["transient"]
        assert spec.n_steps == steps - p["transient"]
    ft = section.results["finite-time-joint"]
    assert ft.window == p["window"] and ft.metadata["drive_amplitude"] == p["drive"]
    assert ft.metadata["mode"] == "joint" and 0 in ft.times  # a window opens at the onset
    assert section.headline["λ₁"] == joint.exponents[0]
    assert section.headline["λ₁ frozen"] == frozen.exponents[0]
    assert len(section.summary) == 2 and "D_KY" in section.summary[0]
    assert (ctx.cache.hits, ctx.cache.misses) == (0, 4)
    again = lyapunov_section(nets["arun"], ctx)
    assert (ctx.cache.hits, ctx.cache.misses) == (4, 4)
    np.testing.assert_array_equal(
        again.results["spectrum-joint"].trial_exponents, joint.trial_exponents
    )


def test_static_network_runs_its_whole_state(nets, tmp_path):
    section = lyapunov_section(nets["relu"], _context(tmp_path))
    assert section.status == "ok" and _kinds(section) == ["figure", "table"]
    assert set(section.results) == {"spectrum-joint", "finite-time-joint"}
    spec = section.results["spectrum-joint"]
    assert spec.dim == spec.k == HIDDEN and spec.metadata["mode"] == "joint"
    assert set(section.headline) == {"λ₁"}


def test_comparison_reuses_the_page_spectra_and_caches_the_sweeps(nets, tmp_path):
    ctx = _context(tmp_path)
    for net in nets.values():
        lyapunov_section(net, ctx)
    misses = ctx.cache.misses
    named = list(nets.items())
    section = lambda_comparison(named, ctx)
    assert ctx.cache.misses == misses + 2  # only the two drive sweeps are new
    assert section.status == "ok" and _kinds(section) == ["figure", "table"]
    sweeps = [section.results[f"{name} drive sweep"] for name in nets]
    assert all(isinstance(s, DriveSweep) for s in sweeps)
    p = FAST["drive-sweep"]
    assert sweeps[0].conditions == ("joint", "adaptive", "fixed")
    assert sweeps[1].conditions == ("static",)
    assert sweeps[0].amplitudes.tolist() == p["amplitudes"] and sweeps[0].trials == p["examples"]
    table = section.items[1].data
    assert [row[0] for row in table["rows"]] == list(nets)
    assert any("adaptive" in line for line in section.summary)
    hits = ctx.cache.hits
    lambda_comparison(named, ctx)
    assert ctx.cache.misses == misses + 2 and ctx.cache.hits == hits + 5


def test_prefetch_fills_everything_the_comparison_needs(nets, tmp_path):
    ctx = _context(tmp_path)
    for net in nets.values():
        prefetch_lambda(net, ctx)
    misses = ctx.cache.misses
    assert misses == 5  # ARUN: two spectra and a sweep; ReLU: one spectrum and a sweep
    lambda_comparison(list(nets.items()), ctx)
    assert ctx.cache.misses == misses


def test_lambda1_comparison_plot_checks_its_arguments(nets, tmp_path):
    import matplotlib.pyplot as plt

    ctx = _context(tmp_path)
    spec = lyapunov_section(nets["arun"], ctx).results["spectrum-frozen"]
    assert isinstance(spec, LyapunovSpectrum) and np.isfinite(spec.exponents[0])
    # every direction collapsed (e.g. all ReLU units silent): λ₁ = −inf, written, not drawn
    dead = dataclasses.replace(spec, exponents=np.full(spec.k, -np.inf))
    ax = plot_lambda1_comparison([spec, dead], labels=["a", "b"], frozen=[None, spec])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b"]
    assert ax.get_legend().get_texts()[0].get_text() == "frozen shape parameters"
    assert len(ax.patches) == 1 and "−inf" in [t.get_text() for t in ax.texts]
    with pytest.raises(ValueError, match="2 results, 1 labels and 2 frozen entries"):
        plot_lambda1_comparison([spec, spec], labels=["a"])
    plt.close("all")


def test_long_analyses_report_progress_from_inside(nets, tmp_path, monkeypatch):
    # the report's bar must move within a section: the spectrum reports its steps (transient
    # included) and the fixed-point search its iterations, through ctx.status
    from dynan.lyapunov._benettin import _CallbackBar
    from dynan.report.fixed_point_sections import fixed_points_result
    from dynan.report.lyapunov_sections import spectrum

    monkeypatch.setattr(_CallbackBar, "EVERY", 0.0)  # every step (not every half second)
    ctx = _context(tmp_path)
    seen: list[str] = []
    ctx.status = seen.append
    spectrum(nets["arun"], ctx, "joint")
    steps = [s for s in seen if s.startswith("joint spectrum, step")]
    done = [int(s.rsplit(" ", 1)[1].split("/")[0]) for s in steps]
    total = int(steps[-1].rsplit("/", 1)[1])
    assert len(steps) >= 8 and done == sorted(done) and done[-1] == total
    assert min(d for d in done if d > 0) <= FAST["lyapunov"]["transient"]  # inside the transient
    seen.clear()
    fixed_points_result(nets["arun"], ctx)
    assert any(s.startswith("frozen fixed points, iteration") for s in seen), seen
