"""Progress from inside the QR method and the fixed-point solvers: a callable ``progress(done,
total)`` is told the steps as they go, and watching them does not change a single number."""

from __future__ import annotations

import numpy as np
import torch

from dynan.fixed_points import find_fixed_points
from dynan.lyapunov import lyapunov_spectrum
from dynan.lyapunov._benettin import _CallbackBar
from dynan.lyapunov.finite_time import finite_time_lyapunov
from dynan.systems import random_rnn


def _calls():
    calls: list[tuple[int, int]] = []
    return calls, lambda done, total: calls.append((done, total))


def test_spectrum_reports_every_step_transient_included_and_same_numbers(monkeypatch):
    monkeypatch.setattr(_CallbackBar, "EVERY", 0.0)  # no throttle: hear every step
    system = random_rnn(12, 1.5, seed=0)
    options = {"k": 4, "n_steps": 640, "transient": 320, "trials": 2, "seed": 0}
    quiet = lyapunov_spectrum(system, progress=False, **options)
    calls, progress = _calls()
    watched = lyapunov_spectrum(system, progress=progress, **options)
    np.testing.assert_array_equal(watched.trial_exponents, quiet.trial_exponents)
    np.testing.assert_array_equal(watched.running, quiet.running)
    done = [d for d, _ in calls]
    assert {t for _, t in calls} == {960} and done == sorted(done) and done[-1] == 960
    assert done == list(range(961))  # the transient reports as it goes too


def test_progress_is_throttled_to_every_half_second():
    calls, progress = _calls()
    system = random_rnn(12, 1.5, seed=0)
    lyapunov_spectrum(system, k=2, n_steps=2000, transient=0, progress=progress)
    assert 2 <= len(calls) < 2000 and calls[-1][0] == calls[-1][1]  # the end is always told


def test_finite_time_reports_progress(monkeypatch):
    monkeypatch.setattr(_CallbackBar, "EVERY", 0.0)
    system = random_rnn(8, 1.2, seed=1)
    calls, progress = _calls()
    finite_time_lyapunov(
        system, n_steps=200, event=100, window=10, trials=2, seed=0, progress=progress
    )
    done = [d for d, _ in calls]
    assert len(done) >= 10 and done == sorted(done) and done[-1] == calls[-1][1]


def test_fixed_point_search_reports_iterations():
    system = random_rnn(6, 0.8, seed=2)
    calls, progress = _calls()
    x = torch.randn(32, 6, dtype=torch.float64)
    quiet = find_fixed_points(system, inits=x, progress=False, seed=0)
    watched = find_fixed_points(system, inits=x, progress=progress, seed=0)
    np.testing.assert_array_equal(watched.states, quiet.states)
    assert calls and all(0 <= d < t for d, t in calls)


def test_network_fixed_point_starts_report_the_relaxation():
    from dynan.adapters.network import network_system
    from dynan.fixed_points.network import network_starts
    from dynan_models import build

    system = network_system(build("gru", input_size=1, hidden_size=4, output_size=2))
    u = torch.zeros(system.input_dim, dtype=torch.float64)
    calls, progress = _calls()
    x = torch.rand(2, 9, 1, dtype=torch.float64)
    quiet = network_starts(system, u, x=x, n_inits=64, relax=500)
    watched = network_starts(system, u, x=x, n_inits=64, relax=500, progress=progress)
    torch.testing.assert_close(watched, quiet, rtol=0, atol=0)
    assert len(calls) >= 32 and [d for d, _ in calls] == sorted(d for d, _ in calls)
