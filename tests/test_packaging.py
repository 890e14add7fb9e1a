"""The house (DESIGN.md): import names of our own, no import circle, small modules."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1]
ZOO = ROOT / "models" / "zoo"
#: The import name of each package folder of the repository.
FOLDERS = {"dynan": "dynan", "models": "dynan_models"}


def _modules(folder: str) -> dict[str, Path]:
    """Import name → file of every module under a package folder."""
    out = {}
    for path in (ROOT / folder).rglob("*.py"):
        parts = [FOLDERS[folder], *path.relative_to(ROOT / folder).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _import_graph(modules: dict[str, Path]) -> nx.DiGraph:
    """Edges module → module it imports (anywhere in the file, functions included)."""
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                subs = [f"{node.module}.{alias.name}" for alias in node.names]
                targets = [s for s in subs if s in modules] or [node.module]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                continue
            graph.add_edges_from((name, t) for t in targets if t in modules and t != name)
    return graph


@pytest.mark.parametrize("folder", sorted(FOLDERS))
def test_no_import_circle(folder):
    cycles = list(nx.simple_cycles(_import_graph(_modules(folder))))
    assert not cycles, f"import circles: {cycles[:5]}"


def test_import_graph_sees_a_circle():
    """The check itself can fail: a circle between two modules is found."""
    graph = nx.DiGraph([("a", "b"), ("b", "a")])
    assert list(nx.simple_cycles(graph))


def test_models_import_nothing_from_dynan():
    graph = _import_graph({**_modules("models"), **_modules("dynan")})
    leaks = [(a, b) for a, b in graph.edges if a.startswith("dynan_models") and b == "dynan"]
    leaks += [(a, b) for a, b in graph.edges if a.startswith("dynan_models") and "dynan." in b]
    assert not leaks


@pytest.mark.parametrize("folder", ["dynan", "models", "analyses"])
def test_no_module_over_450_lines(folder):
    long = {
        str(p.relative_to(ROOT)): n
        for p in (ROOT / folder).rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 450
    }
    assert not long


def test_no_bare_models_import():
    """Only `dynan_models`: a bare `models` is the user's own package."""
    offenders = []
    for folder in ("dynan", "models", "analyses", "tests"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = []
                if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                elif isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                if any(n == "models" or n.startswith("models.") for n in names):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders


def test_pyproject_lists_every_package_folder():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = set()
    for folder, name in FOLDERS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join([name, *rel]))
    assert set(config["packages"]) == found
    assert config["package-dir"] == {"dynan_models": "models"}


@pytest.mark.parametrize("layout", ["module", "package"])
def test_import_dynan_beside_a_users_models(tmp_path, layout):
    """A project with its own `models.py` or `models/` still imports and uses dynan."""
    if layout == "module":
        (tmp_path / "models.py").write_text("ARCHITECTURES = 'the user\\'s own'\n")
    else:
        (tmp_path / "models").mkdir()
        (tmp_path / "models" / "__init__.py").write_text("ARCHITECTURES = 'the user\\'s own'\n")
    script = (
        "import models, dynan, sys\n"
        f"net = dynan.load({str(ZOO / 'relu-digits-s0.safetensors')!r})\n"
        'assert models.ARCHITECTURES == "the user\'s own", models.ARCHITECTURES\n'
        "print(net.checkpoint.architecture, net.hidden_size)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["relu", "64"]
