"""The fixed-point report section: content, settings reaching the analysis, and the cache."""

from __future__ import annotations

import numpy as np
import pytest
from report_helpers import context, load_networks

from dynan.fixed_points import FixedPoints
from dynan.report.fixed_point_sections import fixed_points_section
from dynan.report.jobs import Context

HIDDEN = 8


@pytest.fixture(scope="module")
def nets(tmp_path_factory):
    return load_networks(tmp_path_factory.mktemp("ckpt"), ("arun", "softplus"), hidden=HIDDEN)


def _context(tmp_path, **fixed_points) -> Context:
    return context(tmp_path, {"fixed-points": fixed_points})


def test_section_ok_with_figure_table_and_second_call_hits_the_cache(nets, tmp_path):
    ctx = _context(tmp_path, n_inits=48)
    section = fixed_points_section(nets["softplus"], ctx)
    assert section.status == "ok"
    assert [item.kind for item in section.items] == ["figure", "table"]
    assert section.items[0].data.startswith(b"\x89PNG") and len(section.items[0].data) > 5000
    result = section.results["fixed-points"]
    assert isinstance(result, FixedPoints) and result.states.shape[1] == HIDDEN
    assert result.parameters["n_candidates"] == 48 and np.all(result.q < 1e-12)
    assert result.parameters["network"]["mode"] == "joint"
    assert section.headline["fixed points"] == len(result)
    assert section.headline["stable fixed points"] == int(result.is_stable.sum())
    table = section.items[1].data
    counted = sum(int(r[1]) for r in table["rows"] if r[0] not in ("slow points", "none found"))
    assert counted == len(result) and "(joint mode)" in section.summary[0]
    assert (ctx.cache.hits, ctx.cache.misses) == (0, 1)
    again = fixed_points_section(nets["softplus"], ctx)
    assert (ctx.cache.hits, ctx.cache.misses) == (1, 1)
    np.testing.assert_array_equal(again.results["fixed-points"].states, result.states)


def test_arun_runs_frozen_and_says_so(nets, tmp_path):
    section = fixed_points_section(nets["arun"], _context(tmp_path, n_inits=32))
    assert section.status == "ok"
    assert [item.kind for item in section.items] == ["figure", "table", "text"]
    result = section.results["fixed-points"]
    assert result.parameters["network"]["mode"] == "frozen" and result.states.shape[1] == HIDDEN
    assert "frozen" in section.items[2].data[0] and "(frozen mode)" in section.summary[0]


def test_changed_settings_compute_afresh(nets, tmp_path):
    first = _context(tmp_path, n_inits=32)
    fixed_points_section(nets["softplus"], first)
    second = _context(tmp_path, n_inits=40)
    section = fixed_points_section(nets["softplus"], second)
    assert (second.cache.hits, second.cache.misses) == (0, 1)
    assert section.results["fixed-points"].parameters["n_candidates"] == 40
