"""Train every missing checkpoint of a zoo grid (a JSON manifest), one `dynan train` at a time.

Usage: ``python models/zoo/train_grid.py models/zoo/psmnist/grid.json [--dry-run]``
(``make zoo-psmnist``). Safe to rerun at any time: it looks at each entry's checkpoint and

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
with the defaults overridden by the entry's options; the order of ``runs`` is the order of
training. Every entry is independent, so another engine (e.g. a Dask cluster) can map
``command(entry)`` over the entries that ``pending`` returns.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
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


def command(grid: dict, entry: dict, dynan: str = "dynan") -> list[str] | None:
    """The `dynan train` command that brings ``entry`` to its end, or None when it is done."""
    path = checkpoint_path(grid, entry)
    state, trained = status(path)
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


def pending(grid: dict, dynan: str = "dynan") -> list[tuple[dict, list[str]]]:
    """(entry, command) for every entry not finished yet, in the grid's order."""
    return [(e, c) for e in grid["runs"] if (c := command(grid, e, dynan)) is not None]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("grid", help="grid manifest (JSON)")
    parser.add_argument("--dynan", default=str(ROOT / ".venv" / "bin" / "dynan"))
    parser.add_argument("--dry-run", action="store_true", help="print the commands only")
    args = parser.parse_args(argv)
    grid = load_grid(args.grid)
    logs = ROOT / grid.get("log_dir", "runs/zoo")
    logs.mkdir(parents=True, exist_ok=True)
    todo = pending(grid, args.dynan)
    if not todo:
        print(f"{args.grid}: every checkpoint is finished")
    for entry, cmd in todo:
        name = grid["name"].format(**entry)
        line = shlex.join(cmd)
        if args.dry_run:
            print(line)
            continue
        with open(logs / "progress.log", "a") as log:
            log.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} start {name}: {line}\n")
        started = time.monotonic()
        with open(logs / f"{name}.log", "a") as out:
            rc = subprocess.call(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        with open(logs / "progress.log", "a") as log:
            log.write(
                f"{time.strftime('%Y-%m-%d %H:%M:%S')} end {name}: exit {rc}, "
                f"{time.monotonic() - started:.0f} s\n"
            )
        if rc != 0:
            print(
                f"{name}: dynan train exited {rc}; see {logs / (name + '.log')}", file=sys.stderr
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
