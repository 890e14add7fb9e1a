"""CKA maps: values, one preparation per representation, time maps, JSON round trip."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from dynan.similarity import SimilarityError, cka
from dynan.similarity.maps import CKAMap, cka_map, cka_time_map, select_steps


def _layers(rng, n=60):
    x = rng.normal(size=(n, 5))
    q, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    return {
        "x": x,
        "rot": 3 * x @ q + 1,
        "relu": np.maximum(x, 0),
        "noise": rng.normal(size=(n, 4)),
    }


def test_map_entries_are_the_pairwise_cka(rng):
    a, b = _layers(rng), _layers(np.random.default_rng(5))
    for debiased in (False, True):
        m = cka_map(a, b, debiased=debiased)
        for i, xa in enumerate(a.values()):
            for j, xb in enumerate(b.values()):
                assert m.matrix[i, j] == pytest.approx(cka(xa, xb, debiased=debiased), abs=1e-12)
    m = cka_map(a)
    assert m.symmetric and np.allclose(np.diag(m.matrix), 1.0)
    assert m.matrix[0, 1] == pytest.approx(1.0, abs=1e-12)  # rotation + scale + shift


@pytest.mark.parametrize("method", ["features", "gram"])
def test_each_representation_is_prepared_once(rng, monkeypatch, method):
    """Gram space prepares each Gram once; feature space starts one ShiftedSums each."""
    cka_module = importlib.import_module("dynan.similarity.cka")  # the module, not the function
    calls = []

    def counting(original):
        def wrapper(*args, **kwargs):
            calls.append(original.__name__)
            return original(*args, **kwargs)

        return wrapper

    for name in ("prepare", "ShiftedSums"):
        monkeypatch.setattr(cka_module, name, counting(getattr(cka_module, name)))
    a, b = list(_layers(rng).values()), list(_layers(rng).values())[:3]
    cka_map(a, b, method=method)
    assert len(calls) == 7
    calls.clear()
    cka_map(a, kernel="rbf")
    assert len(calls) == 4


def test_time_map_selects_steps_and_flattens_controller_states(rng):
    traj = rng.normal(size=(40, 12, 3)).cumsum(1)
    m = cka_time_map(traj, steps=4)
    assert m.labels_a == ("t=2", "t=5", "t=8", "t=11")
    assert m.matrix.shape == (4, 4)
    assert m.matrix[0, 1] > m.matrix[0, 3]  # a random walk decorrelates with time
    ctrl = rng.normal(size=(40, 12, 3, 2))
    m2 = cka_time_map(ctrl, traj, steps=[0, -1], name_a="g", name_b="h")
    assert m2.matrix.shape == (2, 2) and m2.labels_b == ("t=0", "t=11")
    assert m2.matrix[1, 1] == pytest.approx(cka(ctrl[:, 11].reshape(40, 6), traj[:, 11]))


def test_select_steps():
    assert select_steps(64, None) == list(range(64))
    assert select_steps(64, 4) == [15, 31, 47, 63]
    assert select_steps(3, 10) == [0, 1, 2]
    assert select_steps(10, [-1, 0]) == [9, 0]
    with pytest.raises(SimilarityError, match="out of range"):
        select_steps(10, [10])


def test_cka_map_json_round_trip(rng):
    m = cka_map(_layers(rng), name_a="net")
    back = CKAMap.from_json(m.to_json())
    assert back.labels_a == m.labels_a and back.name_a == "net"
    np.testing.assert_array_equal(back.matrix, m.matrix)


def test_map_error_paths(rng):
    with pytest.raises(SimilarityError, match="use cka_time_map"):
        cka_map(rng.normal(size=(5, 4)))
    with pytest.raises(SimilarityError, match=r"same examples .* A\[0\] .* B\[0\]"):
        cka_map([rng.normal(size=(5, 2))], [rng.normal(size=(6, 2))])
    with pytest.raises(SimilarityError, match=r"\(examples, time, features\)"):
        cka_time_map(rng.normal(size=(5, 4)))
    with pytest.raises(SimilarityError, match="pass explicit steps"):
        cka_time_map(rng.normal(size=(5, 4, 2)), rng.normal(size=(5, 3, 2)))
