"""Write models/zoo/README.md, the model card, from the checkpoints' own configs.

Run: ``python -m analyses.zoo_card`` (after ``make zoo`` or ``make zoo-psmnist``). Every number
in the tables is read from a checkpoint's stored metrics; the tests re-evaluate each checkpoint
against them. Two tiers: the small networks of models/zoo/ and the psMNIST tier of
models/zoo/psmnist/ (its own table, and a per-variant summary over seeds).
"""

from __future__ import annotations

import argparse
import functools
import statistics
from pathlib import Path

import dynan
from dynan_models import ARCHITECTURES

#: each checkpoint read once: the tier filter, its summary and its row all need it
_load = functools.cache(dynan.load)

HEADER = """# The dynan model zoo

Small networks trained by `dynan train` (the exact command is in each row and in each
checkpoint's config, `training.command`); `make zoo` retrains all of them (the runs of
`models/zoo/grid.json` on two Dask workers of one torch thread, `models/zoo/train.sh`). Task
`digits`: scikit-learn's 8×8 digits fed one pixel per step (64 steps) in a fixed permuted
order (task seed 0), split
1197/300/300; chance is 10 %. Task `flipflop3`: the 3-bit flip-flop, 100 steps, accuracy is
sign agreement on steps with a defined target.

Accuracy is on the test split: clean, with the input modulated by 1 + 0.5 sin(2π t/T) (positive
pixels), with a step drive ξ = 1 and with a noise drive N(0, 1) added to every pre-activation
for 16 ≤ t < 33 (the paper's 200 < t < 400 of 784, scaled). ARUN networks use a controller of
16 units (the paper's 50 costs ~3× more CPU time to train; the architecture takes any size).

"""
_HEADS = ("file", "variant", "task", "hidden", "params", "clean", "sinusoid", "step", "noise")
COLUMNS = "| " + " | ".join((*_HEADS, "best ep.", "command")) + " |\n" + "|---" * 11 + "|\n"
PERTURBATIONS = ("clean", "sinusoid", "step", "noise")

PSMNIST = """
## psMNIST tier (models/zoo/psmnist/)

Permuted sequential MNIST at the 14×14 resolution (2×2 means of the 28×28 images): 196 steps
of one pixel in a fixed random order (task seed 0), the seed paper's task at a quarter of its
784 steps so that the whole tier trains on one CPU core within an hour (57 min of training
in all, ARUN 5–11 min a seed, the others 1–6 min, on a shared 2-core machine). Each network trains
on the first 10,000 of the 50,000 training images (batch 100, Adam, lr 0.002, gradient-norm
clip 1, ReduceLROnPlateau with patience 2, 15 epochs; the best epoch on the first 2,000
validation images is kept) and is tested on the first 2,000 test images, clean and under the
same perturbations as above (drive window 50 ≤ t < 100, the paper's 200 < t < 400 of 784
scaled); chance is 10 %. Every variant has three seeds (GRU and LSTM one, as references); all
have 64 units, ARUN a 16-unit controller. The grid is `models/zoo/psmnist/grid.json`;
`make zoo-psmnist` trains whatever is missing (and continues an interrupted run) and rewrites
this card.

"""


def row(path: Path) -> str:
    net = _load(path)
    info = net.checkpoint
    acc = info.metrics.get("accuracy", {})
    params = sum(p.numel() for p in net.parameters())
    task = info.task or {}
    task_name = task.get("name", "?") + (str(task["bits"]) if "bits" in task else "")
    if task.get("name") == "mnist":
        steps = 784 // task.get("downsample", 1) ** 2
        task_name = ("psmnist" if task.get("permuted", True) else "smnist") + str(steps)
    cells = [
        f"`{path.name}`",
        info.architecture,
        task_name,
        str(net.hidden_size),
        f"{params:,}",
        *(f"{acc.get(k, float('nan')):.3f}" for k in PERTURBATIONS),
        f"{info.training.get('best_epoch', '?')} of {info.training.get('epochs', '?')}",
        f"`{info.training.get('command', '?')}`",
    ]
    return "| " + " | ".join(cells) + " |"


def summary(paths: list[Path]) -> str:
    """Per variant: seeds, and mean ± standard deviation over seeds of each accuracy."""
    by_variant: dict[str, list[dict]] = {}
    for path in paths:
        info = _load(path).checkpoint
        by_variant.setdefault(info.architecture, []).append(info.metrics.get("accuracy", {}))
    lines = [
        "| variant | seeds | " + " | ".join(PERTURBATIONS) + " |",
        "|---|---|" + "---|" * len(PERTURBATIONS),
    ]
    for variant, accs in by_variant.items():
        cells = []
        for key in PERTURBATIONS:
            values = [a[key] for a in accs if key in a]
            spread = f" ± {statistics.stdev(values):.3f}" if len(values) > 1 else ""
            cells.append(f"{statistics.fmean(values):.3f}{spread}" if values else "–")
        lines.append(f"| {variant} | {len(accs)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zoo", default="models/zoo")
    args = parser.parse_args(argv)
    zoo = Path(args.zoo)
    paths = sorted(zoo.glob("*.safetensors"))
    # finished runs only (a run in progress has no test metrics yet)
    tier = [
        p
        for p in sorted((zoo / "psmnist").glob("*.safetensors"), key=_variant_order)
        if "accuracy" in _load(p).checkpoint.metrics
    ]
    everything = paths + tier
    size = sum(p.stat().st_size for p in everything)
    text = HEADER + COLUMNS + "\n".join(row(p) for p in paths) + "\n"
    if tier:
        text += PSMNIST + "Mean ± standard deviation over seeds:\n\n" + summary(tier)
        text += "\nEvery checkpoint:\n\n" + COLUMNS + "\n".join(row(p) for p in tier) + "\n"
    text += f"\n{len(everything)} checkpoints, {size / 1e6:.2f} MB in all.\n"
    (zoo / "README.md").write_text(text)
    print(f"wrote {zoo / 'README.md'} ({len(everything)} checkpoints, {size / 1e6:.2f} MB)")
    return 0


ORDER = tuple(ARCHITECTURES)  # the registry lists the variants in the paper's order


def _variant_order(path: Path) -> tuple[int, str]:
    """Checkpoints named <variant>-<task>-s<seed>: in the paper's order of variants."""
    for i, name in enumerate(ORDER):
        if path.name.startswith(name + "-"):
            return i, path.name
    return len(ORDER), path.name


if __name__ == "__main__":
    raise SystemExit(main())
