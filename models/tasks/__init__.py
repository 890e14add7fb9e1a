"""Tasks: permuted sequential digits, (permuted) sequential MNIST, N-bit flip-flop."""

from __future__ import annotations

from dynan_models.tasks.base import SequenceTask, Split
from dynan_models.tasks.digits import digits
from dynan_models.tasks.flipflop import flipflop, flipflop_batch
from dynan_models.tasks.mnist import MnistNotFoundError, mnist

__all__ = [
    "TASKS",
    "MnistNotFoundError",
    "SequenceTask",
    "Split",
    "digits",
    "flipflop",
    "flipflop_batch",
    "load_task",
    "mnist",
]

#: task name → builder taking the spec's other keys as keyword arguments.
TASKS = {"digits": digits, "mnist": mnist, "flipflop": flipflop}


def load_task(spec: dict | str, **overrides) -> SequenceTask:
    """Rebuild a task from its spec (as stored in a checkpoint) or from its name.

    Examples
    --------
    >>> from dynan_models.tasks import load_task
    >>> load_task({"name": "digits", "seed": 0, "permuted": True}).steps
    64
    """
    spec = {"name": spec} if isinstance(spec, str) else dict(spec)
    spec.update(overrides)
    name = spec.pop("name", None)
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; valid names: {', '.join(TASKS)}")
    try:
        return TASKS[name](**spec)
    except TypeError as err:
        raise ValueError(f"bad parameters for task {name!r}: {err}") from err
