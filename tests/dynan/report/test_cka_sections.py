"""The CKA section of the comparison page: values, verdicts, grouping by task, the cache."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from dynan.checkpoint import load
from dynan.report.cache import AnalysisCache
from dynan.report.cka_sections import cka_comparison, cka_representations
from dynan.report.jobs import Context, Settings
from dynan.similarity import CKAComparison, cka, network_representations
from dynan_models import build, save_checkpoint
from dynan_models.tasks import load_task

TASK = {"name": "flipflop", "bits": 2, "steps": 10, "p_pulse": 0.2, "seed": 0}
PARAMS = {"examples": 64, "steps": "final", "reliability": "quick", "threshold": 0.5, "seed": 0}


@pytest.fixture(scope="module")
def named(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cka-section")
    out = []
    for k, (arch, task) in enumerate(
        [("relu", TASK), ("softplus", TASK), ("gru", TASK), ("relu", {**TASK, "bits": 3})]
    ):
        torch.manual_seed(k)
        net = build(arch, input_size=task["bits"], hidden_size=8, output_size=2, output_mode="all")
        path = save_checkpoint(net, folder / f"{arch}-{k}.safetensors", task=task)
        out.append((f"{arch}-{k}", load(path, dtype=torch.float64)))
    return out


def _context(tmp_path) -> Context:
    settings = Settings(analyses={"cka": dict(PARAMS)})
    return Context(AnalysisCache(tmp_path), settings)


def test_section_compares_checkpoints_of_one_task(named, tmp_path):
    ctx = _context(tmp_path)
    section = cka_comparison(named, ctx)
    assert section.status == "ok"
    result = section.results["cka"]
    assert isinstance(result, CKAComparison)
    assert result.names == ("relu-0", "softplus-1", "gru-2") and result.n == 64
    x = load_task(TASK).test.x[:64]
    h = [network_representations(net, x)["h[t=9]"] for _, net in named[:3]]
    np.testing.assert_allclose(result.linear, [[cka(a, b) for b in h] for a in h], atol=1e-12)
    assert len(result.verdicts) == 3 and result.preset == "quick"
    kinds = [item.kind for item in section.items]
    assert kinds == ["figure", "table", "figure", "text"]
    table = section.items[1].data
    assert table["columns"][0] == "pair" and len(table["rows"]) == 3
    assert "relu-3" in section.items[3].data[0]  # alone on its task: listed, not compared
    assert any("most similar" in line for line in section.summary)


def test_section_uses_the_cache_and_the_prefetched_representations(named, tmp_path):
    ctx = _context(tmp_path)
    for _, net in named:  # what the page workers do before the comparison page
        cka_representations(net, ctx)
    assert ctx.cache.misses == 4 and ctx.cache.hits == 0
    cka_comparison(named, ctx)
    assert ctx.cache.hits == 3 and ctx.cache.misses == 5  # three reads + the comparison
    again = _context(tmp_path)
    cka_comparison(named, again)
    assert again.cache.misses == 0 and again.cache.hits == 1


def test_section_not_applicable_without_two_checkpoints_of_a_task(named, tmp_path):
    section = cka_comparison([named[0], named[3]], _context(tmp_path))
    assert section.status == "not applicable" and "share a task" in section.message


def test_section_accepts_the_report_presets(named, tmp_path):
    from dynan.report.jobs import PRESETS

    for preset in PRESETS.values():
        params = preset.params("cka")
        assert set(PARAMS) <= set(params)
    ctx = Context(AnalysisCache(tmp_path), dataclasses.replace(PRESETS["fast"]))
    assert cka_comparison(named[:2], ctx).status == "ok"
