"""Streaming CKA equals full-data CKA; its memory does not grow with n."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynan.similarity import CKAWarning, SimilarityError, cka
from dynan.similarity.streaming import StreamingCKA, streaming_cka


def _data(seed: int, n: int, mean: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 7)) * rng.uniform(0.5, 3, size=7) + mean
    y = np.tanh(x - mean) @ rng.normal(size=(7, 5)) + 0.3 * rng.normal(size=(n, 5)) - mean
    return x, y


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    cuts=st.lists(st.integers(1, 399), max_size=8),
    mean=st.sampled_from([0.0, 50.0, 1e3]),
    debiased=st.booleans(),
)
def test_streaming_equals_full(seed, cuts, mean, debiased):
    x, y = _data(seed, 400, mean)
    edges = [0, *sorted(set(cuts)), 400]
    batches = [(x[a:b], y[a:b]) for a, b in itertools.pairwise(edges)]
    full = cka(x, y, debiased=debiased)
    assert streaming_cka(batches, debiased=debiased) == pytest.approx(full, abs=1e-12)


def test_streaming_memory_independent_of_n():
    sizes = []
    for n in (10, 5000):
        x, y = _data(0, n, 1.0)
        acc = StreamingCKA().update(x[: n // 2], y[: n // 2]).update(x[n // 2 :], y[n // 2 :])
        arrays = [v for v in vars(acc).values() if isinstance(v, np.ndarray)]
        arrays += [a for sums in (acc._x, acc._y, acc._xy) for a in vars(sums).values()
                   if isinstance(a, np.ndarray)]  # fmt: skip
        sizes.append(sum(a.nbytes for a in arrays))
    assert sizes[0] == sizes[1] > 0


def test_streaming_accepts_tensors_and_counts_every_batch():
    torch = pytest.importorskip("torch")
    x, y = _data(1, 90, 0.0)
    acc = StreamingCKA()
    for i in range(0, 90, 30):
        acc.update(torch.from_numpy(x[i : i + 30]).float(), y[i : i + 30])
    assert acc.n == 90
    assert acc.result() == pytest.approx(cka(x.astype(np.float32), y), abs=1e-12)


def test_streaming_constant_side_is_nan_with_reason():
    acc = StreamingCKA()
    for _ in range(3):
        acc.update(np.full((4, 2), 0.1), np.random.default_rng(0).normal(size=(4, 3)))
    with pytest.warns(CKAWarning, match="x is constant"):
        assert np.isnan(acc.result())


def test_streaming_error_paths():
    with pytest.raises(SimilarityError, match="no batches"):
        StreamingCKA().result()
    acc = StreamingCKA(debiased=True).update(np.ones((2, 3)), np.ones((2, 2)))
    with pytest.raises(SimilarityError, match="at least 4 examples, got n=2"):
        acc.result()
    with pytest.raises(SimilarityError, match="earlier batches had 3 and 2"):
        acc.update(np.ones((2, 4)), np.ones((2, 2)))
    with pytest.raises(SimilarityError, match="same number of rows"):
        acc.update(np.ones((2, 3)), np.ones((3, 2)))
