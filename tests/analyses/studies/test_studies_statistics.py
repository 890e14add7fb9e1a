"""Statistics and verdict rules of the studies: exact p-values, intervals that cover, rules."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analyses.studies.statistics import (
    bootstrap_difference,
    compare_groups,
    compare_to_zero,
    permutation_test,
    sign_flip_test,
)
from analyses.studies.verdicts import comparison_verdict, direction, every_network_verdict


@pytest.mark.parametrize(("k", "m"), [(2, 2), (3, 3), (3, 12), (2, 5)])
def test_permutation_p_separated_groups_is_one_over_splits(k, m):
    a = 100.0 + np.arange(k)
    b = np.arange(m, dtype=float)
    assert permutation_test(a, b) == pytest.approx(1 / math.comb(k + m, k))
    assert permutation_test(a, b, alternative="less") == pytest.approx(1.0)


def test_permutation_monte_carlo_matches_exact_for_many_splits():
    rng = np.random.default_rng(3)
    a, b = rng.normal(0.5, 1, 20), rng.normal(0, 1, 20)  # C(40, 20) splits: Monte Carlo
    from scipy.stats import permutation_test as scipy_test

    ref = scipy_test(
        (a, b), lambda x, y: x.mean() - y.mean(), alternative="greater", n_resamples=20000,
        random_state=0,
    ).pvalue  # fmt: skip
    assert abs(permutation_test(a, b, n_perm=20000) - ref) < 0.02


def test_sign_flip_exact_values():
    assert sign_flip_test([1.0, 2.0, 3.0]) == pytest.approx(1 / 8)
    assert sign_flip_test([1.0, -2.0, 3.0]) == pytest.approx(3 / 8)  # sums 6, 4, 2 of 8
    assert sign_flip_test([-1.0, -2.0], alternative="less") == pytest.approx(1 / 4)


@pytest.mark.parametrize("seed", range(5))
def test_bootstrap_interval_covers_planted_difference(seed):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(1.0, 0.05, 6), rng.normal(0.0, 0.05, 6)
    est, low, high = bootstrap_difference(a, b, seed=seed)
    assert low < est < high
    assert 0 < low and high < 2  # excludes 0, near the planted 1
    assert abs(est - 1.0) < 0.15


def test_bootstrap_single_network_gives_no_interval():
    est, low, high = bootstrap_difference([1.0], [0.0, 0.1])
    assert est == pytest.approx(0.95) and math.isnan(low) and math.isnan(high)


def test_bad_input_is_one_clear_error():
    with pytest.raises(ValueError, match="non-finite"):
        permutation_test([1.0, float("nan")], [0.0])
    with pytest.raises(ValueError, match="alternative"):
        permutation_test([1.0], [0.0], alternative="up")


def test_comparison_verdicts_follow_the_rule():
    up = compare_groups("up", [3.0, 3.1, 2.9, 3.2], [1.0, 1.2, 0.8, 1.1])
    down = compare_groups("down", [1.0, 1.2, 0.8, 1.1], [3.0, 3.1, 2.9, 3.2])
    flat = compare_groups("flat", [1.0, 2.0, 3.0, 2.5], [2.0, 1.0, 3.0, 2.4])
    assert (direction(up), direction(down), direction(flat)) == (1, -1, 0)
    assert comparison_verdict([up]) == "reproduced"
    assert comparison_verdict([up, flat]) == "partly reproduced"
    assert comparison_verdict([down, flat]) == "contradicted"
    assert comparison_verdict([flat]) == "not reproduced at this scale"
    small = compare_groups("small", [3.0, 3.1], [1.0, 1.2, 0.8, 1.1, 0.9])  # p = 1/21
    assert comparison_verdict([small]) == "partly reproduced"  # < 3 networks caps it


def test_one_sample_comparison_sign():
    c = compare_to_zero("x", [-1.0, -1.2, -0.9, -1.1], expected_sign=-1)
    assert c.p_value == pytest.approx(1 / 16) and c.p_opposite == pytest.approx(1.0)
    assert c.high < 0


def test_every_network_verdicts():
    ok = {"a": {"x": True, "y": True}}
    assert every_network_verdict(ok) == "reproduced"
    assert every_network_verdict({**ok, "b": {"x": False, "y": False}}) == "partly reproduced"
    none = {"a": {"x": False}, "b": {"x": False}}
    assert every_network_verdict(none) == "not reproduced at this scale"
    assert every_network_verdict(none, contradiction={"a": True, "b": True}) == "contradicted"


@pytest.mark.parametrize(
    "module",
    ["statistics", "verdicts", "page", "single_neurons", "cka_manipulation", "edge_of_chaos"],
)
def test_docstring_examples(module):
    import doctest
    import importlib

    mod = importlib.import_module(f"analyses.studies.{module}")
    failed, tried = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert tried > 0 and failed == 0
