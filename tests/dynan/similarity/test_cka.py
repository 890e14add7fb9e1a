"""dynan.cka and HSIC against known values, invariances and error paths (REFERENCES.md §5)."""

from __future__ import annotations

import itertools
import tracemalloc

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dynan.similarity import CKAWarning, SimilarityError, cka, hsic, linear_gram, rbf_gram
from dynan.similarity._checks import as_matrix
from dynan.similarity.cka import feature_space, normalise
from dynan.similarity.hsic import feature_side, pair_hsic

FAST = settings(max_examples=20, deadline=None)
ESTIMATORS = [
    {"kernel": "linear", "debiased": False},
    {"kernel": "linear", "debiased": True},
    {"kernel": "rbf", "debiased": False},
    {"kernel": "rbf", "debiased": True, "sigma": 0.8},
]


def _pair(seed: int, n: int = 40, p: int = 6, q: int = 5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, p))
    y = np.tanh(x @ rng.normal(size=(p, q))) + 0.5 * rng.normal(size=(n, q))
    return x, y


def _orthogonal(seed: int, p: int) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(p, p)))
    return q * np.sign(np.diag(r))


def _hsic_textbook(k: np.ndarray, l: np.ndarray, debiased: bool) -> float:  # noqa: E741
    """Direct transcription of the two formulas with an explicit H (O(n³))."""
    n = k.shape[0]
    if not debiased:
        h = np.eye(n) - np.ones((n, n)) / n
        return float(np.trace(k @ h @ l @ h)) / (n - 1) ** 2
    kt, lt = k * (1 - np.eye(n)), l * (1 - np.eye(n))
    one = np.ones(n)
    return float(
        np.trace(kt @ lt)
        + (one @ kt @ one) * (one @ lt @ one) / ((n - 1) * (n - 2))
        - 2 / (n - 2) * (one @ kt @ lt @ one)
    ) / (n * (n - 3))


@pytest.mark.parametrize("options", ESTIMATORS)
@FAST
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(8, 60), p=st.integers(1, 12))
def test_cka_self_is_one(options, seed, n, p):
    x = np.random.default_rng(seed).normal(size=(n, p))
    assert cka(x, x, **options) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("options", ESTIMATORS)
@FAST
@given(
    seed=st.integers(0, 2**31 - 1),
    scale=st.floats(1e-3, 1e3),
    shift=st.floats(-1e3, 1e3),
)
def test_cka_invariant_to_orthogonal_scaling_translation(options, seed, scale, shift):
    x, y = _pair(seed)
    q = _orthogonal(seed + 1, x.shape[1])
    offset = shift * np.random.default_rng(seed + 2).normal(size=x.shape[1])
    base = cka(x, y, **options)
    assert cka(scale * x @ q + offset, y, **options) == pytest.approx(base, abs=1e-9)
    assert cka(x, scale * y + shift, **options) == pytest.approx(base, abs=1e-9)


@pytest.mark.parametrize("options", ESTIMATORS)
@FAST
@given(seed=st.integers(0, 2**31 - 1), factor=st.floats(10.0, 100.0))
def test_cka_not_invariant_to_per_feature_scaling_or_invertible_maps(options, seed, factor):
    """y depends on the first 3 of 6 features; stretching the other 3 (an invertible diagonal
    map) moves CKA a lot, and so does a dense invertible map A = B·S·Q built on that stretch
    (B block-orthogonal, Q orthogonal), while the orthogonal parts alone would change nothing."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(60, 6))
    y = x[:, :3] @ rng.normal(size=(3, 4)) + 0.1 * rng.normal(size=(60, 4))
    base = cka(x, y, **options)
    stretch = np.diag([1, 1, 1, factor, factor, factor])
    assert abs(cka(x @ stretch, y, **options) - base) > 0.1
    block = np.zeros((6, 6))
    block[:3, :3], block[3:, 3:] = _orthogonal(seed + 3, 3), _orthogonal(seed + 4, 3)
    dense = block @ stretch @ _orthogonal(seed + 5, 6)
    assert np.count_nonzero(np.abs(dense) < 1e-12) == 0
    assert abs(cka(x @ dense, y, **options) - base) > 0.1


@FAST
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(5, 80), p=st.integers(1, 9))
def test_linear_cka_equals_rv_coefficient(seed, n, p):
    """RV (Robert & Escoufier 1976) from sample covariances: tr(SxySyx)/√(tr Sxx² tr Syy²)."""
    x, y = _pair(seed, n=n, p=p, q=3)
    s = np.cov(np.hstack([x, y]).T)
    sxx, syy, sxy = s[:p, :p], s[p:, p:], s[:p, p:]
    rv = np.trace(sxy @ sxy.T) / np.sqrt(np.trace(sxx @ sxx) * np.trace(syy @ syy))
    for method in ("features", "gram"):
        assert cka(x, y, method=method) == pytest.approx(rv, abs=1e-12)


@pytest.mark.parametrize("debiased", [False, True])
def test_hsic_matches_textbook_formula(debiased, rng):
    x, y = rng.normal(size=(12, 3)), rng.normal(size=(12, 2)) + 5.0
    k, l = x @ x.T, np.exp(-((y[:, None] - y[None]) ** 2).sum(-1))  # noqa: E741
    assert hsic(k, l, debiased=debiased) == pytest.approx(
        _hsic_textbook(k, l, debiased), rel=1e-12
    )


def test_feature_and_gram_space_agree(rng):
    x, y = _pair(3, n=30, p=40, q=7)
    for debiased in (False, True):
        a = cka(x, y, debiased=debiased, method="features")
        b = cka(x, y, debiased=debiased, method="gram")
        assert a == pytest.approx(b, abs=1e-12)


def test_hsic1_is_unbiased_monte_carlo():
    """x ~ N(0, I₂), y = x A + ε: the population HSIC of linear kernels is ‖Cov(x, y)‖²_F =
    ‖A‖²_F = 0.5. HSIC₁ averages to it at n = 8; the biased HSIC₀ does not."""
    rng = np.random.default_rng(7)
    a = np.array([[0.5, 0.0], [0.0, -0.5]])
    reps, n = 4000, 8
    x = rng.normal(size=(reps, n, 2))
    y = x @ a + rng.normal(size=(reps, n, 2))
    k, l = x @ x.transpose(0, 2, 1), y @ y.transpose(0, 2, 1)  # noqa: E741
    h1 = np.array([hsic(k[i], l[i], debiased=True) for i in range(reps)])
    h0 = np.array([hsic(k[i], l[i]) for i in range(reps)])
    se = h1.std(ddof=1) / np.sqrt(reps)
    assert abs(h1.mean() - 0.5) < 4 * se
    assert abs(h0.mean() - 0.5) > 10 * h0.std(ddof=1) / np.sqrt(reps)


@pytest.mark.parametrize(("n", "p", "q"), [(200, 50, 100), (300, 600, 30)])
def test_independent_gaussians_biased_and_debiased(n, p, q):
    """Biased CKA ≈ 1/√((1 + n/p)(1 + n/q)); debiased ≈ 0 (REFERENCES.md §5)."""
    rng = np.random.default_rng(11)
    values, debiased = [], []
    for _ in range(5):
        x, y = rng.normal(size=(n, p)), rng.normal(size=(n, q))
        values.append(cka(x, y))
        debiased.append(cka(x, y, debiased=True))
    predicted = 1 / np.sqrt((1 + n / p) * (1 + n / q))
    assert np.mean(values) == pytest.approx(predicted, rel=0.05)
    assert abs(np.mean(debiased)) < 0.01


def _naive_float32_cka(x: np.ndarray, y: np.ndarray) -> float:
    """The peer bug of REFERENCES.md §5: float32 Grams of uncentred features, centred after."""
    n = len(x)
    h = np.eye(n, dtype=np.float32) - np.float32(1 / n)
    kc, lc = h @ (x @ x.T) @ h, h @ (y @ y.T) @ h
    return float((kc * lc).sum() / np.sqrt((kc * kc).sum() * (lc * lc).sum()))


@FAST
@given(
    seed=st.integers(0, 2**31 - 1),
    mean=st.floats(-1e3, 1e3),
    options=st.sampled_from(
        [{}, {"debiased": True}, {"method": "gram"}, {"method": "gram", "debiased": True}]
    ),
)
def test_float32_with_large_mean_matches_float64(seed, mean, options):
    """Unit-variance features around a mean of up to 10³: float32 inputs give the float64 value
    to 1e-6 (float32 rounding of the inputs themselves is ~6e-5 at 10³, and costs < 1e-6)."""
    rng = np.random.default_rng(seed)
    x64 = rng.normal(size=(300, 20)) + mean
    y64 = np.tanh(x64 - mean) @ rng.normal(size=(20, 8)) + mean
    x32, y32 = x64.astype(np.float32), y64.astype(np.float32)
    assert cka(x32, y32, **options) == pytest.approx(cka(x64, y64, **options), abs=1e-6)


def test_float32_large_mean_beats_the_naive_gram(rng):
    x64 = rng.normal(size=(500, 20)) + 1e3
    y64 = np.tanh(x64 - 1e3) @ rng.normal(size=(20, 8)) + 1e3
    x32, y32 = x64.astype(np.float32), y64.astype(np.float32)
    exact = cka(x64, y64)
    assert abs(_naive_float32_cka(x32, y32) - exact) > 1e-2  # the test data can expose the bug
    assert cka(x32, y32) == pytest.approx(exact, abs=1e-6)
    tx, ty = torch.from_numpy(x32).requires_grad_(), torch.from_numpy(y32)
    assert cka(tx, ty) == pytest.approx(exact, abs=1e-6)


@pytest.mark.parametrize("options", [ESTIMATORS[0], ESTIMATORS[2]])
@FAST
@given(seed=st.integers(0, 2**31 - 1))
def test_arccos_cka_satisfies_the_triangle_inequality(options, seed):
    """Biased CKA is the cosine of the angle between centred Grams, so arccos(CKA) is a metric."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(30, 4))
    reps = [
        base @ rng.normal(size=(4, 5)) + rng.normal(scale=s, size=(30, 5)) for s in (0.1, 1, 3)
    ]
    reps.append(rng.normal(size=(30, 2)))
    d = np.arccos(np.clip([[cka(a, b, **options) for b in reps] for a in reps], -1, 1))
    for i, j, m in itertools.product(range(len(reps)), repeat=3):
        assert d[i, j] <= d[i, m] + d[m, j] + 1e-7


def test_one_minus_cka_is_not_a_metric():
    """X, Z: orthonormal centred columns (CKA 0); Y = [X, Z] has Gram K_X + K_Z, 45° from each.
    1 − CKA(X, Z) = 1 > 2 (1 − cos 45°) ≈ 0.59, while the angles add up exactly."""
    a = np.random.default_rng(0).normal(size=(40, 4))
    q = np.linalg.qr(a - a.mean(0))[0]  # combinations of centred columns: centred, orthonormal
    x, z = q[:, :2], q[:, 2:]
    y = np.hstack([x, z])
    assert cka(x, z) == pytest.approx(0.0, abs=1e-12)
    assert cka(x, y) == pytest.approx(np.sqrt(0.5), abs=1e-12)
    assert 1 - cka(x, z) > (1 - cka(x, y)) + (1 - cka(y, z)) + 0.4
    assert np.arccos(cka(x, z)) == pytest.approx(np.arccos(cka(x, y)) + np.arccos(cka(y, z)))


def test_rbf_tends_to_linear_for_wide_bandwidth(rng):
    """exp(−d²/2σ²) ≈ 1 − d²/2σ², and −d²/2 centres to the linear Gram."""
    x, y = _pair(5)
    assert cka(x, y, kernel="rbf", sigma=1e3) == pytest.approx(cka(x, y), abs=1e-5)


def test_rbf_gram_bandwidth_is_median_multiple():
    x = np.array([[0.0], [1.0], [3.0]])
    d2 = np.array([[0, 1, 9], [1, 0, 4], [9, 4, 0]], dtype=float)  # median over all 9 is 1
    assert np.allclose(rbf_gram(x, sigma=2.0), np.exp(-d2 / (2 * 4 * 1.0)))
    assert np.allclose(linear_gram(x), [[16 / 9, 4 / 9, -20 / 9], [4 / 9, 1 / 9, -5 / 9],
                                        [-20 / 9, -5 / 9, 25 / 9]])  # fmt: skip


def test_constant_representation_gives_nan_with_reason(rng):
    x = rng.normal(size=(20, 3))
    with pytest.warns(CKAWarning, match="Y is constant"):
        assert np.isnan(cka(x, np.full((20, 2), 0.1)))


def test_degenerate_debiased_self_hsic_gives_nan_with_reason(rng):
    x = np.array([[0.0], [0.0], [0.0], [0.0], [1.0]])  # U-centred Gram is zero
    with pytest.warns(CKAWarning, match="debiased self-HSIC of X"):
        assert np.isnan(cka(x, rng.normal(size=(5, 2)), debiased=True))


def test_negative_self_hsic_is_never_square_rooted():
    with pytest.warns(CKAWarning, match="self-HSIC of B is -0.2"):
        out = normalise(
            np.array([[0.1]]), np.array([1.0]), np.array([-0.2]),
            scale_a=[1.0], scale_b=[1.0], names_a=["A"], names_b=["B"],
            constant_a=[False], constant_b=[False], debiased=True, n=6,
        )  # fmt: skip
    assert np.isnan(out).all()


@pytest.mark.parametrize(
    ("x", "y", "options", "match"),
    [
        (np.zeros(10), np.zeros((10, 2)), {}, r"X must be a 2-D array .* shape \(10,\)"),
        (np.zeros((10, 2)), np.zeros((9, 2)), {}, r"same examples \(rows\).*\(10, 2\).*\(9, 2\)"),
        (np.full((5, 2), np.nan), np.ones((5, 2)), {}, "X has 10 non-finite"),
        (np.eye(3), np.eye(3), {"debiased": True}, "at least 4 examples, got n=3"),
        (np.eye(1), np.eye(1), {}, "at least 2 examples, got n=1"),
        (np.eye(5), np.eye(5), {"kernel": "poly"}, "kernel must be one of 'linear', 'rbf'"),
        (np.eye(5), np.eye(5), {"sigma": 0.5}, "sigma applies to the rbf kernel only"),
        (np.eye(5), np.eye(5), {"kernel": "rbf", "sigma": -1.0}, "sigma must be a positive"),
        (np.eye(5), np.eye(5), {"kernel": "rbf", "method": "features"}, "no feature-space"),
        (np.eye(5), np.eye(5), {"method": "fast"}, "method must be one of"),
        (np.ones((5, 2)) * 1j, np.eye(5), {}, "X is complex"),
    ],
)
def test_cka_error_paths(x, y, options, match):
    with pytest.raises(SimilarityError, match=match):
        cka(x, y, **options)


def test_hsic_error_paths():
    with pytest.raises(SimilarityError, match="square"):
        hsic(np.ones((3, 4)), np.ones((3, 4)))
    with pytest.raises(SimilarityError, match="symmetric"):
        hsic(np.triu(np.ones((4, 4))), np.ones((4, 4)))
    with pytest.raises(SimilarityError, match="same shape"):
        hsic(np.eye(4), np.eye(5))


@pytest.mark.parametrize("debiased", [False, True])
def test_blocked_feature_sums_equal_the_whole_array_formula(debiased):
    """n = 1000 = 15·64 + 40 rows in blocks of 64: every HSIC and scale equals the whole-array
    centred-feature formula (pair_hsic of FeatureSide) to 1e-12 relative, for float32 features
    around a mean of 300 that drift with the row index (so no block looks like the whole)."""
    rng = np.random.default_rng(3)
    drift = np.linspace(0, 5, 1000)[:, None]
    x = (rng.normal(size=(1000, 9)) + 300 + drift).astype(np.float32)
    y = np.tanh(x[:, :6] - 300) @ rng.normal(size=(6, 5)) + 0.3 * rng.normal(size=(1000, 5))
    z = rng.normal(size=(1000, 3)) * 10 - 50
    reps = [x, y, z]
    whole = [feature_side(as_matrix(r)) for r in reps]

    def reference(a, b):
        return float(pair_hsic(whole[a], whole[b], debiased=debiased))

    pair = feature_space([x], [y, z], debiased=debiased, chunk=64)
    assert pair.cross[0] == pytest.approx([reference(0, 1), reference(0, 2)], rel=1e-12)
    assert pair.self_b == pytest.approx([reference(1, 1), reference(2, 2)], rel=1e-12)
    assert pair.scale_a == pytest.approx([whole[0].scale], rel=1e-12)
    every = feature_space(reps, None, debiased=debiased, chunk=64)
    for i, j in itertools.combinations(range(3), 2):
        assert every.cross[i, j] == pytest.approx(reference(i, j), rel=1e-12)
    assert every.self_a == pytest.approx([reference(i, i) for i in range(3)], rel=1e-12)
    assert every.constant_a == [False, False, False]
    assert cka(x, y, debiased=debiased) == pytest.approx(
        cka(x, y, debiased=debiased, method="gram"), abs=1e-12
    )


@pytest.mark.parametrize("debiased", [False, True])
def test_feature_space_memory_does_not_grow_with_n(debiased):
    """Peak memory traced during cka on float32 (n, 16) inputs: the same at n = 20 000 and
    n = 80 000, and below the size of one input (whole float64 copies would add ~5·n·16·8 B)."""
    peaks = []
    for n in (20_000, 80_000):
        rng = np.random.default_rng(n)
        x = rng.normal(5.0, 1.0, size=(n, 16)).astype(np.float32)
        y = np.tanh(x)
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            cka(x, y, debiased=debiased)
            peaks.append(tracemalloc.get_traced_memory()[1] - before)
        finally:
            tracemalloc.stop()
    assert peaks[1] <= peaks[0] + 64 * 1024
    assert peaks[1] < x.nbytes
