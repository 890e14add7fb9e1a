"""Comparing many networks: the CKA matrix, a verdict per pair, the similarity graph."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dynan.similarity import (
    CKAComparison,
    Representations,
    SimilarityError,
    cka,
    compare_checkpoints,
    compare_representations,
    similarity_graph,
)
from dynan_models import build, save_checkpoint

TASK = {"name": "flipflop", "bits": 2, "steps": 12, "p_pulse": 0.2, "seed": 0}


def _orthogonal(rng: np.random.Generator, p: int) -> np.ndarray:
    return np.linalg.qr(rng.normal(size=(p, p)))[0]


def _two_families(rng: np.random.Generator, n: int = 120) -> list[Representations]:
    """A1–A3: rotations of one base (+ noise); B1–B2 of another, independent base."""
    scales = np.array([3.0, 2.0, 1.0, 0.5, 0.3])
    a, b = rng.normal(size=(n, 5)) * scales, rng.normal(size=(n, 5)) * scales
    reps = []
    for name, base in [("A1", a), ("A2", a), ("A3", a), ("B1", b), ("B2", b)]:
        x = base @ _orthogonal(rng, 5) + 0.05 * rng.normal(size=(n, 5))
        reps.append(Representations(name, ("h",), (x,), architecture=name[0].lower()))
    return reps


def test_matrix_verdicts_and_clusters_of_two_families(rng):
    reps = _two_families(rng)
    result = compare_representations(reps, preset="quick", threshold=0.0)
    expected = [[cka(r["h"], s["h"]) for s in reps] for r in reps]
    np.testing.assert_allclose(result.linear, expected, atol=1e-12)
    expected_d = [[cka(r["h"], s["h"], debiased=True) for s in reps] for r in reps]
    np.testing.assert_allclose(result.debiased, expected_d, atol=1e-12)
    assert len(result.verdicts) == len(result.pairs) == 10
    for (i, j, s), verdict in zip(result.pairs, result.verdicts, strict=True):
        same = result.names[i][0] == result.names[j][0]
        assert s == 0 and verdict.cka == pytest.approx(result.linear[i, j])
        assert verdict.verdict == ("reliable" if same else "unreliable")
    # threshold 0 would join everything; the unreliable pairs are what keep the families apart
    assert result.clusters == (("A1", "A2", "A3"), ("B1", "B2"))
    graph = similarity_graph(result)
    assert graph.number_of_edges() == 4
    assert graph.nodes["B2"]["architecture"] == "b" and graph.nodes["A3"]["cluster"] == 0
    assert graph.edges["A1", "A2"]["verdict"] == "reliable"
    assert similarity_graph(result, threshold=1.01).number_of_edges() == 0
    back = CKAComparison.from_json(result.to_json())
    assert back.clusters == result.clusters and back.pairs == result.pairs
    assert back.verdicts[3].flags == result.verdicts[3].flags
    np.testing.assert_array_equal(back.debiased, result.debiased)


def test_labels_make_blocks_and_verdicts_per_label(rng):
    x = rng.normal(size=(50, 3))
    reps = [
        Representations(name, ("t=0", "t=1"), (x + k * rng.normal(size=(50, 3)), x**3 + k * x))
        for k, name in enumerate(["p", "q", "p"])
    ]
    result = compare_representations(reps, preset="none")
    assert result.names == ("p", "q", "p#2") and result.verdicts == () and result.pairs == ()
    assert result.linear.shape == (6, 6)
    assert result.block("t=0")[0, 1] == pytest.approx(cka(reps[0]["t=0"], reps[1]["t=0"]))
    assert result.block()[1, 2] == pytest.approx(cka(reps[1]["t=1"], reps[2]["t=1"]))
    assert result.linear[0, 3] == pytest.approx(cka(reps[0]["t=0"], reps[1]["t=1"]))
    with pytest.raises(SimilarityError, match="no label 't=5'; valid: t=0, t=1"):
        result.block("t=5")
    quick = compare_representations(reps[:2], preset="quick")
    assert quick.pairs == ((0, 1, 0), (0, 1, 1))
    assert quick.verdict(1, 0, "t=1") is quick.verdicts[1] and quick.verdict(0, 0) is None


def test_compare_representations_error_paths(rng):
    x = rng.normal(size=(20, 2))
    one = Representations("a", ("h",), (x,))
    with pytest.raises(SimilarityError, match="at least two networks to compare, got 1"):
        compare_representations([one])
    with pytest.raises(SimilarityError, match=r"b has representations \['g'\]"):
        compare_representations([one, Representations("b", ("g",), (x,))])
    with pytest.raises(SimilarityError, match="b has 10 examples, a has 20"):
        compare_representations([one, Representations("b", ("h",), (x[:10],))])
    with pytest.raises(SimilarityError, match="preset must be one of"):
        compare_representations([one, one], preset="slow")


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cka")
    paths = {}
    for arch, seed in [("relu", 0), ("relu", 1), ("gru", 0)]:
        net = build(arch, input_size=2, hidden_size=6, output_size=2, output_mode="all")
        paths[f"{arch}-s{seed}"] = save_checkpoint(
            net, folder / f"{arch}-s{seed}.safetensors", task=TASK, seed=seed
        )
    other = build("relu", input_size=2, hidden_size=6, output_size=2, output_mode="all")
    paths["other"] = save_checkpoint(
        other, folder / "other.safetensors", task={**TASK, "seed": 1}, seed=0
    )
    return paths


def test_compare_checkpoints_on_the_task_inputs(checkpoints):
    from dynan.checkpoint import load
    from dynan.similarity import network_representations
    from dynan_models.tasks import load_task

    paths = [checkpoints[k] for k in ("relu-s0", "relu-s1", "gru-s0")]
    result = compare_checkpoints(paths, steps=[5, -1], examples=40, preset="none")
    assert result.names == ("relu-s0", "relu-s1", "gru-s0")
    assert result.architectures == ("relu", "relu", "gru")
    assert result.labels == ("h[t=5]", "h[t=11]") and result.n == 40
    assert result.task == TASK
    x = load_task(TASK).test.x[:40]
    h = [
        network_representations(load(p, dtype=torch.float64), x, steps=[11])["h[t=11]"]
        for p in paths[::2]
    ]
    assert result.block()[0, 2] == pytest.approx(cka(h[0], h[1]), abs=1e-12)


def test_compare_checkpoints_error_paths(checkpoints):
    with pytest.raises(SimilarityError, match="at least two checkpoints to compare, got 1"):
        compare_checkpoints([checkpoints["relu-s0"]])
    with pytest.raises(SimilarityError, match="trained on different tasks"):
        compare_checkpoints([checkpoints["relu-s0"], checkpoints["other"]])
    with pytest.raises(SimilarityError, match="examples must be a positive integer"):
        compare_checkpoints([checkpoints["relu-s0"], checkpoints["gru-s0"]], examples=0)
