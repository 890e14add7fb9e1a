"""The tidy table of a sweep: one row per checkpoint, written as Parquet and CSV.

Columns, in order: :data:`META_COLUMNS` (the file and what its header says: architecture, task,
seeds, sizes), then each analysis' headline columns (:data:`dynan.sweep.analyses.ANALYSES`), then
``error`` — "" where every analysis of the row succeeded, else ``analysis: Type: message`` of
each failure joined by " | ". Numbers that do not apply (λ₁ frozen of a GRU, the shape of a
ReLU network) are NaN; the columns are the same for every checkpoint.

:func:`describe` reads one checkpoint's header (no weights, no torch) in the calling process,
so a file that is not a checkpoint becomes a row with its error before any task is sent.
:func:`write_table` writes both files atomically (temporary file, then ``os.replace``): a
sweep killed at any moment leaves the previous complete table, never half a file.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from dynan.report.builder import write_atomic
from dynan.sweep.analyses import ANALYSES

__all__ = ["META_COLUMNS", "columns", "describe", "make_table", "read_table", "write_table"]

#: Columns every row has, from the checkpoint file and its header.
META_COLUMNS = (
    "file",
    "name",
    "sha256",
    "architecture",
    "task",
    "task_seed",
    "seed",
    "hidden_size",
    "controller_size",
    "input_size",
    "output_size",
)

_TEXT = {"file", "name", "sha256", "architecture", "task", "error"}
_INTEGER = {"task_seed", "seed", "hidden_size", "controller_size", "input_size", "output_size"}


def sha256_file(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB blocks. Cost: O(size)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def describe(path: str | os.PathLike) -> dict[str, Any]:
    """The meta columns of one checkpoint, plus ``error`` ("" when the header is valid).

    Reads the file once (hash and header); builds no network. A missing or corrupt file gives
    a row whose ``error`` is the ``CheckpointError`` (or ``OSError``) message.
    """
    from dynan.checkpoint import read_config

    path = Path(path).resolve()
    row: dict[str, Any] = {"file": str(path), "name": path.stem, "error": ""}
    try:
        config = read_config(path)
        row["sha256"] = sha256_file(path)
    except (OSError, ValueError) as err:  # CheckpointError is a ValueError
        row["error"] = f"{type(err).__name__}: {str(err).strip().splitlines()[0]}"
        if path.is_file():
            row["sha256"] = sha256_file(path)  # which bytes were bad
        return row
    args = config.get("arguments") or {}
    task = config.get("task") or {}
    row.update(
        architecture=config.get("architecture"),
        task=task.get("name"),
        task_seed=task.get("seed"),
        seed=config.get("seed"),
        hidden_size=args.get("hidden_size"),
        controller_size=args.get("controller_size"),
        input_size=args.get("input_size"),
        output_size=args.get("output_size"),
    )
    return row


def columns(analyses: Sequence[str]) -> list[str]:
    """The table's columns for ``analyses``: meta, each analysis' headline columns, error."""
    cols = list(META_COLUMNS)
    for name in analyses:
        cols += ANALYSES[name].columns
    return [*cols, "error"]


def make_table(rows: Sequence[Mapping[str, Any]], analyses: Sequence[str]) -> pd.DataFrame:
    """A DataFrame with exactly :func:`columns`, typed per column whatever the rows hold.

    Text columns are ``str`` ("" where missing), counts and sizes nullable ``Int64``, the rest
    ``float64`` (NaN where missing), so tables of different sweeps concatenate cleanly.
    """
    cols = columns(analyses)
    types = {c: t for name in analyses for c, t in ANALYSES[name].types.items()}
    frame = pd.DataFrame([{c: row.get(c) for c in cols} for row in rows], columns=cols)
    for col in cols:
        if col in _TEXT:
            frame[col] = frame[col].fillna("").astype(str)
        elif col in _INTEGER or types.get(col) == "int":
            frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("Int64")
        elif types.get(col) == "str":
            frame[col] = frame[col].astype(object).where(frame[col].notna(), "").astype(str)
        else:
            frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
    return frame


def write_table(frame: pd.DataFrame, out: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``out/results.parquet`` and ``out/results.csv`` atomically; return both paths."""
    out = Path(out)
    parquet, csv = out / "results.parquet", out / "results.csv"
    write_atomic(parquet, frame.to_parquet(index=False))
    write_atomic(csv, frame.to_csv(index=False))
    return parquet, csv


def read_table(out: str | os.PathLike) -> pd.DataFrame:
    """The sweep table in ``out`` (from the Parquet file)."""
    return pd.read_parquet(Path(out) / "results.parquet")
