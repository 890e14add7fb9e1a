"""Tasks: fixed splits and permutations, flip-flop targets, IDX reading, clear errors."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import torch

from dynan_models.tasks import MnistNotFoundError, digits, flipflop_batch, load_task, mnist
from dynan_models.tasks.mnist import read_idx


def test_digits_split_sizes_and_shapes():
    task = digits(seed=0)
    assert (len(task.train), len(task.val), len(task.test)) == (1197, 300, 300)
    assert task.train.x.shape[1:] == (64, 1)
    assert task.train.x.dtype == torch.float32
    assert 0.0 <= float(task.train.x.min()) and float(task.train.x.max()) <= 1.0
    # stratified: every class in every split
    for split in (task.train, task.val, task.test):
        assert set(split.y.tolist()) == set(range(10))


def test_digits_permutation_fixed_by_seed_and_split_independent_of_it():
    a, b, c = digits(seed=0), digits(seed=0), digits(seed=1)
    assert torch.equal(a.train.x, b.train.x)
    assert not torch.equal(a.train.x, c.train.x)
    # same images in the same split: the permutation only reorders pixels
    assert torch.equal(a.test.y, c.test.y)
    assert torch.allclose(a.test.x.sum(1), c.test.x.sum(1))
    raster = digits(permuted=False)
    assert torch.allclose(raster.test.x.sort(1).values, a.test.x.sort(1).values)


def test_flipflop_targets_hold_last_pulse():
    split = flipflop_batch(
        50, bits=2, steps=40, p_pulse=0.2, generator=torch.Generator().manual_seed(0)
    )
    x, y = split.x.numpy(), split.y.numpy()
    for i in range(5):
        for bit in range(2):
            last = 0.0
            for t in range(40):
                if x[i, t, bit] != 0:
                    last = x[i, t, bit]
                assert y[i, t, bit] == last


def _write_idx(path, array: np.ndarray, code: int = 0x08):
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def test_read_idx_round_trip_and_truncation(tmp_path):
    data = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    _write_idx(tmp_path / "a", data)
    assert np.array_equal(read_idx(tmp_path / "a"), data)
    (tmp_path / "b").write_bytes((tmp_path / "a").read_bytes()[:-3])
    with pytest.raises(ValueError, match="truncated"):
        read_idx(tmp_path / "b")


def test_mnist_from_idx_files_with_split_and_downsampling(tmp_path):
    rng = np.random.default_rng(0)
    n_train, n_test = 50010, 7
    _write_idx(tmp_path / "train-images-idx3-ubyte", rng.integers(0, 256, (n_train, 28, 28)))
    _write_idx(tmp_path / "train-labels-idx1-ubyte", rng.integers(0, 10, n_train))
    _write_idx(tmp_path / "t10k-images-idx3-ubyte", rng.integers(0, 256, (n_test, 28, 28)))
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", rng.integers(0, 10, n_test))
    task = mnist(root=tmp_path, downsample=2)
    assert (len(task.train), len(task.val), len(task.test)) == (50000, 10, 7)
    assert task.steps == 196
    raw = read_idx(tmp_path / "t10k-images-idx3-ubyte")[0].astype(np.float32) / 255
    pooled = raw.reshape(14, 2, 14, 2).mean(axis=(1, 3)).ravel()
    assert np.allclose(np.sort(task.test.x[0, :, 0].numpy()), np.sort(pooled), atol=1e-6)


def test_mnist_missing_files_name_make_data(tmp_path):
    with pytest.raises(MnistNotFoundError, match="make data"):
        mnist(root=tmp_path)


def test_load_task_errors_are_specific():
    with pytest.raises(ValueError, match=r"unknown task 'nope'.*digits"):
        load_task("nope")
    with pytest.raises(ValueError, match="bad parameters for task 'digits'"):
        load_task({"name": "digits", "colour": True})


def test_mnist_subsets_keep_the_first_images_and_enter_the_spec(tmp_path):
    rng = np.random.default_rng(1)
    n_train, n_test = 50020, 9
    _write_idx(tmp_path / "train-images-idx3-ubyte", rng.integers(0, 256, (n_train, 28, 28)))
    _write_idx(tmp_path / "train-labels-idx1-ubyte", rng.integers(0, 10, n_train))
    _write_idx(tmp_path / "t10k-images-idx3-ubyte", rng.integers(0, 256, (n_test, 28, 28)))
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", rng.integers(0, 10, n_test))
    full = mnist(root=tmp_path, downsample=4)
    part = mnist(root=tmp_path, downsample=4, train_size=30, val_size=5, test_size=4)
    assert (len(part.train), len(part.val), len(part.test)) == (30, 5, 4)
    assert torch.equal(part.train.x, full.train.x[:30])
    assert torch.equal(part.val.y, full.val.y[:5])
    assert torch.equal(part.test.x, full.test.x[:4])
    assert part.spec["train_size"] == 30 and "train_size" not in full.spec
    with pytest.raises(ValueError, match=r"val_size must be an integer in \[1, 10000\]"):
        mnist(root=tmp_path, val_size=0)
