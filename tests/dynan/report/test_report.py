"""The report: files, sections, figures, caching, atomic writes, failures and the CLI."""

from __future__ import annotations

import base64
import json
import os
import re
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from report_helpers import ACCURACY, ARCHITECTURES, make_checkpoint

import dynan.report
from dynan.checkpoint import load
from dynan.cli import main
from dynan.errors import CheckpointError
from dynan.report import sections as sections_module
from dynan.report.builder import (
    Item,
    Page,
    PageResult,
    Section,
    format_value,
    table_item,
    text_item,
)
from dynan.report.cache import AnalysisCache
from dynan.report.index_page import group_columns
from dynan.report.jobs import ReportSummary
from dynan.report.model_data import accuracy_table, shape_parameters, shape_traces
from dynan.report.style import subplots
from dynan.results import Result
from dynan_models import build

PNG = b"\x89PNG\r\n\x1a\n"


def _page_names(summary):
    return [p["name"] for p in summary.pages]


# -- the files of a report ------------------------------------------------------------------


def test_report_writes_every_page_with_json_and_markdown(built_report):
    summary, out, _ = built_report
    assert _page_names(summary) == [f"{a}-s0" for a in ARCHITECTURES] + ["compare"]
    for name in [*_page_names(summary), "index"]:
        for suffix in ("html", "json", "md"):
            assert (out / f"{name}.{suffix}").stat().st_size > 0, f"{name}.{suffix}"
    assert not list(out.rglob("*.tmp")), "temporary files left behind"


def test_report_every_figure_file_nonempty_png_and_embedded(built_report):
    summary, out, _ = built_report
    for name in _page_names(summary):
        html = (out / f"{name}.html").read_text()
        embedded = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
        files = sorted((out / "figures" / name).glob("*.png"))
        referenced = re.findall(r'data-file="figures/[^/]+/([^"]+)"', html)
        assert len(embedded) == len(files) == len(referenced) > 0, name
        assert sorted(referenced) == [f.name for f in files]
        on_disk = {f.read_bytes() for f in files}
        for data in embedded:
            png = base64.b64decode(data)
            assert png.startswith(PNG) and len(png) > 1000
            assert png in on_disk


def test_report_every_section_present_on_every_page(built_report):
    summary, out, _ = built_report
    expected = [title for title, _ in sections_module.SECTIONS.values()]
    for entry in summary.pages[:-1]:
        html = (out / f"{entry['name']}.html").read_text()
        assert re.findall(r'data-section="([^"]+)"', html) == expected
        assert [s["title"] for s in entry["sections"]] == expected
        markdown = (out / f"{entry['name']}.md").read_text()
        assert all(f"## {title}" in markdown for title in expected)
    assert summary.ok, summary.failures
    statuses = {p["name"]: {s["title"]: s["status"] for s in p["sections"]} for p in summary.pages}
    assert statuses["relu-s0"]["Shape parameters"] == "not applicable"
    assert statuses["arun-s0"]["Shape parameters"] == "ok"


def test_report_json_round_trips(built_report):
    summary, out, _ = built_report
    index = ReportSummary.from_json(out / "index.json")
    # written without this run's statistics (seconds of the job and of each section, cache
    # counts), which stay on the in-memory summary
    assert index == ReportSummary.from_json(summary.to_json())
    assert (index.title, index.preset, _page_names(index)) == (
        summary.title, summary.preset, _page_names(summary),
    )  # fmt: skip
    assert (index.seconds, index.cache_hits) == (0.0, 0) and summary.seconds > 0
    page = PageResult.from_json(out / "arun-s0.json")
    assert page.kind == "checkpoint" and page.checkpoints[0]["architecture"] == "arun"
    table = page.results["Accuracy"]["accuracy"]
    expected = [ACCURACY[k] for k in ("clean", "sinusoid", "step", "noise")]
    assert table["accuracy"].tolist() == [expected]
    json.loads((out / "compare.json").read_text(), parse_constant=pytest.fail)


def test_report_index_lists_every_page_with_headline_numbers(built_report):
    summary, out, _ = built_report
    html = (out / "index.html").read_text()
    for name in _page_names(summary):
        assert f'href="{name}.html"' in html
    # the four accuracies share one column (the zoo's table fits a 1400-px window)
    assert "<small>test / sinusoid / step / noise</small>" in html
    entry = next(p for p in summary.pages if p["name"] == "arun-s0")["values"]
    cells = " / ".join(
        format_value(entry[f"{k} accuracy"]) for k in ("test", "sinusoid", "step", "noise")
    )
    assert f">{cells}</td>" in html


def test_index_columns_grouped():
    columns = ["architecture", "mean n", "λ₁", "test accuracy", "λ₁ frozen", "noise accuracy"]
    assert group_columns(columns) == [
        ("architecture", "", ("architecture",)),
        ("mean shape", "n", ("mean n",)),
        ("λ₁", "joint / frozen", ("λ₁", "λ₁ frozen")),
        ("accuracy", "test / noise", ("test accuracy", "noise accuracy")),
    ]


def test_report_module_is_callable():
    assert callable(dynan.report) and dynan.report.sections is sections_module


# -- caching ------------------------------------------------------------------------------


def test_report_second_run_only_redraws(tmp_path):
    path = make_checkpoint(tmp_path, "arun")
    options = {"out": tmp_path / "out", "progress": False, "sections": ["shape"]}
    first = dynan.report.report([path], **options)
    assert first.cache_misses >= 1 and first.cache_hits == 0
    again = dynan.report.report([path], **options)
    assert (again.cache_hits, again.cache_misses) == (first.cache_misses, 0)
    fresh = dynan.report.report([path], **options, cache=False)
    assert (fresh.cache_hits, fresh.cache_misses) == (0, first.cache_misses)


@dataclass(frozen=True)
class _Answer(Result):
    value: np.ndarray


def test_cache_key_depends_on_checkpoint_analysis_and_parameters(tmp_path):
    store = AnalysisCache(tmp_path)
    sha_a, sha_b = "a" * 64, "b" * 64
    base = store.key("lyapunov", sha_a, {"k": 2}, _Answer)
    assert base == store.key("lyapunov", [sha_a], {"k": 2}, _Answer)
    others = {
        store.key("lyapunov", sha_b, {"k": 2}, _Answer),
        store.key("fractional", sha_a, {"k": 2}, _Answer),
        store.key("lyapunov", sha_a, {"k": 3}, _Answer),
        store.key("lyapunov", [sha_a, sha_b], {"k": 2}, _Answer),
        store.key("lyapunov", [sha_b, sha_a], {"k": 2}, _Answer),
    }
    assert base not in others and len(others) == 5
    with pytest.raises(ValueError, match="finite JSON"):
        store.key("lyapunov", sha_a, {"k": float("nan")}, _Answer)
    with pytest.raises(ValueError, match="sha256"):
        store.key("lyapunov", [], {}, _Answer)


@pytest.mark.parametrize("changed", ["steps.cpp", "sequence.py", "spectrum.py"])
def test_cache_key_covers_every_source_the_results_depend_on(changed, monkeypatch):
    # the compiled steps' C++ as well as the Python of both packages
    from pathlib import Path

    from dynan.report import cache

    before = cache._source_hash.__wrapped__()
    read = Path.read_bytes

    def edited(path):
        return read(path) + (b"// edit" if path.name == changed else b"")

    monkeypatch.setattr(Path, "read_bytes", edited)
    assert cache._source_hash.__wrapped__() != before


def test_cache_stores_result_json_and_recovers_from_corrupt_file(tmp_path):
    store = AnalysisCache(tmp_path)
    calls = []

    def compute():
        calls.append(1)
        return _Answer(np.array([1.5, np.nan]))

    first = store.get_or_compute("demo", "c" * 64, {"n": 1}, _Answer, compute)
    path = store.path("demo", "c" * 64, {"n": 1}, _Answer)
    assert path.parent == tmp_path / ".cache" / "demo" and path.is_file()
    again = store.get_or_compute("demo", "c" * 64, {"n": 1}, _Answer, compute)
    np.testing.assert_array_equal(again.value, first.value)
    assert len(calls) == 1 and (store.hits, store.misses) == (1, 1)
    path.write_text("{ truncated")
    with pytest.warns(UserWarning, match="unreadable cache file"):
        store.get_or_compute("demo", "c" * 64, {"n": 1}, _Answer, compute)
    assert len(calls) == 2 and _Answer.from_json(path).value[0] == 1.5
    with pytest.raises(TypeError, match="expected _Answer"):
        store.get_or_compute("demo", "d" * 64, {}, _Answer, lambda: 3.0)


# -- failures, interruption, bad input ------------------------------------------------------


def test_report_failed_section_shows_error_and_report_continues(tmp_path, monkeypatch):
    def broken(net, ctx):
        raise RuntimeError("singular matrix at step 12\nsecond line is dropped")

    monkeypatch.setitem(sections_module.SECTIONS, "shape", ("Shape parameters", broken))
    path = make_checkpoint(tmp_path, "gamma-heterogeneous")
    summary = dynan.report.report([path], out=tmp_path / "out", progress=False)
    assert summary.failures == [
        ("gamma-heterogeneous-s0", "Shape parameters",
         "RuntimeError: singular matrix at step 12"),
    ]  # fmt: skip
    html = (tmp_path / "out" / "gamma-heterogeneous-s0.html").read_text()
    assert 'role="alert">RuntimeError: singular matrix at step 12</div>' in html
    assert "second line" not in html
    assert 'data-section="Accuracy" data-status="ok"' in html
    assert main(["report", str(path), "--out", str(tmp_path / "cli"), "--quiet"]) == 1


def test_report_keyboard_interrupt_is_not_swallowed(tmp_path, monkeypatch):
    def interrupted(net, ctx):
        raise KeyboardInterrupt

    monkeypatch.setitem(sections_module.SECTIONS, "accuracy", ("Accuracy", interrupted))
    path = make_checkpoint(tmp_path, "relu")
    with pytest.raises(KeyboardInterrupt):
        dynan.report.report([path], out=tmp_path / "out", progress=False)


def test_report_interrupted_save_keeps_previous_page(tmp_path, monkeypatch):
    path = make_checkpoint(tmp_path, "relu")
    out = tmp_path / "out"
    dynan.report.report([path], out=out, progress=False, sections=["config"])
    before = (out / "relu-s0.html").read_text()
    real_replace = os.replace

    def replace(src, dst):
        if str(dst).endswith(".html"):
            raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        dynan.report.report([path], out=out, progress=False)
    monkeypatch.undo()
    assert (out / "relu-s0.html").read_text() == before
    assert not list(out.rglob("*.tmp"))


def test_report_bad_input_raises_before_writing(tmp_path):
    good = make_checkpoint(tmp_path, "relu")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x80\x04not a checkpoint")
    with pytest.raises(CheckpointError, match=r"bad\.safetensors"):
        dynan.report.report([good, bad], out=tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="valid: config, accuracy"):
        dynan.report.report([good], out=tmp_path / "out", sections=["bogus"], progress=False)
    with pytest.raises(ValueError, match="valid presets: fast"):
        dynan.report.report([good], out=tmp_path / "out", preset="slowest", progress=False)
    with pytest.raises(ValueError, match="no checkpoints"):
        dynan.report.report([], out=tmp_path / "out", progress=False)
    assert main(["report", str(bad), "--out", str(tmp_path / "cli")]) == 2


def test_report_repeated_file_names_get_distinct_pages(tmp_path):
    a = make_checkpoint(tmp_path / "a", "relu")
    b = make_checkpoint(tmp_path / "b", "relu", seed=0, metrics={"accuracy": {"clean": 0.5}})
    summary = dynan.report.report([a, b], out=tmp_path / "out", progress=False, compare=False)
    names = _page_names(summary)
    assert len(set(names)) == 2 and all(n.startswith("relu-s0-") for n in names)


def test_cli_report_and_compare_write_and_say_where(tmp_path, capsys):
    paths = [str(make_checkpoint(tmp_path, a)) for a in ("relu", "gamma-homogeneous")]
    out = tmp_path / "cli"
    assert main(["report", *paths, "--out", str(out), "--quiet", "--sections", "config"]) == 0
    assert f"to {out}/" in capsys.readouterr().out
    assert (out / "index.html").is_file() and (out / "compare.html").is_file()
    assert main(["compare", *paths, "--out", str(tmp_path / "cmp"), "--quiet"]) == 0
    assert "compare.html" in capsys.readouterr().out
    assert main(["compare", *paths, "--out", str(tmp_path / "cmp"), "--sections", "x"]) == 2


# -- the page model -------------------------------------------------------------------------


def test_page_add_or_replace_funnel():
    page = Page("p")
    page.add(text_item("one", "A"), section="S")
    page.add(table_item([(1, 2.0)], "B", columns=("x", "y")), section="S")
    with pytest.raises(ValueError, match="already has 'A'"):
        page.add(text_item("two", "A"), section="S")
    page.add(text_item("two", "A"), section="S", replace=True)
    assert (page.items[0].title, page.items[0].data) == ("A", ("two",))
    assert [i.title for i in page.items] == ["A", "B"]
    page.add_section(Section("S", [text_item("three", "C")]), replace=True)
    assert [i.title for i in page.items] == ["C"]
    with pytest.raises(ValueError, match="row 0 has 1 cells, expected 2"):
        table_item([(1,)], "T", columns=("x", "y"))
    with pytest.raises(ValueError, match="item kind"):
        Item("video", "V", b"")


def test_page_render_escapes_text():
    page = Page("<b>title</b>")
    page.add(text_item("<script>alert(1)</script>", "T"), section="S")
    fig, (ax,) = subplots(figsize=(2, 2))
    ax.plot([0, 1])
    page.add_figure(fig, "F", section="S", caption="a < b")
    html = page.render()
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    assert "&lt;b&gt;title" in html and "a &lt; b" in html


# -- model data: known values ---------------------------------------------------------------


def test_accuracy_table_reads_metrics_and_ratios(tmp_path):
    nets = [
        load(make_checkpoint(tmp_path, "relu")),
        load(make_checkpoint(tmp_path, "softplus", metrics={"accuracy": {"clean": 0.5,
                                                                         "extra": 0.25}})),
    ]  # fmt: skip
    table = accuracy_table(nets)
    assert table.perturbations == ("clean", "sinusoid", "step", "noise", "extra")
    np.testing.assert_array_equal(table.accuracy[0, :4], [0.9, 0.8, 0.45, 0.7])
    assert np.isnan(table.accuracy[0, 4]) and np.isnan(table.accuracy[1, 1:4]).all()
    np.testing.assert_allclose(table.robustness[0, :4], [1.0, 0.8 / 0.9, 0.5, 0.7 / 0.9])
    assert table.robustness[1, 4] == 0.5
    assert table.amplitudes[:4] == (0.0, 0.5, 1.0, 1.0)
    with pytest.raises(ValueError, match="names has 1 entries for 2"):
        accuracy_table(nets, names=["x"])
    with pytest.raises(ValueError, match=r"no \.checkpoint"):
        accuracy_table([build("relu", input_size=1, hidden_size=2, output_size=2)])


def test_shape_parameters_known_values():
    het = build("gamma-heterogeneous", input_size=1, hidden_size=3, output_size=2)
    with torch.no_grad():
        het.n.copy_(torch.tensor([1.0, 2.0, 4.0]))
        het.s.copy_(torch.tensor([0.0, 0.5, 1.0]))
    shape = shape_parameters(het)
    np.testing.assert_array_equal(shape.n, [1.0, 2.0, 4.0])
    np.testing.assert_array_equal(shape.s, [0.0, 0.5, 1.0])
    soft = shape_parameters(build("softplus", input_size=1, hidden_size=3, output_size=2))
    assert (soft.n.tolist(), soft.s.tolist()) == ([1.0], [0.0])
    assert shape_parameters(build("relu", input_size=1, hidden_size=3, output_size=2)) is None
    assert shape_parameters(build("gru", input_size=1, hidden_size=3, output_size=2)) is None


def test_shape_traces_follow_the_controller_equations():
    # U = W = b = 0 makes a_t the drive ξ alone; with W_g = 0, b_g = 0, u_g = w_n = w_s = e₁
    # the read-outs are n_t = tanh(ξ) + b_n and s_t = tanh(ξ) + b_s exactly.
    net = build("arun", input_size=1, hidden_size=3, output_size=2, controller_size=2).double()
    c = net.controller
    with torch.no_grad():
        for p in (net.input_weight, net.recurrent_weight, net.bias, c.recurrent_weight, c.bias):
            p.zero_()
        e1 = torch.tensor([1.0, 0.0], dtype=torch.float64)
        c.input_weight.copy_(e1)
        c.n_weight.copy_(e1)
        c.s_weight.copy_(e1)
        c.n_bias.fill_(5.0)
        c.s_bias.fill_(0.1)
    traces = shape_traces(net, torch.randn(4, 20, 1), amplitudes=(0.0, 1.5), window=(5, 12))
    on = np.zeros(20, bool)
    on[5:12] = True
    np.testing.assert_allclose(traces.n_mean[0], 5.0, atol=1e-12)
    np.testing.assert_allclose(traces.n_mean[1], np.where(on, 5.0 + np.tanh(1.5), 5.0), atol=1e-12)
    np.testing.assert_allclose(traces.s_mean[1], np.where(on, 0.1 + np.tanh(1.5), 0.1), atol=1e-12)
    np.testing.assert_allclose(traces.n_low, traces.n_high, atol=1e-12)
    assert traces.window == (5, 12) and traces.batch == 4
    with pytest.raises(ValueError, match="adaptive"):
        relu = build("relu", input_size=1, hidden_size=3, output_size=2)
        shape_traces(relu, torch.zeros(1, 5, 1))
    with pytest.raises(ValueError, match="expects inputs"):
        shape_traces(net, torch.zeros(1, 5, 2))


@pytest.mark.slow  # spawns two worker processes, each importing torch
def test_report_parallel_jobs_match_serial(tmp_path):
    paths = [make_checkpoint(tmp_path, a) for a in ("relu", "arun")]
    serial = dynan.report.report(paths, out=tmp_path / "serial", progress=False)
    parallel = dynan.report.report(paths, out=tmp_path / "parallel", progress=False, jobs=2)
    assert parallel.ok and parallel.cache_misses == serial.cache_misses
    for entry_s, entry_p in zip(serial.pages, parallel.pages, strict=True):
        assert entry_s["name"] == entry_p["name"]
        assert [s["status"] for s in entry_s["sections"]] == [
            s["status"] for s in entry_p["sections"]
        ]
        assert entry_s["values"] == entry_p["values"]
    html = (tmp_path / "parallel" / "arun-s0.html").read_text()
    assert html.count("<img") == (tmp_path / "serial" / "arun-s0.html").read_text().count("<img")


# -- determinism -----------------------------------------------------------------------------


def _snapshot(out) -> dict:
    """Every committed-kind file under ``out`` (the git-ignored .cache left out): path → bytes."""
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and ".cache" not in p.relative_to(out).parts
    }


def test_report_rebuilt_is_byte_identical(tmp_path):
    # what `make report` commits must not change when it is rebuilt: no seconds, no cache
    # statistics, no dates or versions in the PNGs; recomputed and cached results alike
    paths = [make_checkpoint(tmp_path / "ckpt", a) for a in ("arun", "relu")]
    out = tmp_path / "out"
    options = {
        "out": out, "progress": False, "sections": ["config", "accuracy", "shape"],
        "compare_sections": ["accuracy", "lyapunov"],
    }  # fmt: skip
    first = dynan.report.report(paths, **options)
    before = _snapshot(out)
    assert {"index.json", "index.html", "arun-s0.json", "compare.html"} <= set(before)
    assert any(name.endswith(".png") for name in before)
    for cache in (True, False):  # read from the cache, then computed again
        again = dynan.report.report(paths, **options, cache=cache)
        after = _snapshot(out)
        assert sorted(after) == sorted(before)
        changed = [name for name in before if before[name] != after[name]]
        assert not changed, f"rebuilt with cache={cache}: {changed}"
    assert again.seconds > 0 and first.cache_misses > 0  # kept on the object, not written
    timings = json.loads((out / ".cache" / "timings.json").read_text())
    assert set(timings["pages"]) == {"arun-s0", "relu-s0", "compare"}
    for name in ("index.json", "arun-s0.json", "compare.json"):
        assert b'"seconds"' not in before[name] and b"cache_hits" not in before[name]
    for name, data in before.items():  # no matplotlib version or date in the PNG chunks
        if name.endswith(".png"):
            assert b"Software" not in data and b"Date" not in data, name


@pytest.mark.parametrize("suffix", ["png", "svg", "pdf"])
def test_saved_figure_is_byte_identical_when_redrawn(tmp_path, suffix):
    from dynan.report.style import save_figure

    data = []
    for name in ("a", "b"):
        fig, (ax,) = subplots()
        ax.plot([0, 1, 2], [1, 0, 2], label="x")
        ax.legend()
        data.append(save_figure(fig, tmp_path / f"{name}.{suffix}").read_bytes())
    assert data[0] == data[1]
    assert b"Matplotlib v" not in data[0] and b"CreationDate" not in data[0]
