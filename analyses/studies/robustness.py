"""G1–G3 (Geadah et al. 2024): adaptive and diverse neurons make networks robust.

Per network: the accuracy lost on the test split under each perturbation, drop = clean −
perturbed (:func:`~analyses.studies.checkpoints.accuracy_table`; the paper's perturbations of
REFERENCES.md §1, window scaled to the sequence length). The replication unit is the network;
every comparison is between groups of networks (seeds) with a bootstrap interval and a
permutation test (:func:`~analyses.studies.statistics.compare_groups`).

- G1: effect = mean drop of the static networks (ReLU, softplus, γ homogeneous, γ
  heterogeneous) − mean drop of the ARUN networks, under the noise drive ξ = 1 and ξ = 2;
  the paper predicts > 0.
- G2: the same under the sinusoidal modulation (A = 0.5) and the step drive ξ = 1 and 2.
- G3: effect = mean drop of the other static networks (ReLU, softplus, γ homogeneous) − mean
  drop of the γ-heterogeneous networks, under noise ξ = 1, sinusoid and step ξ = 1; > 0.

Rule: :data:`~analyses.studies.verdicts.COMPARISON_RULE`, applied to the psMNIST tier when
every compared variant has ≥ 3 networks there, else to the digits zoo.
"""

from __future__ import annotations

from analyses.studies import figures
from analyses.studies.checkpoints import STATIC, accuracy_table, group
from analyses.studies.registry import Claim, Context, primary_setting
from analyses.studies.statistics import compare_groups
from analyses.studies.verdicts import COMPARISON_RULE, comparison_verdict

__all__ = ["CONDITIONS", "drops", "run"]

#: Claim → (perturbations compared, treated variants, reference variants).
CONDITIONS = {
    "G1": (("noise", "noise-2"), ("arun",), STATIC),
    "G2": (("sinusoid", "step", "step-2"), ("arun",), STATIC),
    "G3": (("noise", "sinusoid", "step"), ("gamma-heterogeneous",), STATIC[:3]),
}
#: Test examples per network (psMNIST: the first 2000 of 10k, for 2 cores).
LIMITS = {"psmnist": 2000, "digits": None}
LIMITS_QUICK = {"psmnist": 200, "digits": 100}


def drops(table: dict[str, dict[str, float]], perturbation: str) -> dict[str, float]:
    """clean − perturbed accuracy per network."""
    return {name: row["clean"] - row[perturbation] for name, row in table.items()}


def _setting_block(cid: str, nets: list, table: dict, seed: int = 0) -> dict:
    perturbations, treated, reference = CONDITIONS[cid]
    a_nets, b_nets = group(nets, reference), group(nets, treated)
    comparisons = []
    for p in perturbations:
        d = drops(table, p)
        a = [d[n.name] for n in a_nets]
        b = [d[n.name] for n in b_nets]
        if not a or not b:
            continue
        comparisons.append(
            compare_groups(
                f"{p}: drop({'+'.join(reference)}) − drop({'+'.join(treated)})",
                a,
                b,
                expected_sign=1,
                seed=seed,
            )
        )
    return {
        "comparisons": comparisons,
        "networks": {n.name: n.architecture for n in a_nets + b_nets},
        "accuracy": {n.name: table[n.name] for n in nets},
    }


def run(context: Context) -> list[Claim]:
    """G1, G2, G3 on both settings; the verdict from the primary one."""
    limits = LIMITS_QUICK if context.quick else LIMITS
    tables = {
        s: accuracy_table(nets, context.cache, limit=limits[s], sweep=context.sweep)
        for s, nets in context.settings.items()
        if nets
    }
    claims = []
    for cid, (perturbations, treated, reference) in CONDITIONS.items():
        primary = primary_setting(context, treated + reference)
        blocks = {s: _setting_block(cid, context.settings[s], tables[s]) for s in tables}
        comps = blocks.get(primary, {}).get("comparisons", [])
        verdict = comparison_verdict(comps) if comps else "not reproduced at this scale"
        evidence = {
            "primary_setting": primary,
            "rule": COMPARISON_RULE,
            "effect": "difference of mean accuracy drops (clean − perturbed), reference − "
            "treated; > 0 means the treated variant is more robust",
            "settings": {
                s: {
                    "comparisons": [c.to_dict() for c in b["comparisons"]],
                    "networks": b["networks"],
                    "accuracy": b["accuracy"],
                    "test_examples": next(iter(tables[s].values()))["examples"],
                }
                for s, b in blocks.items()
            },
        }
        best = ", ".join(
            f"{c.label.split(':')[0]} {c.estimate:+.3f} [{c.low:+.3f}, {c.high:+.3f}] "
            f"p={c.p_value:.2g}"
            for c in comps
        )
        evidence["headline"] = f"{primary}: {best}" if best else f"{primary}: no networks"
        for other, block in blocks.items():
            if other != primary and block["comparisons"]:
                c = block["comparisons"][0]
                evidence["headline"] += (
                    f" | {other} ({c.n_a} vs {c.n_b} networks): {c.label.split(':')[0]} "
                    f"{c.estimate:+.3f}"
                )
        if verdict != "reproduced":
            n_per = {v: len(group(context.settings[primary], v)) for v in treated + reference}
            evidence["why"] = (
                f"on {primary} ({', '.join(f'{v} × {k}' for v, k in n_per.items())}) the "
                "effects' intervals or permutation tests do not exclude 0 in the paper's "
                "direction for every perturbation"
                + (
                    " (fewer than 3 networks in a group caps the verdict)."
                    if min(n_per.values()) < 3
                    else "."
                )
            )
            evidence["to_test_properly"] = (
                "the paper's scale: N = 400, 784-step psMNIST trained 100 epochs, several seeds "
                "per variant (a GPU run), evaluated on the full 10k test split"
            )
        fig = figures.group_strips(
            {
                f"{s}: {p}": {
                    v: [drops(tables[s], p)[n.name] for n in group(context.settings[s], v)]
                    for v in treated + reference
                }
                for s in tables
                for p in perturbations
            },
            ylabel="accuracy drop (clean − perturbed)",
            title=f"{cid}: accuracy lost per network",
        )
        claims.append(Claim(cid, verdict, evidence, [(f"{cid} accuracy drops", fig)]))
    return claims
