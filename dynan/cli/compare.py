"""`dynan compare`: one HTML page across checkpoints (exit status as for `dynan report`)."""

from __future__ import annotations

import argparse

from dynan.cli._device import resolve_device
from dynan.cli.report import add_common, finish

HELP = "write one HTML page comparing checkpoints into --out (compare.html)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common(parser, registry="dynan.report.compare.COMPARE_SECTIONS")


def run(args: argparse.Namespace) -> int:
    from dynan.report import compare

    summary = compare(
        args.checkpoints,
        out=args.out,
        sections=args.sections,
        preset=args.preset,
        cache=not args.no_cache,
        progress=not args.quiet,
        device=resolve_device(args.device),
    )
    return finish(summary, command="compare", entry="compare.html")
