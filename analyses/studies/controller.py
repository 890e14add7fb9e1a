"""G7 (Geadah et al. 2024): under a constant input an ARUN neuron's controller converges to a
fixed point that depends on the input.

Per ARUN network, for constant pre-activations a ∈ {−4, −3, …, 4}: the controller's fixed points
(:func:`dynan.fixed_points.controller_fixed_points`, Levenberg–Marquardt, eigenvalues of the
Jacobian) and, independently, 16 trajectories from random states g₀ ~ U(−1, 1)^G run 1000 steps
of g' = tanh(u_g a + W_g g + b_g) (:func:`dynan.adapters.controller.controller_system`).

Criteria per network: ``converges`` — at least 90 % of the (input, start) trajectories end
within 1e-4 (RMS per unit) of a stable fixed point found at their input, having stopped moving
(last step < 1e-8); ``input-dependent`` — the stable points of a = −4 and a = 4 lie more than
0.01 apart (RMS per unit), and their distance grows with |a_i − a_j| over all input pairs
(Spearman ρ > 0.5). Contradiction: fewer than 10 % of the trajectories converge.
Rule: :data:`~analyses.studies.verdicts.EVERY_NETWORK_RULE` over the ARUN networks of the
primary setting (psMNIST when it has ≥ 3, else digits).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.stats import spearmanr

from analyses.studies import figures
from analyses.studies.checkpoints import Network, group, load_network
from analyses.studies.registry import Claim, Context, primary_setting
from analyses.studies.verdicts import EVERY_NETWORK_RULE, every_network_verdict
from dynan.adapters.controller import controller_system
from dynan.fixed_points import controller_fixed_points

__all__ = ["INPUTS", "controller_checks", "controller_numbers", "run"]

INPUTS = tuple(float(a) for a in np.linspace(-4.0, 4.0, 9))


def controller_numbers(model, *, starts: int = 16, steps: int = 1000) -> dict:
    """Fixed points and simulated end states of an ARUN network's controller per input."""
    fp = controller_fixed_points(model, inputs=list(INPUTS), n_inits=32, seed=0)
    system = controller_system(model)
    gen = torch.Generator().manual_seed(0)
    dim = system.dim
    out = {"inputs": list(INPUTS), "dim": dim, "points": [], "converged": [], "moving": []}
    out["period2"] = []
    for a in INPUTS:
        at = np.isclose(fp.inputs[:, 0], a) & fp.is_stable
        points = fp.states[at]
        out["points"].append(points.tolist())
        g = 2 * torch.rand(starts, dim, generator=gen, dtype=torch.float64) - 1
        u = torch.full((starts, 1), a, dtype=torch.float64)
        with torch.no_grad():
            for _ in range(steps - 2):
                g = system.step(g, u)
            before = g
            g = system.step(g, u)
            last = system.step(g, u)
        moving = (last - g).norm(dim=1).numpy() / np.sqrt(dim)
        out["period2"].append(float((last - before).norm(dim=1).max()) / np.sqrt(dim))
        end = last.numpy()
        if len(points):
            dist = np.linalg.norm(end[:, None] - points[None], axis=2).min(1) / np.sqrt(dim)
        else:
            dist = np.full(starts, np.inf)
        out["converged"].append(((dist < 1e-4) & (moving < 1e-8)).tolist())
        out["moving"].append(float(moving.max()))
    return out


def controller_checks(r: dict) -> tuple[dict[str, bool], bool, dict]:
    """(criteria, contradiction, numbers) of G7 for one network's :func:`controller_numbers`."""
    share = float(np.mean(r["converged"]))
    firsts = [np.asarray(p[0]) if p else None for p in r["points"]]
    have = [i for i, p in enumerate(firsts) if p is not None]
    scale = np.sqrt(r["dim"])
    ends = None
    if firsts[0] is not None and firsts[-1] is not None:
        ends = float(np.linalg.norm(firsts[-1] - firsts[0]) / scale)
    rho = float("nan")
    if len(have) >= 3:
        da, dg = [], []
        for k, i in enumerate(have):
            for j in have[k + 1 :]:
                da.append(abs(r["inputs"][i] - r["inputs"][j]))
                dg.append(np.linalg.norm(firsts[i] - firsts[j]))
        if np.ptp(dg) > 0:  # a point that never moves has no rank correlation (rho stays NaN)
            rho = float(spearmanr(da, dg).statistic)
    checks = {
        "converges": share >= 0.9,
        "input-dependent": bool(ends is not None and ends > 0.01 and rho > 0.5),
    }
    numbers = {
        "share_converged": share,
        "stable_points_per_input": [len(p) for p in r["points"]],
        "distance_a-4_to_a4": ends,
        "spearman_distance_vs_input_gap": rho,
        "largest_last_step": max(r["moving"]),
        "inputs_with_a_period_2_cycle": int(
            sum(p < 1e-6 < m for p, m in zip(r["period2"], r["moving"], strict=True))
        ),
    }
    return checks, share < 0.1, numbers


def _number(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def _cached(context: Context, net: Network) -> dict:
    return context.cache.numbers(
        "controller",
        net,
        {"inputs": list(INPUTS)},
        lambda: controller_numbers(load_network(net), steps=300 if context.quick else 1000),
    )


def run(context: Context) -> list[Claim]:
    """G7 on the ARUN networks of both settings."""
    primary = primary_setting(context, ("arun",))
    settings, decisive, contra, lines = {}, {}, {}, {}
    for s, nets in context.settings.items():
        per = {}
        for n in group(nets, "arun"):
            r = _cached(context, n)
            checks, against, numbers = controller_checks(r)
            per[n.name] = {**numbers, "checks": checks}
            if s == primary:
                decisive[n.name], contra[n.name] = checks, against
            first = [float(np.mean(p[0])) if p else float("nan") for p in r["points"]]
            lines[f"{s}/{n.name}"] = ("arun", first)
        settings[s] = {"per_network": per}
    verdict = (
        every_network_verdict(decisive, contradiction=contra)
        if decisive
        else "not reproduced at this scale"
    )
    per = settings.get(primary, {}).get("per_network", {})
    evidence = {
        "primary_setting": primary,
        "rule": EVERY_NETWORK_RULE,
        "criteria": "converges: ≥ 90% of 16 random starts × 9 inputs end at a stable fixed point "
        "of their input; input-dependent: stable points at a = ±4 more than 0.01 apart (RMS per "
        "unit) and distance rank-correlated with the input gap (ρ > 0.5); contradiction: < 10% "
        "converge",
        "test": "per network: 16 simulated trajectories per input against the fixed points "
        "Levenberg–Marquardt finds (stability from the Jacobian's eigenvalues)",
        "settings": settings,
        "networks": len(decisive),
        "headline": f"{primary}: "
        + "; ".join(
            f"{k}: {v['share_converged']:.0%} converge, ‖g*(4) − g*(−4)‖ = "
            f"{_number(v['distance_a-4_to_a4']):.3g}"
            for k, v in per.items()
        ),
    }
    if verdict != "reproduced":
        cycles = {k: v["inputs_with_a_period_2_cycle"] for k, v in per.items()}
        evidence["why"] = (
            "under a constant input the trained controllers do not settle: the fixed points "
            "found are unstable (saddles) and trajectories from random states keep moving; "
            f"inputs (of {len(INPUTS)}) where they end on a period-2 cycle: {cycles}. In the "
            "network the controller never sees a constant input for long, so training need "
            "not make its fixed points attracting"
        )
        evidence["to_test_properly"] = "the paper's controller (50 units) in N = 400 networks"
    fig = figures.lines_by_network(
        INPUTS, lines, xlabel="constant pre-activation a", ylabel="mean of g* over units",
        title="G7: the controller's stable fixed point against the input",
    )  # fmt: skip
    return [Claim("G7", verdict, evidence, [("G7 controller fixed points", fig)])]
