"""`dynan import`: a trained PyTorch model (state dict) or the seed paper's checkpoint → a dynan
checkpoint (delegates to dynan.importers.import_model)."""

from __future__ import annotations

import argparse

HELP = "convert a PyTorch state dict or the seed paper's checkpoint into a dynan checkpoint"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from dynan.importers.inputs import DEFAULT_STEPS
    from dynan.importers.layouts import KINDS
    from dynan.importers.mapping import ACTIVATIONS
    from dynan_models.tasks import TASKS

    parser.add_argument(
        "source",
        metavar="SRC",
        help="torch.save file (state dict, or a dict with one under state_dict / "
        "model_state_dict / model) or safetensors state dict; read with weights_only=True",
    )
    parser.add_argument("--out", required=True, metavar="DST", help="checkpoint (.safetensors)")
    parser.add_argument(
        "--prefix",
        help="key prefix of the recurrent module (e.g. 'encoder.rnn'); nn.RNN/GRU/LSTM with any "
        "number of layers (several: a stacked network)",
    )
    parser.add_argument(
        "--readout", help="key prefix of the read-out Linear(N → C), or 'none' (logits = h)"
    )
    parser.add_argument("--layout", choices=KINDS, help="only look for this kind of module")
    parser.add_argument(
        "--activation",
        choices=ACTIVATIONS,
        help="fixed activation of an nn.RNN (tanh, relu) or of the paper's RNN without learned "
        "n, s (a state dict does not record it)",
    )
    parser.add_argument(
        "--shape", metavar="N,S", help="fixed γ shape (n, s) of the paper's RNN, e.g. 1,0.5"
    )
    parser.add_argument(
        "--task",
        choices=list(TASKS),
        help="task whose inputs analyses use (default: none — zero or random inputs)",
    )
    parser.add_argument("--task-seed", type=int, default=0, help="seed of the task's permutation")
    parser.add_argument("--bits", type=int, default=3, help="flip-flop: number of bits")
    parser.add_argument("--downsample", type=int, default=1, help="mnist: 1, 2 (14x14) or 4")
    parser.add_argument("--data", default="data", help="mnist: folder with the IDX files")
    parser.add_argument(
        "--output-mode",
        choices=("last", "all"),
        help="read out the last hidden state or every step (default: all for flipflop, else last)",
    )
    parser.add_argument(
        "--steps",
        type=int,
        default=DEFAULT_STEPS,
        help="without --task: length of the random input sequences analyses use "
        f"(default: {DEFAULT_STEPS})",
    )
    parser.add_argument(
        "--allow-unused",
        action="store_true",
        help="import although the state dict holds tensors outside the module and read-out",
    )


def run(args: argparse.Namespace) -> int:
    from dynan.cli.train import _task_spec
    from dynan.importers import import_model

    shape = None
    if args.shape is not None:
        try:
            n, s = (float(v) for v in args.shape.split(","))
        except ValueError as err:
            raise ValueError(f"--shape must be N,S (two numbers), got {args.shape!r}") from err
        shape = (n, s)
    task = _task_spec(args) if args.task else None
    output_mode = args.output_mode or ("all" if args.task == "flipflop" else "last")
    summary = import_model(
        args.source,
        args.out,
        prefix=args.prefix,
        readout=args.readout,
        layout=args.layout,
        activation=args.activation,
        shape=shape,
        task=task,
        output_mode=output_mode,
        allow_unused=args.allow_unused,
        steps=args.steps,
    )
    for line in summary.lines():
        print(f"{args.source}: {line}")
    return 0
