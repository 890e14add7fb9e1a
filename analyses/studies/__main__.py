"""``python -m analyses.studies``: run every study, write reports/studies/ (``make studies``)."""

from __future__ import annotations

import os

# One BLAS thread before NumPy loads: on a shared 2-core machine OpenBLAS's own thread pool
# made the small SVDs of the CKA study ~8x slower.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import importlib  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from analyses.studies.checkpoints import StudyCache, discover  # noqa: E402
from analyses.studies.page import write  # noqa: E402
from analyses.studies.registry import STUDIES, Claim, Context  # noqa: E402


def describe_settings(settings: dict) -> list[str]:
    """One line per setting: networks by variant (what the verdicts rest on)."""
    lines = []
    for name, nets in settings.items():
        counts: dict[str, int] = {}
        for n in nets:
            counts[n.architecture] = counts.get(n.architecture, 0) + 1
        where = "models/zoo/psmnist/" if name == "psmnist" else "models/zoo/*-digits-*"
        tasks = sorted({n.task for n in nets})
        sizes = sorted({n.hidden_size for n in nets})
        what = ", ".join(f"{a} × {k}" for a, k in sorted(counts.items())) or "no checkpoints"
        lines.append(
            f"{name} ({where}; task {', '.join(tasks) or '–'}; hidden "
            f"{', '.join(map(str, sizes)) or '–'}): {what}"
        )
    return lines


def run_all(context: Context, studies: tuple[str, ...] = STUDIES) -> list[Claim]:
    """Every study's claims, in page order (a study that fails stops the run: no silent gaps)."""
    claims: list[Claim] = []
    for module in studies:
        start = time.perf_counter()
        claims.extend(importlib.import_module(module).run(context))
        print(f"{module}: {time.perf_counter() - start:.1f} s", file=sys.stderr)
    tier = describe_settings({"psmnist": context.settings.get("psmnist", [])})[0]
    for c in claims:
        if c.id.startswith("G"):
            c.evidence["psmnist_tier"] = (
                f"{tier} — Geadah's verdicts use it where every compared variant has ≥ 3 "
                "finished networks there, else the digits zoo"
            )
    order = {cid: i for i, cid in enumerate(("G1 G2 G3 G4 G5 G6 G7 D1 D2 D3 D4").split())}
    return sorted(claims, key=lambda c: order[c.id])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analyses.studies", description=__doc__)
    parser.add_argument("--zoo", default="models/zoo", help="zoo folder (default models/zoo)")
    parser.add_argument("--out", default="reports/studies", help="output folder")
    parser.add_argument("--no-cache", action="store_true", help="recompute everything")
    parser.add_argument("--no-sweep", action="store_true", help="no Dask sweep: all in-process")
    parser.add_argument("--quick", action="store_true", help="small protocols (smoke test)")
    parser.add_argument("--only", nargs="*", default=None, help="study modules to run")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    start = time.perf_counter()
    settings = discover(args.zoo)
    cache = StudyCache(args.out, enabled=not args.no_cache)
    sweep = None if args.no_sweep else str(Path(args.out) / ".cache" / "sweep")
    context = Context(settings, cache, quick=args.quick, sweep=sweep)
    studies = STUDIES if not args.only else tuple(f"analyses.studies.{m}" for m in args.only)
    claims = run_all(context, studies)
    written = write(claims, Path(args.out), settings=describe_settings(settings))
    for c in claims:
        print(f"{c.id:3s} {c.verdict:30s} {c.evidence.get('headline', '')}")
    print(
        f"wrote {written['html']} and {written['claims']} in {time.perf_counter() - start:.0f} s "
        f"(cache: {cache.hits} hits, {cache.misses} computed)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
