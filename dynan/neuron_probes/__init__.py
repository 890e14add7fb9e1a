"""Single-neuron coding in trained networks: the probe protocols of Geadah et al. (2024).

- :func:`probe_neurons` — drive every neuron (isolated, intact or feed-forward) with private
  N(0.8, 0.1²) noise plus steps of several amplitudes; per-neuron and population fractional
  order α, adaptation index (:class:`NeuronProbe`).
- :func:`gain_scaling` — mean n_t, s_t against ξ with the a ξ^{−b} + c and a e^{−bξ} + c fits
  (:class:`GainScaling`).
- :func:`adaptation_index` — (r_early − r_late)/(r_early + r_late).
- :func:`fractional_analysis` — all of it for one network, fast by default
  (:class:`FractionalAnalysis`).
- :func:`compare_alpha` — the α of several networks side by side (:class:`AlphaComparison`).
"""

from dynan.neuron_probes._analysis import PRESETS, FractionalAnalysis, fractional_analysis
from dynan.neuron_probes._compare import AlphaComparison, compare_alpha
from dynan.neuron_probes._gain import GainScaling, exponential_law, gain_scaling, power_law
from dynan.neuron_probes._probes import DRIVES, NeuronProbe, adaptation_index, probe_neurons
from dynan.neuron_probes._simulate import CONNECTIVITY, ProbeError

__all__ = [
    "CONNECTIVITY",
    "DRIVES",
    "PRESETS",
    "AlphaComparison",
    "FractionalAnalysis",
    "GainScaling",
    "NeuronProbe",
    "ProbeError",
    "adaptation_index",
    "compare_alpha",
    "exponential_law",
    "fractional_analysis",
    "gain_scaling",
    "power_law",
    "probe_neurons",
]
