"""The claims under test, the record each study returns, and what every study is handed.

A study is a function ``run(context) -> list[Claim]`` in one module per claim group; the
:data:`STUDIES` list names them in the order of the page. The claim texts are those of
REFERENCES.md §6 (Geadah et al. 2024: G1–G7; Davari et al. 2023: D1–D4).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from matplotlib.figure import Figure

from analyses.studies.checkpoints import Network, StudyCache
from analyses.studies.verdicts import VERDICTS

__all__ = ["CLAIMS", "STUDIES", "Claim", "Context", "primary_setting"]

#: (paper, id) → the claim in words (REFERENCES.md §6).
CLAIMS = {
    "G1": "Robustness to noise: adaptive (ARUN) networks lose less accuracy than static ones "
    "(ReLU, softplus, γ homogeneous, γ heterogeneous) under a noise drive added to every "
    "pre-activation in a window of the sequence.",
    "G2": "Robustness to changed input statistics: the same under a sinusoidal modulation of "
    "the input and under a step drive ξ.",
    "G3": "Diversity regularises: learned heterogeneous static γ is more robust than "
    "homogeneous γ and the fixed nonlinearities.",
    "G4": "Gain scaling: an ARUN neuron's mean gain n_t falls with the drive amplitude ξ as "
    "a ξ^(−b) + c with b > 0; s_t follows a e^(−bξ) + c.",
    "G5": "Fractional-order coding: isolated ARUN neurons respond to a step like a fractional "
    "derivative or integral of it (α ≠ 0), with a population α that depends on ξ; the intact "
    "network's α differs from the isolated neurons'.",
    "G6": "Edge of chaos: with adaptation the maximal Lyapunov exponent stays near 0 as the "
    "drive grows; in static networks it moves away from 0.",
    "G7": "Controller dynamics: under a constant input each neuron's controller converges to a "
    "fixed point that depends on the input.",
    "D1": "Outliers: translating one example far from the rest drives linear CKA between a "
    "representation and the translated copy toward ‖x̂‖²/((n − 1) mean‖x‖²) · √d_PR, though "
    "nothing about the representation's use has changed.",
    "D2": "Transformations that preserve linear separability (translating a subset, Theorem 1) "
    "move CKA to the theorem's limit while a linear read-out's accuracy stays the same.",
    "D3": "Manipulation: a network fine-tuned toward a target CKA map reaches it while keeping "
    "its accuracy and most of its predictions.",
    "D4": "Fragile conclusions: which pairs of networks CKA calls most similar changes under "
    "D1–D2 transformations and disagrees with other measures (Procrustes, CCA, RSA) more than "
    "sampling noise explains.",
}

PAPERS = {"G": "geadah2024", "D": "davari2023"}


@dataclass
class Claim:
    """One tested claim: what the paper says, the rule, the verdict and the numbers behind it.

    ``evidence`` is JSON (effect sizes, intervals, networks, tests, the rule, what a proper
    test would need); ``figures`` are (title, matplotlib figure) pairs the page writer embeds.
    """

    id: str
    verdict: str
    evidence: dict[str, Any]
    figures: list[tuple[str, Figure]] = field(default_factory=list)

    def __post_init__(self):
        if self.id not in CLAIMS:
            raise ValueError(f"unknown claim id {self.id!r}; valid: {', '.join(CLAIMS)}")
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")

    @property
    def paper(self) -> str:
        return PAPERS[self.id[0]]

    @property
    def claim(self) -> str:
        return CLAIMS[self.id]


@dataclass
class Context:
    """What every study gets: the networks of each setting, the cache, and the effort.

    ``quick`` shrinks every protocol (tests, smoke runs); the committed report uses False.
    ``sweep`` is the folder of the Dask sweep's own cache (None: per-checkpoint numbers are
    computed in-process, as in tests).
    """

    settings: dict[str, list[Network]]
    cache: StudyCache
    quick: bool = False
    sweep: str | None = None
    notes: dict[str, str] = field(default_factory=dict)


def primary_setting(context: Context, architectures: tuple[str, ...], minimum: int = 3) -> str:
    """The setting a verdict is drawn from: psMNIST when every needed variant has ≥ ``minimum``
    networks there, else digits (smaller; the evidence says so)."""
    nets = context.settings.get("psmnist", [])
    counts = [sum(n.architecture == a for n in nets) for a in architectures]
    return "psmnist" if counts and min(counts) >= minimum else "digits"


#: The study modules in page order (each has ``run(context) -> list[Claim]``).
STUDIES = (
    "analyses.studies.robustness",
    "analyses.studies.single_neurons",
    "analyses.studies.edge_of_chaos",
    "analyses.studies.controller",
    "analyses.studies.cka_translation",
    "analyses.studies.cka_manipulation",
    "analyses.studies.cka_fragility",
)
