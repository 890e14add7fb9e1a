"""Initialisations against REFERENCES.md §1 (Henaff orthogonal W, W_g; n ≈ 5–7, s ≈ 0)."""

from __future__ import annotations

import math

import pytest
import torch

from dynan_models import ARUN, ElmanRNN
from dynan_models.init import henaff_orthogonal_, xavier_normal_vector_


@pytest.mark.parametrize("size", [1, 2, 7, 16, 33])
def test_henaff_orthogonal_is_orthogonal_with_unit_eigenvalues(size):
    w = henaff_orthogonal_(torch.empty(size, size, dtype=torch.float64))
    torch.testing.assert_close(w.T @ w, torch.eye(size, dtype=torch.float64), atol=1e-13, rtol=0)
    eig = torch.linalg.eigvals(w)
    one = torch.ones(size, dtype=torch.float64)
    torch.testing.assert_close(eig.abs(), one, atol=1e-12, rtol=0)


@pytest.mark.parametrize("size", [6, 9])
def test_henaff_orthogonal_is_block_rotation_by_sampled_angles(size):
    # exp([[0, θ], [−θ, 0]]) = [[cos θ, sin θ], [−sin θ, cos θ]], θ ~ −π·U(0, 1); an odd size
    # leaves the last coordinate fixed (a 1 on the diagonal).
    w = henaff_orthogonal_(
        torch.empty(size, size, dtype=torch.float64), generator=torch.Generator().manual_seed(3)
    )
    angles = -math.pi * torch.rand(
        size // 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64
    )
    expected = torch.zeros(size, size, dtype=torch.float64)
    for i, theta in enumerate(angles.tolist()):
        c, s = math.cos(theta), math.sin(theta)
        block = torch.tensor([[c, s], [-s, c]], dtype=torch.float64)
        expected[2 * i : 2 * i + 2, 2 * i : 2 * i + 2] = block
    if size % 2:
        expected[-1, -1] = 1.0
    torch.testing.assert_close(w, expected, atol=1e-14, rtol=0)
    assert ((angles > -math.pi) & (angles < 0)).all()


def test_henaff_orthogonal_float32_target_and_bad_shape():
    w = henaff_orthogonal_(torch.empty(10, 10))
    assert w.dtype == torch.float32
    torch.testing.assert_close(w.T @ w, torch.eye(10), atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match=r"square matrix, got \(3, 4\)"):
        henaff_orthogonal_(torch.empty(3, 4))
    with pytest.raises(ValueError, match="square matrix"):
        henaff_orthogonal_(torch.empty(3))


def test_xavier_normal_vector_std():
    # Xavier normal on a (1, L) matrix: std = gain·√(2/(1 + L)).
    length, gain = 200_000, 0.1
    v = xavier_normal_vector_(torch.empty(length, dtype=torch.float64), gain=gain)
    expected = gain * math.sqrt(2.0 / (1 + length))
    # the sample std of L normals has relative standard error 1/√(2L) ≈ 0.0016
    assert v.std().item() == pytest.approx(expected, rel=0.01)
    assert abs(v.mean().item()) < 5 * expected / math.sqrt(length)


def test_arun_initial_shape_parameters():
    torch.manual_seed(0)
    net = ARUN(1, 32, 10, controller_size=50).double()
    ctrl = net.controller
    assert 5.0 <= ctrl.n_bias.item() <= 7.0
    assert ctrl.s_bias.item() == 0.0
    # read-out weights Xavier-normal with gain 0.1 (n) and 0.01 (s) on a (1, 50) matrix
    assert ctrl.n_weight.std().item() == pytest.approx(0.1 * math.sqrt(2 / 51), rel=0.5)
    assert ctrl.s_weight.std().item() == pytest.approx(0.01 * math.sqrt(2 / 51), rel=0.5)
    # controller states are tanh-bounded (|g| ≤ 1), so |n − b_n| ≤ ‖w_n‖₁ and |s| ≤ ‖w_s‖₁
    x = torch.randn(4, 12, 1, dtype=torch.float64)
    out = net(x, return_trajectories=True)
    assert (out.n - ctrl.n_bias).abs().max() <= ctrl.n_weight.abs().sum() + 1e-12
    assert out.s.abs().max() <= ctrl.s_weight.abs().sum() + 1e-12
    assert 4.0 < out.n.min().item() and out.n.max().item() < 8.0
    assert out.s.abs().max().item() < 0.05


def test_recurrent_weights_orthogonal_and_biases_zero():
    for net in (
        ARUN(3, 12, 2, controller_size=5),
        ElmanRNN(3, 12, 2, variant="relu"),
        ElmanRNN(3, 12, 2, variant="gamma-heterogeneous"),
    ):
        w = net.recurrent_weight.detach().double()
        torch.testing.assert_close(w.T @ w, torch.eye(12, dtype=torch.float64), atol=1e-6, rtol=0)
        assert (net.bias == 0).all()
    wg = ARUN(3, 12, 2, controller_size=5).controller.recurrent_weight.detach().double()
    torch.testing.assert_close(wg.T @ wg, torch.eye(5, dtype=torch.float64), atol=1e-6, rtol=0)


def test_kaiming_normal_input_weights():
    # Kaiming normal (fan_in, ReLU gain): std = √(2 / input_size)
    net = ElmanRNN(50, 400, 2, variant="relu")  # 20 000 samples: relative std error 0.5 %
    assert net.input_weight.std().item() == pytest.approx(math.sqrt(2 / 50), rel=0.03)


@pytest.mark.parametrize("variant", ["gamma-homogeneous", "gamma-heterogeneous"])
def test_learned_gamma_initial_n_and_s(variant):
    net = ElmanRNN(1, 64, 2, variant=variant)
    assert net.n.shape == ((1,) if variant == "gamma-homogeneous" else (64,))
    assert ((net.n >= 5) & (net.n <= 7)).all()
    assert (net.s == 0).all()
