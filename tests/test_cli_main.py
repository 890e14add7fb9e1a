"""The ``dynan`` command-line frame: help lists the subcommands that exist, --version, errors."""

from __future__ import annotations

import argparse
import importlib.util
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

import dynan.cli as cli
from dynan_models import __version__

ROOT = Path(__file__).resolve().parents[1]


def _existing() -> dict[str, str]:
    """Subcommand → module name, for the modules present in dynan/cli/ (found independently)."""
    return {
        name: module
        for name, module in cli.COMMANDS.items()
        if (ROOT / "dynan" / "cli" / f"{module}.py").is_file()
        or (ROOT / "dynan" / "cli" / module / "__init__.py").is_file()
    }


def test_help_lists_exactly_the_existing_subcommands(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: dynan")
    existing = _existing()
    for name, module in cli.COMMANDS.items():
        if name in existing:
            help_line = importlib.import_module(f"dynan.cli.{module}").HELP
            assert name in text
            assert help_line.split()[0] in text
        else:
            assert f"    {name} " not in text and f"{{{name}" not in text


def test_every_subcommand_module_follows_the_frame():
    for name, module_name in _existing().items():
        module = importlib.import_module(f"dynan.cli.{module_name}")
        assert isinstance(module.HELP, str) and module.HELP and "\n" not in module.HELP, name
        assert callable(module.add_arguments) and callable(module.run), name
        module.add_arguments(argparse.ArgumentParser())  # must not raise


def test_no_command_prints_help_and_exits_2(capsys):
    assert cli.main([]) == 2
    assert "usage: dynan" in capsys.readouterr().out


def test_unknown_command_exits_2(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["no-such-command"])
    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_main_turns_bad_input_into_one_line_and_status_2(monkeypatch, capsys):
    from dynan.errors import CheckpointError

    def fail(args):
        raise CheckpointError("net.safetensors: truncated")

    fake = type(sys)("dynan.cli._fake")
    fake.HELP = "a fake subcommand"
    fake.add_arguments = lambda parser: None
    fake.run = fail
    monkeypatch.setitem(sys.modules, "dynan.cli._fake", fake)
    monkeypatch.setitem(cli.COMMANDS, "fake", "_fake")
    monkeypatch.setattr(cli, "_available", lambda: {"fake": "_fake"})
    assert cli.main(["fake"]) == 2
    err = capsys.readouterr().err
    assert err == "dynan fake: error: net.safetensors: truncated\n"


def test_python_m_dynan_version_in_process(monkeypatch, capsys):
    # what `python -m dynan --version` runs: dynan/__main__.py calling main() under sys.exit
    monkeypatch.setattr(sys, "argv", ["dynan", "--version"])
    with pytest.raises(SystemExit) as info:
        runpy.run_module("dynan", run_name="__main__", alter_sys=False)
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"dynan {__version__}"


@pytest.mark.slow  # a fresh interpreter imports torch and every subcommand: ~5 s of CPU
def test_python_m_dynan_version_subprocess():
    proc = subprocess.run(
        [sys.executable, "-m", "dynan", "--version"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"dynan {__version__}"


def test_module_specs_match_the_files():
    # the frame offers a subcommand exactly when its module can be imported
    for name, module in cli.COMMANDS.items():
        found = importlib.util.find_spec(f"dynan.cli.{module}") is not None
        assert found == (name in _existing()), name
