"""Permutation p-values are uniform under independence; bootstrap intervals cover the truth."""

from __future__ import annotations

import numpy as np
import pytest

from dynan.similarity import SimilarityError
from dynan.similarity.inference import (
    BootstrapCI,
    PermutationTest,
    bootstrap_ci,
    permutation_test,
)


@pytest.mark.parametrize("options", [{}, {"debiased": True}, {"kernel": "rbf"}])
def test_permutation_p_values_are_uniform_under_independence(options):
    rng = np.random.default_rng(0)
    p_values = np.array([
        permutation_test(
            rng.normal(size=(20, 2)), rng.normal(size=(20, 3)),
            n_permutations=19, seed=int(rng.integers(1 << 30)), **options,
        ).p_value
        for _ in range(300)
    ])  # fmt: skip
    # P(p ≤ k/20) = k/20 for a valid test; check k = 2 and k = 10 (binomial SE 0.017, 0.029)
    assert np.mean(p_values <= 0.1 + 1e-12) == pytest.approx(0.1, abs=0.055)
    assert np.mean(p_values <= 0.5 + 1e-12) == pytest.approx(0.5, abs=0.09)


def test_permutation_detects_dependence_and_round_trips(rng):
    x = rng.normal(size=(50, 3))
    result = permutation_test(x, np.sin(x) + 0.1 * rng.normal(size=(50, 3)), n_permutations=99)
    assert result.p_value == pytest.approx(0.01)
    assert result.null.shape == (99,) and result.null.max() < result.statistic
    assert PermutationTest.from_json(result.to_json()).p_value == result.p_value


def test_bootstrap_interval_covers_the_population_cka():
    """x ~ N(0, Σ), y = x A + N(0, I): population linear CKA = ‖ΣA‖²/(‖Σ‖ ‖AᵀΣA + I‖)."""
    rng = np.random.default_rng(2)
    sigma = np.diag([3.0, 1.0, 0.5])
    a = np.array([[1.0, 0.0], [0.5, 1.0], [0.0, 2.0]])
    truth = np.linalg.norm(sigma @ a) ** 2 / (
        np.linalg.norm(sigma) * np.linalg.norm(a.T @ sigma @ a + np.eye(2))
    )
    covered = 0
    reps = 30
    for _ in range(reps):
        x = rng.normal(size=(300, 3)) @ np.sqrt(sigma)
        y = x @ a + rng.normal(size=(300, 2))
        ci = bootstrap_ci(x, y, n_boot=100, level=0.9, seed=int(rng.integers(1 << 30)))
        covered += ci.low <= truth <= ci.high
    assert covered / reps >= 0.75


def test_bootstrap_round_trip_and_errors(rng):
    x = rng.normal(size=(30, 2))
    ci = bootstrap_ci(x, x + rng.normal(size=(30, 2)), n_boot=20)
    back = BootstrapCI.from_json(ci.to_json())
    assert back.low == ci.low and back.samples.shape == (20,)
    with pytest.raises(SimilarityError, match="level must be in"):
        bootstrap_ci(x, x, level=1.5)
    with pytest.raises(SimilarityError, match="n_permutations must be a positive integer"):
        permutation_test(x, x, n_permutations=0)
