"""`dynan report`: one HTML page per checkpoint, a comparison page and an index.

Exit status: 0 when every section was computed (or does not apply to its network); 1 when at
least one section failed — the pages are still written, each failed section shows its one-line
error, and the failures are listed on stderr; 2 for bad input (an unreadable checkpoint, an
unknown section or preset), in which case nothing is written.
"""

from __future__ import annotations

import argparse
import sys

from dynan.cli._device import add_device_arguments, resolve_device

HELP = "write an HTML report (one page per checkpoint, comparison, index) into --out"


def _keys(text: str) -> list[str]:
    return [k.strip() for k in text.split(",") if k.strip()]


def add_common(parser: argparse.ArgumentParser, *, registry: str) -> None:
    """Options shared by `dynan report` and `dynan compare` (``registry`` names the sections)."""
    parser.add_argument("checkpoints", nargs="+", metavar="CKPT", help=".safetensors files")
    parser.add_argument(
        "--sections",
        type=_keys,
        default=None,
        metavar="A,B",
        help=f"comma-separated sections (default all; keys of {registry})",
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="output directory")
    parser.add_argument(
        "--preset", default="fast", help="analysis settings: fast (default) or full"
    )
    parser.add_argument(
        "--no-cache", action="store_true", help="recompute analyses cached in DIR/.cache"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_device_arguments(parser, dtype=False)  # reports are float64 on any device


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common(parser, registry="dynan.report.sections.SECTIONS")
    parser.add_argument("--no-compare", action="store_true", help="skip the comparison page")
    parser.add_argument("--title", default="dynan report", help="title of the index page")
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="checkpoint pages built at once by N local Dask worker processes (default 1: in "
        "this process; 0: one per core)",
    )
    where.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="build the pages on a running Dask cluster, e.g. tcp://10.0.0.5:8786 (as "
        "dynan sweep; workers must see the same paths)",
    )


def finish(summary, *, command: str, entry: str) -> int:
    """Print where the job wrote, list failed sections on stderr, return the exit status."""
    print(
        f"wrote {len(summary.pages)} page(s) to {summary.out}/ (open {summary.out}/{entry}); "
        f"analyses computed {summary.cache_misses}, cached {summary.cache_hits}; "
        f"{summary.seconds:.1f} s"
    )
    for page, section, message in summary.failures:
        print(f"dynan {command}: {page} / {section} failed: {message}", file=sys.stderr)
    return 0 if summary.ok else 1


def run(args: argparse.Namespace) -> int:
    from dynan.report import report

    summary = report(
        args.checkpoints,
        out=args.out,
        sections=args.sections,
        compare=not args.no_compare,
        preset=args.preset,
        cache=not args.no_cache,
        jobs=args.jobs,
        progress=not args.quiet,
        title=args.title,
        device=resolve_device(args.device),
        scheduler=args.scheduler,
    )
    return finish(summary, command="report", entry="index.html")
