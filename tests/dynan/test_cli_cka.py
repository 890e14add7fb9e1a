"""`dynan cka` on small checkpoints: the CKA matrix, verdicts, graph, figures, and errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dynan.checkpoint import load
from dynan.cli import main
from dynan.cli.cka import parse_steps
from dynan.similarity import CKAComparison, ManipulationResult, cka, network_representations
from dynan_models import build, save_checkpoint
from dynan_models.tasks import load_task

TASK = {"name": "flipflop", "bits": 2, "steps": 10, "p_pulse": 0.2, "seed": 0}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("zoo")
    paths = {}
    for name, arch, task in [
        ("relu-s0", "relu", TASK),
        ("relu-s1", "relu", TASK),
        ("gru-s0", "gru", TASK),
        ("relu-other", "relu", {**TASK, "bits": 3}),
    ]:
        torch.manual_seed(len(paths))
        net = build(
            arch, input_size=task["bits"], hidden_size=8, output_size=task["bits"],
            output_mode="all",
        )  # fmt: skip
        paths[name] = str(save_checkpoint(net, folder / f"{name}.safetensors", task=task))
    return paths


def test_cli_writes_matrix_verdicts_graph_and_figures(checkpoints, tmp_path, capsys):
    paths = [checkpoints[k] for k in ("relu-s0", "relu-s1", "gru-s0")]
    args = ["cka", *paths, "--out", str(tmp_path), "--reliability", "quick", "--no-progress"]
    assert main(args) == 0
    result = CKAComparison.from_json(tmp_path / "cka.json")
    assert result.names == ("relu-s0", "relu-s1", "gru-s0") and result.labels == ("h[t=9]",)
    assert result.n == 200 and result.preset == "quick" and result.task == TASK
    x = load_task(TASK).test.x
    h = [network_representations(load(p, dtype=torch.float64), x)["h[t=9]"] for p in paths]
    expected = [[cka(a, b) for b in h] for a in h]
    np.testing.assert_allclose(result.linear, expected, atol=1e-12)
    assert len(result.verdicts) == 3 and result.pairs == ((0, 1, 0), (0, 2, 0), (1, 2, 0))
    assert all(v.verdict in ("reliable", "caution", "unreliable") for v in result.verdicts)
    graph = json.loads((tmp_path / "cka-graph.json").read_text())
    assert sorted(node["id"] for node in graph["nodes"]) == sorted(result.names)
    assert all("cluster" in node for node in graph["nodes"])
    for key in ("matrix", "matrix-debiased", "graph"):
        assert (tmp_path / f"cka-{key}.png").stat().st_size > 1000
    assert not (tmp_path / "cka-matrix-all.png").exists()
    out = capsys.readouterr().out
    assert "relu-s0 vs gru-s0:" in out and "clusters:" in out and "wrote" in out


def test_cli_several_steps_draw_the_whole_matrix(checkpoints, tmp_path):
    paths = [checkpoints["relu-s0"], checkpoints["gru-s0"]]
    args = ["cka", *paths, "--out", str(tmp_path), "--steps", "2,-1", "--examples", "50"]
    assert main([*args, "--reliability", "none", "--no-progress"]) == 0
    result = CKAComparison.from_json(tmp_path / "cka.json")
    assert result.labels == ("h[t=2]", "h[t=9]") and result.n == 50
    assert result.linear.shape == (4, 4) and result.verdicts == ()
    assert (tmp_path / "cka-matrix-all.png").stat().st_size > 1000


def test_cli_manipulation(checkpoints, tmp_path, capsys):
    args = ["cka", checkpoints["relu-s0"], "--manipulate", "flip", "--out", str(tmp_path)]
    assert main([*args, "--iterations", "5", "--steps", "2", "--no-progress"]) == 0
    result = ManipulationResult.from_json(tmp_path / "relu-s0-manipulation-flip.json")
    assert result.steps == (4, 9) and result.iterations == 5
    assert result.name == "relu-s0" and result.reference == "relu-s0 (original)"
    np.testing.assert_allclose(result.target, 1 - result.map_before)
    assert (tmp_path / "relu-s0-manipulation-flip.png").stat().st_size > 1000
    assert "accuracy" in capsys.readouterr().out
    reference = [checkpoints["relu-s0"], checkpoints["relu-s1"], "--manipulate", "zeros"]
    assert main(["cka", *reference, "--out", str(tmp_path), "--iterations", "2"]) == 0
    result = ManipulationResult.from_json(tmp_path / "relu-s0-manipulation-zeros.json")
    assert result.reference == "relu-s1" and result.steps == (2, 4, 6, 9)  # 4 steps by default
    assert np.all(np.diag(result.map_before) < 0.999)  # another network, not itself


@pytest.mark.parametrize(
    ("names", "extra", "message"),
    [
        (["relu-s0"], [], "need at least two checkpoints to compare, got one"),
        (["relu-s0", "relu-other"], [], "trained on different tasks"),
        (["relu-s0", "gru-s0"], ["--steps", "last"], "--steps must be 'final', 'all'"),
        (["relu-s0", "gru-s0"], ["--steps", "3,12"], "time step 12 is out of range for 10"),
        (["relu-s0", "gru-s0"], ["--examples", "2"], "--examples must be >= 4"),
        (["relu-s0", "relu-s1", "gru-s0"], ["--manipulate", "zeros"], "at most one reference"),
        (["relu-s0", "relu-other"], ["--manipulate", "zeros"], "different tasks"),
    ],
)
def test_cli_errors_are_one_line(checkpoints, tmp_path, capsys, names, extra, message):
    paths = [checkpoints[n] for n in names]
    assert main(["cka", *paths, "--out", str(tmp_path), "--no-progress", *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("dynan cka: error:") and message in err and "\n" not in err


def test_cli_missing_file(tmp_path, capsys):
    missing = str(tmp_path / "nope.safetensors")
    assert main(["cka", missing, missing, "--out", str(tmp_path)]) == 2
    assert "nope.safetensors" in capsys.readouterr().err


def test_parse_steps():
    assert parse_steps("final") == "final" and parse_steps("all") is None
    assert parse_steps("3") == 3 and parse_steps("1, 5,-1") == [1, 5, -1]
