"""Procrustes/shape, CCA, SVCCA and RSA against known values and their invariances."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynan.similarity import CKAWarning, SimilarityError
from dynan.similarity.measures import (
    angular_shape_distance,
    cca_correlations,
    mean_cca_r2,
    procrustes_distance,
    procrustes_similarity,
    rsa,
    svcca,
)

FAST = settings(max_examples=20, deadline=None)


def _orthogonal(rng, p):
    q, r = np.linalg.qr(rng.normal(size=(p, p)))
    return q * np.sign(np.diag(r))


@FAST
@given(seed=st.integers(0, 2**31 - 1), scale=st.floats(1e-2, 1e2))
def test_procrustes_invariances_and_non_invariance(seed, scale):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(50, 4))
    y = np.tanh(x @ rng.normal(size=(4, 3))) + 0.2 * rng.normal(size=(50, 3))
    base = procrustes_similarity(x, y)
    moved = scale * x @ _orthogonal(rng, 4) + rng.normal(size=4)
    assert procrustes_similarity(moved, y) == pytest.approx(base, abs=1e-10)
    assert procrustes_distance(moved, scale * x) < 1e-9
    assert procrustes_similarity(x * [1, 1, 1, 50], y) != pytest.approx(base, abs=1e-3)


def test_procrustes_one_dimensional_is_absolute_correlation(rng):
    x = rng.normal(size=(100, 1))
    y = -0.5 * x + rng.normal(size=(100, 1))
    r = abs(np.corrcoef(x[:, 0], y[:, 0])[0, 1])
    assert procrustes_similarity(x, y) == pytest.approx(r, abs=1e-12)
    assert procrustes_distance(x, y) == pytest.approx(np.sqrt(2 - 2 * r), abs=1e-12)
    assert angular_shape_distance(x, y) == pytest.approx(np.arccos(r), abs=1e-10)


@FAST
@given(seed=st.integers(0, 2**31 - 1))
def test_angular_shape_distance_is_a_metric(seed):
    rng = np.random.default_rng(seed)
    a, b, c = (rng.normal(size=(20, 3)) for _ in range(3))
    assert angular_shape_distance(a, c) <= (
        angular_shape_distance(a, b) + angular_shape_distance(b, c) + 1e-12
    )
    assert angular_shape_distance(a, b) == pytest.approx(angular_shape_distance(b, a), abs=1e-12)


def test_cca_recovers_known_canonical_correlations():
    """x = (u₁, u₂), y = (ρᵢuᵢ + √(1 − ρᵢ²)eᵢ), then both mixed by invertible maps: the
    population canonical correlations are exactly (0.9, 0.5)."""
    rng = np.random.default_rng(3)
    n = 20000
    u, e = rng.normal(size=(n, 2)), rng.normal(size=(n, 2))
    rho = np.array([0.9, 0.5])
    x = u @ rng.normal(size=(2, 2))
    y = (rho * u + np.sqrt(1 - rho**2) * e) @ rng.normal(size=(2, 2)) + 7.0
    assert cca_correlations(x, y) == pytest.approx(rho, abs=0.02)
    assert mean_cca_r2(x, y) == pytest.approx(np.mean(rho**2), abs=0.02)
    assert svcca(x, y, keep=1.0) == pytest.approx(np.mean(rho), abs=0.02)


@FAST
@given(seed=st.integers(0, 2**31 - 1))
def test_cca_invariant_to_invertible_linear_maps(seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(60, 3))
    y = x @ rng.normal(size=(3, 4)) + rng.normal(size=(60, 4))
    a = rng.normal(size=(3, 3)) + 3 * np.eye(3)
    assert cca_correlations(x @ a, y) == pytest.approx(cca_correlations(x, y), abs=1e-9)
    assert svcca(x @ a, y, keep=1.0) == pytest.approx(svcca(x, y, keep=1.0), abs=1e-9)


def test_cca_warns_when_forced_to_one(rng):
    with pytest.warns(CKAWarning, match="canonical correlations of 1 are forced"):
        rho = cca_correlations(rng.normal(size=(6, 3)), rng.normal(size=(6, 3)))
    assert rho[0] == pytest.approx(1.0)


def test_svcca_keeps_leading_directions(rng):
    """Two shared strong directions, three tiny independent ones on each side: SVCCA at 99 %
    sees only the shared ones (ρ = 1); keeping everything averages in ~0 correlations."""
    signal = rng.normal(size=(500, 2))
    x = np.hstack([signal * 10, 1e-3 * rng.normal(size=(500, 3))])
    y = np.hstack([signal @ rng.normal(size=(2, 2)), 1e-3 * rng.normal(size=(500, 3))])
    assert svcca(x, y, keep=0.99) == pytest.approx(1.0, abs=1e-9)
    assert svcca(x, y, keep=1.0) == pytest.approx(2 / 5, abs=0.1)


def test_rsa_known_values(rng):
    x = rng.normal(size=(30, 4))
    assert rsa(x, 2 * x + 1) == pytest.approx(1.0)
    q = _orthogonal(rng, 4)
    assert rsa(x, x @ q, metric="euclidean", method="pearson") == pytest.approx(1.0, abs=1e-12)
    assert abs(rsa(x, rng.normal(size=(30, 4)))) < 0.2


def test_measures_error_paths(rng):
    x = rng.normal(size=(10, 2))
    with pytest.raises(SimilarityError, match="at least 3 examples"):
        rsa(x[:2], x[:2])
    with pytest.raises(SimilarityError, match="method must be one of"):
        rsa(x, x, method="kendall")
    with pytest.raises(SimilarityError, match="keep must be in"):
        svcca(x, x, keep=0.0)
    with pytest.raises(SimilarityError, match="same number of rows"):
        procrustes_similarity(x, x[:5])
    with pytest.warns(CKAWarning, match="constant"):
        assert np.isnan(procrustes_similarity(x, np.ones((10, 2))))
