"""Fractional-order analysis of single-neuron coding (REFERENCES.md §4).

- :func:`derivative` — D^α of sampled signals, Grünwald–Letnikov (linear convolution) or
  spectral ((i2πf)^α, DC zeroed); α < 0 integrates.
- :func:`fit_fractional_order` — the α (with gain and offset) linking a response to its
  stimulus, batched over series, with a bootstrap interval over noise realisations
  (:class:`FractionalFit`).
- :func:`frequency_response` — gain and phase from sinusoidal probes, α from the log-gain slope
  and from the phase, and whether they agree (:class:`FrequencyResponse`).
"""

from dynan.fractional._derivative import METHODS, derivative
from dynan.fractional._fit import CONVENTIONS, FractionalFit, fit_fractional_order
from dynan.fractional._frequency import FrequencyResponse, frequency_response

__all__ = [
    "CONVENTIONS",
    "METHODS",
    "FractionalFit",
    "FrequencyResponse",
    "derivative",
    "fit_fractional_order",
    "frequency_response",
]
