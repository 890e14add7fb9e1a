"""Training throughput: sequences per second, forward + backward, for every neuron variant.

For hidden sizes 64 and 256 (ARUN controller 16 and 50) on the 64-step digits input, times
``--repeats`` optimiser steps of batch 64 after a warm-up, and reports sequences/s and the cost
relative to the fixed-ReLU Elman network measured in the same run (the reference). Prints a
table and writes ``reports/benchmarks/training.json``.

Run: ``python -m analyses.benchmarks.training [--quick] [--threads N]``.
"""

from __future__ import annotations

import argparse
import time

import torch

from analyses.benchmarks._output import save
from dynan_models import ARCHITECTURES, build
from dynan_models.evaluation import loss_fn

VARIANTS = list(ARCHITECTURES)


def throughput(
    arch: str, hidden: int, controller: int, *, batch: int, steps: int, repeats: int
) -> float:
    """Sequences per second for forward + backward + Adam step."""
    torch.manual_seed(0)
    kwargs = {"controller_size": controller} if arch == "arun" else {}
    net = build(arch, input_size=1, hidden_size=hidden, output_size=10, **kwargs)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x = torch.rand(batch, steps, 1)
    y = torch.randint(0, 10, (batch,))

    def one() -> None:
        loss = loss_fn("classify", net(x).logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    one()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        one()
    return batch * repeats / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--out", default="reports/benchmarks/training.json")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    repeats = 2 if args.quick else 8
    rows = []
    for hidden, controller in ((64, 16), (256, 50)):
        reference = None
        for arch in VARIANTS:
            rate = throughput(arch, hidden, controller, batch=64, steps=64, repeats=repeats)
            reference = rate if arch == "relu" else reference
            rows.append(
                {
                    "variant": arch,
                    "hidden": hidden,
                    "controller": controller if arch == "arun" else None,
                    "sequences_per_s": rate,
                    "cost_vs_relu": reference / rate,
                }
            )
            print(f"{arch:>20} N={hidden:<4} {rate:10.1f} seq/s   {reference / rate:5.2f}x relu")
    save(args.out, meta={"batch": 64, "steps": 64, "repeats": repeats}, rows=rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
