"""The README's Python example runs as written, and its commands name real subcommands."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dynan.cli import _available

README = Path(__file__).resolve().parents[1] / "README.md"
TEXT = README.read_text()


def test_readme_python_examples_run(monkeypatch, capsys):
    monkeypatch.chdir(README.parent)  # the example reads models/zoo/ relative to the root
    blocks = re.findall(r"```python\n(.*?)```", TEXT, flags=re.S)
    assert blocks, "README has no python example"
    for number, block in enumerate(blocks):
        exec(compile(block, f"README.md python block {number}", "exec"), {})
    printed = capsys.readouterr().out.strip().split("\n")
    # the known values the example prints beside its results
    logistic = [float(v) for v in printed[2].split()]
    assert logistic[0] == pytest.approx(logistic[1], abs=5e-3)  # λ = ln 2
    points = "\n".join(printed[3:-2])
    assert points.count("0.957504") == 4 and "('stable', 'stable', 'saddle-1')" in points
    assert float(printed[-2]) == pytest.approx(1.0, abs=0.02)  # cumsum integrates: order 1
    rotated, rescaled = (float(v) for v in printed[-1].split())
    assert rotated == pytest.approx(1.0, abs=1e-12) and rescaled < 0.95


def test_readme_commands_exist():
    used = set(re.findall(r"\.venv/bin/dynan ([a-z-]+)", TEXT))
    assert used, "README names no dynan command"
    assert used <= set(_available()), used - set(_available())  # their modules exist
