"""One call for a whole checkpoint: isolated and intact probes plus gain scaling."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from dynan.neuron_probes._gain import GainScaling, gain_scaling
from dynan.neuron_probes._probes import NeuronProbe, probe_neurons
from dynan.neuron_probes._simulate import ProbeError, check_network
from dynan.results import Result
from dynan_models import RecurrentNetwork

__all__ = ["PRESETS", "FractionalAnalysis", "fractional_analysis"]

#: Protocol sizes. "fast": a few seconds for a 64-unit network on one core (the report);
#: "full": closer to the paper (longer probe, more ξ, realisations and resamples).
PRESETS = {
    "fast": {
        "amplitudes": (1.0, 2.5, 5.0, 10.0),
        "realisations": 4,
        "steps": 150,
        "window": (50, 100),
        "resolution": 0.05,
        "bootstrap": 100,
    },
    "full": {
        "amplitudes": (1.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0),
        "realisations": 10,
        "steps": 300,
        "window": (100, 200),
        "resolution": 0.05,
        "bootstrap": 500,
    },
}


@dataclass(frozen=True)
class FractionalAnalysis(Result):
    """Single-neuron coding of one network: isolated and intact probes, gain scaling.

    Attributes
    ----------
    name : str
        Checkpoint name (file stem) or the architecture.
    architecture, preset, method, target : str
        What was run.
    isolated, intact : NeuronProbe
        The protocol with each neuron's self-connection only, and with the full recurrence.
    gain : GainScaling
        Mean n_t, s_t against ξ on the intact network, with the paper's fits.
    """

    name: str
    architecture: str
    preset: str
    method: str
    target: str
    isolated: NeuronProbe
    intact: NeuronProbe
    gain: GainScaling


def fractional_analysis(
    network: RecurrentNetwork,
    *,
    preset: str = "fast",
    method: str = "gl",
    target: str = "stimulus",
    seed: int = 0,
    progress: bool = True,
) -> FractionalAnalysis:
    """The paper's single-neuron analyses of a network, sized by a preset.

    Parameters
    ----------
    network : dynan_models.RecurrentNetwork
        E.g. ``dynan.load(path, dtype=torch.float64)``; any zoo variant.
    preset : {"fast", "full"}
        Protocol sizes (see ``PRESETS``); "fast" takes a few seconds for 64 units.
    method : {"gl", "spectral"}
        Fractional operator (``"spectral"`` is the paper's).
    target : {"stimulus", "response"}
        Sign convention of α (see :func:`dynan.fractional.fit_fractional_order`).
    seed : int
        Seeds inputs and bootstrap.
    progress : bool
        Show progress over the stages.

    Returns
    -------
    FractionalAnalysis

    Raises
    ------
    ProbeError
        Not a network, or an unknown preset.

    Notes
    -----
    Runs :func:`probe_neurons` with ``connectivity="isolated"`` and ``"intact"`` (step drives,
    N(0.8, 0.1²) private inputs) and :func:`gain_scaling` on the intact probe. Cost: two
    probes, each O(R K T) network steps and O(G R K N T log T) for the fits.

    References
    ----------
    Geadah et al. (2024), PLOS Comp. Biol.; REFERENCES.md §1 and §4.

    Examples
    --------
    >>> import dynan_models
    >>> net = dynan_models.build("relu", input_size=1, hidden_size=8, output_size=10)
    >>> result = fractional_analysis(net, progress=False)
    >>> result.isolated.neurons.alpha.shape, result.gain.n_ok
    ((4, 8), False)
    """
    check_network(network)
    if preset not in PRESETS:
        raise ProbeError(f"preset must be one of {', '.join(map(repr, PRESETS))}, got {preset!r}")
    options = dict(PRESETS[preset], method=method, target=target, seed=seed)
    stages = tqdm(("isolated", "intact"), desc="fractional", disable=not progress, leave=False)
    probes = {c: probe_neurons(network, connectivity=c, **options) for c in stages}
    checkpoint = getattr(network, "checkpoint", None)
    name = Path(checkpoint.path).stem if checkpoint is not None else network.architecture
    return FractionalAnalysis(
        name=name,
        architecture=network.architecture,
        preset=preset,
        method=method,
        target=target,
        isolated=probes["isolated"],
        intact=probes["intact"],
        gain=gain_scaling(probes["intact"]),
    )
