"""`dynan train`: train a network on a task (delegates to dynan_models.training)."""

from __future__ import annotations

import argparse

from dynan.cli._device import add_device_arguments, configure_training, resolve_device
from dynan_models import ARCHITECTURES
from dynan_models.tasks import TASKS
from dynan_models.training import TrainConfig, train

HELP = "train a network on a task and write a checkpoint"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("architecture", choices=list(ARCHITECTURES), help="network variant")
    parser.add_argument("--task", default="digits", choices=list(TASKS), help="task name")
    parser.add_argument("--task-seed", type=int, default=0, help="seed of the task's permutation")
    parser.add_argument("--bits", type=int, default=3, help="flip-flop: number of bits")
    parser.add_argument("--downsample", type=int, default=1, help="mnist: 1, 2 (14x14) or 4")
    parser.add_argument("--data", default="data", help="mnist: folder with the IDX files")
    for split, full in (("train", 50000), ("val", 10000), ("test", 10000)):
        parser.add_argument(
            f"--{split}-size",
            type=int,
            default=None,
            help=f"mnist: keep the first so many {split} images (default: all {full:,})",
        )
    parser.add_argument("--hidden-size", type=int, default=64)
    parser.add_argument("--controller-size", type=int, default=50, help="ARUN controller units")
    parser.add_argument(
        "--num-layers", type=int, default=2, help="stacked-rnn/gru/lstm: layers (default 2)"
    )
    parser.add_argument(
        "--nonlinearity", choices=("tanh", "relu"), default="tanh", help="stacked-rnn's activation"
    )
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0, help="initialisation and shuffling seed")
    parser.add_argument("--clip", type=float, default=1.0, help="gradient-norm clip (0: none)")
    parser.add_argument("--patience", type=int, default=4, help="ReduceLROnPlateau patience")
    parser.add_argument("--resume", metavar="CKPT", help="continue training this checkpoint")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    add_device_arguments(parser, dtype=False, training=True)  # training is float32
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--out", required=True, help="checkpoint path (.safetensors)")


def _task_spec(args: argparse.Namespace) -> dict:
    spec: dict = {"name": args.task, "seed": args.task_seed}
    if args.task == "digits":
        spec["permuted"] = True
    elif args.task == "mnist":
        spec.update(permuted=True, downsample=args.downsample, root=args.data)
        for key in ("train_size", "val_size", "test_size"):
            if getattr(args, key) is not None:
                spec[key] = getattr(args, key)
    elif args.task == "flipflop":
        spec["bits"] = args.bits
    return spec


def run(args: argparse.Namespace) -> int:
    import torch

    from dynan_models.training import keep_freed_memory

    keep_freed_memory()
    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.out.endswith(".safetensors"):
        raise ValueError(f"--out must end in .safetensors, got {args.out!r}")
    device = resolve_device(args.device)
    configure_training(device, tf32=args.tf32, deterministic=args.deterministic)
    model, start_epoch, best, task = None, 0, -1.0, _task_spec(args)
    if args.resume:
        from dynan.checkpoint import load

        model = load(args.resume)
        info = model.checkpoint
        if info.architecture != args.architecture:
            raise ValueError(
                f"{args.resume} holds a {info.architecture!r} network, not {args.architecture!r}"
            )
        task = dict(info.task or task)
        if task.get("name") == "mnist":
            task["root"] = args.data
        start_epoch = int(info.training.get("epochs_trained", 0))
        # the resumed weights are the best so far: a later epoch must beat them to replace them
        best = float(info.metrics.get("val_accuracy", -1.0))
    cfg = TrainConfig(
        architecture=args.architecture,
        task=task,
        out=args.out,
        hidden_size=model.hidden_size if model is not None else args.hidden_size,
        controller_size=getattr(model, "controller_size", args.controller_size),
        num_layers=getattr(model, "num_layers", args.num_layers),
        nonlinearity=getattr(model, "nonlinearity", args.nonlinearity),
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        clip=args.clip or None,
        patience=args.patience,
    )
    try:
        result = train(
            cfg,
            model=model,
            start_epoch=start_epoch,
            best_accuracy=best,
            progress=not args.quiet,
            device=device,
        )
    except KeyboardInterrupt as err:
        print(f"dynan train: {err or 'interrupted'}")
        return 130
    acc = result.metrics["accuracy"]
    print(f"wrote {result.path}")
    print("test accuracy: " + ", ".join(f"{k} {v:.3f}" for k, v in acc.items()))
    return 0
