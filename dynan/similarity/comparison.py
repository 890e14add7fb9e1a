"""Comparing many networks at once: the CKA matrix, a verdict per pair, a similarity graph.

:func:`compare_representations` takes the representations of C networks at the same S labels
(time steps, say) of the same n examples and returns a :class:`CKAComparison`: the biased and
the debiased linear CKA of every (network, label) against every other, a
:class:`~dynan.similarity.ReliabilityVerdict` for every pair of networks at each label, and the
clusters of the similarity graph (:func:`similarity_graph`). :func:`compare_checkpoints` does
this for checkpoints of one task on its test inputs.

References
----------
Kornblith et al. (2019), ICML (linear CKA across networks); Davari et al. (2023), ICLR
(reliability); Clauset, Newman, Moore (2004), "Finding community structure in very large
networks", Phys. Rev. E 70 (greedy modularity communities). REFERENCES.md §5.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np
from torch import nn
from tqdm.auto import tqdm

from dynan.results import Result
from dynan.similarity._checks import SimilarityError, check_choice, check_positive
from dynan.similarity.cka import cka_matrix
from dynan.similarity.reliability import PRESETS, ReliabilityVerdict, assess_reliability
from dynan.similarity.representations import Representations, network_representations

__all__ = ["CKAComparison", "compare_checkpoints", "compare_representations", "similarity_graph"]


@dataclass(frozen=True)
class CKAComparison(Result):
    """CKA across C networks at S labels, with a reliability verdict per pair of networks.

    Attributes
    ----------
    names, architectures : tuple of str
        The C networks.
    labels : tuple of str
        The S representations compared for each network (e.g. ``"h[t=63]"``).
    linear, debiased : ndarray of shape (C·S, C·S)
        Biased and debiased (HSIC₁) linear CKA; row ``c·S + s`` is network c at label s.
    pairs : tuple of (i, j, s)
        The network pairs i < j and label index s of each entry of ``verdicts``.
    verdicts : tuple of ReliabilityVerdict
        Empty when reliability was not assessed (``preset == "none"``).
    clusters : tuple of tuple of str
        Communities of the similarity graph at the last label (see :func:`similarity_graph`).
    threshold : float
        Smallest CKA drawn as an edge of the graph.
    n : int
        Number of examples.
    preset : str
        Reliability preset, or "none".
    seed : int
    task : dict
        Task spec the inputs came from (empty if unknown).
    """

    names: tuple[str, ...]
    architectures: tuple[str, ...]
    labels: tuple[str, ...]
    linear: np.ndarray
    debiased: np.ndarray
    pairs: tuple[tuple[int, int, int], ...]
    verdicts: tuple[ReliabilityVerdict, ...]
    clusters: tuple[tuple[str, ...], ...]
    threshold: float
    n: int
    preset: str
    seed: int
    task: dict = field(default_factory=dict)

    def label_index(self, label: str | None = None) -> int:
        """Index of ``label`` (the last label when None); SimilarityError listing the valid."""
        if label is None:
            return len(self.labels) - 1
        if label not in self.labels:
            raise SimilarityError(f"no label {label!r}; valid: {', '.join(self.labels)}")
        return self.labels.index(label)

    def block(self, label: str | None = None, *, debiased: bool = False) -> np.ndarray:
        """The (C, C) matrix of the networks at one label (the last by default)."""
        s, k = self.label_index(label), len(self.labels)
        matrix = self.debiased if debiased else self.linear
        return matrix[s::k, s::k]

    def verdict(self, i: int, j: int, label: str | None = None) -> ReliabilityVerdict | None:
        """The verdict of networks i and j at ``label`` (None if not assessed or i == j)."""
        key = (min(i, j), max(i, j), self.label_index(label))
        for pair, verdict in zip(self.pairs, self.verdicts, strict=True):
            if tuple(pair) == key:
                return verdict
        return None


def similarity_graph(
    comparison: CKAComparison, *, label: str | None = None, threshold: float | None = None
) -> nx.Graph:
    """The networks as nodes, joined where linear CKA ≥ ``threshold`` and not "unreliable".

    Nodes carry ``architecture`` and ``cluster`` (index into the communities); edges carry
    ``weight`` (CKA), ``debiased`` and ``verdict`` ("" when not assessed). Pairs whose verdict
    is "unreliable" are left out: a similarity that cannot be trusted should not join clusters.

    Notes
    -----
    Communities are the greedy modularity maximisation of Clauset, Newman and Moore (2004) on
    the CKA-weighted graph, deterministic for a given graph; isolated nodes are their own
    clusters. O(C²) edges, O(C² log C) for the communities.

    Examples
    --------
    >>> import numpy as np
    >>> from dynan.similarity import Representations
    >>> x = np.random.default_rng(0).normal(size=(60, 3))
    >>> reps = [Representations(f"n{i}", ("h",), (x + 0.1 * i * x**2,)) for i in range(3)]
    >>> graph = similarity_graph(compare_representations(reps, preset="none"))
    >>> sorted(graph.nodes), graph.number_of_edges()
    (['n0', 'n1', 'n2'], 3)
    """
    s = comparison.label_index(label)
    threshold = comparison.threshold if threshold is None else float(threshold)
    block, block_d = comparison.block(label), comparison.block(label, debiased=True)
    graph = nx.Graph(label=comparison.labels[s], threshold=threshold)
    for name, arch in zip(comparison.names, comparison.architectures, strict=True):
        graph.add_node(name, architecture=arch)
    c = len(comparison.names)
    for i in range(c):
        for j in range(i + 1, c):
            verdict = comparison.verdict(i, j, comparison.labels[s])
            kind = verdict.verdict if verdict is not None else ""
            if block[i, j] >= threshold and kind != "unreliable":
                graph.add_edge(
                    comparison.names[i],
                    comparison.names[j],
                    weight=float(block[i, j]),
                    debiased=float(block_d[i, j]),
                    verdict=kind,
                )
    for index, members in enumerate(_communities(graph)):
        for name in members:
            graph.nodes[name]["cluster"] = index
    return graph


def _communities(graph: nx.Graph) -> list[tuple[str, ...]]:
    """Greedy-modularity communities, each sorted, largest first (ties by first name)."""
    if graph.number_of_edges() == 0:
        groups = [{node} for node in graph.nodes]
    else:
        groups = nx.community.greedy_modularity_communities(graph, weight="weight")
    return sorted((tuple(sorted(g)) for g in groups), key=lambda g: (-len(g), g[0]))


def _unique(names: Sequence[str]) -> list[str]:
    """Names made unique by a ``#k`` suffix on repeats."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return out


def compare_representations(
    reps: Sequence[Representations],
    *,
    preset: str = "fast",
    threshold: float = 0.5,
    seed: int = 0,
    progress: bool = False,
) -> CKAComparison:
    """CKA of every network against every other, with a reliability verdict per pair.

    Parameters
    ----------
    reps : sequence of Representations
        One per network (at least two), all with the same labels and the same n examples.
    preset : {"none", "quick", "fast", "thorough"}
        Reliability preset of :func:`~dynan.similarity.assess_reliability` for every pair of
        networks at every label; "none" skips the verdicts.
    threshold : float
        Smallest CKA joining two networks in the similarity graph.
    seed : int
        Seed of the reliability diagnostics.
    progress : bool
        Show a progress bar over the pairs.

    Returns
    -------
    CKAComparison

    Raises
    ------
    SimilarityError
        Fewer than two networks, different labels or numbers of examples, a bad preset.

    Notes
    -----
    Each of the C·S representations is prepared once (:func:`~dynan.similarity.cka_matrix`):
    O(n Σp²) plus O(n p q) per pair of rows, twice (biased and debiased). The verdicts cost
    C(C − 1)/2 · S calls of ``assess_reliability`` (about 0.1 s each for n = 256, p = 64 with
    "quick", 0.3 s with "fast"). Memory O((C·S)² + n Σp).

    References
    ----------
    Kornblith et al. (2019), ICML; Davari et al. (2023), ICLR. REFERENCES.md §5.

    Examples
    --------
    >>> import numpy as np
    >>> from dynan.similarity import Representations
    >>> x = np.random.default_rng(0).normal(size=(200, 4)) * [3, 2, 1, 0.5]
    >>> reps = [Representations("a", ("h",), (x,)), Representations("b", ("h",), (2 * x,))]
    >>> result = compare_representations(reps, preset="quick")
    >>> round(float(result.linear[0, 1]), 6), result.verdicts[0].verdict
    (1.0, 'reliable')
    """
    check_choice(preset, "preset", ("none", *PRESETS))
    reps = list(reps)
    if len(reps) < 2:
        raise SimilarityError(f"need at least two networks to compare, got {len(reps)}")
    labels = tuple(reps[0].labels)
    for r in reps[1:]:
        if tuple(r.labels) != labels:
            raise SimilarityError(
                f"{r.name} has representations {list(r.labels)}, {reps[0].name} has "
                f"{list(labels)}: compare the same steps of every network"
            )
        if r.n != reps[0].n:
            raise SimilarityError(
                f"{r.name} has {r.n} examples, {reps[0].name} has {reps[0].n}: compare the "
                "same inputs"
            )
    names = _unique([r.name for r in reps])
    arrays = [r[label] for r in reps for label in labels]
    rows = [f"{name} {label}" for name in names for label in labels]
    linear = cka_matrix(arrays, names_a=rows)
    debiased = cka_matrix(arrays, names_a=rows, debiased=True)
    k, c = len(labels), len(reps)
    pairs = [(i, j, s) for s in range(k) for i in range(c) for j in range(i + 1, c)]
    verdicts = []
    if preset != "none":
        bar = tqdm(pairs, desc="CKA reliability", unit="pair", disable=not progress)
        for i, j, s in bar:
            bar.set_postfix_str(f"{names[i]} vs {names[j]}")
            verdicts.append(
                assess_reliability(arrays[i * k + s], arrays[j * k + s], preset=preset, seed=seed)
            )
    result = CKAComparison(
        names=tuple(names),
        architectures=tuple(r.architecture for r in reps),
        labels=labels,
        linear=linear,
        debiased=debiased,
        pairs=tuple(pairs) if verdicts else (),
        verdicts=tuple(verdicts),
        clusters=(),
        threshold=float(threshold),
        n=reps[0].n,
        preset=preset,
        seed=int(seed),
        task=dict(reps[0].task),
    )
    clusters = _communities(similarity_graph(result))
    return dataclasses.replace(result, clusters=tuple(clusters))


def compare_checkpoints(
    checkpoints: Sequence[str | os.PathLike | nn.Module],
    *,
    steps: str | int | Sequence[int] | None = "final",
    examples: int | None = None,
    preset: str = "fast",
    threshold: float = 0.5,
    seed: int = 0,
    progress: bool = False,
    device: Any = "cpu",
    dtype: Any = None,
) -> CKAComparison:
    """:func:`compare_representations` of checkpoints' hidden states on their task's test inputs.

    Parameters
    ----------
    checkpoints : sequence of paths, or networks from ``dynan.load``
        At least two, all trained on the same task (the same task spec).
    steps : "final", int, sequence of int, or None
        Time steps of the hidden state (see
        :func:`~dynan.similarity.network_representations`).
    examples : int, optional
        Use the first ``examples`` test inputs (all by default).
    preset, threshold, seed, progress
        As in :func:`compare_representations`.
    device, dtype
        Where and in which precision paths are loaded and run (default the CPU, float64);
        the states come back to the host in float64 and every CKA sum is float64 either way.

    Raises
    ------
    SimilarityError
        Fewer than two checkpoints, checkpoints of different tasks (checkpoints without a task,
        from ``dynan import``, are compared on 256 seeded N(0, 1) stand-in sequences).
    dynan.CheckpointError
        A file that cannot be loaded.

    Notes
    -----
    The task is built once; each network runs once over the inputs, O(n T (N² + N G²)); then
    the cost of :func:`compare_representations`.

    Examples
    --------
    >>> import os, tempfile
    >>> from dynan_models import build, save_checkpoint
    >>> tmp = tempfile.mkdtemp()
    >>> task = {"name": "digits", "seed": 0, "permuted": True}
    >>> paths = [save_checkpoint(build(a, input_size=1, hidden_size=6, output_size=10),
    ...                          os.path.join(tmp, f"{a}.safetensors"), task=task)
    ...          for a in ("relu", "softplus")]
    >>> compare_checkpoints(paths, examples=64, preset="none").linear.shape
    (2, 2)
    """
    import torch

    from dynan.checkpoint import load
    from dynan_models.tasks import load_task

    checkpoints = list(checkpoints)
    if len(checkpoints) < 2:
        raise SimilarityError(
            f"need at least two checkpoints to compare, got {len(checkpoints)}"
            + (f" ({checkpoints[0]})" if checkpoints else "")
        )
    dtype = torch.float64 if dtype is None else dtype
    nets = [
        c if isinstance(c, nn.Module) else load(c, dtype=dtype, device=device) for c in checkpoints
    ]
    specs = []
    for source, net in zip(checkpoints, nets, strict=True):
        info = getattr(net, "checkpoint", None)
        if info is None:
            raise SimilarityError(f"{source}: no checkpoint, so no task and no inputs")
        specs.append(json.dumps(info.task or None, sort_keys=True))
    if len(set(specs)) > 1:
        other = next(i for i, s in enumerate(specs) if s != specs[0])
        raise SimilarityError(
            f"checkpoints were trained on different tasks: {checkpoints[0]} on {specs[0]}, "
            f"{checkpoints[other]} on {specs[other]}"
        )
    if specs[0] == "null":  # imported without a task: the same seeded stand-ins for every net
        from dynan.importers import analysis_inputs

        x = analysis_inputs(nets[0], examples or 256)
    else:
        x = load_task(json.loads(specs[0])).test.x
    if examples is not None:
        x = x[: check_positive(examples, "examples", integer=True)]
    reps = [
        network_representations(net, x, steps=steps)
        for net in tqdm(nets, desc="representations", unit="net", disable=not progress)
    ]
    return compare_representations(
        reps, preset=preset, threshold=threshold, seed=seed, progress=progress
    )
