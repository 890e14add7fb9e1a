"""The CKA section of the comparison page: how similar are the checkpoints, and can we trust it.

:func:`cka_representations` computes (through the cache) the hidden states of one checkpoint
on its task's test inputs; it is the per-checkpoint prefetch hook, so with ``report(jobs > 1)``
the page workers run the networks and the comparison page only reads them. :func:`cka_comparison`
then compares the checkpoints of each task (at least two per task) with
:func:`~dynan.similarity.compare_representations` (cached by all the checkpoints' hashes): the
linear and debiased CKA heatmaps, a reliability verdict per pair, and the similarity graph.

Parameters come from ``ctx.settings.params("cka")``: ``examples`` (test inputs), ``steps``
(``"final"``, a count or indices), ``reliability`` (preset of the per-pair diagnostics),
``threshold`` (graph edges) and ``seed``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence

import numpy as np

from dynan.report import cka_figures
from dynan.report.builder import Section, figure_item, table_item, text_item
from dynan.report.jobs import Context
from dynan.report.style import subplots
from dynan.similarity import (
    CKAComparison,
    Representations,
    compare_representations,
    network_representations,
)
from dynan_models import RecurrentNetwork

__all__ = ["cka_comparison", "cka_representations"]

TITLE = "Representational similarity (CKA)"
Named = Sequence[tuple[str, RecurrentNetwork]]


def _task_key(net: RecurrentNetwork) -> str:
    return json.dumps(getattr(net.checkpoint, "task", None) or {}, sort_keys=True)


def cka_representations(net: RecurrentNetwork, ctx: Context) -> Representations:
    """Hidden states of ``net`` at the configured steps on its first test inputs (cached).

    Cost O(examples · T (N² + N G²)) for one run of the network; the cached JSON holds
    examples × steps × N numbers.
    """
    params = ctx.settings.params("cka")
    key = {"examples": params["examples"], "steps": params["steps"], "task": net.checkpoint.task}
    return ctx.cache.get_or_compute(
        "cka-representations",
        net.checkpoint.sha256,
        key,
        Representations,
        lambda: network_representations(
            net, ctx.tasks.inputs(net, params["examples"]), steps=params["steps"]
        ),
    )


def _groups(named: Named) -> tuple[list[list[tuple[str, RecurrentNetwork]]], list[str]]:
    """Checkpoints grouped by task (groups of two or more) and the names left alone."""
    by_task: dict[str, list[tuple[str, RecurrentNetwork]]] = {}
    for name, net in named:
        by_task.setdefault(_task_key(net), []).append((name, net))
    groups = [g for g in by_task.values() if len(g) > 1]
    alone = [name for g in by_task.values() if len(g) == 1 for name, _ in g]
    return groups, alone


def _comparison(group: list[tuple[str, RecurrentNetwork]], ctx: Context) -> CKAComparison:
    params = ctx.settings.params("cka")
    names = [name for name, _ in group]

    def compute() -> CKAComparison:
        reps = [
            dataclasses.replace(cka_representations(net, ctx), name=name) for name, net in group
        ]
        return compare_representations(
            reps, preset=params["reliability"], threshold=params["threshold"], seed=params["seed"]
        )

    return ctx.cache.get_or_compute(
        "cka-comparison",
        [net.checkpoint.sha256 for _, net in group],
        {**params, "names": names},
        CKAComparison,
        compute,
    )


def _task_name(comparison: CKAComparison) -> str:
    return str(comparison.task.get("name", "unknown task"))


def _verdict_rows(comparison: CKAComparison) -> list[tuple]:
    rows = []
    for (i, j, s), v in zip(comparison.pairs, comparison.verdicts, strict=True):
        if s != len(comparison.labels) - 1:
            continue
        rows.append((
            f"{comparison.names[i]} · {comparison.names[j]}",
            v.cka,
            v.cka_debiased,
            v.p_value,
            f"[{v.ci_low:.3f}, {v.ci_high:.3f}]",
            v.verdict,
            "; ".join(v.reasons) or "–",
        ))  # fmt: skip
    return rows


def _summary(comparison: CKAComparison, task: str) -> list[str]:
    block = comparison.block().copy()
    np.fill_diagonal(block, np.nan)
    lines = []
    if np.isfinite(block).any():
        hi, lo = np.nanargmax(block), np.nanargmin(block)
        for word, flat in (("most", hi), ("least", lo)):
            i, j = np.unravel_index(flat, block.shape)
            lines.append(
                f"{task}: {word} similar {comparison.names[i]} and {comparison.names[j]} "
                f"(CKA {block[i, j]:.2f})"
            )
    if comparison.verdicts:
        kinds = [v.verdict for v in comparison.verdicts]
        counts = ", ".join(f"{kinds.count(k)} {k}" for k in dict.fromkeys(sorted(kinds)))
        lines.append(f"{task}: pair verdicts {counts}")
    lines.append(f"{task}: {len(comparison.clusters)} cluster(s) in the similarity graph")
    return lines


def cka_comparison(named: Named, ctx: Context) -> Section:
    """CKA heatmaps (linear and debiased), reliability verdicts and the similarity graph.

    Checkpoints are compared within each task; one alone on its task is listed, not compared.
    FAST preset: about 0.1 s per pair of 64-unit checkpoints (the "quick" diagnostics on 256
    examples) plus ~1 s of figures, once the representations are cached.
    """
    groups, alone = _groups(named)
    if not groups:
        return Section.not_applicable(
            TITLE, "CKA compares checkpoints of one task; no two checkpoints share a task"
        )
    section = Section(TITLE)
    comparisons = [_comparison(group, ctx) for group in groups]
    tasks = [_task_name(c) for c in comparisons]
    for k, comparison in enumerate(comparisons):
        task = tasks[k] if tasks.count(tasks[k]) == 1 else f"{tasks[k]} #{k + 1}"
        label = comparison.labels[-1]
        fig, (left, right) = subplots(1, 2, figsize=(12, 5))
        cka_figures.plot_cka_matrix(comparison, left)
        cka_figures.plot_cka_matrix(comparison, right, debiased=True)
        section.items.append(
            figure_item(
                fig,
                f"CKA across checkpoints ({task})",
                caption=f"Linear CKA of the hidden state at {label} on {comparison.n} test inputs "
                "of the task; left biased (HSIC₀), right debiased (HSIC₁), which removes the "
                "finite-sample inflation (independent networks give ≈ 0).",
            )
        )
        if comparison.verdicts:
            section.items.append(
                table_item(
                    _verdict_rows(comparison),
                    f"Reliability verdicts ({task})",
                    columns=("pair", "CKA", "debiased", "p", "interval", "verdict", "why"),
                    caption=f"Davari et al. diagnostics per pair ({comparison.preset} preset): "
                    "permutation p-value, confidence interval, influence of single examples, "
                    "sensitivity to invertible linear maps, agreement with other measures.",
                )
            )
        section.items.append(
            figure_item(
                cka_figures.plot_similarity_graph(comparison).figure,
                f"Similarity graph ({task})",
                caption=f"Edges join checkpoints with CKA ≥ {comparison.threshold:g} whose pair "
                "is not unreliable; fill colour = cluster (greedy modularity), ring = "
                "architecture.",
            )
        )
        section.results[f"cka-{task}" if len(groups) > 1 else "cka"] = comparison
        section.summary.extend(_summary(comparison, task))
    if alone:
        section.items.append(
            text_item(
                f"Not compared (the only checkpoint on its task): {', '.join(alone)}.",
                "Checkpoints left out",
            )
        )
    return section
