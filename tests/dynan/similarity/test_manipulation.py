"""The CKA-map manipulation experiment on a tiny network: the map moves, the outputs stay."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from dynan.similarity import SimilarityError, cka
from dynan.similarity.manipulation import (
    ManipulationResult,
    batch_cka_map,
    log_cosh,
    manipulate_cka_map,
)
from dynan_models import build
from dynan_models.tasks import SequenceTask, Split


def _task(n: int = 192, steps: int = 6) -> SequenceTask:
    """Is the mean of six uniform inputs above ½? (one split serves as train and test)."""
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(n, steps, 1, generator=gen)
    y = (x[:, :, 0].mean(1) > 0.5).long()
    split = Split(x, y)
    return SequenceTask({"name": "toy"}, split, split, split, 1, 2, "classify")


def _train(seed: int, task: SequenceTask):
    """A 12-unit ReLU network trained to ~90-99 % on the toy task (full batch, 60 Adam steps)."""
    torch.manual_seed(seed)
    net = build("relu", input_size=1, hidden_size=12, output_size=2)
    opt = torch.optim.Adam(net.parameters(), lr=2e-2)
    for _ in range(60):
        loss = F.cross_entropy(net(task.train.x).logits, task.train.y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net


@pytest.fixture(scope="module")
def trained():
    task = _task()
    return _train(1, task), task


def _manipulate(net, task, lam: float, **options):
    return manipulate_cka_map(
        net, task, target="zeros", steps=3, lam=lam, iterations=60, lr=1e-2, batch_size=64,
        progress=False, **options,
    )  # fmt: skip


#: Training seeds of the statistics below: which few test samples sit near the decision boundary
#: (and flip) differs between seeds as it does between CPUs' rounding, so properties are
#: asserted over seeds and on what the method controls, not on one run's accuracy.
SEEDS = (0, 1, 2)
KEEP, DRIFT = 2.0, 50.0  # λ: outputs term dominant / map term dominant (the control)


@pytest.fixture(scope="module")
def seed_runs():
    """Per seed: (result λ=KEEP, result λ=DRIFT, prediction agreement of each on the test
    samples whose reference margin |logit₁ − logit₀| is in the upper half)."""
    task = _task()
    runs = []
    for seed in SEEDS:
        net = _train(seed, task)
        with torch.no_grad():
            logits = net(task.test.x).logits
        margin = (logits[:, 1] - logits[:, 0]).abs()
        confident = margin >= margin.median()
        row = []
        for lam in (KEEP, DRIFT):
            tuned = copy.deepcopy(net)
            result = _manipulate(tuned, task, lam, inplace=True)
            with torch.no_grad():
                same = tuned(task.test.x).logits.argmax(1) == logits.argmax(1)
            row.append((result, float(same[confident].float().mean())))
        runs.append(row)
    return runs


def test_batch_cka_map_is_hsic1_cka_and_differentiable(rng):
    xs = [torch.tensor(rng.normal(size=(20, 3)), requires_grad=True) for _ in range(2)]
    ys = [torch.tensor(rng.normal(size=(20, 4))) for _ in range(3)]
    m = batch_cka_map(xs, ys)
    expected = [[cka(x.detach(), y, debiased=True) for y in ys] for x in xs]
    np.testing.assert_allclose(m.detach().numpy(), expected, atol=1e-12)
    m.sum().backward()
    assert xs[0].grad is not None and torch.isfinite(xs[0].grad).all()


def test_log_cosh_is_stable():
    z = torch.tensor([0.0, 1.0, -3.0, 1e4], dtype=torch.float64)
    expected = torch.tensor([0.0, np.log(np.cosh(1.0)), np.log(np.cosh(3.0)), 1e4 - np.log(2)])
    torch.testing.assert_close(log_cosh(z), expected.double())


def test_batch_cka_map_of_a_silent_step_is_zero_not_nan(rng):
    silent = torch.zeros(16, 3, dtype=torch.float64, requires_grad=True)
    m = batch_cka_map([silent], [torch.tensor(rng.normal(size=(16, 2)))])
    assert m.item() == 0.0
    m.sum().backward()
    assert torch.isfinite(silent.grad).all()


def test_manipulation_record_round_trips_and_leaves_the_caller_network(trained):
    net, task = trained
    state = {k: v.clone() for k, v in net.state_dict().items()}
    result = _manipulate(net, task, KEEP)
    assert result.map_before.shape == (3, 3) and result.steps == (1, 3, 5)
    assert np.allclose(np.diag(result.map_before), 1.0)  # the original against itself
    assert result.history.shape == (60, 3) and np.isfinite(result.history).all()
    assert 0.0 <= result.agreement <= 1.0
    for key, value in net.state_dict().items():  # not inplace: the caller's network is kept
        torch.testing.assert_close(value, state[key])
    back = ManipulationResult.from_json(result.to_json())
    np.testing.assert_array_equal(back.map_after, result.map_after)
    assert back.distance_after == result.distance_after


def test_manipulation_moves_the_map_every_seed(seed_runs):
    for (keep, _), (drift, _) in seed_runs:
        assert keep.distance_after < keep.distance_before  # toward the target, every seed
        assert keep.history[-10:, 2].mean() < keep.history[:10, 2].mean()  # map loss falls
        assert drift.distance_after < keep.distance_after  # a larger λ moves it further


def test_manipulation_keeps_what_the_network_computes(seed_runs):
    # The outputs term holds the predictions the reference is sure of: on the confident half of
    # the test set they agree (all but a sample or two); with the map term dominant (the
    # control, λ=DRIFT) they do not — so the test fails if the outputs term stops working.
    kept = [agree for (_, agree), _ in seed_runs]
    drifted = [agree for _, (_, agree) in seed_runs]
    assert np.mean(kept) >= 0.95, kept
    assert np.mean(kept) - np.mean(drifted) >= 0.1, (kept, drifted)
    # accuracy: what flips is near the boundary; over seeds the mean drop is a few samples
    # (observed 0.005-0.05 per seed on 8 seeds, mean 0.028; a drifted run loses 0.2-0.4)
    drops = [keep.accuracy_before - keep.accuracy_after for (keep, _), _ in seed_runs]
    lost = [d.accuracy_before - d.accuracy_after for _, (d, _) in seed_runs]
    assert np.mean(drops) <= 0.05 < np.mean(lost), (drops, lost)
    assert min(keep.accuracy_before for (keep, _), _ in seed_runs) > 0.85


def test_manipulation_error_paths():
    net = build("relu", input_size=1, hidden_size=4, output_size=2)
    with pytest.raises(SimilarityError, match="batch_size must be >= 4"):
        manipulate_cka_map(net, _task(), batch_size=3, progress=False)
    with pytest.raises(SimilarityError, match="target must be one of"):
        manipulate_cka_map(net, _task(), target="half", iterations=1, progress=False)
    with pytest.raises(SimilarityError, match=r"shape \(2, 2\)"):
        manipulate_cka_map(net, _task(), steps=2, target=np.zeros(3), progress=False)
