"""Davari et al. Theorem 1: subset translation and single outliers drive CKA to known limits."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynan.similarity import SimilarityError, cka
from dynan.similarity.translation import (
    TranslationCurve,
    participation_ratio,
    single_point_limits,
    single_point_translation,
    subset_translation_curve,
    subset_translation_limit,
)


def _anisotropic(seed: int, n: int = 200, p: int = 8) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, p)) * np.geomspace(3, 0.3, p) + 5.0


def _limit_by_eigenvalues(x: np.ndarray, subset: np.ndarray) -> float:
    """Theorem 1 written out with the covariance eigenvalues (independent of the module)."""
    xc = x - x.mean(0)
    lam = np.linalg.eigvalsh(xc.T @ xc / len(x))
    rho = len(subset) / len(x)
    mean_s = xc[subset].mean(0)
    d_pr = lam.sum() ** 2 / (lam**2).sum()
    return rho / (1 - rho) * (mean_s @ mean_s) / np.mean((xc**2).sum(1)) * np.sqrt(d_pr)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), rho=st.sampled_from([0.05, 0.25, 0.5, 0.8]))
def test_subset_translation_reaches_theorem_1_limit(seed, rho):
    x = _anisotropic(seed)
    rng = np.random.default_rng(seed + 1)
    subset = rng.choice(len(x), size=int(rho * len(x)), replace=False)
    limit = _limit_by_eigenvalues(x, subset)
    assert subset_translation_limit(x, subset) == pytest.approx(limit, rel=1e-12)
    curve = subset_translation_curve(x, subset, scales=[0.0, 1e6], seed=seed)
    assert curve.cka[0] == pytest.approx(1.0)
    assert curve.cka[-1] == pytest.approx(limit, rel=1e-4, abs=1e-9)
    y = np.tanh(x - 5.0) @ rng.normal(size=(8, 6))  # another representation moved instead
    other = subset_translation_curve(x, subset, y=y, scales=[1e6], seed=seed)
    assert other.cka[0] == pytest.approx(limit, rel=1e-4, abs=1e-9)


def test_theorem_1_limit_by_hand():
    """x = (1, −1, 3, −3), S = {0, 2}: ρ = ½, mean_S x = 2, mean x² = 5, d_PR = 1 → 4/5."""
    x = np.array([[1.0], [-1.0], [3.0], [-3.0]])
    assert subset_translation_limit(x, [0, 2]) == pytest.approx(0.8, abs=1e-15)
    assert subset_translation_limit(x, np.array([True, False, True, False])) == pytest.approx(0.8)


def test_single_outlier_formula():
    """Moving x̂ alone by c·v drives CKA(X, X′) to ‖x̂‖²/((n − 1) mean‖x‖²) · √d_PR."""
    x = _anisotropic(4, n=100)
    xc = x - x.mean(0)
    lam = np.linalg.eigvalsh(xc.T @ xc / len(x))
    d_pr = lam.sum() ** 2 / (lam**2).sum()
    mean_sq = np.mean((xc**2).sum(1))
    v = np.random.default_rng(0).normal(size=8)
    for i in (0, 17, 99):
        expected = (xc[i] @ xc[i]) / ((len(x) - 1) * mean_sq) * np.sqrt(d_pr)
        moved = x.copy()
        moved[i] += 1e8 * v / np.linalg.norm(v)
        assert cka(x, moved) == pytest.approx(expected, rel=1e-6)
        assert single_point_limits(x)[i] == pytest.approx(expected, rel=1e-12)
    assert single_point_translation(x, x, scale=1e9) == pytest.approx(
        single_point_limits(x), rel=1e-6
    )


def test_single_point_translation_closed_form_matches_direct(rng):
    x = rng.normal(size=(40, 5))
    y = np.tanh(x @ rng.normal(size=(5, 3))) + 0.1 * rng.normal(size=(40, 3))
    y[7] = np.delete(y, 7, 0).mean(0)  # at the centre: moves along the top principal direction
    yc = y - y.mean(0)
    rms = np.sqrt((yc**2).sum() / 40)
    top = np.linalg.svd(yc)[2][0]
    direct = []
    for i in range(40):
        v = top if i == 7 else yc[i] / np.linalg.norm(yc[i])
        moved = y.copy()
        moved[i] += 2.5 * rms * v
        direct.append(cka(x, moved))
    assert single_point_translation(x, y, scale=2.5) == pytest.approx(direct, abs=1e-12)


def test_translation_along_separating_normal_keeps_separability_but_moves_cka(rng):
    """Two classes split by w·x = 0; move class 1 further along w: still separable, and CKA
    with the original falls to the Theorem 1 limit of the class-0 subset."""
    x = rng.normal(size=(300, 4))
    w = np.array([1.0, 0.5, 0.0, 0.0])
    labels = (x @ w > 0).astype(int)
    curve = subset_translation_curve(x, labels == 0, direction=w, scales=[0.0, 10.0, 1e5])
    moved = x + np.outer(labels == 1, 1e5 * np.sqrt((x - x.mean(0)) ** 2).sum(1).mean() * w)
    assert np.all((moved @ w > 0) == (labels == 1))
    assert curve.cka[0] == pytest.approx(1.0)
    assert curve.cka[-1] == pytest.approx(curve.limit, rel=1e-4)
    assert curve.limit < 0.5


def test_participation_ratio_known_spectra():
    """Orthogonal centred columns with norms² ∝ (4, 1, 1): d_PR = 36/18 = 2."""
    h = np.linalg.qr(np.random.default_rng(1).normal(size=(50, 3)) - 0)[0]
    h = h - h.mean(0)
    q, _ = np.linalg.qr(h)  # orthonormal and (numerically) centred again
    q -= q.mean(0)
    q /= np.linalg.norm(q, axis=0)
    x = q * [2.0, 1.0, 1.0]
    lam = np.linalg.eigvalsh(x.T @ x)
    assert participation_ratio(x) == pytest.approx(lam.sum() ** 2 / (lam**2).sum(), rel=1e-12)
    assert participation_ratio(np.outer(np.arange(10.0), [1.0, 2.0])) == pytest.approx(1.0)


def test_curve_round_trip_and_errors(rng):
    x = rng.normal(size=(30, 3))
    curve = subset_translation_curve(x, [1, 2, 3])
    back = TranslationCurve.from_json(curve.to_json())
    np.testing.assert_array_equal(back.cka, curve.cka)
    assert back.rho == pytest.approx(0.1)
    with pytest.raises(SimilarityError, match="between 1 and n − 1 = 29"):
        subset_translation_limit(x, [])
    with pytest.raises(SimilarityError, match=r"mask must have shape \(30,\)"):
        subset_translation_limit(x, np.ones(5, dtype=bool))
    with pytest.raises(SimilarityError, match="direction must be a non-zero vector of length 3"):
        subset_translation_curve(x, [0], direction=[1.0, 0.0])
    with pytest.raises(SimilarityError, match="scale must be"):
        single_point_translation(x, x, scale=-1.0)
    with pytest.raises(SimilarityError, match="constant"):
        participation_ratio(np.ones((5, 2)))
