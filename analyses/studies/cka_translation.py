"""D1 and D2 (Davari et al. 2023): translations that keep what a representation is used for
drive linear CKA to the limits of Theorem 1.

For every network of the digits zoo, X is its final hidden state on the test split (the
input of its read-out) and v a unit vector in the null space of the read-out weights, so
W(h + c v) + b = W h + b: translating states along v leaves every prediction exactly as it
was. D1 moves one example (the one with the median single-point limit) by c RMS radii along v;
D2 moves every example of classes 5–9 (S = classes 0–4 stays). CKA(X, X') is computed directly
(:func:`dynan.cka`, linear, biased as in the theorem) and compared with the closed-form limits
(:func:`dynan.similarity.single_point_limits`, :func:`dynan.similarity.subset_translation_limit`).

Rule (:data:`~analyses.studies.verdicts.EVERY_NETWORK_RULE`), criteria per network: ``limit``
— CKA at c = 10⁴ equals the theorem's limit within 1 % (relative); ``use kept`` — the read-out
gives the same prediction for every test example before and after; ``moved`` — CKA at
c = 10⁴ is at most 0.5 (D1) or differs from 1 by at least 0.1 (D2). Contradicted: the value at
c = 10⁴ misses the limit by more than 10 % in every network.

References
----------
Davari, Horoi, Natik, Lajoie, Wolf, Belilovsky (2023), ICLR, Theorem 1 and §4; REFERENCES.md §5.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from analyses.studies import figures
from analyses.studies.checkpoints import Network, load_network
from analyses.studies.registry import Claim, Context
from analyses.studies.verdicts import EVERY_NETWORK_RULE, every_network_verdict
from dynan.similarity import cka, single_point_limits, subset_translation_limit
from dynan_models.tasks import load_task

__all__ = ["SCALES", "null_direction", "readout_states", "run", "translation_study"]

#: Translation distances c in units of the RMS radius of X.
SCALES = (0.0, 1.0, 3.0, 10.0, 30.0, 100.0, 1e3, 1e4)


def readout_states(net: Network) -> dict:
    """Final hidden states (n, N), labels (n,) and read-out (W, b) on the test split."""
    model = load_network(net)
    task = load_task(model.checkpoint.task)
    with torch.no_grad():
        out = model(task.test.x.to(torch.float64), return_trajectories=True)
    states = out.hidden[:, -1].numpy()
    return {
        "x": states,
        "y": task.test.y.numpy(),
        "weight": model.readout.weight.detach().numpy(),
        "bias": model.readout.bias.detach().numpy(),
    }


def null_direction(weight: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """A random unit vector v with W v = 0 (W: classes × N, N > classes).

    Examples
    --------
    >>> w = np.random.default_rng(1).normal(size=(3, 8))
    >>> v = null_direction(w)
    >>> bool(np.abs(w @ v).max() < 1e-12), round(float(np.linalg.norm(v)), 6)
    (True, 1.0)
    """
    _, sv, vt = np.linalg.svd(weight)
    rank = int((sv > 1e-10 * sv.max()).sum())
    basis = vt[rank:]
    if basis.shape[0] == 0:
        raise ValueError(f"the read-out {weight.shape} has no null space: N must exceed classes")
    v = np.random.default_rng(seed).normal(size=basis.shape[0]) @ basis
    return v / np.linalg.norm(v)


def translation_study(
    x: np.ndarray,
    moving: np.ndarray,
    v: np.ndarray,
    limit: float,
    weight: np.ndarray,
    bias: np.ndarray,
    labels: np.ndarray,
    *,
    scales: Sequence[float] = SCALES,
) -> dict:
    """CKA(X, X') as the rows in ``moving`` move by c·rms·v; predictions and accuracy kept.

    Returns a dict: scales, cka (per scale), limit, relative error of the last scale against
    the limit, prediction agreement and accuracy before/after at the largest scale.
    """
    rms = float(np.sqrt(((x - x.mean(0)) ** 2).sum(1).mean()))
    values, agreement, acc_after = [], 1.0, float("nan")
    before = (x @ weight.T + bias).argmax(1)
    for c in scales:
        moved = x + np.outer(moving, c * rms * v)
        values.append(float(cka(x, moved)))
        after = (moved @ weight.T + bias).argmax(1)
        agreement = min(agreement, float((after == before).mean()))
        acc_after = float((after == labels).mean())
    error = abs(values[-1] - limit) / max(abs(limit), 1e-12)
    return {
        "scales": [float(c) for c in scales],
        "cka": values,
        "limit": float(limit),
        "relative_error_at_largest": float(error),
        "prediction_agreement": agreement,
        "accuracy_before": float((before == labels).mean()),
        "accuracy_after": acc_after,
    }


def _outlier(data: dict, v: np.ndarray) -> dict:
    limits = single_point_limits(data["x"])
    i = int(np.argsort(limits)[limits.size // 2])
    moving = np.zeros(limits.size, dtype=bool)
    moving[i] = True
    out = translation_study(
        data["x"], moving, v, float(limits[i]), data["weight"], data["bias"], data["y"]
    )
    return {**out, "example": i, "max_single_point_limit": float(limits.max())}


def _subset(data: dict, v: np.ndarray) -> dict:
    stay = data["y"] < 5
    limit = subset_translation_limit(data["x"], np.flatnonzero(stay))
    out = translation_study(data["x"], ~stay, v, limit, data["weight"], data["bias"], data["y"])
    return {**out, "rho": float(stay.mean())}


def _checks(result: dict, moved: bool) -> dict[str, bool]:
    return {
        "limit": result["relative_error_at_largest"] <= 0.01,
        "use kept": result["prediction_agreement"] == 1.0,
        "moved": moved,
    }


def _network(net: Network, context: Context) -> dict:
    def compute() -> dict:
        data = readout_states(net)
        v = null_direction(data["weight"], seed=0)
        return {"outlier": _outlier(data, v), "subset": _subset(data, v), "n": len(data["y"])}

    return context.cache.numbers("cka-translation", net, {"scales": list(SCALES)}, compute)


def run(context: Context) -> list[Claim]:
    """D1 and D2 on the digits zoo (every network: one representation each)."""
    nets = context.settings["digits"]
    results = {n.name: _network(n, context) for n in nets}
    claims = []
    for cid, key in (("D1", "outlier"), ("D2", "subset")):
        checks, contra, rows = {}, {}, {}
        for name, r in results.items():
            res = r[key]
            last = res["cka"][-1]
            moved = last <= 0.5 if key == "outlier" else abs(1 - last) >= 0.1
            checks[name] = _checks(res, moved)
            contra[name] = res["relative_error_at_largest"] > 0.1
            rows[name] = {
                "cka_at_c": dict(zip([f"{c:g}" for c in res["scales"]], res["cka"], strict=True)),
                "limit": res["limit"],
                "relative_error_at_largest": res["relative_error_at_largest"],
                "prediction_agreement": res["prediction_agreement"],
                "accuracy_before": res["accuracy_before"],
                "accuracy_after": res["accuracy_after"],
                "checks": checks[name],
            }
        verdict = every_network_verdict(checks, contradiction=contra)
        what = "one example (median single-point limit)" if key == "outlier" else "classes 5–9"
        evidence = {
            "setting": "digits zoo (64-step permuted digits, N = 64), final hidden states on the "
            f"{r['n']} test examples",
            "networks": len(nets),
            "translated": what,
            "direction": "random unit vector in the null space of the read-out weights",
            "rule": EVERY_NETWORK_RULE,
            "criteria": "limit: |CKA(c=1e4) − limit| ≤ 1% of the limit; use kept: identical "
            "read-out predictions; moved: "
            + ("CKA(c=1e4) ≤ 0.5" if key == "outlier" else "|1 − CKA(c=1e4)| ≥ 0.1"),
            "test": "exact check per network (closed-form limit against CKA computed on the "
            "translated states)",
            "per_network": rows,
        }
        fig = figures.translation_curves(
            {
                name: (r[key]["scales"], r[key]["cka"], r[key]["limit"])
                for name, r in results.items()
            },
            title=f"{cid}: CKA(X, X′) as {what} moves along a read-out null direction",
        )
        lasts = [r[key]["cka"][-1] for r in results.values()]
        at10 = [r[key]["cka"][SCALES.index(10.0)] for r in results.values()]
        passed = sum(all(c.values()) for c in checks.values())
        evidence["headline"] = (
            f"{passed}/{len(checks)} networks meet every criterion; CKA(c=1e4) "
            f"{min(lasts):.3g}–{max(lasts):.3g} (= the limit), at c=10: {min(at10):.2f}–"
            f"{max(at10):.2f}, predictions unchanged"
        )
        if verdict != "reproduced":
            evidence["why"] = "some networks miss a criterion (see per_network.checks)"
        claims.append(Claim(cid, verdict, evidence, [(f"{cid} CKA against translation", fig)]))
    return claims
