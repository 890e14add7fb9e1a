"""The ``dynan`` command line: one module per subcommand in this package.

Each subcommand module defines ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int | None``. ``main`` turns bad input (``DynanError``, ``ValueError``,
``FileNotFoundError``) into a one-line reason and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Sequence

from dynan.errors import DynanError

__all__ = ["main"]

#: subcommand → module in this package; only those whose module exists are offered.
COMMANDS = {
    "train": "train",
    "evaluate": "evaluate",
    "import": "import_",
    "lyapunov": "lyapunov",
    "fixed-points": "fixed_points",
    "fractional": "fractional",
    "cka": "cka",
    "report": "report",
    "compare": "compare",
    "sweep": "sweep",
}


def _available() -> dict[str, str]:
    return {
        name: module
        for name, module in COMMANDS.items()
        if importlib.util.find_spec(f"{__name__}.{module}") is not None
    }


def build_parser() -> argparse.ArgumentParser:
    from dynan_models import __version__

    parser = argparse.ArgumentParser(
        prog="dynan",
        description="Dynamical-systems analysis of trained recurrent networks.",
    )
    parser.add_argument("--version", action="version", version=f"dynan {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in _available().items():
        module = importlib.import_module(f"{__name__}.{module_name}")
        cmd = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        code = args._run(args)
    except (DynanError, ValueError, FileNotFoundError) as err:
        print(f"dynan {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"dynan {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(code or 0)
