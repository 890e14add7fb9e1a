"""Lyapunov spectrum speed: ``lyapunov_spectrum`` against its floor and an autograd reference.

For random tanh networks h' = tanh(W h) (``dynan.systems.random_rnn``, g = 1.5) of hidden size
64–512 and k ∈ {16, all} exponents, with a batch of ``--trials`` trajectories, measures the time
per step of

- ``dynan``: :func:`dynan.lyapunov.lyapunov_spectrum` (transients 0, no progress bar);
- ``floor``: the same matmul/QR schedule written inline below — h = tanh(h Wᵀ),
  V = (1 − h²) ⊙ (W Q), rows of V sorted by norm, Q R = V, Σ log |diag R| — the bare cost of
  this algorithm (the row sort keeps the small R_ii of saturated units accurate, see
  ``dynan.lyapunov._benettin.orthonormalize``);
- ``autograd``: a straightforward reference that forms the full Jacobian each step with
  ``torch.autograd.functional.jacobian`` (one backward pass per unit), then J Q and a plain
  QR.

Each time is the best of ``--repeats`` interleaved runs, measured as CPU time of the process
with one thread (robust to a busy machine) and as wall time with several. Prints a
table with the ratios dynan/floor (target ≤ 1.3) and autograd/dynan (target ≥ 10), checks that
dynan and the floor give the same exponents, and writes ``reports/benchmarks/lyapunov.json``.

Run: ``python -m analyses.benchmarks.lyapunov [--quick] [--threads N] [--trials B]``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch

from analyses.benchmarks._output import save
from dynan.lyapunov import lyapunov_spectrum
from dynan.systems import random_rnn

GAIN = 1.5


#: The clock: CPU time of this process with one thread (time spent descheduled on a shared
#: machine does not count), wall time with several (set in ``main``).
_CLOCK: list[Callable[[], float]] = [time.process_time]


def _best(run: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = _CLOCK[0]()
        run()
        best = min(best, _CLOCK[0]() - start)
    return best


def _floor(weight: torch.Tensor, h: torch.Tensor, q: torch.Tensor, steps: int) -> np.ndarray:
    """The inline schedule: one tanh step, one batched matmul, one row-sorted QR, one log."""
    total = torch.zeros(q.shape[0], q.shape[2], dtype=q.dtype)
    with torch.no_grad():
        for _ in range(steps):
            h = torch.tanh(h @ weight.T)
            v = (1 - h * h)[:, :, None] * torch.matmul(weight, q)
            order = v.norm(dim=2).argsort(dim=1, descending=True)[..., None].expand_as(v)
            q_sorted, r = torch.linalg.qr(torch.gather(v, 1, order))
            q = torch.empty_like(q_sorted).scatter_(1, order, q_sorted)
            total = total + r.diagonal(dim1=-2, dim2=-1).abs().log()
    return (total / steps).numpy()


def _autograd(weight: torch.Tensor, h: torch.Tensor, q: torch.Tensor, steps: int) -> np.ndarray:
    """Full Jacobian by reverse-mode autograd (one backward pass per unit), then J Q and QR."""
    total = torch.zeros(q.shape[0], q.shape[2], dtype=q.dtype)

    def step(v: torch.Tensor) -> torch.Tensor:
        return torch.tanh(weight @ v)

    for _ in range(steps):
        jac = torch.stack([torch.autograd.functional.jacobian(step, v) for v in h])
        with torch.no_grad():
            h = torch.tanh(h @ weight.T)
            q, r = torch.linalg.qr(jac @ q)
            total = total + r.diagonal(dim1=-2, dim2=-1).abs().log()
    return (total / steps).numpy()


def measure(n: int, k: int, *, trials: int, steps: int, ref_steps: int, repeats: int) -> dict:
    """Seconds per step of dynan, the floor and the autograd reference for one (n, k)."""
    system = random_rnn(n, GAIN, seed=0)
    generator = torch.Generator().manual_seed(0)
    h0 = system.initial_state(trials, generator=generator)
    q0 = torch.linalg.qr(torch.randn(trials, n, k, generator=generator, dtype=torch.float64))[0]

    def ours() -> np.ndarray:
        result = lyapunov_spectrum(
            system, n_steps=steps, transient=0, k=k, h0=h0, trials=trials, progress=False
        )
        return result.trial_exponents

    dynan_s, floor_s = float("inf"), float("inf")
    for _ in range(repeats):  # interleaved, so a busy spell hits both
        dynan_s = min(dynan_s, _best(ours, 1))
        floor_s = min(floor_s, _best(lambda: _floor(system.weight, h0, q0, steps), 1))
    reference_s = _best(lambda: _autograd(system.weight, h0, q0, ref_steps), max(1, repeats // 2))
    # same schedule, different random bases: the leading exponent agrees after a few steps
    agree = abs(float(ours()[:, 0].mean() - _floor(system.weight, h0, q0, steps)[:, 0].mean()))
    return {
        "hidden": n,
        "k": k,
        "trials": trials,
        "steps": steps,
        "dynan_ms_per_step": 1e3 * dynan_s / steps,
        "floor_ms_per_step": 1e3 * floor_s / steps,
        "autograd_ms_per_step": 1e3 * reference_s / ref_steps,
        "dynan_over_floor": dynan_s / floor_s,
        "autograd_over_dynan": (reference_s / ref_steps) / (dynan_s / steps),
        "lambda1_difference_vs_floor": agree,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="sizes 64 and 128, fewer steps")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    parser.add_argument("--trials", type=int, default=4, help="batch of trajectories")
    parser.add_argument("--repeats", type=int, default=3, help="best-of repeats")
    parser.add_argument("--out", default="reports/benchmarks/lyapunov.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    _CLOCK[0] = time.process_time if args.threads == 1 else time.perf_counter
    sizes = (64, 128) if args.quick else (64, 128, 256, 512)
    rows = []
    header = (
        f"{'N':>4} {'k':>4} {'dynan ms':>9} {'floor ms':>9} {'autograd ms':>11} "
        f"{'dynan/floor':>11} {'autograd/dynan':>14}"
    )
    print(header)
    for n in sizes:
        for k in (16, n):
            # the matmul; steps scale so each run is ~equal work, and at least 16 so that the
            # set-up (one QR of the random starting basis) is amortised as in a real run
            work = n * n * k
            steps = max(16, min(400, int(2e8 / work))) // (4 if args.quick else 1)
            ref_steps = max(1, min(steps, int(5e6 / (n * n * max(k, 64)))))
            row = measure(
                n, k, trials=args.trials, steps=steps, ref_steps=ref_steps, repeats=args.repeats
            )
            rows.append(row)
            print(
                f"{n:>4} {k:>4} {row['dynan_ms_per_step']:>9.3f} {row['floor_ms_per_step']:>9.3f}"
                f" {row['autograd_ms_per_step']:>11.2f} {row['dynan_over_floor']:>11.2f}"
                f" {row['autograd_over_dynan']:>14.1f}"
            )
    meta = {
        "benchmark": "lyapunov",
        "system": f"random_rnn(n, g={GAIN}) h' = tanh(W h)",
        "targets": {"dynan_over_floor_max": 1.3, "autograd_over_dynan_min": 10},
        "clock": "process CPU time" if args.threads == 1 else "wall time",
        "quick": args.quick,
    }
    worst = max(r["dynan_over_floor"] for r in rows)
    slowest_ref = min(r["autograd_over_dynan"] for r in rows)
    print(
        f"worst dynan/floor = {worst:.2f} (target ≤ 1.3); "
        f"smallest autograd/dynan = {slowest_ref:.1f} (target ≥ 10)"
    )
    save(args.out, meta=meta, rows=rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
