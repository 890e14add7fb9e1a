"""Imported checkpoints through every command and the report: with --task the analyses use the
task's inputs; without one they run on zero input (Lyapunov) or seeded random stand-ins (fixed-
point starts, CKA) and say so."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import dynan
from dynan.cli import main
from dynan.importers import analysis_inputs, import_model
from dynan.report import report
from dynan.report.jobs import FAST, Settings, _changed

N = 6
FAST_LY = ["--steps", "30", "--transient", "10", "--k", "3", "--trials", "2", "--no-progress"]
FAST_FP = ["--sequences", "4", "--inits", "16", "--no-progress"]
TINY = Settings(
    name="tiny",
    analyses=_changed(
        FAST,
        {
            "lyapunov": {"k": 3, "joint_k": 3, "examples": 2, "transient": 4, "window": 4},
            "fixed-points": {"examples": 4, "n_inits": 16},
            "cka": {"examples": 32, "reliability": "none"},
        },
    ),
)


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """Two GRU models (one input, 10 classes) imported without a task, one with digits."""
    folder = tmp_path_factory.mktemp("imported")
    paths = {}
    torch.manual_seed(0)
    for name in ("a", "b"):
        model = nn.ModuleDict({"rnn": nn.GRU(1, N), "fc": nn.Linear(N, 10)})
        torch.save(model.state_dict(), folder / f"{name}.pt")
        paths[name] = import_model(
            folder / f"{name}.pt", folder / f"{name}.safetensors", steps=12
        ).out
    task = {"name": "digits", "seed": 0, "permuted": True}
    paths["digits"] = import_model(folder / "a.pt", folder / "digits.safetensors", task=task).out
    return paths


def test_stand_in_inputs_seeded_prefix_stable_and_zero_on_request(imported):
    net = dynan.load(imported["a"])
    x = analysis_inputs(net, 6)
    assert x.shape == (6, 12, 1) and x.dtype == torch.float64  # the 12 steps recorded at import
    assert torch.equal(x[:4], analysis_inputs(net, 4))
    assert 0.5 < float(x.std()) < 1.5
    assert torch.equal(
        analysis_inputs(net, 3, zero=True), torch.zeros(3, 12, 1, dtype=torch.float64)
    )
    with_task = dynan.load(imported["digits"])
    assert analysis_inputs(with_task, 2).shape == (2, 64, 1)  # the digits task's test inputs


def test_lyapunov_and_fixed_points_run_without_a_task(imported, tmp_path, capsys):
    assert main(["lyapunov", imported["a"], "--out", str(tmp_path), "--no-figures", *FAST_LY]) == 0
    fp = ["fixed-points", imported["a"], "--out", str(tmp_path), *FAST_FP]
    assert main(fp) == 0
    out = capsys.readouterr().out
    assert "random N(0, 1) inputs stand in for task data" in out
    result = json.loads((tmp_path / "a-fixed-points-joint.json").read_text())
    assert result["parameters"]["network"]["checkpoint"] == imported["a"]


def test_cka_compares_task_less_imports_on_the_same_stand_ins(imported, tmp_path, capsys):
    args = ["cka", imported["a"], imported["b"], "--out", str(tmp_path), "--examples", "32"]
    code = main(args)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "random N(0, 1) inputs stand in for task data" in captured.out
    assert json.loads((tmp_path / "cka.json").read_text())["n"] == 32


def test_evaluate_needs_a_task_and_runs_with_one(imported, capsys):
    assert main(["evaluate", imported["a"]]) == 2
    assert "no task" in capsys.readouterr().err
    assert main(["evaluate", imported["digits"]]) == 0


def test_report_runs_on_imports_and_says_there_is_no_task(imported, tmp_path):
    summary = report(
        [imported["a"], imported["b"]],
        out=tmp_path,
        sections=["config", "lyapunov", "fixed-points"],
        compare_sections=["cka"],
        preset=TINY,
        progress=False,
    )
    statuses = [s["status"] for page in summary.pages for s in page["sections"]]
    assert "failed" not in statuses, summary.pages
    assert "none (zero or random stand-in inputs)" in (tmp_path / "a.html").read_text()


def test_sweep_scores_imports_with_a_task_and_gives_nan_without(imported, tmp_path):
    from dynan.sweep.tasks import TaskSpec, compute_task
    from dynan_models.evaluation import evaluate_all
    from dynan_models.tasks import load_task

    for name in ("a", "digits"):
        net = dynan.load(imported[name])
        spec = TaskSpec(imported[name], net.checkpoint.sha256, "accuracy", str(tmp_path), TINY)
        outcome = compute_task(spec)
        assert outcome.error == "", outcome.error
        if name == "a":
            assert all(v != v for v in outcome.values.values()), outcome.values  # NaN
        else:
            expected = evaluate_all(net, load_task(net.checkpoint.task))
            assert outcome.values["acc_clean"] == pytest.approx(expected["clean"], abs=1e-12)
