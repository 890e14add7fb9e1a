"""Linear CKA at scale: time, peak memory and error against a float64 reference, by method.

For n in {1 000, 10 000, 50 000} examples of d = 400 float32 features (two related
representations with positive means, like network states) it runs

- ``dynan``: ``dynan.cka`` (feature space: float64 sums over blocks of 2 048 rows centred by
  the exact column means, so its memory beyond the inputs does not grow with n), biased and
  debiased;
- ``dynan-stream``: ``StreamingCKA`` over batches of 4 096 rows (memory independent of n);
- ``naive-gram``: Kornblith et al.'s recipe in numpy float64 — n × n Grams, centred, Frobenius
  inner products;
- ``ckatorch``: ``ckatorch.cka_base`` (PyPI ``ckatorch``; float64 n × n Grams of uncentred
  features, centred after);
- ``torch-cka``: ``torch_cka.CKA(...).compare`` (PyPI ``torch-cka``) on identity "models" with
  one batch of all n rows: float32 Grams and unbiased HSIC₁ with a full n × n product per HSIC;

each in a fresh process: time (best of up to 3 runs when a run is under a second), peak
resident memory during the call above what the process held before it (the Linux high-water
mark, reset just before the call), and |value − reference| with the reference computed here in
float64 from the same float32 inputs (centred features, verified against long-double Gram
formulas at n = 1 000). The two PyPI packages are optional: a missing one is reported as "not
installed". A run predicted (from its memory formula or from the scaling of its time at a
smaller n) to exceed the available memory or ``--budget`` seconds is skipped with the reason.
Prints a table with times relative to ``dynan``, the peak memory of the dynan paths at each n
(the claim: flat in n), and writes ``reports/benchmarks/cka.json``.

Run: ``python -m analyses.benchmarks.cka [--sizes 1000 10000 50000] [--threads 1]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing
import os
import time
from collections.abc import Callable

import numpy as np

from analyses.benchmarks._output import save
from dynan.similarity.cka import CHUNK_ROWS

D = 400
CHUNK = 8192
STREAM_BATCH = 4096


def make_data(n: int, d: int = D, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two related float32 representations (n, d) with positive means, made in row chunks."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((32, d), dtype=np.float32) / np.float32(np.sqrt(32))
    b = rng.standard_normal((32, d), dtype=np.float32) / np.float32(np.sqrt(32))
    x, y = np.empty((n, d), np.float32), np.empty((n, d), np.float32)
    for start in range(0, n, CHUNK):
        rows = min(CHUNK, n - start)
        z = np.random.default_rng([seed, start]).standard_normal((rows, 32), dtype=np.float32)
        noise = np.random.default_rng([seed, start, 1]).standard_normal((rows, d), np.float32)
        x[start : start + rows] = np.maximum(z @ a + 0.5 * noise[:, ::-1], 0) + 2.0
        y[start : start + rows] = np.tanh(z @ b + noise) + 1.0
    return x, y


def reference(x: np.ndarray, y: np.ndarray, dtype: type = np.float64) -> dict[str, float]:
    """Biased and debiased linear CKA from centred features in ``dtype`` (HSIC₁ through the
    identities tr(K̃L̃) = ‖XᵀY‖² − dₓᵀd_y, 1ᵀK̃1 = −Σd, 1ᵀK̃L̃1 = dₓᵀd_y, d the squared row norms;
    Song et al. 2012, Eq. 5, with K = X Xᵀ of centred X)."""
    n = x.shape[0]
    xc = x.astype(dtype) - x.astype(dtype).mean(0)
    yc = y.astype(dtype) - y.astype(dtype).mean(0)
    dx, dy = (xc**2).sum(1), (yc**2).sum(1)

    def h(a, b, da, db):
        cross2 = ((a.T @ b) ** 2).sum()
        dd = da @ db
        unbiased = cross2 - dd + da.sum() * db.sum() / ((n - 1) * (n - 2)) - 2 * dd / (n - 2)
        return cross2, unbiased

    xy, xx, yy = h(xc, yc, dx, dy), h(xc, xc, dx, dx), h(yc, yc, dy, dy)
    return {
        "biased": float(xy[0] / np.sqrt(xx[0] * yy[0])),
        "debiased": float(xy[1] / np.sqrt(xx[1] * yy[1])),
    }


def reference_check(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """How good the float64 reference is: its largest gap to the same centred-feature formulas
    in long double (rounding), and to the textbook Gram formulas HKH and Song et al.'s HSIC₁ on
    uncentred Grams in long double (an independent formula; limited by its own cancellation)."""
    n = x.shape[0]
    ref = reference(x, y)
    features = reference(x, y, np.longdouble)
    xl, yl = x.astype(np.longdouble), y.astype(np.longdouble)
    k, l = xl @ xl.T, yl @ yl.T  # noqa: E741 (the paper's L)

    def centred(m):
        return m - m.mean(0) - m.mean(1)[:, None] + m.mean()

    def hsic1(a, b):
        a, b = a.copy(), b.copy()
        np.fill_diagonal(a, 0)
        np.fill_diagonal(b, 0)
        one = np.ones(n, dtype=np.longdouble)
        return (
            (a * b).sum()
            + a.sum() * b.sum() / ((n - 1) * (n - 2))
            - 2 / (n - 2) * (one @ a @ (b @ one))
        ) / (n * (n - 3))

    kc, lc = centred(k), centred(l)
    gram = {
        "biased": float((kc * lc).sum() / np.sqrt((kc * kc).sum() * (lc * lc).sum())),
        "debiased": float(hsic1(k, l) / np.sqrt(hsic1(k, k) * hsic1(l, l))),
    }
    return {
        "longdouble_features": max(abs(features[e] - ref[e]) for e in ref),
        "longdouble_gram": max(abs(gram[e] - ref[e]) for e in ref),
    }


# --- the methods: (estimator, bytes needed as a function of n, time exponent in n, call) ---


def _dynan(x, y):
    from dynan.similarity import cka

    return cka(x, y)


def _dynan_debiased(x, y):
    from dynan.similarity import cka

    return cka(x, y, debiased=True)


def _dynan_stream(x, y):
    from dynan.similarity import StreamingCKA

    acc = StreamingCKA()
    for start in range(0, x.shape[0], STREAM_BATCH):
        acc.update(x[start : start + STREAM_BATCH], y[start : start + STREAM_BATCH])
    return acc.result()


def _naive_gram(x, y):
    x64, y64 = x.astype(np.float64), y.astype(np.float64)

    def centred_gram(z):
        g = z @ z.T
        means = g.mean(0)
        g -= means[:, None]
        g -= means[None, :]
        g += means.mean()
        return g

    kc = centred_gram(x64)
    lc = centred_gram(y64)
    return float(np.vdot(kc, lc) / (np.linalg.norm(kc) * np.linalg.norm(lc)))


def _ckatorch(x, y):
    import ckatorch
    import torch

    return float(ckatorch.cka_base(torch.from_numpy(x), torch.from_numpy(y)))


def _torch_cka(x, y):
    import torch
    from torch.utils.data import DataLoader, TensorDataset
    from torch_cka import CKA

    n = x.shape[0]
    first = DataLoader(TensorDataset(torch.from_numpy(x)), batch_size=n)
    second = DataLoader(TensorDataset(torch.from_numpy(y)), batch_size=n)
    model = CKA(
        torch.nn.Identity(), torch.nn.Identity(), model1_name="X", model2_name="Y",
        model1_layers=[""], model2_layers=[""], device="cpu",
    )  # fmt: skip
    model.compare(first, second)
    return float(model.hsic_matrix[0, 0])


METHODS: dict[str, tuple[str, Callable[[int], float], int, Callable, str | None]] = {
    # name: (estimator, peak bytes(n), time exponent, function, PyPI package or None)
    "dynan": ("biased", lambda n: 6 * min(n, CHUNK_ROWS) * D * 8, 1, _dynan, None),
    "dynan-debiased": (
        "debiased",
        lambda n: 6 * min(n, CHUNK_ROWS) * D * 8,
        1,
        _dynan_debiased,
        None,
    ),
    "dynan-stream": ("biased", lambda n: 4 * STREAM_BATCH * D * 8, 1, _dynan_stream, None),
    "naive-gram": ("biased", lambda n: 4 * n * n * 8, 2, _naive_gram, None),
    "ckatorch": ("biased", lambda n: 6 * n * n * 8, 2, _ckatorch, "ckatorch"),
    "torch-cka": ("debiased", lambda n: 4 * n * n * 4, 3, _torch_cka, "torch_cka"),
}


def _rss() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak() -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _reset_peak() -> None:
    """Reset the high-water mark to the current RSS (Linux ≥ 4.0: clear_refs value 5)."""
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def _measure(method: str, n: int, threads: int, queue) -> None:
    """In a fresh process: make the data, import, then time one call and its peak memory."""
    import gc

    import torch

    torch.set_num_threads(threads)
    x, y = make_data(n)
    function = METHODS[method][3]
    function(x[:64], y[:64])  # imports and first-call set-up outside the measurement
    times, peak = [], 0
    while len(times) < 3 and sum(times) < 1.0:
        gc.collect()
        before = _rss()
        _reset_peak()
        start = time.perf_counter()
        value = function(x, y)
        times.append(time.perf_counter() - start)
        peak = max(peak, _peak() - before)
    queue.put({"seconds": min(times), "peak_bytes": peak, "value": float(value)})


def run_one(method: str, n: int, threads: int) -> dict:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_measure, args=(method, n, threads, queue))
    process.start()
    process.join()
    if process.exitcode != 0:
        return {"status": f"failed (exit code {process.exitcode})"}
    return {"status": "ok", **queue.get()}


def _available_bytes() -> int:
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 50000])
    parser.add_argument("--threads", type=int, default=1, help="BLAS/torch threads (default 1)")
    parser.add_argument(
        "--budget", type=float, default=240.0, help="skip runs predicted to take longer (s)"
    )
    parser.add_argument("--out", default="reports/benchmarks/cka.json")
    args = parser.parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    available = _available_bytes()
    rows, last = [], {}
    check = reference_check(*make_data(1000))
    print(
        f"float64 reference at n = 1000 vs long double: {check['longdouble_features']:.1e} "
        f"(same formulas), {check['longdouble_gram']:.1e} (Gram formulas)"
    )
    for n in sorted(args.sizes):
        x, y = make_data(n)
        ref = reference(x, y)
        del x, y
        base = None
        for method, (estimator, need, power, _, package) in METHODS.items():
            row = {"n": n, "d": D, "method": method, "estimator": estimator}
            if package and importlib.util.find_spec(package) is None:
                row["status"] = "not installed"
            elif need(n) > 0.6 * available:
                row["status"] = (
                    f"skipped: needs ~{need(n) / 2**30:.0f} GiB for its n × n matrices, "
                    f"{available / 2**30:.0f} GiB available"
                )
            elif method in last and last[method][1] * (n / last[method][0]) ** power > args.budget:
                predicted = last[method][1] * (n / last[method][0]) ** power
                row["status"] = (
                    f"skipped: predicted {predicted:.0f} s (time ∝ n^{power}) > "
                    f"budget {args.budget:g} s"
                )
            else:
                row.update(run_one(method, n, args.threads))
            if row["status"] == "ok":
                last[method] = (n, row["seconds"])
                row["error"] = abs(row.pop("value") - ref[estimator])
                base = row["seconds"] if method == "dynan" else base
                row["time_vs_dynan"] = row["seconds"] / base if base else None
                print(
                    f"n={n:>6} {method:>15} {estimator:>8} {row['seconds']:9.3f} s "
                    f"{row['time_vs_dynan']:8.1f}x dynan {row['peak_bytes'] / 2**20:9.1f} MiB "
                    f" error {row['error']:.1e}"
                )
            else:
                print(f"n={n:>6} {method:>15} {estimator:>8}  {row['status']}")
            rows.append(row)
    peers = [r for r in rows if r["method"] in ("ckatorch", "torch-cka") and "seconds" in r]
    summary = {}
    for n in sorted(args.sizes):
        ours = next((r for r in rows if r["n"] == n and r["method"] == "dynan"), {})
        fastest = min((r for r in peers if r["n"] == n), key=lambda r: r["seconds"], default=None)
        if ours.get("seconds") and fastest:
            summary[str(n)] = {
                "fastest_peer": fastest["method"],
                "speedup_vs_fastest_peer": fastest["seconds"] / ours["seconds"],
            }
            print(
                f"n={n}: dynan is {fastest['seconds'] / ours['seconds']:.1f}x faster than the "
                f"fastest peer ({fastest['method']})"
            )
    memory = {}
    for method in ("dynan", "dynan-debiased", "dynan-stream"):
        peaks = {
            str(r["n"]): r["peak_bytes"]
            for r in rows
            if r["method"] == method and "peak_bytes" in r
        }
        if peaks:
            memory[method] = peaks
            shown = ", ".join(f"n={n}: {b / 2**20:.1f} MiB" for n, b in peaks.items())
            print(f"{method} peak memory above the inputs: {shown}")
    summary["peak_bytes"] = memory

    meta = {
        "threads": args.threads,
        "d": D,
        "stream_batch": STREAM_BATCH,
        "chunk_rows": CHUNK_ROWS,
        "available_bytes": available,
        "reference_check_n1000": check,
        "budget_s": args.budget,
    }
    save(args.out, meta=meta, rows=rows, summary=summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
