"""Permuted sequential digits: scikit-learn's bundled 8×8 digits, one pixel per step (64 steps).

The data ship inside the scikit-learn wheel (1,797 images, 0–16 grey levels, scaled to [0, 1]);
nothing is downloaded. A fixed permutation drawn from ``seed`` is applied to the pixel order
(``permuted=False`` keeps raster order); the split is fixed: 1,197 / 300 / 300
(train / validation / test), stratified, drawn from a constant seed independent of ``seed``.
"""

from __future__ import annotations

import numpy as np
import torch

from dynan_models.tasks.base import SequenceTask, Split

__all__ = ["digits"]

_SPLIT_SEED = 20240101
_VAL, _TEST = 300, 300


def _stratified_split(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(_SPLIT_SEED)
    train, val, test = [], [], []
    classes = np.unique(labels)
    for c in classes:
        idx = rng.permutation(np.flatnonzero(labels == c))
        k_val = round(_VAL * len(idx) / len(labels))
        k_test = round(_TEST * len(idx) / len(labels))
        val.append(idx[:k_val])
        test.append(idx[k_val : k_val + k_test])
        train.append(idx[k_val + k_test :])
    return tuple(np.sort(np.concatenate(part)) for part in (train, val, test))


def digits(*, seed: int = 0, permuted: bool = True) -> SequenceTask:
    """The (permuted) sequential 8×8 digits task; inputs (n, 64, 1), 10 classes.

    Examples
    --------
    >>> from dynan_models.tasks import digits
    >>> task = digits(seed=0)
    >>> task.train.x.shape[1:], task.output_size
    (torch.Size([64, 1]), 10)
    """
    from sklearn.datasets import load_digits  # deferred: scikit-learn takes seconds to import

    data = load_digits()
    images = (data.data / 16.0).astype(np.float32)
    labels = data.target.astype(np.int64)
    if permuted:
        images = images[:, np.random.default_rng(seed).permutation(images.shape[1])]
    x = torch.from_numpy(images)[..., None]
    y = torch.from_numpy(labels)
    parts = [
        Split(x[torch.from_numpy(i)], y[torch.from_numpy(i)]) for i in _stratified_split(labels)
    ]
    return SequenceTask(
        spec={"name": "digits", "seed": seed, "permuted": permuted},
        train=parts[0],
        val=parts[1],
        test=parts[2],
        input_size=1,
        output_size=10,
        objective="classify",
    )
