"""The JSON every benchmark writes: the machine and library versions, then its own sections."""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

import numpy as np
import torch


def environment() -> dict[str, Any]:
    """Library versions, torch threads and the processor the numbers were measured on."""
    return {
        "torch": torch.__version__,
        "numpy": np.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.machine(),
        "processor": platform.processor(),
    }


def save(path: str | Path, *, meta: dict[str, Any], **sections: Any) -> Path:
    """Write ``{"meta": environment() | meta, **sections}`` to ``path`` and say so."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": environment() | meta, **sections}, indent=2))
    print(f"wrote {out}")
    return out
