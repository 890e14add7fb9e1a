"""Fixed-point search speed: ``find_fixed_points`` against Adam on q alone, on zoo networks.

For trained zoo networks (the 3-bit flip-flop GRU, a 64-unit digits GRU and γ network) under
zero input, both methods start from the same states — ``--inits`` states of the network's task
trajectories, each relaxed a log-uniform number of steps under zero input, exactly as
:func:`dynan.fixed_points.network.network_fixed_points` samples them — and the benchmark
measures

- ``dynan``: :func:`dynan.fixed_points.find_fixed_points` (batched Levenberg–Marquardt search,
  dedup, LM polish in float64, outlier test and the eigen-decomposition; no skeleton): its
  whole run time, and the number of distinct true fixed points (q < 1e-12) it returns;
- ``adam``: the common approach (Sussillo & Barak 2013; Golub & Sussillo 2018), written inline
  below: Adam on Σ q over the batch in float64, learning rate halved after 200 steps without a
  1% improvement, until every row has q < 1e-12, no row improves any more, or the budget
  (``--budget`` seconds) runs out. Its time is the moment its last eventually-converged row
  first reached q < 1e-12; its count is the number of distinct such rows (same dedup tolerance,
  1e-3 × the RMS spread of the starts). It runs at each initial learning rate of ``LR_GRID``
  (× RMS spread / √dim); the table compares with the fastest run and with the most points any
  run found. A run cut by the budget is timed at its last converged row before the cut, which
  flatters Adam.

Times are CPU time of the process with one thread (robust to a busy machine); dynan's is the
best of ``--repeats`` runs (cheap), Adam's comes from a single run per rate. Prints a table
with the speed-up adam/dynan (target ≥ 10) and both counts (target: dynan ≥ adam), checks
that every fixed point Adam found is one dynan found, and writes
``reports/benchmarks/fixed_points.json``.

Run: ``python -m analyses.benchmarks.fixed_points [--quick] [--inits B] [--budget S]``.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch

from analyses.benchmarks._output import save
from dynan.adapters.network import network_system
from dynan.checkpoint import load
from dynan.fixed_points import find_fixed_points, network_starts
from dynan.fixed_points.solvers import reference_scale

ZOO = Path("models/zoo")
NETWORKS = ("gru-flipflop3-s1", "gru-digits-s0", "gamma-homogeneous-digits-s0")
TOL_Q = 1e-12
TOL_UNIQUE = 1e-3
#: Initial Adam learning rates tried, in units of the starts' RMS spread / √dim.
LR_GRID = (1e-1, 1e-2)


def starts(name: str, count: int, seed: int = 0):
    """(system, zero input (input_dim,), starts (count, dim)) as network_fixed_points has them."""
    system = network_system(load(ZOO / f"{name}.safetensors", dtype=torch.float64))
    u = torch.zeros(system.input_dim, dtype=torch.float64)
    return system, u, network_starts(system, u, n_inits=count, seed=seed)


def distinct(x: np.ndarray, tol: float) -> np.ndarray:
    """Greedy dedup: one representative per cluster of points closer than ``tol``."""
    kept: list[np.ndarray] = []
    for point in x:
        if not kept or np.linalg.norm(np.asarray(kept) - point, axis=1).min() >= tol:
            kept.append(point)
    return np.asarray(kept).reshape(-1, x.shape[1])


def adam_reference(system, u, x0, *, lr: float, budget: float, max_iter: int):
    """Adam on Σ q; returns (final states, first time each row reached q < TOL_Q or inf)."""
    x = x0.clone().requires_grad_(True)
    ub = u.expand(x.shape[0], -1)
    opt = torch.optim.Adam([x], lr=lr)
    reached = np.full(x.shape[0], np.inf)
    best, since, start = math.inf, 0, time.process_time()
    for _ in range(max_iter):
        r = system.step(x, ub) - x
        q = 0.5 * (r * r).sum(1)
        now = time.process_time() - start
        below = (q.detach() < TOL_Q).numpy()
        reached[below & np.isinf(reached)] = now
        total = float(q.detach().sum())
        if below.all() or now > budget:
            break
        best, since = (total, 0) if total < 0.99 * best else (best, since + 1)
        if since >= 200:
            if opt.param_groups[0]["lr"] < 1e-12 * lr:
                break  # nothing moves any more
            opt.param_groups[0]["lr"] *= 0.5
            best, since = total, 0
        opt.zero_grad()
        q.sum().backward()
        opt.step()
    return x.detach(), reached


def run(name: str, count: int, budget: float, max_iter: int, repeats: int) -> dict:
    system, u, x0 = starts(name, count)
    scale = reference_scale(x0)
    tol = TOL_UNIQUE * scale
    t_dynan = math.inf
    for _ in range(repeats):  # cheap: best of a few, as CPU time on a shared machine varies
        start = time.process_time()
        fp = find_fixed_points(system, inputs=u, inits=x0, noise=0.0, connect=False)
        t_dynan = min(t_dynan, time.process_time() - start)
    runs = []
    for factor in LR_GRID:
        lr = factor * scale / math.sqrt(system.dim)
        x_adam, reached = adam_reference(system, u, x0, lr=lr, budget=budget, max_iter=max_iter)
        converged = np.isfinite(reached)
        found = distinct(x_adam.numpy()[converged], tol)
        runs.append(
            {
                "lr_factor": factor,
                "seconds": float(reached[converged].max()) if converged.any() else None,
                "converged_rows": int(converged.sum()),
                "fixed_points": len(found),
                "all_found_by_dynan": all(
                    np.linalg.norm(fp.states - p, axis=1).min() < tol for p in found
                ),
            }
        )
    timed = [r["seconds"] for r in runs if r["seconds"] is not None]
    t_adam = min(timed) if timed else None
    return {
        "network": name,
        "dim": system.dim,
        "starts": count,
        "dynan_seconds": t_dynan,
        "dynan_fixed_points": len(fp),
        "dynan_stable": int(fp.is_stable.sum()),
        "dynan_max_q": float(fp.q.max()) if len(fp) else None,
        "adam_seconds": t_adam,
        "adam_fixed_points": max(r["fixed_points"] for r in runs),
        "adam_points_all_found_by_dynan": all(r["all_found_by_dynan"] for r in runs),
        "adam_budget_seconds": budget,
        "adam_runs": runs,
        "speedup": None if t_adam is None else t_adam / t_dynan,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one network, 64 starts")
    parser.add_argument("--inits", type=int, default=256, help="starting states (default 256)")
    parser.add_argument("--budget", type=float, default=40.0, help="Adam CPU seconds per run")
    parser.add_argument("--max-iter", type=int, default=100_000, help="Adam iteration cap")
    parser.add_argument("--repeats", type=int, default=3, help="dynan runs (best is kept)")
    parser.add_argument("--out", default="reports/benchmarks/fixed_points.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    networks = NETWORKS[:1] if args.quick else NETWORKS
    count = 64 if args.quick else args.inits
    rows = []
    header = f"{'network':>28} {'dim':>4} {'dynan s':>8} {'#fp':>4} {'adam s':>8} {'#fp':>4}"
    print(header + f" {'adam/dynan':>10} {'adam ⊆ dynan':>12}")
    for name in networks:
        row = run(name, count, args.budget, args.max_iter, args.repeats)
        rows.append(row)
        speed = f"{row['speedup']:10.1f}" if row["speedup"] else f"{'—':>10}"
        print(
            f"{name:>28} {row['dim']:4d} {row['dynan_seconds']:8.2f} "
            f"{row['dynan_fixed_points']:4d} {row['adam_seconds']:8.2f} "
            f"{row['adam_fixed_points']:4d} {speed} {row['adam_points_all_found_by_dynan']!s:>12}"
        )
    meta = {
        "clock": "process CPU time, one thread; dynan best of repeats",
        "repeats": args.repeats,
        "tol_q": TOL_Q,
        "tol_unique": f"{TOL_UNIQUE} x RMS spread of the starts",
    }
    save(args.out, meta=meta, rows=rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
