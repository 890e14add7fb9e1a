"""Training cost against PyTorch's own modules: one optimiser step, every variant, T = 196 and 784.

For each variant, an optimiser step (forward, cross-entropy on the last step, backward, Adam) on
a batch of 100 one-pixel sequences is timed against the matching PyTorch module of the same
size in the same run — torch.nn.RNN(nonlinearity="relu") for the Elman variants and ARUN,
torch.nn.GRU / torch.nn.LSTM for the gated ones — each with the same linear read-out. Elman,
GRU and LSTM use N = 128 units; ARUN N = 64 with a 16-unit controller (its reference is an RNN
of the same N). Reference and variant steps alternate (ABAB…) and the medians are compared, so
a change in machine load hits both. With ``--threads 1`` the clock is the process CPU time
(robust to other processes on a shared machine), else wall time.

Reported per variant and T: seconds per step, the reference's, their ratio, and t(784)/t(196)
(4 for a cost linear in T). For T = 196 it also times the straightforward implementation
(``RecurrentNetwork.loop``: ``recur`` step by step under autograd) and, for ReLU and ARUN, the
loop as it was before issue 11 (``inp[:, t]`` per step, whose backward zero-fills a (B, T, N)
tensor at every step). Targets (issue 11): ratio ≤ 1.5 for Elman, GRU and LSTM, ≤ 5 for ARUN.
ARUN runs its compiled step where a C++ compiler is (``dynan_models.native``; the meta field
``compiled_steps`` says which library or why not); its PyTorch step, the fall-back, is timed too
(``pytorch_step_ratio_784``). ``arun_scale`` times ARUN beyond the targets: the paper's size
(N = 400, G = 50, T = 784) on one thread, and N = 400 and 64 on all the process's threads
(T = 196, wall clock; each against torch.nn.RNN on as many threads).

Run: ``python -m analyses.benchmarks.training [--quick] [--threads N]`` (``make bench``);
writes ``reports/benchmarks/training.json``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from analyses.benchmarks._output import save
from dynan_models import build, native
from dynan_models.training import keep_freed_memory

BATCH = 100
STEPS = (196, 784)
#: variant → (hidden size, controller size, reference module kind, target ratio)
VARIANTS = {
    "relu": (128, None, "rnn", 1.5),
    "softplus": (128, None, "rnn", 1.5),
    "gamma-homogeneous": (128, None, "rnn", 1.5),
    "gamma-heterogeneous": (128, None, "rnn", 1.5),
    "arun": (64, 16, "rnn", 5.0),
    "gru": (128, None, "gru", 1.5),
    "lstm": (128, None, "lstm", 1.5),
}


class Reference(nn.Module):
    """torch.nn.RNN (ReLU) / GRU / LSTM, one layer, batch first, read out on the last step."""

    def __init__(self, kind: str, hidden: int):
        super().__init__()
        if kind == "rnn":
            self.rnn = nn.RNN(1, hidden, nonlinearity="relu", batch_first=True)
        else:
            self.rnn = {"gru": nn.GRU, "lstm": nn.LSTM}[kind](1, hidden, batch_first=True)
        self.readout = nn.Linear(hidden, 10)

    def forward(self, x):
        return self.readout(self.rnn(x)[0][:, -1])


class Before(nn.Module):
    """A dynan network run as before issue 11: ``recur`` on ``inp[:, t]`` under autograd."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        net = self.net
        inp = net.input_projection(x)
        state = net.initial_state(x.shape[0])
        for t in range(x.shape[1]):
            state = net.recur(state, inp[:, t])
        return net.readout(net.hidden(state))


class Loop(Before):
    """A dynan network through its straightforward implementation, ``RecurrentNetwork.loop``."""

    def forward(self, x):
        net = self.net
        state = net.initial_state(x.shape[0])
        run = net.loop(state, net.input_projection(x))
        return net.readout(net.hidden(run.state))


def step_function(model: nn.Module, steps: int) -> Callable[[], None]:
    """One Adam step of ``model`` on a fixed random batch (B = 100, T = ``steps``)."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    gen = torch.Generator().manual_seed(steps)
    x = torch.rand(BATCH, steps, 1, generator=gen)
    y = torch.randint(0, 10, (BATCH,), generator=gen)

    def one() -> None:
        out = model(x)
        loss = nn.functional.cross_entropy(getattr(out, "logits", out), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return one


def compare(
    a: Callable[[], None], b: Callable[[], None], repeats: int, clock
) -> tuple[float, float]:
    """Median seconds of ``a`` and of ``b``, measured alternately after one warm-up each."""
    a(), b()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for fn, out in ((a, times[0]), (b, times[1])):
            start = clock()
            fn()
            out.append(clock() - start)
    return statistics.median(times[0]), statistics.median(times[1])


def network(arch: str) -> nn.Module:
    hidden, controller, _, _ = VARIANTS[arch]
    torch.manual_seed(0)
    kwargs = {"controller_size": controller} if controller else {}
    return build(arch, input_size=1, hidden_size=hidden, output_size=10, **kwargs)


#: ARUN beyond the targets' size: (hidden, controller, steps) of the paper's networks (N = 400,
#: G = 50, 784 steps) and of the targets' ARUN, on one thread and on all of this process's
SCALE = ((400, 50, 784), (64, 16, 784))


def arun_at_scale(threads: int, repeats: int) -> list[dict]:
    """ARUN against torch.nn.RNN of the same N, compiled and PyTorch step, on ``threads`` threads
    (wall clock beyond one thread), at the sizes of :data:`SCALE`; the paper's size on one thread
    only, and shorter (T = 196) on more, where a step at N = 400 takes many seconds."""
    torch.set_num_threads(threads)
    clock = time.process_time if threads == 1 else time.perf_counter
    rows = []
    for hidden, controller, steps in SCALE:
        if threads > 1:
            steps = STEPS[0]
        torch.manual_seed(0)
        net = build("arun", input_size=1, hidden_size=hidden, output_size=10,
                    controller_size=controller)  # fmt: skip
        torch.manual_seed(0)
        reference = step_function(Reference("rnn", hidden), steps)
        t_mine, t_ref = compare(step_function(net, steps), reference, repeats, clock)
        with native.pytorch_step():
            t_torch, t_ref2 = compare(step_function(net, steps), reference, repeats, clock)
        row = {"hidden": hidden, "controller": controller, "steps": steps, "threads": threads}
        row.update(seconds=t_mine, reference_seconds=t_ref, ratio=t_mine / t_ref)
        row.update(pytorch_step_seconds=t_torch, pytorch_step_ratio=t_torch / t_ref2)
        rows.append(row)
        print(
            f"{'arun':>20} N={hidden:<4} G={controller:<3} T={steps:<4} threads={threads}: "
            f"{t_mine:7.3f} s/step, torch.nn.RNN {t_ref:6.3f} s, ratio {t_mine / t_ref:5.2f}; "
            f"PyTorch step ratio {t_torch / t_ref2:5.2f}",
            flush=True,
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats instead of 7")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated")
    parser.add_argument("--out", default="reports/benchmarks/training.json")
    parser.add_argument("--no-scale", action="store_true", help="skip the ARUN scale rows")
    args = parser.parse_args(argv)
    all_threads = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    keep_freed_memory()
    single = torch.get_num_threads() == 1
    clock = time.process_time if single else time.perf_counter
    repeats = 3 if args.quick else 7
    rows = []
    for arch in args.variants.split(","):
        hidden, controller, kind, target = VARIANTS[arch]
        row = {"variant": arch, "hidden": hidden, "controller": controller, "reference": kind}
        row["target_ratio"] = target
        for steps in STEPS:
            mine = step_function(network(arch), steps)
            torch.manual_seed(0)
            reference = step_function(Reference(kind, hidden), steps)
            t_mine, t_ref = compare(mine, reference, repeats, clock)
            row[f"seconds_{steps}"] = t_mine
            row[f"reference_seconds_{steps}"] = t_ref
            row[f"ratio_{steps}"] = t_mine / t_ref
            print(
                f"{arch:>20} N={hidden:<4} T={steps:<4} {t_mine:8.3f} s/step   "
                f"torch.nn.{kind.upper()} {t_ref:7.3f} s   ratio {t_mine / t_ref:5.2f}",
                flush=True,
            )
        row["scaling_784_over_196"] = row["seconds_784"] / row["seconds_196"]
        row["reference_scaling_784_over_196"] = (
            row["reference_seconds_784"] / row["reference_seconds_196"]
        )
        row["meets_target"] = all(row[f"ratio_{t}"] <= target for t in STEPS)
        if arch == "arun" and native.status()[0]:  # the PyTorch step, where it is the fall-back
            with native.pytorch_step():
                mine = step_function(network(arch), STEPS[-1])
                t_mine, t_ref = compare(mine, reference, max(repeats // 2, 1), clock)
            row[f"pytorch_step_ratio_{STEPS[-1]}"] = t_mine / t_ref
            print(f"{'':>20} without the compiled step: ratio {t_mine / t_ref:5.2f}", flush=True)
        if arch not in ("gru", "lstm"):  # the straightforward loops, at T = 196 only
            fast = step_function(network(arch), STEPS[0])
            loop = step_function(Loop(network(arch)), STEPS[0])
            t_fast, t_loop = compare(fast, loop, max(repeats // 2, 1), clock)
            row["loop_seconds_196"] = t_loop
            row["loop_over_fast_196"] = t_loop / t_fast
            if arch in ("relu", "arun"):
                before = step_function(Before(network(arch)), STEPS[0])
                t_fast, t_before = compare(fast, before, 1, clock)
                row["before_seconds_196"] = t_before
                row["before_over_fast_196"] = t_before / t_fast
        rows.append(row)
        print(
            f"{'':>20} t(784)/t(196) = {row['scaling_784_over_196']:.2f} "
            f"(reference {row['reference_scaling_784_over_196']:.2f})"
            + (
                f"; straightforward loop {row['loop_over_fast_196']:.2f}x"
                if "loop_seconds_196" in row
                else ""
            )
            + (
                f"; before issue 11 {row['before_over_fast_196']:.1f}x"
                if "before_seconds_196" in row
                else ""
            ),
            flush=True,
        )
    meta = {
        "batch": BATCH,
        "steps": list(STEPS),
        "repeats": repeats,
        "clock": "process CPU time" if single else "wall time",
        "statistic": "median of alternating reference/variant steps",
        "compiled_steps": native.status()[1],
    }
    scale = []
    if not args.no_scale:
        for threads in sorted({1, all_threads}):
            scale += arun_at_scale(threads, max(repeats // 3, 1))
    save(args.out, meta=meta, rows=rows, arun_scale=scale)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
