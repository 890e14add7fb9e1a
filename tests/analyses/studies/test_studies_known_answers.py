"""Each study on a small synthetic case whose answer is known (seconds each)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from analyses.studies import robustness
from analyses.studies.checkpoints import Network, StudyCache
from analyses.studies.cka_fragility import fragility, fragility_verdict, pair_score, prepare
from analyses.studies.cka_translation import null_direction, translation_study
from analyses.studies.controller import controller_checks, controller_numbers
from analyses.studies.edge_of_chaos import DRIVES, lambda1_by_drive, summaries
from analyses.studies.page import write
from analyses.studies.registry import Claim, Context
from analyses.studies.single_neurons import GAIN_AMPLITUDES, alpha_checks, gain_checks
from analyses.studies.verdicts import comparison_verdict
from dynan.similarity import cka, mean_cca_r2, procrustes_similarity, rsa, single_point_limits
from dynan_models import build


def _net(name: str, arch: str) -> Network:
    return Network(name, f"{name}.safetensors", "ab" * 32, arch, 0, "digits", 8)


def _robust_table(arun_drop: float, static_drop: float, rng) -> tuple[list, dict]:
    nets, table = [], {}
    for arch in ("arun", "relu", "softplus", "gamma-homogeneous", "gamma-heterogeneous"):
        for seed in range(3):
            name = f"{arch}-s{seed}"
            nets.append(_net(name, arch))
            drop = (arun_drop if arch == "arun" else static_drop) + rng.normal(0, 0.005)
            table[name] = {p: 0.9 - drop for p in ("noise", "noise-2", "sinusoid", "step")}
            table[name] |= {"clean": 0.9, "step-2": 0.9 - drop}
    return nets, table


@pytest.mark.parametrize(
    ("arun_drop", "static_drop", "verdict"),
    [(0.02, 0.2, "reproduced"), (0.2, 0.02, "contradicted"), (0.1, 0.1, None)],
)
def test_robustness_planted_groups(arun_drop, static_drop, verdict, rng):
    nets, table = _robust_table(arun_drop, static_drop, rng)
    block = robustness._setting_block("G1", nets, table)
    assert [c.n_a for c in block["comparisons"]] == [12, 12]
    got = comparison_verdict(block["comparisons"])
    if verdict is None:  # equal robustness: never a verdict in either direction
        assert got == "not reproduced at this scale"
    else:
        assert got == verdict
    est = block["comparisons"][0].estimate
    assert est == pytest.approx(static_drop - arun_drop, abs=0.01)


def test_edge_of_chaos_linear_relu_has_log_gain():
    """ReLU units held active by a positive drive are linear: λ₁ = log 0.5 for W = 0.5 I."""
    net = build("relu", input_size=1, hidden_size=4, output_size=2).double()
    with torch.no_grad():
        net.recurrent_weight.copy_(0.5 * torch.eye(4))
        net.input_weight.zero_()
        net.bias.zero_()
    lam = lambda1_by_drive(net, n_steps=60, transient=20, trials=2)["lambda1"]
    assert np.allclose(lam[1:], np.log(0.5), atol=1e-6)
    assert summaries(lam)["distance"] == pytest.approx(np.log(2), abs=1e-6)
    assert len(lam) == len(DRIVES)


def test_gain_checks_planted_laws():
    xi = np.array(GAIN_AMPLITUDES)
    falling = {"n": (2 * xi**-0.7 + 5).tolist(), "n_ok": True, "n_params": [2, 0.7, 5],
               "n_stderr": [0.1, 0.1, 0.1], "s_ok": True}  # fmt: skip
    assert gain_checks(falling) == ({"n falls": True, "s law": True}, False)
    rising = dict(falling, n=(5 + 0.01 * xi).tolist(), n_ok=False, s_ok=False)
    assert gain_checks(rising) == ({"n falls": False, "s law": False}, True)
    vague = dict(falling, n_stderr=[0.1, 1.0, 0.1])  # b = 0.7 ± 1.96: not determined
    assert gain_checks(vague)[0]["n falls"] is False


def _alpha_result(alpha_iso: float, pop_iso: list, pop_int: list) -> dict:
    k, n = 2, 10
    alpha = np.full((k, n), alpha_iso)
    ci = np.stack([alpha - 0.05, alpha + 0.05], -1)
    return {
        "isolated": {"alpha": alpha.tolist(), "ci": ci.tolist(), "residual_median": 0.1,
                     "population_alpha": [p[0] + 0.05 for p in pop_iso],
                     "population_ci": pop_iso},
        "intact": {"alpha": alpha.tolist(), "ci": ci.tolist(), "residual_median": 0.1,
                   "population_alpha": [p[0] + 0.05 for p in pop_int],
                   "population_ci": pop_int},
    }  # fmt: skip


def test_alpha_checks_planted():
    r = _alpha_result(-0.3, [[-0.1, 0.0], [-0.5, -0.4]], [[0.1, 0.2], [0.2, 0.3]])
    checks, never, numbers = alpha_checks(r)
    assert checks == {"α ≠ 0": True, "α depends on ξ": True, "intact differs": True}
    assert not never and numbers["share_alpha_nonzero_at_max_xi"] == 1.0
    flat = _alpha_result(0.0, [[-0.1, 0.1], [-0.1, 0.1]], [[-0.1, 0.1], [-0.1, 0.1]])
    checks, never, _ = alpha_checks(flat)
    assert not any(checks.values()) and never


@pytest.mark.parametrize("input_gain", [1.0, 0.0])
def test_controller_without_recurrence_converges_to_tanh_of_input(input_gain):
    """W_g = 0: g* = tanh(u_g a + b_g), reached in one step; it moves with a iff u_g ≠ 0."""
    net = build("arun", input_size=1, hidden_size=2, output_size=2, controller_size=3).double()
    u = torch.tensor([1.0, -0.5, 0.3]) * input_gain
    with torch.no_grad():
        net.controller.recurrent_weight.zero_()
        net.controller.input_weight.copy_(u)
        net.controller.bias.copy_(torch.tensor([0.1, 0.2, -0.1]))
    r = controller_numbers(net, starts=4, steps=5)
    checks, against, _ = controller_checks(r)
    assert checks["converges"] and not against
    assert checks["input-dependent"] is (input_gain != 0)
    point = np.asarray(r["points"][-1][0])
    expected = np.tanh(u.numpy() * 4.0 + np.array([0.1, 0.2, -0.1]))
    assert np.allclose(point, expected, atol=1e-8)


def test_translation_reaches_theorem_limit_and_keeps_readout(rng):
    x = rng.normal(size=(200, 12))
    weight, bias = rng.normal(size=(3, 12)), rng.normal(size=3)
    labels = (x @ weight.T + bias).argmax(1)
    v = null_direction(weight, seed=1)
    limits = single_point_limits(x)
    moving = np.zeros(200, dtype=bool)
    moving[7] = True
    r = translation_study(x, moving, v, float(limits[7]), weight, bias, labels)
    assert r["relative_error_at_largest"] < 0.01  # the study's criterion; O(1/c) convergence
    far = translation_study(x, moving, v, float(limits[7]), weight, bias, labels, scales=[1e6])
    assert far["relative_error_at_largest"] < 1e-4
    assert r["prediction_agreement"] == 1.0 and r["accuracy_after"] == 1.0
    assert r["cka"][0] == pytest.approx(1.0)


def test_fragility_scores_match_dynan_and_detect_a_planted_outlier(rng):
    base = rng.normal(size=(120, 6))
    reps = [base @ rng.normal(size=(6, 10)) + s * rng.normal(size=(120, 10))
            for s in (0.1, 0.5, 1.0, 2.0, 4.0)]  # fmt: skip
    a, b = prepare(reps[0]), prepare(reps[2])
    assert pair_score(a, b, "CKA") == pytest.approx(cka(reps[0], reps[2]), rel=1e-10)
    assert pair_score(a, b, "Procrustes") == pytest.approx(procrustes_similarity(reps[0], reps[2]))
    assert pair_score(a, b, "CCA R²") == pytest.approx(mean_cca_r2(reps[0], reps[2]))
    assert pair_score(a, b, "RSA") == pytest.approx(rsa(reps[0], reps[2], metric="euclidean"))
    outlier = [r.copy() for r in reps]
    for i, r in enumerate(outlier):  # one far example, a different one in each network
        r[i] += 1e3 * r.std() * np.eye(10)[i % 10]
    result = fragility(reps, {"same": reps, "outlier": outlier}, splits=20)
    assert result["transforms"]["same"]["rho_before_after"] == pytest.approx(1.0)
    assert not result["transforms"]["same"]["beyond_noise"]
    assert result["transforms"]["outlier"]["beyond_noise"]
    assert fragility_verdict(result) in ("reproduced", "partly reproduced")


def test_page_is_deterministic_and_lists_claims(tmp_path):
    import matplotlib.pyplot as plt

    def claims():
        fig, ax = plt.subplots()
        ax.plot([0, 1], [0, 1])
        ev = {"headline": "h", "rule": "r", "value": 0.123456789, "why": "w"}
        return [Claim("G1", "partly reproduced", ev, [("a figure", fig)]),
                Claim("D1", "reproduced", {"headline": "ok"})]  # fmt: skip

    first = write(claims(), tmp_path / "a", settings=["s"])
    second = write(claims(), tmp_path / "b", settings=["s"])
    for key in ("claims", "summary", "html"):
        assert first[key].read_bytes() == second[key].read_bytes()
    records = json.loads(first["claims"].read_text())
    assert [set(r) for r in records] == [
        {"paper", "id", "claim", "verdict", "evidence", "figures"}
    ] * 2
    assert records[0]["paper"] == "geadah2024" and records[0]["evidence"]["value"] == 0.1235
    assert (tmp_path / "a" / records[0]["figures"][0]).is_file()


def test_study_cache_recomputes_only_on_change(tmp_path):
    store = StudyCache(tmp_path)
    calls = []
    net = _net("x", "relu")
    for _ in range(2):
        store.numbers("demo", net, {"k": 1}, lambda: calls.append(1) or {"v": 1.0})
    store.numbers("demo", net, {"k": 2}, lambda: calls.append(1) or {"v": 2.0})
    assert len(calls) == 2 and store.hits == 1


def test_context_holds_settings():
    ctx = Context({"digits": []}, StudyCache(None), quick=True)
    assert ctx.sweep is None and ctx.quick


def test_frozen_twin_steps_like_the_arun_with_its_shape_parameters(rng):
    """One step of the twin equals γ(U x + W h + b; n, s) with the ARUN's n, s held."""
    from analyses.studies.edge_of_chaos import frozen_twin
    from dynan_models import gamma

    net = build("arun", input_size=1, hidden_size=5, output_size=2, controller_size=3).double()
    twin = frozen_twin(net, steps=20)
    out = net(torch.zeros(1, 20, 1, dtype=torch.float64), return_trajectories=True)
    n, s = out.n[0, -1].detach(), out.s[0, -1].detach()
    h = torch.as_tensor(rng.normal(size=(1, 5)))
    x = torch.as_tensor(rng.normal(size=(1, 1, 1)))
    with torch.no_grad():
        a = x[:, 0] @ net.input_weight.T + h @ net.recurrent_weight.T + net.bias
        stepped = twin(x, state=(h,), return_trajectories=True).hidden[0, 0]
    assert torch.allclose(stepped, gamma(a[0], n, s), atol=1e-12)
