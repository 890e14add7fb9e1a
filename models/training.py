"""Training a network on a task: Adam + ReduceLROnPlateau as in Geadah et al. (2024).

Validation every epoch; the best epoch (validation accuracy) is kept and written atomically as
the checkpoint each time it improves, so an interrupted run (Ctrl-C) always leaves a usable
file. The same seed gives the same weights (seeded initialisation and per-epoch shuffling).
At the end the best weights are evaluated on the test split, clean and under each
perturbation, and the metrics are stored in the checkpoint config.
"""

from __future__ import annotations

import copy
import ctypes
import math
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from dynan_models.base import RecurrentNetwork
from dynan_models.checkpoint import save_checkpoint
from dynan_models.evaluation import accuracy, evaluate, evaluate_all, loss_fn
from dynan_models.registry import ARCHITECTURES, build
from dynan_models.tasks import SequenceTask, load_task

__all__ = ["TrainConfig", "TrainResult", "build_for_task", "keep_freed_memory", "train"]

_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # glibc's mallopt parameters (malloc.h)


def keep_freed_memory() -> bool:
    """Let glibc's malloc serve every block from its heap and keep freed memory for reuse.

    By default glibc maps each block over 32 MB afresh (mmap) and unmaps it when freed, so
    every training step pays page faults for the whole saved sequence (B × T × N × G floats for
    an ARUN): in one profile on this project's 2-core VM, about 40 % of an ARUN step (a single
    measurement, not a benchmark: reports/benchmarks/training.json times the steps with this
    setting on for dynan and for the torch.nn reference alike). With mmap off and trimming
    at 2 GB, the memory of one step is reused by the next. A process-wide setting, for the
    CLI and benchmarks (``dynan train`` calls it); the resident memory stays at its peak.
    Returns False (and changes nothing) where the C library is not glibc.

    References: mallopt(3), Linux man-pages.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (stored in the checkpoint's ``training``)."""

    architecture: str
    task: dict
    out: str
    hidden_size: int = 64
    controller_size: int = 50  # ARUN
    num_layers: int = 2  # stacked-rnn, stacked-gru, stacked-lstm
    nonlinearity: str = "tanh"  # stacked-rnn
    epochs: int = 40
    batch_size: int = 64
    lr: float = 1e-3
    seed: int = 0
    clip: float | None = 1.0
    patience: int = 4
    factor: float = 0.5

    def __post_init__(self):
        checks = {
            "hidden_size": self.hidden_size >= 1,
            "controller_size": self.controller_size >= 1,
            "num_layers": self.num_layers >= 1,
            "nonlinearity": self.nonlinearity in ("tanh", "relu"),
            "epochs": self.epochs >= 0,
            "batch_size": self.batch_size >= 1,
            "lr": self.lr > 0,
            "patience": self.patience >= 0,
            "factor": 0 < self.factor < 1,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            values = ", ".join(f"{name}={getattr(self, name)!r}" for name in bad)
            raise ValueError(f"invalid training settings: {values}")
        if self.clip is not None and self.clip <= 0:
            raise ValueError(f"clip must be positive or None, got {self.clip!r}")

    def command(self) -> str:
        """The `dynan train` command line that reproduces this run."""
        parts = [
            "dynan", "train", self.architecture,
            "--task", self.task["name"],
            "--task-seed", str(self.task.get("seed", 0)),
            "--hidden-size", str(self.hidden_size),
            "--epochs", str(self.epochs),
            "--batch-size", str(self.batch_size),
            "--lr", str(self.lr),
            "--seed", str(self.seed),
            "--clip", str(self.clip if self.clip is not None else 0),
            "--patience", str(self.patience),
            "--out", self.out,
        ]  # fmt: skip
        task_options = [
            (f"--{key.replace('_', '-')}", str(self.task[key]))
            for key in ("bits", "downsample", "train_size", "val_size", "test_size")
            if key in self.task
        ]
        parts[5:5] = [word for option in task_options for word in option]
        at = parts.index("--epochs")
        parts[at:at] = [
            word
            for key, value in self.architecture_options().items()
            for word in (f"--{key.replace('_', '-')}", str(value))
        ]
        return shlex.join(parts)

    def architecture_options(self) -> dict:
        """The settings that the architecture's constructor takes (``ARGUMENTS`` of its class):
        controller_size for ARUN, num_layers (and nonlinearity) for the stacked networks."""
        names = (
            ARCHITECTURES[self.architecture].ARGUMENTS
            if self.architecture in ARCHITECTURES
            else ()
        )
        options = {
            "controller_size": self.controller_size,
            "num_layers": self.num_layers,
            "nonlinearity": self.nonlinearity,
        }
        return {key: value for key, value in options.items() if key in names}


@dataclass
class TrainResult:
    model: RecurrentNetwork
    path: Path
    metrics: dict
    history: list[dict] = field(default_factory=list)
    interrupted: bool = False


def build_for_task(cfg: TrainConfig, task: SequenceTask) -> RecurrentNetwork:
    """The network ``cfg`` describes, sized for ``task``, initialised from ``cfg.seed``."""
    torch.manual_seed(cfg.seed)
    kwargs = {
        "input_size": task.input_size,
        "hidden_size": cfg.hidden_size,
        "output_size": task.output_size,
        "output_mode": task.output_mode,
    }
    return build(cfg.architecture, **kwargs, **cfg.architecture_options())


def train(
    cfg: TrainConfig,
    *,
    model: RecurrentNetwork | None = None,
    start_epoch: int = 0,
    best_accuracy: float = -1.0,
    progress: bool = True,
    device: str | torch.device = "cpu",
) -> TrainResult:
    """Train per ``cfg``; ``model``/``start_epoch`` resume from a loaded checkpoint, whose
    validation accuracy ``best_accuracy`` a later epoch must beat to replace it.

    ``device``: where the network trains (float32); it is built and shuffled from seeds on the
    CPU, so a seed gives the same initial weights and batch order on every device.

    Cost per epoch: one forward/backward pass over the training split plus a validation pass,
    O(n T (N² + N G²)) for ARUN, O(n T N²) otherwise.
    """
    task = load_task(cfg.task)
    model = build_for_task(cfg, task) if model is None else model
    model.to(device).float().train()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, mode="min", factor=cfg.factor, patience=cfg.patience
    )
    path = Path(cfg.out)
    best = {"val_accuracy": best_accuracy, "epoch": start_epoch}
    best_state = copy.deepcopy(model.state_dict())
    history: list[dict] = []
    started = time.perf_counter()
    interrupted = False

    def save(metrics: dict) -> None:
        training = {
            **asdict(cfg),
            "epochs_trained": start_epoch + len(history),
            "best_epoch": best["epoch"],
            "optimizer": "Adam",
            "scheduler": f"ReduceLROnPlateau(factor={cfg.factor}, patience={cfg.patience})",
            "seconds": round(time.perf_counter() - started, 1),
            "interrupted": interrupted,
            "command": cfg.command(),
        }
        save_checkpoint(
            model, path, task=task.spec, seed=cfg.seed, metrics=metrics, training=training
        )

    epochs = range(start_epoch, start_epoch + cfg.epochs)
    bar = tqdm(epochs, desc=f"{cfg.architecture} on {task.name}", disable=not progress, unit="ep")
    try:
        for epoch in bar:
            gen = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
            total, correct, count = 0.0, 0.0, 0
            inner = tqdm(
                total=math.ceil(len(task.train) / cfg.batch_size),
                desc=f"epoch {epoch + 1}",
                unit="batch",
                leave=False,
                disable=not progress,
                mininterval=0.5 if sys.stderr.isatty() else 30.0,  # a log file: a line in 30 s
            )
            for x, y in task.train.batches(cfg.batch_size, generator=gen):
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                out = model(x).logits
                loss = loss_fn(task.objective, out, y)
                opt.zero_grad()
                loss.backward()
                if cfg.clip:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
                opt.step()
                k = x.shape[0]
                total += float(loss.detach()) * k
                correct += float(accuracy(task.objective, out.detach(), y)) * k
                count += k
                inner.update(1)
                inner.set_postfix(
                    loss=f"{total / count:.3f}", acc=f"{correct / count:.3f}", refresh=False
                )
            inner.close()
            val_loss, val_acc = evaluate(model, task.val, task.objective)
            sched.step(val_loss)
            record = {
                "epoch": epoch + 1,
                "train_loss": total / count,
                "train_accuracy": correct / count,
                "val_loss": val_loss,
                "val_accuracy": val_acc,
                "lr": opt.param_groups[0]["lr"],
            }
            history.append(record)
            bar.set_postfix(loss=f"{record['train_loss']:.3f}", val_acc=f"{val_acc:.3f}")
            if val_acc > best["val_accuracy"]:
                best.update(val_accuracy=val_acc, epoch=epoch + 1)
                best_state = copy.deepcopy(model.state_dict())
                save({"val_accuracy": val_acc, "val_loss": val_loss})
    except KeyboardInterrupt:
        interrupted = True
    model.load_state_dict(best_state)
    model.eval()
    test_loss, test_acc = evaluate(model, task.test, task.objective)
    metrics = {
        "val_accuracy": best["val_accuracy"],
        "test_loss": test_loss,
        "test_accuracy": test_acc,
        "accuracy": evaluate_all(model, task),
    }
    save(metrics)
    if interrupted:
        raise KeyboardInterrupt(f"training interrupted; best checkpoint saved to {path}")
    return TrainResult(model, path, metrics, history, interrupted)
