"""Shared test set-up: Agg backend, seeded RNGs, the ``slow`` marker behind --runslow,
``cuda`` tests skipped without a CUDA device."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")
# One thread: the networks here are small, so extra threads only add contention (2-core CI).
torch.set_num_threads(1)


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="run slow tests")


def pytest_collection_modifyitems(config, items):
    if not torch.cuda.is_available():
        no_cuda = pytest.mark.skip(reason="cuda: no CUDA device here")
        for item in items:
            if item.get_closest_marker("cuda") is not None:
                item.add_marker(no_cuda)
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _seed_and_one_thread():
    torch.manual_seed(0)
    yield
    torch.set_num_threads(1)  # a CLI under test may have set another thread count


@pytest.fixture
def rng():
    return np.random.default_rng(0)
