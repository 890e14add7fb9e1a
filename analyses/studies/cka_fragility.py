"""D4 (Davari et al. 2023): conclusions drawn from CKA about which networks are alike are
fragile — they change under use-preserving translations and disagree with other measures more
than sampling noise explains.

Setting: the final hidden states of the C digits-zoo networks on the test split; every pair
of networks is scored by linear CKA, Procrustes similarity, mean CCA R² and RSA (Spearman
correlation of Euclidean RDMs). The statistic is the Spearman rank correlation ρ, across the
C(C−1)/2 pairs, between two lists of pair scores.

Noise reference: the examples are split at random into two halves B times; ρ_self is the
rank correlation of CKA on one half with CKA on the other (how reproducible CKA's ranking is
from independent examples), ρ_cross(M) that of CKA on one half with measure M on the other.

(a) disagreement with measure M beyond noise: the 95 % interval (over splits) of
ρ_self − ρ_cross(M) lies above 0.
(b) change under a transformation beyond noise: ρ(CKA before, CKA after) is below the 2.5 %
quantile of ρ_self. Transformations (each keeps every read-out prediction, see
:mod:`~analyses.studies.cka_translation`): T1, in every network the median-limit example moved
10 RMS radii along a read-out null direction (D1); T2, in every second network classes 5–9
moved 3 RMS radii that way (D2).

Rule: reproduced = (a) for at least one measure and (b) for at least one transformation;
partly reproduced = one of the two; contradicted = neither, with ρ_cross(M) ≥ median ρ_self
for every M and ρ(before, after) ≥ median ρ_self for every transformation (CKA's ranking as
stable as its own sampling noise); otherwise not reproduced at this scale.

References
----------
Davari et al. (2023), ICLR, §4–§6; Kornblith et al. (2019), ICML; REFERENCES.md §5.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np
from scipy.spatial.distance import pdist
from scipy.stats import rankdata, spearmanr

from analyses.studies import figures
from analyses.studies.cka_translation import null_direction, readout_states
from analyses.studies.registry import Claim, Context
from dynan.similarity import single_point_limits

__all__ = [
    "MEASURES",
    "fragility",
    "fragility_verdict",
    "pair_score",
    "pair_scores",
    "prepare",
    "run",
]

MEASURES = ("CKA", "Procrustes", "CCA R²", "RSA")


def prepare(x: np.ndarray) -> dict:
    """What every pair score needs from one representation, computed once.

    Centred unit-Frobenius X̂ (CKA, Procrustes), the Gram norm ‖X̂ᵀX̂‖_F, an orthonormal basis
    of X̂'s column space (CCA) and the standardised ranks of its Euclidean RDM (RSA).
    """
    xc = x - x.mean(0)
    xc = xc / max(np.linalg.norm(xc), 1e-300)
    u, sv, _ = np.linalg.svd(xc, full_matrices=False)
    basis = u[:, sv > 1e-10 * max(sv.max(), 1e-300)]
    ranks = rankdata(pdist(x))
    ranks = (ranks - ranks.mean()) / max(ranks.std(), 1e-300)
    return {"x": xc, "gram": np.linalg.norm(xc.T @ xc), "basis": basis, "ranks": ranks}


def pair_score(a: dict, b: dict, measure: str) -> float:
    """One measure between two :func:`prepare` d representations (equal to dynan.similarity's
    ``cka``, ``procrustes_similarity``, ``mean_cca_r2`` and ``rsa(metric="euclidean")``; NaN
    for a constant representation, whose similarity is undefined)."""
    if measure == "CKA":
        den = a["gram"] * b["gram"]
        return float(np.linalg.norm(a["x"].T @ b["x"]) ** 2 / den) if den > 0 else np.nan
    if measure == "Procrustes":
        return float(min(np.linalg.svd(a["x"].T @ b["x"], compute_uv=False).sum(), 1.0))
    if measure == "CCA R²":
        k = min(a["basis"].shape[1], b["basis"].shape[1])
        return float(np.linalg.norm(a["basis"].T @ b["basis"]) ** 2 / k) if k else np.nan
    return float(np.mean(a["ranks"] * b["ranks"]))


def pair_scores(reps: Sequence[np.ndarray], measure: str, rows: np.ndarray | None = None) -> list:
    """The measure for every pair (i < j) of representations, on the given example rows."""
    prepared = [prepare(r if rows is None else r[rows]) for r in reps]
    return [pair_score(a, b, measure) for a, b in combinations(prepared, 2)]


def _all_scores(reps: Sequence[np.ndarray], rows: np.ndarray | None = None) -> dict:
    prepared = [prepare(r if rows is None else r[rows]) for r in reps]
    return {m: [pair_score(a, b, m) for a, b in combinations(prepared, 2)] for m in MEASURES}


def _rho(a: Sequence[float], b: Sequence[float]) -> float:
    return float(spearmanr(a, b).statistic)


def fragility(
    reps: Sequence[np.ndarray],
    transformed: dict[str, Sequence[np.ndarray]],
    *,
    splits: int = 100,
    seed: int = 0,
) -> dict:
    """The numbers of the D4 rule for representations ``reps`` and transformed copies.

    Returns a dict with the pair scores, ρ_self quantiles, per-measure ρ_cross and the
    interval of ρ_self − ρ_cross, and per-transformation ρ(before, after) and top pairs.
    """
    n = reps[0].shape[0]
    rng = np.random.default_rng(seed)
    full = _all_scores(reps)
    self_rho, cross = [], {m: [] for m in MEASURES if m != "CKA"}
    for _ in range(splits):
        order = rng.permutation(n)
        first, second = _all_scores(reps, order[: n // 2]), _all_scores(reps, order[n // 2 :])
        self_rho.append(_rho(first["CKA"], second["CKA"]))
        for m in cross:
            cross[m].append(_rho(first["CKA"], second[m]))
    self_rho = np.asarray(self_rho)
    measures = {}
    for m, values in cross.items():
        diff = self_rho - np.asarray(values)
        low, high = np.percentile(diff, [2.5, 97.5])
        measures[m] = {
            "rho_full": _rho(full["CKA"], full[m]),
            "rho_cross_mean": float(np.mean(values)),
            "gap_mean": float(diff.mean()),
            "gap_ci": [float(low), float(high)],
            "beyond_noise": bool(low > 0),
            "within_median": bool(np.mean(values) >= np.median(self_rho)),
        }
    q025, median = np.percentile(self_rho, [2.5, 50])
    transforms = {}
    for name, moved in transformed.items():
        after = pair_scores(moved, "CKA")
        rho = _rho(full["CKA"], after)
        transforms[name] = {
            "rho_before_after": rho,
            "cka_after": after,
            "top_pair_before": int(np.argmax(full["CKA"])),
            "top_pair_after": int(np.argmax(after)),
            "beyond_noise": bool(rho < q025),
            "within_median": bool(rho >= median),
        }
    return {
        "scores": full,
        "rho_self_q025": float(q025),
        "rho_self_median": float(median),
        "measures": measures,
        "transforms": transforms,
        "splits": splits,
    }


def fragility_verdict(result: dict) -> str:
    """The D4 rule (module docstring) applied to :func:`fragility`'s numbers."""
    a = any(m["beyond_noise"] for m in result["measures"].values())
    b = any(t["beyond_noise"] for t in result["transforms"].values())
    if a and b:
        return "reproduced"
    if a or b:
        return "partly reproduced"
    stable = all(m["within_median"] for m in result["measures"].values()) and all(
        t["within_median"] for t in result["transforms"].values()
    )
    return "contradicted" if stable else "not reproduced at this scale"


def _transforms(datas: list[dict]) -> dict[str, list[np.ndarray]]:
    t1, t2 = [], []
    for i, d in enumerate(datas):
        x = d["x"]
        v = null_direction(d["weight"], seed=i)
        rms = float(np.sqrt(((x - x.mean(0)) ** 2).sum(1).mean()))
        limits = single_point_limits(x)
        one = np.zeros(len(x), dtype=bool)
        one[int(np.argsort(limits)[limits.size // 2])] = True
        t1.append(x + np.outer(one, 10 * rms * v))
        moving = d["y"] >= 5 if i % 2 == 0 else np.zeros(len(x), dtype=bool)
        t2.append(x + np.outer(moving, 3 * rms * v))
    return {"T1 one outlier per network (c=10)": t1, "T2 classes 5–9 moved (c=3)": t2}


def run(context: Context) -> list[Claim]:
    """D4 on the digits zoo's final hidden states."""
    nets = context.settings["digits"]
    names = [n.name for n in nets]
    splits = 20 if context.quick else 100

    def compute() -> dict:
        datas = [readout_states(n) for n in nets]
        return fragility([d["x"] for d in datas], _transforms(datas), splits=splits)

    result = context.cache.numbers("cka-fragility", nets, {"splits": splits}, compute)
    verdict = fragility_verdict(result)
    pairs = [f"{a} / {b}" for a, b in combinations(names, 2)]
    gaps = {m: v["gap_ci"] for m, v in result["measures"].items()}
    evidence = {
        "setting": f"digits zoo, {len(nets)} networks ({len(pairs)} pairs), final hidden states "
        "on the 300 test examples",
        "rule": "reproduced: (a) CKA's pair ranking disagrees with at least one other measure "
        "beyond split-half noise (95% interval of ρ_self − ρ_cross above 0) and (b) a "
        "prediction-preserving translation changes it beyond noise (ρ(before, after) below the "
        "2.5% quantile of ρ_self); partly: one of the two; contradicted: neither, with every "
        "ρ at or above the median ρ_self; otherwise not reproduced at this scale",
        "test": f"{result['splits']} random split-halves of the test examples (sampling noise)",
        "rho_self_q025": result["rho_self_q025"],
        "rho_self_median": result["rho_self_median"],
        "measures": result["measures"],
        "transforms": {
            k: {
                **{f: v for f, v in t.items() if f != "cka_after"},
                "top_pair_before": pairs[t["top_pair_before"]],
                "top_pair_after": pairs[t["top_pair_after"]],
            }
            for k, t in result["transforms"].items()
        },
        "top_pair": {m: pairs[int(np.argmax(s))] for m, s in result["scores"].items()},
        "networks": len(nets),
    }
    evidence["caveat"] = (
        "mean CCA R² of 64 features on 150 examples overfits (near 1 for any pair), so its "
        "disagreement with CKA is partly that bias; RSA and Procrustes are the fairer checks"
    )
    changed = [k for k, t in result["transforms"].items() if t["beyond_noise"]]
    evidence["headline"] = (
        "ρ_self − ρ_cross 95% CI: "
        + "; ".join(f"{m} [{lo:.2f}, {hi:.2f}]" for m, (lo, hi) in gaps.items())
        + f"; transforms beyond noise: {', '.join(changed) or 'none'}"
    )
    if verdict != "reproduced":
        evidence["why"] = (
            f"with {len(nets)} networks ({len(pairs)} pairs) and 150 examples a half, the rank "
            "statistics are coarse"
        )
        evidence["to_test_properly"] = (
            "more networks (≥ 3 seeds of each variant, e.g. the psMNIST tier) and more examples"
        )
    matrix = np.eye(len(nets))
    for (i, j), value in zip(
        combinations(range(len(nets)), 2), result["scores"]["CKA"], strict=True
    ):
        matrix[i, j] = matrix[j, i] = value
    fig = figures.matrix(matrix, names, title="D4: linear CKA between networks", cbar="CKA")
    return [Claim("D4", verdict, evidence, [("D4 CKA between the digits networks", fig)])]
