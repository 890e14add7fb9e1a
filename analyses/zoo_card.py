"""Write models/zoo/README.md, the model card, from the checkpoints' own configs.

Run: ``python -m analyses.zoo_card`` (after ``make zoo``). Every number in the table is read
from a checkpoint's stored metrics; the tests re-evaluate each checkpoint against them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import dynan

HEADER = """# The dynan model zoo

Small networks trained by `dynan train` (the exact command is in each row and in each
checkpoint's config, `training.command`); `make zoo` retrains all of them
(`models/zoo/train.sh`, two lanes of one torch thread). Task `digits`: scikit-learn's 8×8
digits fed one pixel per step (64 steps) in a fixed permuted order (task seed 0), split
1197/300/300; chance is 10 %. Task `flipflop3`: the 3-bit flip-flop, 100 steps, accuracy is
sign agreement on steps with a defined target.

Accuracy is on the test split: clean, with the input modulated by 1 + 0.5 sin(2π t/T) (positive
pixels), with a step drive ξ = 1 and with a noise drive N(0, 1) added to every pre-activation
for 16 ≤ t < 33 (the paper's 200 < t < 400 of 784, scaled). ARUN networks use a controller of
16 units (the paper's 50 costs ~3× more CPU time to train; the architecture takes any size).

| file | variant | task | hidden | params | clean | sinusoid | step | noise | best ep. | command |
|---|---|---|---|---|---|---|---|---|---|---|
"""


def row(path: Path) -> str:
    net = dynan.load(path)
    info = net.checkpoint
    acc = info.metrics.get("accuracy", {})
    params = sum(p.numel() for p in net.parameters())
    task = info.task or {}
    task_name = task.get("name", "?") + (str(task["bits"]) if "bits" in task else "")
    cells = [
        f"`{path.name}`",
        info.architecture,
        task_name,
        str(net.hidden_size),
        f"{params:,}",
        *(f"{acc.get(k, float('nan')):.3f}" for k in ("clean", "sinusoid", "step", "noise")),
        f"{info.training.get('best_epoch', '?')} of {info.training.get('epochs', '?')}",
        f"`{info.training.get('command', '?')}`",
    ]
    return "| " + " | ".join(cells) + " |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zoo", default="models/zoo")
    args = parser.parse_args(argv)
    zoo = Path(args.zoo)
    paths = sorted(zoo.glob("*.safetensors"))
    size = sum(p.stat().st_size for p in paths)
    text = HEADER + "\n".join(row(p) for p in paths) + "\n"
    text += f"\n{len(paths)} checkpoints, {size / 1e6:.2f} MB in all.\n"
    (zoo / "README.md").write_text(text)
    print(f"wrote {zoo / 'README.md'} ({len(paths)} checkpoints, {size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
