"""`dynan cka`: CKA across checkpoints with reliability verdicts, a similarity graph, figures.

With ``--manipulate TARGET`` it runs the CKA-map manipulation experiment of Davari et al. on
the first checkpoint instead (against the second, if given).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from dynan.cli._device import add_device_arguments, resolve_device, resolve_dtype

if TYPE_CHECKING:
    from dynan.similarity import CKAComparison

HELP = "CKA matrix across checkpoints with reliability verdicts, similarity graph and heatmaps"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoints", nargs="+", metavar="CKPT", help="checkpoint files")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument(
        "--steps",
        default="final",
        help="time steps of the hidden state: 'final', 'all', a count K (K evenly spaced steps "
        "ending at the last) or indices '10,31,-1' (default: final; 4 steps for --manipulate)",
    )
    parser.add_argument(
        "--examples", type=int, default=None, help="test inputs used (default: all of them)"
    )
    parser.add_argument(
        "--reliability",
        choices=("none", "quick", "fast", "thorough"),
        default="fast",
        help="cost of the per-pair reliability diagnostics (default: fast)",
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=0.5,
        help="smallest CKA joining two checkpoints in the similarity graph (default: 0.5)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the diagnostics")
    parser.add_argument(
        "--manipulate",
        choices=("zeros", "ones", "flip"),
        default=None,
        metavar="TARGET",
        help="instead: fine-tune the first checkpoint so its time × time CKA map against the "
        "second (or its original self) moves to TARGET (zeros, ones, flip) while keeping its "
        "outputs (Davari et al.)",
    )
    parser.add_argument(
        "--iterations", type=int, default=200, help="manipulation: Adam steps (default: 200)"
    )
    parser.add_argument(
        "--lam",
        type=float,
        default=1.0,
        help="manipulation: weight λ of the map loss (default: 1)",
    )
    add_device_arguments(parser)
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def parse_steps(text: str) -> str | int | list[int] | None:
    """'final' | 'all' (None) | 'K' (a count) | 'i,j,k' (indices); ValueError otherwise."""
    text = text.strip()
    if text in ("final", "all"):
        return "final" if text == "final" else None
    try:
        if "," in text:
            return [int(part) for part in text.split(",") if part.strip()]
        return int(text)
    except ValueError:
        raise ValueError(
            f"--steps must be 'final', 'all', a count or comma-separated indices; got {text!r}"
        ) from None


def _manipulate(args: argparse.Namespace, out: Path) -> int:
    from dynan.report.cka_figures import plot_manipulation
    from dynan.report.style import save_figure
    from dynan.similarity import manipulate_checkpoint

    if len(args.checkpoints) > 2:
        raise ValueError(
            f"--manipulate takes one checkpoint and at most one reference, got "
            f"{len(args.checkpoints)} checkpoints"
        )
    steps = parse_steps(args.steps)
    result = manipulate_checkpoint(
        args.checkpoints[0],
        reference=args.checkpoints[1] if len(args.checkpoints) == 2 else None,
        target=args.manipulate,
        steps=4 if steps == "final" else steps,
        lam=args.lam,
        iterations=args.iterations,
        seed=args.seed,
        progress=not args.no_progress,
        device=resolve_device(args.device),
    )
    prefix = f"{Path(args.checkpoints[0]).stem}-manipulation-{args.manipulate}"
    result.to_json(out / f"{prefix}.json")
    figure = save_figure(plot_manipulation(result)[0].figure, out / f"{prefix}.png")
    print(f"wrote {out / f'{prefix}.json'}\nwrote {figure}")
    print(
        f"{result.name} vs {result.reference}: mean |M − target| {result.distance_before:.3f} → "
        f"{result.distance_after:.3f}; accuracy {result.accuracy_before:.3f} → "
        f"{result.accuracy_after:.3f}; predictions kept {result.agreement:.1%}"
    )
    return 0


def run(args: argparse.Namespace) -> int:
    import networkx as nx

    from dynan.report.cka_figures import save_comparison_figures
    from dynan.similarity import compare_checkpoints, similarity_graph

    if args.examples is not None and args.examples < 4:
        raise ValueError(f"--examples must be >= 4, got {args.examples}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.manipulate:
        return _manipulate(args, out)
    if len(args.checkpoints) < 2:
        raise ValueError(
            f"need at least two checkpoints to compare, got one ({args.checkpoints[0]}); "
            "add --manipulate TARGET to fine-tune a single checkpoint"
        )
    result = compare_checkpoints(
        args.checkpoints,
        steps=parse_steps(args.steps),
        examples=args.examples,
        preset=args.reliability,
        threshold=args.threshold,
        seed=args.seed,
        progress=not args.no_progress,
        device=resolve_device(args.device),
        dtype=resolve_dtype(args.dtype),
    )
    written = [out / "cka.json", out / "cka-graph.json"]
    result.to_json(written[0], indent=1)
    graph = nx.node_link_data(similarity_graph(result), edges="edges")
    written[1].write_text(json.dumps(graph, indent=1))
    written += list(save_comparison_figures(result, out).values())
    for path in written:
        print(f"wrote {path}")
    _print_summary(result)
    if not result.task:  # checkpoints imported without --task
        from dynan.importers.inputs import STAND_IN_NOTE

        print(STAND_IN_NOTE)
    return 0


def _print_summary(result: CKAComparison) -> None:
    label = result.labels[-1]
    block, block_d = result.block(), result.block(debiased=True)
    width = max(len(n) for n in result.names)
    print(f"\nlinear CKA at {label} (n = {result.n}; debiased in the lower triangle)")
    print(" " * (width + 1) + " ".join(f"{i:>6d}" for i in range(len(result.names))))
    for i, name in enumerate(result.names):
        row = [block[i, j] if j >= i else block_d[i, j] for j in range(len(result.names))]
        print(f"{name:>{width}} " + " ".join(f"{v:6.3f}" for v in row) + f"  [{i}]")
    for (i, j, s), verdict in zip(result.pairs, result.verdicts, strict=True):
        if result.labels[s] != label:
            continue
        why = f": {'; '.join(verdict.reasons)}" if verdict.reasons else ""
        print(f"{result.names[i]} vs {result.names[j]}: {verdict.verdict}{why}")
    print("clusters: " + " | ".join(", ".join(c) for c in result.clusters))
