"""dynan.fractional against analytic values: power laws, sinusoids, semigroup, known orders."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.signal import lfilter
from scipy.special import gamma

from dynan.fractional import (
    FractionalFit,
    FrequencyResponse,
    derivative,
    fit_fractional_order,
    frequency_response,
)

# -- derivative ------------------------------------------------------------------------------


def _power_law_error(alpha: float, beta: float, dt: float) -> float:
    t = np.arange(round(2 / dt)) * dt
    got = derivative(t**beta, alpha, dt)
    exact = gamma(beta + 1) / gamma(beta + 1 - alpha) * t[1:] ** (beta - alpha)
    far = t[1:] >= 0.5
    return float(np.max(np.abs(got[1:][far] / exact[far] - 1)))


@pytest.mark.parametrize(
    ("alpha", "beta"), [(0.5, 1.0), (-0.5, 1.0), (0.3, 2.0), (0.7, 0.5), (-0.8, 0.0)]
)
def test_derivative_gl_power_law_matches_gamma_ratio(alpha, beta):
    # D^α t^β = Γ(β+1)/Γ(β+1−α) t^(β−α); GL is first order: error ∝ dt
    coarse, fine = _power_law_error(alpha, beta, 1e-2), _power_law_error(alpha, beta, 1e-3)
    assert fine < 2e-3
    assert 7 < coarse / fine < 13


def test_derivative_gl_order_zero_is_identity_and_one_is_first_difference(rng):
    x = rng.normal(size=(3, 50))
    np.testing.assert_allclose(derivative(x, 0.0), x, atol=1e-12)
    diff = np.diff(x, prepend=0.0, axis=-1)
    np.testing.assert_allclose(derivative(x, 1.0), diff, atol=1e-12)
    np.testing.assert_allclose(derivative(x, 1.0, 0.25), diff / 0.25, atol=1e-11)
    np.testing.assert_allclose(derivative(x, -1.0, 0.5), 0.5 * np.cumsum(x, -1), atol=1e-11)


def test_derivative_spectral_order_zero_removes_only_the_mean(rng):
    x = rng.normal(size=64) + 3.0
    np.testing.assert_allclose(derivative(x, 0.0, method="spectral"), x - x.mean(), atol=1e-12)


def test_derivative_axis_and_per_series_orders(rng):
    x = rng.normal(size=(40, 3))
    orders = np.array([-0.4, 0.2, 0.9])
    got = derivative(x, orders, axis=0)
    for j, a in enumerate(orders):
        np.testing.assert_allclose(got[:, j], derivative(x[:, j], a), atol=1e-12)


@pytest.mark.parametrize("method", ["gl", "spectral"])
@pytest.mark.parametrize(("a", "b"), [(0.3, 0.4), (0.5, -0.5), (-0.2, -0.6), (1.2, -0.7)])
def test_derivative_semigroup(method, a, b, rng):
    # GL weights are the series of (1 − z)^α, so causal truncation composes exactly; the
    # spectral symbols multiply exactly (odd length: no Nyquist bin)
    x = rng.normal(size=(2, 257))
    twice = derivative(derivative(x, b, 0.1, method=method), a, 0.1, method=method)
    once = derivative(x, a + b, 0.1, method=method)
    np.testing.assert_allclose(twice, once, atol=1e-9 * np.abs(once).max())


@pytest.mark.parametrize("alpha", [-0.7, 0.3, 0.5, 1.5])
def test_derivative_spectral_sinusoid_gain_and_phase_exact(alpha):
    steps, dt = 512, 0.01
    t = np.arange(steps) * dt
    f = 8 / (steps * dt)  # whole number of cycles
    got = derivative(np.sin(2 * np.pi * f * t), alpha, dt, method="spectral")
    exact = (2 * np.pi * f) ** alpha * np.sin(2 * np.pi * f * t + alpha * np.pi / 2)
    np.testing.assert_allclose(got, exact, atol=1e-10 * np.abs(exact).max())


@pytest.mark.parametrize("alpha", [0.4, 0.8])
def test_derivative_gl_sinusoid_low_frequency(alpha):
    # GL's transfer function is ((1 − e^{−iω})/dt)^α = (2 sin(ω/2))^α e^{iα(π−ω)/2}:
    # → (2πf)^α and α·90° as f → 0. (α > 0: the onset transient decays as t^{−α−1}; for
    # α < 0 it decays too slowly to compare samples — see the frequency-response test.)
    steps, f = 8000, 0.004
    omega = 2 * np.pi * f
    t = np.arange(steps)
    got = derivative(np.sin(omega * t), alpha)[4000:]
    gl = (2 * np.sin(omega / 2)) ** alpha * np.sin(omega * t + alpha * (np.pi - omega) / 2)
    np.testing.assert_allclose(got, gl[4000:], atol=3e-3 * np.abs(gl).max())
    ideal = omega**alpha * np.sin(omega * t + alpha * np.pi / 2)
    np.testing.assert_allclose(got, ideal[4000:], atol=0.02 * np.abs(ideal).max())


@pytest.mark.parametrize("alpha", [0.3, 0.5, 1.0])
def test_derivative_gl_and_spectral_agree_on_smooth_signal(alpha, rng):
    # a band-limited periodic signal (harmonics 3..12 of 8192 samples, random phases): past
    # GL's onset transient (decaying as t^{−α−1}) the two operators differ only by GL's
    # O(ω dt) symbol error, ≤ α·ω/2 ≈ 0.5 % here
    steps = 8192
    t = np.arange(steps)
    harmonics = np.arange(3, 13)
    phases = rng.uniform(0, 2 * np.pi, harmonics.size)
    x = np.cos(2 * np.pi * harmonics[:, None] * t / steps + phases[:, None]).sum(0)
    gl = derivative(x, alpha, method="gl")[steps // 2 :]
    spectral = derivative(x, alpha, method="spectral")[steps // 2 :]
    assert np.abs(gl - spectral).max() < 0.01 * np.abs(spectral).max()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"x": np.r_[1.0, np.nan, 2.0], "alpha": 0.5}, "NaN"),
        ({"x": np.ones(5), "alpha": 0.5, "method": "caputo"}, "method must be one of"),
        ({"x": np.ones(5), "alpha": 0.5, "dt": 0.0}, "dt must be"),
        ({"x": np.ones(1), "alpha": 0.5}, "at least 2 samples"),
        ({"x": np.ones((2, 5)), "alpha": np.ones(3)}, "must broadcast"),
        ({"x": np.ones(5), "alpha": np.inf}, "alpha must be finite"),
        ({"x": np.ones(5), "alpha": 0.5, "axis": 3}, "out of range"),
    ],
)
def test_derivative_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        derivative(**kwargs)


# -- fit_fractional_order ---------------------------------------------------------------------


def _synthesise(alpha, target, method, rng, *, noise=0.02, realisations=6, steps=300):
    """Stimuli (R, 3, T) and responses with a known order in the given convention."""
    stimulus = rng.normal(size=(realisations, 3, steps))
    order = -alpha if target == "stimulus" else alpha  # response = D^order[stimulus]
    clean = derivative(stimulus, order, method=method)
    response = 1.5 * clean + 0.7 + noise * rng.normal(size=stimulus.shape)
    return response, stimulus


@pytest.mark.parametrize("combine", ["mean", "stack"])
@pytest.mark.parametrize("method", ["gl", "spectral"])
@pytest.mark.parametrize("target", ["stimulus", "response"])
@pytest.mark.parametrize("alpha", [-0.5, 0.2, 0.6])
def test_fit_recovers_known_alpha(combine, method, target, alpha, rng):
    response, stimulus = _synthesise(alpha, target, method, rng)
    fit = fit_fractional_order(
        response,
        stimulus,
        method=method,
        target=target,
        realisation_axis=0,
        combine=combine,
        bootstrap=50,
    )
    assert fit.alpha.shape == (3,)
    np.testing.assert_allclose(fit.alpha, alpha, atol=0.02)
    assert fit.valid.all() and not fit.at_bound.any()
    assert (fit.residual < 0.05).all()
    assert (fit.ci[:, 0] <= fit.alpha).all() and (fit.alpha <= fit.ci[:, 1]).all()
    assert (fit.ci[:, 1] - fit.ci[:, 0] < 0.05).all()
    if target == "response":  # response = 1.5 D^α[stimulus] + 0.7
        np.testing.assert_allclose(fit.gain, 1.5, rtol=0.02)
        np.testing.assert_allclose(fit.offset, 0.7, atol=0.02)


@pytest.mark.parametrize("method", ["gl", "spectral"])
@pytest.mark.parametrize("target", ["stimulus", "response"])
@pytest.mark.parametrize("alpha", [-0.3, 0.3, 0.6])
def test_fit_recovers_alpha_of_analytic_fractional_sinusoids(method, target, alpha, rng):
    # no operator of the code in the synthesis: D^a cos(ωt + φ) = ω^a cos(ωt + φ + aπ/2).
    # Low harmonics of a long record, so that GL's symbol (1 − e^{−iω})^a (phase error aω/2)
    # stays within ~0.005 of the ideal one; GL's onset transient is left out of the loss
    steps = 2048
    t = np.arange(steps)
    omega = 2 * np.pi * np.arange(2, 7)[:, None] / steps
    phases = rng.uniform(0, 2 * np.pi, (6, 5, 1))  # realisations, harmonics

    def fractional(order):
        return (omega**order * np.cos(omega * t + phases + order * np.pi / 2)).sum(-2)

    stimulus = fractional(0.0)
    clean = fractional(-alpha if target == "stimulus" else alpha)  # response = D^order[stim]
    response = 1.5 * clean + 0.7 + 0.02 * rng.normal(size=clean.shape)
    fit = fit_fractional_order(
        response,
        stimulus,
        method=method,
        target=target,
        realisation_axis=0,
        fit_range=(steps // 4, steps),
        bootstrap=0,
    )
    assert fit.alpha == pytest.approx(alpha, abs=0.02)
    assert fit.gain == pytest.approx(1.5 if target == "response" else 1 / 1.5, rel=0.02)


def test_fit_conventions_are_opposite_for_a_differentiating_neuron(rng):
    stimulus = rng.normal(size=500)
    response = derivative(stimulus, 0.3)  # the neuron differentiates its input
    paper = fit_fractional_order(response, stimulus, target="stimulus", bootstrap=0)
    lundstrom = fit_fractional_order(response, stimulus, target="response", bootstrap=0)
    assert paper.alpha == pytest.approx(-0.3, abs=1e-3)
    assert lundstrom.alpha == pytest.approx(0.3, abs=1e-3)
    assert "Geadah" in paper.convention and "Lundstrom" in lundstrom.convention


def test_fit_gl_baseline_transient_is_regressed_out(rng):
    # response = D^{−0.4}[stimulus] + 5: its GL derivative carries 5·D^{0.4}[1] = 5 t^{−0.4}/Γ(0.6)
    # = 5 (1 + 0.4 θ) with θ = (D^{0.4}[1] − 1)/0.4 (D^{0.4}[1] = 1 at t = 0): transient −2,
    # offset −5
    stimulus = rng.normal(size=400)
    response = derivative(stimulus, -0.4) + 5.0
    fit = fit_fractional_order(response, stimulus, bootstrap=0)
    assert fit.alpha == pytest.approx(0.4, abs=1e-3)
    assert fit.gain == pytest.approx(1.0, abs=1e-3)
    assert fit.transient == pytest.approx(-2.0, abs=1e-2)
    assert fit.offset == pytest.approx(-5.0, abs=1e-2)
    assert fit.residual < 1e-6
    np.testing.assert_allclose(fit.predict(response, stimulus), stimulus, atol=1e-3)


def test_fit_gl_loss_is_continuous_through_order_zero(rng):
    # stimulus = 2·response + a slow log-like trend: the limit α → 0 of the baseline transient
    # family (D^α[1] − 1)/α → −log t, so the answer is α = 0. A transient regressor that drops
    # out at exactly α = 0 (D^0[1] is constant) makes the loss jump there: the fit then
    # depends on whether the grid holds 0 (it gave +0.065 on one grid, −0.018 on another)
    response = rng.normal(size=400)
    trend = np.log1p(np.arange(400.0))
    stimulus = 2.0 * response + trend + 0.05 * rng.normal(size=400)
    fits = [
        fit_fractional_order(response, stimulus, fit_range=(20, 400), resolution=r, bootstrap=0)
        for r in (0.05, 0.013)  # 0 on the first grid, not on the second
    ]
    for fit in fits:
        assert fit.alpha == pytest.approx(0.0, abs=2e-3)
        assert fit.gain == pytest.approx(2.0, abs=1e-2)
    assert fits[0].alpha == pytest.approx(fits[1].alpha, abs=1e-4)


def test_fit_fit_range_and_flags(rng):
    stimulus = rng.normal(size=(2, 300))
    response = derivative(stimulus, np.array([-1.4, 0.3]))
    fit = fit_fractional_order(response, stimulus, fit_range=(50, 300), bootstrap=0)
    assert fit.fit_range == (50, 300)
    assert fit.at_bound.tolist() == [True, False]  # true α = 1.4 lies outside (−1, 1)
    assert fit.alpha[0] == 1.0 and fit.alpha[1] == pytest.approx(-0.3, abs=2e-3)


def test_fit_constant_response_is_invalid_not_an_error(rng):
    stimulus = rng.normal(size=200)
    response = np.stack([derivative(stimulus, -0.2), np.full(200, 0.3)])
    fit = fit_fractional_order(response, stimulus, bootstrap=0)
    assert fit.valid.tolist() == [True, False]
    assert fit.alpha[0] == pytest.approx(0.2, abs=1e-3) and math.isnan(fit.alpha[1])
    assert math.isnan(fit.gain[1]) and np.isnan(fit.ci[1]).all()


def test_fit_json_round_trip(rng):
    response, stimulus = _synthesise(0.3, "stimulus", "gl", rng, realisations=3)
    fit = fit_fractional_order(response, stimulus, realisation_axis=0, bootstrap=20)
    back = FractionalFit.from_json(fit.to_json())
    for name in ("alpha", "gain", "offset", "transient", "residual", "ci", "valid", "at_bound"):
        np.testing.assert_array_equal(getattr(back, name), getattr(fit, name))
    assert back.bounds == fit.bounds and back.fit_range == fit.fit_range
    assert back.convention == fit.convention and back.realisations == 3


@pytest.mark.parametrize(
    ("response", "stimulus", "kwargs", "match"),
    [
        (np.ones((2, 50)), np.ones(40), {}, "same length"),
        (np.r_[np.zeros(49), np.nan], np.arange(50.0), {}, "NaN"),
        (np.arange(50.0), np.full(50, 2.0), {}, "stimulus is constant"),
        (np.arange(50.0), np.sin(np.arange(50.0)), {"bounds": (1, -1)}, "low < high"),
        (np.arange(50.0), np.sin(np.arange(50.0)), {"bounds": (0, np.inf)}, "finite"),
        (np.arange(50.0), np.sin(np.arange(50.0)), {"method": "fft"}, "method must be"),
        (np.arange(50.0), np.sin(np.arange(50.0)), {"target": "input"}, "target must be"),
        (np.arange(50.0), np.sin(np.arange(50.0)), {"fit_range": (10, 12)}, "fit_range"),
        (np.ones((3, 50)), np.sin(np.arange(50.0)), {"realisation_axis": 1}, "realisation_axis"),
        (np.ones((3, 50)), np.ones((2, 50)), {}, "does not broadcast"),
        (np.arange(50.0), np.sin(np.arange(50.0)), {"bootstrap": -1}, "bootstrap"),
        (np.arange(50.0), np.sin(np.arange(50.0)), {"confidence": 1.5}, "confidence"),
        (np.arange(50.0), np.sin(np.arange(50.0)), {"combine": "sum"}, "combine must be"),
    ],
)
def test_fit_bad_input(response, stimulus, kwargs, match):
    with pytest.raises(ValueError, match=match):
        fit_fractional_order(response, stimulus, **kwargs)


# -- frequency_response ----------------------------------------------------------------------


def _probes(frequencies, steps, dt=1.0):
    t = np.arange(steps) * dt
    return np.sin(2 * np.pi * frequencies[:, None] * t + 0.3)


@pytest.mark.parametrize("alpha", [-0.6, 0.15, 0.5, 1.0])
def test_frequency_response_spectral_is_exact(alpha):
    steps, dt = 1024, 0.5
    f = np.array([4, 8, 16, 32, 64]) / (steps * dt)
    stimulus = _probes(f, steps, dt)
    fr = frequency_response(derivative(stimulus, alpha, dt, method="spectral"), stimulus, f, dt)
    np.testing.assert_allclose(fr.gain, (2 * np.pi * f) ** alpha, rtol=1e-9)
    np.testing.assert_allclose(fr.phase, alpha * np.pi / 2, atol=1e-9)
    assert fr.alpha_gain == pytest.approx(alpha, abs=1e-9)
    assert fr.alpha_phase == pytest.approx(alpha, abs=1e-9)
    assert fr.agree and fr.sign == 1.0


@pytest.mark.parametrize("alpha", [-0.5, 0.3, 0.5])
def test_frequency_response_gl_matches_its_transfer_function(alpha):
    f = np.array([0.002, 0.005, 0.01, 0.02])
    stimulus = _probes(f, 6000)
    fr = frequency_response(derivative(stimulus, alpha), stimulus, f, discard=2000)
    omega = 2 * np.pi * f
    np.testing.assert_allclose(fr.gain, (2 * np.sin(omega / 2)) ** alpha, rtol=3e-3)
    np.testing.assert_allclose(fr.phase, alpha * (np.pi - omega) / 2, atol=3e-3)
    assert fr.alpha_gain == pytest.approx(alpha, abs=0.01)
    assert fr.agree


def test_frequency_response_flags_a_first_order_low_pass():
    # y_t = 0.9 y_{t−1} + 0.1 x_t: slope −½ and phase −45° near its corner, but the phase runs
    # from ≈ 0 to ≈ −90° across the band while the gain slope averages ≈ −½
    f = np.geomspace(0.002, 0.3, 8)
    stimulus = _probes(f, 6000)
    response = lfilter([0.1], [1.0, -0.9], stimulus, axis=-1)
    fr = frequency_response(np.stack([response, -response], 1), stimulus, f, discard=1000)
    assert not fr.agree.any()
    assert (fr.deviation > 0.3).all()
    assert fr.sign.tolist() == [1.0, -1.0]  # an inverted response is a sign, not a phase
    np.testing.assert_allclose(fr.phase[:, 0], fr.phase[:, 1], atol=1e-12)


def test_frequency_response_json_round_trip():
    f = np.array([0.01, 0.02, 0.04])
    stimulus = _probes(f, 800)
    fr = frequency_response(derivative(stimulus, 0.2), stimulus, f, discard=100)
    back = FrequencyResponse.from_json(fr.to_json())
    np.testing.assert_array_equal(back.gain, fr.gain)
    assert bool(back.agree) == bool(fr.agree) and back.discard == 100


@pytest.mark.parametrize(
    ("frequencies", "kwargs", "match"),
    [
        (np.array([0.1, 0.6]), {}, "Nyquist"),
        (np.array([0.1]), {}, "at least 2"),
        (np.array([0.1, 0.1]), {}, "distinct"),
        (np.array([0.001, 0.1]), {}, "less than one period"),
        (np.array([0.1, 0.2, 0.3]), {}, "rows along axis 0"),
        (np.array([0.1, 0.2]), {"discard": 200}, "discard"),
        (np.array([0.1, 0.2]), {"tolerance": 0.0}, "tolerance"),
    ],
)
def test_frequency_response_bad_input(frequencies, kwargs, match):
    stimulus = _probes(np.array([0.1, 0.2]), 200)
    with pytest.raises(ValueError, match=match):
        frequency_response(stimulus, stimulus, frequencies, **kwargs)


def test_frequency_response_stimulus_without_the_probe_frequency():
    f = np.array([0.05, 0.1])
    stimulus = _probes(f, 400)
    stimulus[1] = 1.0
    with pytest.raises(ValueError, match=r"no component at frequency 0\.1"):
        frequency_response(_probes(f, 400), stimulus, f)


def test_plot_frequency_response_draws_gain_and_phase():
    from dynan.report.fractional_figures import plot_frequency_response

    f = np.array([0.01, 0.02, 0.04])
    stimulus = _probes(f, 800)
    fr = frequency_response(derivative(stimulus, 0.2), stimulus, f, discard=100)
    gain_ax = plot_frequency_response(fr)
    phase_ax = plot_frequency_response(fr, quantity="phase")
    assert gain_ax.get_xscale() == "log" and gain_ax.get_yscale() == "log"
    np.testing.assert_allclose(phase_ax.lines[0].get_ydata(), fr.phase / (np.pi / 2))
    with pytest.raises(ValueError, match="quantity"):
        plot_frequency_response(fr, quantity="delay")
