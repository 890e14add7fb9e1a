"""The README's Python example runs as written, and its commands name real subcommands."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dynan.cli import COMMANDS

README = Path(__file__).resolve().parents[1] / "README.md"
TEXT = README.read_text()


def test_readme_python_examples_run(monkeypatch, capsys):
    monkeypatch.chdir(README.parent)  # the example reads models/zoo/ relative to the root
    blocks = re.findall(r"```python\n(.*?)```", TEXT, flags=re.S)
    assert blocks, "README has no python example"
    for number, block in enumerate(blocks):
        exec(compile(block, f"README.md python block {number}", "exec"), {})
    printed = capsys.readouterr().out.split("\n")
    # the known values the example prints beside its results
    logistic = [float(v) for v in printed[2].split()]
    assert logistic[0] == pytest.approx(logistic[1], abs=5e-3)  # λ = ln 2
    assert "0.957504" in "\n".join(printed)


def test_readme_commands_exist():
    used = set(re.findall(r"\.venv/bin/dynan ([a-z-]+)", TEXT))
    assert used, "README names no dynan command"
    assert used <= set(COMMANDS), used - set(COMMANDS)
