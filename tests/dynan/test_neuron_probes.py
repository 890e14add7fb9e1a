"""dynan.neuron_probes: protocols on networks whose single-neuron answer is known."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch

import dynan
import dynan_models
from dynan.neuron_probes import (
    AlphaComparison,
    FractionalAnalysis,
    GainScaling,
    NeuronProbe,
    ProbeError,
    adaptation_index,
    compare_alpha,
    exponential_law,
    fractional_analysis,
    gain_scaling,
    power_law,
    probe_neurons,
)

SMALL = {"amplitudes": (0.5, 1.0, 2.0), "realisations": 3, "steps": 60, "window": (20, 40)}


def _linear_relu(hidden: int = 6, *, self_weight: float | None = None) -> dynan_models.ElmanRNN:
    """ReLU network whose pre-activations stay positive: u ≥ 0.5, b = 0, inputs ≈ 0.8."""
    net = dynan_models.build("relu", input_size=1, hidden_size=hidden, output_size=2).double()
    with torch.no_grad():
        net.input_weight.copy_(net.input_weight.abs() + 0.5)
        net.bias.zero_()
        if self_weight is not None:  # off-diagonal entries are dropped by "isolated"
            net.recurrent_weight.fill_diagonal_(self_weight)
    return net


@pytest.mark.parametrize(("target", "sign"), [("stimulus", 1), ("response", -1)])
@pytest.mark.parametrize("noise_std", [0.0, 0.1])
def test_probe_integrating_relu_neuron_has_order_one(target, sign, noise_std):
    # self-weight 1 and positive drive: h_t = h_{t−1} + a_t, so h is the running sum of the
    # input and its GL first difference is the input itself: α = 1 (paper), −1 (Lundstrom)
    net = _linear_relu(self_weight=1.0)
    probe = probe_neurons(
        net, **SMALL, target=target, noise_std=noise_std, bounds=(-1.5, 1.5), bootstrap=0
    )
    tol = 1e-3 if noise_std == 0 else 0.02
    np.testing.assert_allclose(probe.neurons.alpha[-1], sign * 1.0, atol=tol)
    np.testing.assert_allclose(probe.population.alpha, sign * 1.0, atol=tol)


@pytest.mark.parametrize("target", ["stimulus", "response"])
def test_probe_feedforward_relu_neuron_is_proportional(target):
    # no recurrence, always active: h = u x + b + ξ·step exactly copies the step: α = 0
    probe = probe_neurons(
        _linear_relu(), **SMALL, connectivity="feedforward", target=target, noise_std=0.0
    )
    np.testing.assert_allclose(probe.neurons.alpha, 0.0, atol=1e-3)
    assert (probe.neurons.residual < 1e-6).all()
    np.testing.assert_allclose(probe.neurons.gain[-1], 1.0, rtol=1e-3)  # h − step is constant
    np.testing.assert_allclose(probe.adaptation_index[-1], 0.0, atol=1e-12)
    # the example fits reproduce the matched signal
    np.testing.assert_allclose(
        probe.example_fit[:, 20:40], probe.example_target[:, 20:40], atol=1e-3
    )


def test_probe_feedforward_relu_with_noise_in_lundstrom_convention():
    # noise only in the target (response) of the fit: unbiased, and the bootstrap interval
    # over realisations covers the true order
    options = {**SMALL, "realisations": 8}
    probe = probe_neurons(_linear_relu(), **options, connectivity="feedforward", target="response")
    np.testing.assert_allclose(probe.neurons.alpha[-1], 0.0, atol=0.02)
    ci = probe.neurons.ci[-1]
    assert (ci[:, 0] <= 0).all() and (0 <= ci[:, 1]).all()


def test_probe_silent_neuron_is_invalid():
    net = _linear_relu()
    with torch.no_grad():
        net.bias[0] = -100.0  # never active: h ≡ 0
    probe = probe_neurons(net, **SMALL, connectivity="feedforward", noise_std=0.0, bootstrap=0)
    assert not probe.neurons.valid[:, 0].any() and probe.neurons.valid[:, 1:].all()
    assert np.isnan(probe.neurons.alpha[:, 0]).all()
    assert np.isnan(probe.adaptation_index[:, 0]).all()  # 0/0 is undefined, not 0


@pytest.mark.parametrize("connectivity", ["isolated", "intact"])
def test_probe_arun_gives_finite_alpha_per_neuron(connectivity):
    net = dynan_models.build("arun", input_size=1, hidden_size=8, output_size=2, controller_size=4)
    probe = probe_neurons(net, **SMALL, connectivity=connectivity, bootstrap=20)
    alpha = probe.neurons.alpha
    assert alpha.shape == (3, 8) and probe.neurons.valid.all()
    assert np.isfinite(alpha).all() and (np.abs(alpha) <= 1).all()
    assert np.isfinite(probe.neurons.ci).all() and np.isfinite(probe.population.alpha).all()
    assert np.isfinite(probe.n_mean).all() and np.isfinite(probe.s_mean).all()
    assert probe.n_mean.shape == (3, 60)


@pytest.mark.parametrize("connectivity", ["isolated", "intact"])
@pytest.mark.parametrize("architecture", sorted(dynan_models.ARCHITECTURES))
def test_probe_runs_on_every_architecture(architecture, connectivity):
    extra = {"controller_size": 4} if architecture == "arun" else {}
    net = dynan_models.build(architecture, input_size=2, hidden_size=5, output_size=3, **extra)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    probe = probe_neurons(net, **SMALL, connectivity=connectivity, bootstrap=0)
    assert probe.neurons.alpha.shape == (3, 5)
    assert probe.architecture == architecture and probe.connectivity == connectivity
    valid = probe.neurons.valid
    assert (
        np.isfinite(probe.neurons.alpha[valid]).all()
        and np.isnan(probe.neurons.alpha[~valid]).all()
    )
    has_shape = architecture in ("softplus", "gamma-homogeneous", "gamma-heterogeneous", "arun")
    assert np.isfinite(probe.n_mean).all() == has_shape
    for k, v in net.state_dict().items():  # the probe works on a copy
        assert torch.equal(v, before[k])


ZOO = sorted((Path(__file__).resolve().parents[2] / "models" / "zoo").glob("*.safetensors"))


@pytest.mark.parametrize("path", ZOO, ids=lambda p: p.stem)
def test_probe_zoo_checkpoint_isolated_and_intact(path):
    # trained networks of every shipped variant: finite orders wherever a neuron responds, a
    # finite population order, and shape traces exactly for the γ variants (ARUN adapts them)
    net = dynan.load(path, dtype=torch.float64)
    options = {"amplitudes": (1.0, 5.0), "realisations": 2, "steps": 90, "window": (30, 60)}
    for connectivity in ("isolated", "intact"):
        probe = probe_neurons(net, **options, connectivity=connectivity, bootstrap=0)
        fit = probe.neurons
        assert fit.alpha.shape == (2, net.hidden_size)
        assert fit.valid.mean() > 0.5, f"{connectivity}: most neurons silent"
        assert np.isfinite(fit.alpha[fit.valid]).all()
        assert np.isfinite(probe.population.alpha).all()
        has_shape = net.architecture not in ("relu", "gru", "lstm")
        assert np.isfinite(probe.n_mean).all() == has_shape


def test_probe_isolated_keeps_only_self_connections():
    # with isolated neurons, driving neuron 0 alone must leave the others unchanged
    from dynan.neuron_probes._simulate import simulate_probe

    net = dynan_models.build("softplus", input_size=1, hidden_size=4, output_size=2)
    x = np.full((1, 30, 4), 0.8)
    drive = np.zeros((1, 30, 4))
    drive[0, 10:, 0] = 3.0
    rest = simulate_probe(net, x, np.zeros_like(drive), connectivity="isolated").hidden
    driven = simulate_probe(net, x, drive, connectivity="isolated").hidden
    np.testing.assert_array_equal(driven[..., 1:], rest[..., 1:])
    assert np.abs(driven[0, 10:, 0] - rest[0, 10:, 0]).min() > 0
    intact = simulate_probe(net, x, drive, connectivity="intact").hidden
    assert np.abs(intact[..., 1:] - rest[..., 1:]).max() > 1e-6


def test_probe_noise_drive_stacks_realisations():
    net = dynan_models.build("arun", input_size=1, hidden_size=4, output_size=2, controller_size=3)
    probe = probe_neurons(net, **SMALL, drive="noise", bootstrap=0)
    assert probe.drive == "noise" and probe.neurons.combine == "stack"
    assert np.isfinite(probe.neurons.alpha).all()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"connectivity": "diagonal"}, "connectivity must be one of"),
        ({"drive": "ramp"}, "drive must be one of"),
        ({"amplitudes": (1.0, 0.0)}, "non-zero"),
        ({"amplitudes": ()}, "non-empty"),
        ({"window": (0, 20)}, "window"),
        ({"window": (20, 60)}, "window"),
        ({"realisations": 0}, "realisations"),
        ({"noise_std": -1.0}, "noise_std"),
        ({"method": "fft"}, "method must be one of"),
        ({"target": "input"}, "target must be one of"),
        ({"bounds": (1.0, -1.0)}, "low < high"),
    ],
)
def test_probe_bad_input(kwargs, match):
    net = dynan_models.build("relu", input_size=1, hidden_size=3, output_size=2)
    with pytest.raises(ProbeError, match=match):
        probe_neurons(net, **{**SMALL, **kwargs})


def test_probe_rejects_non_networks():
    with pytest.raises(ProbeError, match="RecurrentNetwork"):
        probe_neurons(torch.nn.Linear(2, 2))


# -- adaptation index ------------------------------------------------------------------------


def test_adaptation_index_known_values():
    t = np.arange(40.0)
    decay = 1.0 + 3.0 * np.exp(-t / 4.0)  # r_early, r_late from the closed form
    response = np.r_[np.zeros(10), decay, np.zeros(10)]
    early = (1.0 + 3.0 * np.exp(-np.arange(5) / 4.0)).mean()
    late = (1.0 + 3.0 * np.exp(-np.arange(35, 40) / 4.0)).mean()
    got = adaptation_index(response, (10, 50), span=5)
    assert got == pytest.approx((early - late) / (early + late), rel=1e-12)
    flat = adaptation_index(np.ones(60), (10, 50))
    growing = adaptation_index(np.linspace(0.1, 1.0, 60), (10, 50))
    assert flat == 0.0 and growing < 0
    assert math.isnan(adaptation_index(np.zeros(60), (10, 50)))
    with pytest.raises(ValueError, match="span"):
        adaptation_index(np.ones(60), (10, 50), span=41)
    with pytest.raises(ValueError, match="window"):
        adaptation_index(np.ones(60), (50, 70))


# -- gain scaling ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def arun_probe():
    torch.manual_seed(0)
    net = dynan_models.build("arun", input_size=1, hidden_size=6, output_size=2, controller_size=4)
    return probe_neurons(net, **SMALL, connectivity="intact", bootstrap=0)


def _with_means(probe, xi, n, s):
    """``probe`` at amplitudes ``xi`` with n_t and s_t held at n[j] and s[j] at every step."""
    steps = probe.n_mean.shape[1]
    return dataclasses.replace(
        probe,
        amplitudes=np.asarray(xi, dtype=np.float64),
        n_mean=np.repeat(np.asarray(n, dtype=np.float64)[:, None], steps, 1),
        s_mean=np.repeat(np.asarray(s, dtype=np.float64)[:, None], steps, 1),
    )


def test_gain_scaling_recovers_the_laws(arun_probe):
    xi = np.array([1.0, 2.5, 5.0, 10.0, 20.0])
    n = power_law(xi, 1.5, 0.7, 5.0)
    s = exponential_law(xi, 0.02, 0.3, -0.01)
    gain = gain_scaling(_with_means(arun_probe, xi, n, s))
    assert gain.n_ok and gain.s_ok and gain.n_message == gain.s_message == ""
    np.testing.assert_allclose(gain.n_params, [1.5, 0.7, 5.0], rtol=1e-5)
    np.testing.assert_allclose(gain.s_params, [0.02, 0.3, -0.01], rtol=1e-5, atol=1e-9)
    assert gain.span == (30, 40)


def test_gain_scaling_noisy_laws_within_their_standard_errors(arun_probe, rng):
    # the paper's laws plus measurement noise at 8 amplitudes: each parameter lies within
    # 3 of its reported standard errors of the truth, and those errors are finite
    xi = np.array([0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 12.0, 20.0])
    truth_n, truth_s = (1.5, 0.7, 5.0), (0.05, 0.3, -0.01)
    n = power_law(xi, *truth_n) + 0.01 * rng.normal(size=xi.size)
    s = exponential_law(xi, *truth_s) + 0.001 * rng.normal(size=xi.size)
    gain = gain_scaling(_with_means(arun_probe, xi, n, s))
    assert gain.n_ok and gain.s_ok
    for params, stderr, truth in (
        (gain.n_params, gain.n_stderr, truth_n),
        (gain.s_params, gain.s_stderr, truth_s),
    ):
        assert np.isfinite(stderr).all() and (stderr > 0).all()
        assert (np.abs(params - truth) < 3 * stderr).all(), (params, stderr)


def test_gain_scaling_guards(arun_probe):
    constant = dataclasses.replace(arun_probe, n_mean=np.full((3, 60), 6.0))
    gain = gain_scaling(constant)
    assert not gain.n_ok and "does not vary" in gain.n_message and np.isnan(gain.n_params).all()
    missing = dataclasses.replace(arun_probe, s_mean=np.full((3, 60), np.nan))
    assert "no shape parameters" in gain_scaling(missing).s_message
    zigzag = _with_means(arun_probe, [1.0, 2.0, 3.0, 4.0], [0.0, 1e3, 0.0, 1e3], [0.0, 1.0] * 2)
    # measured on a trained ARUN: no trend in n for b to describe
    bumpy = _with_means(
        arun_probe, [1.0, 2.5, 5.0, 10.0], [5.185, 5.258, 5.272, 5.169], [0.01] * 4
    )
    flat = gain_scaling(bumpy)
    assert not flat.n_ok and "b undetermined" in flat.n_message
    assert np.isnan(flat.n_params).all()
    odd = gain_scaling(zigzag)  # never raises: a fit either succeeds or says why not
    for ok, params, message in (
        (odd.n_ok, odd.n_params, odd.n_message),
        (odd.s_ok, odd.s_params, odd.s_message),
    ):
        assert (ok and np.isfinite(params).all()) or (not ok and message)
    with pytest.raises(ProbeError, match="span"):
        gain_scaling(arun_probe, span=(50, 70))


def test_gain_scaling_static_network_says_why(arun_probe):
    net = dynan_models.build("gamma-heterogeneous", input_size=1, hidden_size=4, output_size=2)
    gain = gain_scaling(probe_neurons(net, **SMALL, bootstrap=0))
    assert not gain.n_ok and "static" in gain.n_message


# -- the high-level entry point --------------------------------------------------------------


def test_fractional_analysis_round_trips_through_json(tmp_path):
    net = dynan_models.build("arun", input_size=1, hidden_size=6, output_size=2, controller_size=4)
    result = fractional_analysis(net, progress=False)
    assert isinstance(result.isolated, NeuronProbe) and isinstance(result.gain, GainScaling)
    assert result.isolated.connectivity == "isolated" and result.intact.connectivity == "intact"
    back = FractionalAnalysis.from_json(result.to_json(tmp_path / "r.json"))
    np.testing.assert_array_equal(back.isolated.neurons.alpha, result.isolated.neurons.alpha)
    np.testing.assert_array_equal(back.intact.population.ci, result.intact.population.ci)
    np.testing.assert_array_equal(back.gain.n_params, result.gain.n_params)
    np.testing.assert_array_equal(back.intact.example_fit, result.intact.example_fit)
    assert back.isolated.window == result.isolated.window and back.name == "arun"


def test_fractional_analysis_bad_preset():
    net = dynan_models.build("relu", input_size=1, hidden_size=3, output_size=2)
    with pytest.raises(ProbeError, match="preset"):
        fractional_analysis(net, preset="huge")


def test_compare_alpha_pads_and_rejects_incomparable_analyses(tmp_path):
    nets = [dynan_models.build("relu", input_size=1, hidden_size=h, output_size=2) for h in (3, 5)]
    small, wide = (fractional_analysis(net, progress=False) for net in nets)
    result = compare_alpha([small, wide], ["a", "b"])
    assert result.neuron_alpha.shape == (2, 2, 5) and np.isnan(result.neuron_alpha[0, :, 3:]).all()
    np.testing.assert_array_equal(result.neuron_alpha[1, 0], wide.isolated.neurons.alpha[-1])
    back = AlphaComparison.from_json(result.to_json(tmp_path / "c.json"))
    np.testing.assert_array_equal(back.population_ci, result.population_ci)
    assert back.names == ("a", "b") and back.connectivities == ("isolated", "intact")
    with pytest.raises(ValueError, match="differ in method"):
        compare_alpha([small, dataclasses.replace(small, method="spectral")])
    with pytest.raises(ValueError, match="2 names for 1"):
        compare_alpha([small], ["a", "b"])
    with pytest.raises(ValueError, match="at least one"):
        compare_alpha([])


@pytest.mark.parametrize("connectivity", ["isolated", "intact", "feedforward"])
@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_probe_of_a_stack_is_its_layer_zero(kind, connectivity):
    # layer 0 alone gets the private stimuli and drives and never hears the layers above: the
    # probe of a stack is the probe of the one-layer network holding layer 0's weights
    from dynan.neuron_probes._simulate import simulate_probe

    torch.manual_seed(4)
    stacked = dynan_models.build(
        f"stacked-{kind}", input_size=1, hidden_size=5, output_size=2, num_layers=3
    )
    single = dynan_models.build(kind, input_size=1, hidden_size=5, output_size=2)
    single.rnn.load_state_dict(
        {k: v for k, v in stacked.rnn.state_dict().items() if k.endswith("_l0")}
    )
    gen = np.random.default_rng(0)
    x, drive = gen.normal(size=(2, 30, 5)), gen.normal(size=(2, 30, 5))
    got = simulate_probe(stacked, x, drive, connectivity=connectivity).hidden
    expected = simulate_probe(single, x, drive, connectivity=connectivity).hidden
    assert np.abs(expected).max() > 0.05
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-14)
