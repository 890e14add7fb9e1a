"""`dynan fractional`: JSON and figures from checkpoints, one-line errors on bad input."""

from __future__ import annotations

import numpy as np
import pytest

import dynan_models
from dynan.cli import main
from dynan.neuron_probes import FractionalAnalysis


@pytest.fixture
def checkpoint(tmp_path):
    net = dynan_models.build(
        "arun", input_size=1, hidden_size=6, output_size=10, controller_size=4
    )
    task = {"name": "digits", "seed": 0, "permuted": True}
    return dynan_models.save_checkpoint(net, tmp_path / "tiny-arun.safetensors", task=task, seed=0)


def test_cli_fractional_writes_json_and_figures(checkpoint, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["fractional", str(checkpoint), "--out", str(out), "--no-progress"])
    assert code == 0
    result = FractionalAnalysis.from_json(out / "tiny-arun-fractional.json")
    assert result.name == "tiny-arun" and result.architecture == "arun"
    assert result.isolated.neurons.alpha.shape == (4, 6)
    assert np.isfinite(result.isolated.population.alpha).all()
    for key in ("alpha", "gain", "examples"):
        png = out / f"tiny-arun-fractional-{key}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert "tiny-arun-fractional.json" in printed and "population α (isolated)" in printed


def test_cli_fractional_options_reach_the_analysis(checkpoint, tmp_path, monkeypatch):
    import dynan.report.fractional_figures as figures

    monkeypatch.setattr(figures, "save_fractional_figures", lambda result, out: {})  # fast
    out = tmp_path / "out"
    argv = ["fractional", str(checkpoint), "--out", str(out), "--no-progress"]
    assert main([*argv, "--method", "spectral", "--target", "response", "--seed", "3"]) == 0
    result = FractionalAnalysis.from_json(out / "tiny-arun-fractional.json")
    assert result.method == "spectral" and result.target == "response"
    assert result.isolated.seed == 3 and "Lundstrom" in result.isolated.neurons.convention


def test_cli_fractional_missing_checkpoint_is_a_one_line_error(tmp_path, capsys):
    code = main(["fractional", str(tmp_path / "nope.safetensors"), "--out", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("dynan fractional: error:") and "no such checkpoint" in err
    assert "\n" not in err
