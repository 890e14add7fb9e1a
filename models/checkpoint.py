"""Writing checkpoints: one ``.safetensors`` file, the JSON config in its header metadata.

The config (key ``"dynan"`` of the metadata) holds the architecture name, every constructor
argument, the task, the seed, metrics, training settings, the format version and the library
version. Reading — with every validation — lives in ``dynan.load``; there is no pickle anywhere.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

from safetensors.torch import save

from dynan_models._version import __version__
from dynan_models.base import RecurrentNetwork

__all__ = ["FORMAT_VERSION", "METADATA_KEY", "checkpoint_config", "save_checkpoint"]

FORMAT_VERSION = 1
METADATA_KEY = "dynan"


def checkpoint_config(
    model: RecurrentNetwork,
    *,
    task: dict | None = None,
    seed: int | None = None,
    metrics: dict | None = None,
    training: dict | None = None,
) -> dict:
    """The JSON-serialisable config stored in a checkpoint's header."""
    return {
        "format_version": FORMAT_VERSION,
        "library": "dynan",
        "library_version": __version__,
        "architecture": model.architecture,
        "arguments": model.arguments,
        "task": task,
        "seed": seed,
        "metrics": metrics or {},
        "training": training or {},
    }


def save_checkpoint(
    model: RecurrentNetwork,
    path: str | os.PathLike,
    *,
    task: dict | None = None,
    seed: int | None = None,
    metrics: dict | None = None,
    training: dict | None = None,
) -> Path:
    """Save ``model`` to ``path`` atomically (a temporary file renamed into place).

    An interrupted save never leaves a half-written checkpoint at ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    config = checkpoint_config(model, task=task, seed=seed, metrics=metrics, training=training)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    blob = save(tensors, metadata={METADATA_KEY: json.dumps(config, sort_keys=True)})
    # written with open(), not mkstemp or safetensors.save_file, which both create mode-0600
    # files: checkpoints must stay readable to other users (a shared zoo, cluster workers)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    try:
        with open(tmp, "xb") as fh:
            fh.write(blob)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
