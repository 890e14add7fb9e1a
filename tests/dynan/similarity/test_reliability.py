"""Reliability diagnostics and verdicts: closed forms against the definition, known cases."""

from __future__ import annotations

import numpy as np
import pytest

from dynan.similarity import SimilarityError, bootstrap_ci, cka
from dynan.similarity.inference import jackknife_interval
from dynan.similarity.reliability import (
    ReliabilityVerdict,
    assess_reliability,
    leave_one_out,
    linear_map_sensitivity,
)


@pytest.mark.parametrize(("n", "p", "q"), [(30, 4, 3), (12, 40, 5)])
def test_leave_one_out_matches_recomputation(rng, n, p, q):
    x = rng.normal(size=(n, p)) + 3.0
    y = np.tanh(x @ rng.normal(size=(p, q))) + 0.2 * rng.normal(size=(n, q))
    direct = [cka(np.delete(x, i, 0), np.delete(y, i, 0)) for i in range(n)]
    assert leave_one_out(x, y) == pytest.approx(direct, abs=1e-12)


def test_linear_maps_orthogonal_do_nothing_others_move(rng):
    x = rng.normal(size=(100, 5)) * [3, 2, 1, 0.5, 0.2]
    y = np.tanh(x) + 0.1 * rng.normal(size=(100, 5))
    assert linear_map_sensitivity(x, y, condition=1.0).spread < 1e-12  # orthogonal maps
    result = linear_map_sensitivity(x, y, n_maps=6, condition=10.0)
    assert result.values.shape == (6,) and result.spread > 0.05
    assert result.baseline == pytest.approx(cka(x, y))


def test_verdicts_for_known_cases(rng):
    x = rng.normal(size=(200, 6)) * [3, 2, 1.5, 1, 0.5, 0.2]
    related = x @ np.linalg.qr(rng.normal(size=(6, 6)))[0] + 0.1 * rng.normal(size=(200, 6))
    good = assess_reliability(x, related)
    assert good.verdict == "reliable" and good.flags == ()
    assert good.p_value == pytest.approx(0.01) and good.ci_low <= good.cka <= good.ci_high

    unrelated = assess_reliability(x, rng.normal(size=(200, 6)))
    assert unrelated.verdict == "unreliable" and "not-significant" in unrelated.flags

    planted = related.copy()
    planted[5] += 40 * np.sqrt(np.mean(np.sum((related - related.mean(0)) ** 2, 1)))
    outlier = assess_reliability(x, planted)
    assert {"outlier-dominated", "single-point-sensitive"} <= set(outlier.flags)
    assert outlier.loo_worst_index == 5
    assert outlier.verdict == "unreliable"
    assert any("example 5" in r for r in outlier.reasons)

    back = ReliabilityVerdict.from_json(outlier.to_json())
    assert back.flags == outlier.flags and back.measures == outlier.measures
    assert back.widths == (6, 6)


def test_jackknife_interval_by_definition_and_against_the_bootstrap(rng):
    """se² = (n − 1)/n Σ(θ₍ᵢ₎ − θ̄)² from explicit deletions; its width is close to the
    bootstrap's (both estimate the same sampling spread)."""
    x = rng.normal(size=(150, 4)) * [2, 1, 1, 0.5]
    y = np.tanh(x @ rng.normal(size=(4, 3))) + 0.5 * rng.normal(size=(150, 3))
    theta = cka(x, y)
    deleted = np.array([cka(np.delete(x, i, 0), np.delete(y, i, 0)) for i in range(150)])
    se = np.sqrt(149 / 150 * np.sum((deleted - deleted.mean()) ** 2))
    low, high = jackknife_interval(theta, leave_one_out(x, y), level=0.9)
    assert (low, high) == pytest.approx((theta - 1.6448536 * se, theta + 1.6448536 * se))
    boot = bootstrap_ci(x, y, n_boot=400, level=0.9, seed=1)
    assert (high - low) == pytest.approx(boot.high - boot.low, rel=0.3)
    quick = assess_reliability(x, y, preset="quick")
    assert quick.interval == "jackknife" and quick.ci_low < quick.cka < quick.ci_high
    assert np.isnan(jackknife_interval(0.5, np.array([np.nan, 0.4]))).all()


def test_reliability_error_paths(rng):
    x = rng.normal(size=(10, 2))
    with pytest.raises(SimilarityError, match="preset must be one of"):
        assess_reliability(x, x, preset="slow")
    with pytest.raises(SimilarityError, match="unknown thresholds"):
        assess_reliability(x, x, thresholds={"beta": 1})
    with pytest.raises(SimilarityError, match="at least 4 examples"):
        assess_reliability(x[:3], x[:3])
    with pytest.raises(SimilarityError, match="condition must be >= 1"):
        linear_map_sensitivity(x, x, condition=0.5)
    with pytest.raises(SimilarityError, match=r"level must be in \(0, 1\)"):
        jackknife_interval(0.5, np.ones(3), level=1.0)


def test_constant_representation_gives_an_undefined_verdict(rng):
    verdict = assess_reliability(rng.normal(size=(20, 3)), np.zeros((20, 2)))
    assert verdict.verdict == "undefined" and verdict.flags == ("constant",)
    assert np.isnan(verdict.cka) and "Y is constant" in verdict.reasons[0]
    assert ReliabilityVerdict.from_json(verdict.to_json()).verdict == "undefined"
