"""Train every missing checkpoint of a zoo grid (a JSON manifest) on the sweep engine (Dask).

Usage: ``python models/zoo/train_grid.py models/zoo/psmnist/grid.json [--workers N |
--scheduler ADDRESS] [--retrain] [--dry-run]`` (``make zoo-psmnist``; ``make zoo`` trains
models/zoo/grid.json with --retrain). Each `dynan train` is one task of the sweep engine
(``python -m dynan.sweep.grid``, given the list in <log_dir>/commands.json): ``--workers N``
runs N at once on this machine (default 1), ``--scheduler`` on a running Dask cluster whose
workers see this repository at the same path. Safe to rerun at any time: it looks at each
entry's checkpoint and

- skips it when finished (the checkpoint holds the test metrics under every perturbation,
  ``metrics["accuracy"]``, and was not interrupted);
- continues it with ``dynan train --resume`` for the epochs still missing when a checkpoint
  exists but is unfinished (killed, Ctrl-C): training restarts from the best epoch so far, with
  a fresh Adam state at the grid's learning rate;
- trains it from scratch otherwise.

The manifest (see models/zoo/psmnist/grid.json) is plain data:

    {"out_dir": "models/zoo/psmnist",            checkpoints go here
     "name": "{architecture}-psmnist196-s{seed}",  file stem, formatted with each entry
     "log_dir": "runs/psmnist",                    one log per run, plus progress.log
     "defaults": {"task": "mnist", "epochs": 15, ...},   `dynan train` flags without "--"
     "runs": [{"architecture": "arun", "seed": 0, "options": {"controller-size": 16}}, ...]}

Each run is ``dynan train <architecture> --<flag> <value> ... --seed <seed> --out <file>``
with the defaults overridden by the entry's options; ``runs`` are started in their order.
An entry may carry more fields for the name (models/zoo/grid.json: ``tag``). This script is a
tool of the repository, not part of the installed networks: it drives the ``dynan`` CLI and
the sweep engine of the ``dynan`` package.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load_grid(path: str | Path) -> dict:
    """Read and check a grid manifest; a clear error names the file and the missing key."""
    grid = json.loads(Path(path).read_text())
    for key in ("out_dir", "name", "defaults", "runs"):
        if key not in grid:
            raise ValueError(f"{path}: grid manifest has no {key!r}")
    for i, entry in enumerate(grid["runs"]):
        if "architecture" not in entry or "seed" not in entry:
            raise ValueError(f"{path}: runs[{i}] needs 'architecture' and 'seed'")
    return grid


def checkpoint_path(grid: dict, entry: dict) -> Path:
    return ROOT / grid["out_dir"] / (grid["name"].format(**entry) + ".safetensors")


def status(path: Path) -> tuple[str, int]:
    """("done" | "partial" | "missing", epochs trained) from the checkpoint's header."""
    if not path.is_file():
        return "missing", 0
    from safetensors import safe_open

    with safe_open(str(path), "pt") as fh:
        config = json.loads(fh.metadata()["dynan"])
    training, metrics = config.get("training", {}), config.get("metrics", {})
    trained = int(training.get("epochs_trained", 0))
    if "accuracy" in metrics and not training.get("interrupted", False):
        return "done", trained
    return "partial", trained


def command(
    grid: dict, entry: dict, dynan: str = "dynan", *, retrain: bool = False
) -> list[str] | None:
    """The `dynan train` command that brings ``entry`` to its end, or None when it is done
    (``retrain``: the command that trains it from scratch, whatever exists)."""
    path = checkpoint_path(grid, entry)
    state, trained = ("missing", 0) if retrain else status(path)
    if state == "done":
        return None
    options = {**grid["defaults"], **entry.get("options", {})}
    epochs = int(options.pop("epochs"))
    argv = [dynan, "train", entry["architecture"]]
    for flag, value in options.items():
        argv += [f"--{flag}"] if value is True else [f"--{flag}", str(value)]
    argv += ["--seed", str(entry["seed"]), "--out", str(path.relative_to(ROOT))]
    if state == "partial":
        argv += ["--resume", str(path.relative_to(ROOT))]
    return [*argv, "--epochs", str(max(epochs - trained, 1) if state == "partial" else epochs)]


def pending(
    grid: dict, dynan: str = "dynan", *, retrain: bool = False
) -> list[tuple[dict, list[str]]]:
    """(entry, command) for every entry not finished yet (all with ``retrain``), in order."""
    return [
        (e, c) for e in grid["runs"] if (c := command(grid, e, dynan, retrain=retrain)) is not None
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("grid", help="grid manifest (JSON)")
    parser.add_argument("--dynan", default=str(ROOT / ".venv" / "bin" / "dynan"))
    parser.add_argument("--dry-run", action="store_true", help="print the commands only")
    parser.add_argument(
        "--retrain", action="store_true", help="train every entry from scratch (make zoo)"
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--workers", type=int, default=1, help="runs at once on this machine (default 1)"
    )
    where.add_argument("--scheduler", default=None, help="a running Dask scheduler's address")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    grid = load_grid(args.grid)
    logs = ROOT / grid.get("log_dir", "runs/zoo")
    logs.mkdir(parents=True, exist_ok=True)
    todo = pending(grid, args.dynan, retrain=args.retrain)
    if not todo:
        print(f"{args.grid}: every checkpoint is finished")
        return 0
    if args.dry_run:
        for _, cmd in todo:
            print(shlex.join(cmd))
        return 0
    commands = [
        {
            "name": name,
            "argv": cmd,
            "cwd": str(ROOT),
            "log": str(logs / f"{name}.log"),
            "progress_log": str(logs / "progress.log"),
        }
        for entry, cmd in todo
        if (name := grid["name"].format(**entry))
    ]
    listing = logs / "commands.json"
    listing.write_text(json.dumps(commands, indent=1))
    # the sweep engine of the dynan package, through its command line (this folder is the
    # networks' package and imports nothing from dynan)
    engine = [sys.executable, "-m", "dynan.sweep.grid", str(listing)]
    if args.scheduler:
        engine += ["--scheduler", args.scheduler]
    else:
        engine += ["--workers", str(args.workers)]
    rc = subprocess.call([*engine, *(["--quiet"] if args.quiet else [])], cwd=ROOT)
    return 1 if rc else 0


if __name__ == "__main__":
    raise SystemExit(main())
