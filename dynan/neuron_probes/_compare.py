"""Fractional orders of several networks side by side, in one small record."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dynan.neuron_probes._analysis import FractionalAnalysis
from dynan.results import Result

__all__ = ["AlphaComparison", "compare_alpha"]

#: The probes of a :class:`FractionalAnalysis`, in the order of the comparison's axis 1.
PROBES = ("isolated", "intact")


@dataclass(frozen=True)
class AlphaComparison(Result):
    """α of several networks at each one's largest drive amplitude.

    Attributes
    ----------
    names, architectures : tuple of str (C,)
        The networks (e.g. page names) and their architectures.
    connectivities : tuple of str (2,)
        ("isolated", "intact"): axis 1 of the arrays.
    amplitude : ndarray (C,)
        The drive amplitude ξ compared (each network's largest).
    neuron_alpha : ndarray (C, 2, N_max)
        Per-neuron α, NaN-padded to the widest network (and NaN for silent neurons).
    hidden : ndarray (C,) of int
        Hidden units of each network (the unpadded length).
    population_alpha : ndarray (C, 2)
        α of the neuron-averaged response.
    population_ci : ndarray (C, 2, 2)
        Its bootstrap interval.
    median_alpha : ndarray (C, 2)
        Median over responding neurons.
    at_bound : ndarray (C, 2) of int
        Neurons whose α lies on a bound of the search.
    gain_exponent : ndarray (C,)
        b of the gain-scaling fit n ≈ a ξ^{−b} + c (NaN without one).
    target, convention, method, preset : str
        Fit target and its sign convention of α, operator and protocol preset (shared by all
        networks).
    """

    names: tuple[str, ...]
    architectures: tuple[str, ...]
    connectivities: tuple[str, ...]
    amplitude: np.ndarray
    neuron_alpha: np.ndarray
    hidden: np.ndarray
    population_alpha: np.ndarray
    population_ci: np.ndarray
    median_alpha: np.ndarray
    at_bound: np.ndarray
    gain_exponent: np.ndarray
    target: str
    convention: str
    method: str
    preset: str


def compare_alpha(
    analyses: Sequence[FractionalAnalysis], names: Sequence[str] | None = None
) -> AlphaComparison:
    """Gather the α of several fractional analyses at each one's largest ξ.

    Parameters
    ----------
    analyses : sequence of FractionalAnalysis
        From :func:`fractional_analysis`, all with the same method, convention and preset.
    names : sequence of str, optional
        Labels (default: each analysis' ``name``).

    Returns
    -------
    AlphaComparison

    Raises
    ------
    ValueError
        No analyses, a names list of another length, or analyses whose method, sign convention
        or preset differ (their α would not be comparable).

    Notes
    -----
    Cost O(C N): only selects and pads what the analyses hold.

    Examples
    --------
    >>> import dynan_models
    >>> from dynan.neuron_probes import fractional_analysis
    >>> nets = [dynan_models.build(a, input_size=1, hidden_size=h, output_size=2)
    ...         for a, h in (("relu", 4), ("softplus", 6))]
    >>> result = compare_alpha([fractional_analysis(n, progress=False) for n in nets])
    >>> result.neuron_alpha.shape, result.hidden.tolist()
    ((2, 2, 6), [4, 6])
    """
    analyses = list(analyses)
    if not analyses:
        raise ValueError("compare_alpha needs at least one analysis")
    names = [a.name for a in analyses] if names is None else [str(n) for n in names]
    if len(names) != len(analyses):
        raise ValueError(f"{len(names)} names for {len(analyses)} analyses")
    for field in ("method", "target", "preset"):
        values = {getattr(a, field) for a in analyses}
        if len(values) > 1:
            raise ValueError(
                f"the analyses differ in {field} ({', '.join(sorted(values))}): their α are not "
                "comparable"
            )
    probes = [[getattr(a, c) for c in PROBES] for a in analyses]
    hidden = np.array([p[0].neurons.alpha.shape[-1] for p in probes])
    neuron_alpha = np.full((len(analyses), len(PROBES), hidden.max()), np.nan)
    for i, row in enumerate(probes):
        for j, probe in enumerate(row):
            neuron_alpha[i, j, : hidden[i]] = probe.neurons.alpha[-1]

    def last(get) -> np.ndarray:
        return np.array([[get(probe) for probe in row] for row in probes])

    median = np.array(
        [
            [np.nanmedian(a) if np.isfinite(a).any() else np.nan for a in row]
            for row in neuron_alpha
        ]
    )
    return AlphaComparison(
        names=tuple(names),
        architectures=tuple(a.architecture for a in analyses),
        connectivities=PROBES,
        amplitude=np.array([row[0].amplitudes[-1] for row in probes], dtype=np.float64),
        neuron_alpha=neuron_alpha,
        hidden=hidden,
        population_alpha=last(lambda p: p.population.alpha[-1]),
        population_ci=last(lambda p: p.population.ci[-1]),
        median_alpha=median,
        at_bound=last(lambda p: int(p.neurons.at_bound[-1].sum())),
        gain_exponent=np.array(
            [a.gain.n_params[1] if a.gain.n_ok else np.nan for a in analyses], dtype=np.float64
        ),
        target=analyses[0].target,
        convention=analyses[0].isolated.neurons.convention,
        method=analyses[0].method,
        preset=analyses[0].preset,
    )
