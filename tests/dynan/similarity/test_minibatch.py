"""Minibatch CKA (Nguyen et al. 2021): HSIC₁ does not drift with the batch size, HSIC₀ does."""

from __future__ import annotations

import numpy as np
import pytest

from dynan.similarity import SimilarityError, cka
from dynan.similarity.minibatch import MinibatchCKA, minibatch_cka

BATCHES = [16, 128, 1024]


def test_independent_gaussians_biased_drifts_as_predicted_debiased_stays_zero():
    """Each biased batch has CKA ≈ 1/√((1 + b/p)(1 + b/q)), so the average follows b."""
    rng = np.random.default_rng(0)
    n, p, q = 4096, 32, 48
    x, y = rng.normal(size=(n, p)), rng.normal(size=(n, q))
    for b in BATCHES:
        predicted = 1 / np.sqrt((1 + b / p) * (1 + b / q))
        assert minibatch_cka(x, y, batch_size=b, debiased=False) == pytest.approx(
            predicted, rel=0.05
        )
        assert abs(minibatch_cka(x, y, batch_size=b)) < 0.02


def test_dependent_data_debiased_matches_full_data_at_every_batch_size():
    rng = np.random.default_rng(1)
    n, p = 4096, 32
    x = rng.normal(size=(n, p))
    y = 0.3 * x @ rng.normal(size=(p, 24)) + rng.normal(size=(n, 24))
    full = cka(x, y, debiased=True)
    debiased = [minibatch_cka(x, y, batch_size=b) for b in BATCHES]
    biased = [minibatch_cka(x, y, batch_size=b, debiased=False) for b in BATCHES]
    assert np.ptp(debiased) < 0.015
    assert max(abs(v - full) for v in debiased) < 0.015
    assert biased[0] - biased[-1] > 0.2  # the biased estimator drifts down as b grows


def test_minibatch_uses_every_row_and_rbf_runs(rng):
    x = rng.normal(size=(103, 3))
    acc = MinibatchCKA()
    for idx in np.array_split(np.arange(103), 103 // 25):
        acc.update(x[idx], -x[idx])
    assert acc.batches == 4
    assert acc.result() == pytest.approx(1.0, abs=1e-12)
    assert minibatch_cka(x, x, batch_size=20, kernel="rbf") == pytest.approx(1.0, abs=1e-12)


def test_minibatch_error_paths(rng):
    x = rng.normal(size=(10, 2))
    with pytest.raises(SimilarityError, match="at least 4 examples, got n=3"):
        MinibatchCKA().update(x[:3], x[:3])
    with pytest.raises(SimilarityError, match="larger than the n=10"):
        minibatch_cka(x, x, batch_size=11)
    with pytest.raises(SimilarityError, match="no batches"):
        MinibatchCKA().result()
    acc = MinibatchCKA().update(x[:5], x[:5])
    with pytest.raises(SimilarityError, match=r"feature counts \(3, 2\) differ"):
        acc.update(np.ones((5, 3)), x[:5])
