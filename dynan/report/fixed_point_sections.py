"""Report section of the fixed-point analysis for the checkpoint page.

:func:`fixed_points_section` (``fn(net, ctx)``): the fixed points of the network's hidden
dynamics under zero input, started from the states it visits on its task's test inputs (each
relaxed under zero input first), with their kinds, the slow points, the heteroclinic skeleton,
a PCA figure of the trajectories and a table of the points by kind.

ARUN networks are analysed in frozen mode — the hidden state with the shape parameters (n, s)
held at their values after 200 steps of zero input — because the joint state (h and every
controller, N(1 + G) = 1088 dimensions for the zoo) costs about 45 s per network on one core
against 1 s; ``dynan fixed-points --mode joint`` computes the joint points. The page says so.

The result goes through ``ctx.cache`` with the parameters of ``ctx.settings`` ("fixed-points"
in :data:`dynan.report.jobs.FAST`); the trajectories for the figure are recomputed (one run of
the network, milliseconds).

References: Sussillo & Barak (2013), Neural Comput. 25:626; Golub & Sussillo (2018), JOSS 3:1003
(REFERENCES.md §3).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dynan.adapters.network import network_system
from dynan.fixed_points import FixedPoints, network_fixed_points, task_trajectories
from dynan.report.builder import Section, figure_item, table_item, text_item
from dynan.report.fixed_point_figures import plot_fixed_point_graph, plot_fixed_points
from dynan.report.jobs import Context
from dynan.report.style import subplots
from dynan_models import ARUN, RecurrentNetwork

__all__ = ["fixed_points_result", "fixed_points_section"]

#: Page title of the section.
TITLE = "Fixed points"

#: Options of :func:`~dynan.fixed_points.network.network_fixed_points` a preset may set.
_OPTIONS = ("n_inits", "relax", "connect_steps", "max_iter", "polish_iter")


def _mode(net: RecurrentNetwork) -> str:
    return "frozen" if isinstance(net, ARUN) else "joint"


def fixed_points_result(net: RecurrentNetwork, ctx: Context) -> FixedPoints:
    """The cached fixed points of ``net`` under zero input (the section's analysis; also the
    per-checkpoint task of ``dynan sweep``). Cost: see :func:`fixed_points_section`."""
    p = ctx.settings.params("fixed-points")
    mode = _mode(net)
    options = {k: p[k] for k in _OPTIONS if k in p}
    params = {
        "mode": mode,
        "examples": p["examples"],
        "seed": p["seed"],
        "task": net.checkpoint.task,
        **options,
    }
    return ctx.cache.get_or_compute(
        "fixed-points",
        net.checkpoint.sha256,
        params,
        FixedPoints,
        lambda: network_fixed_points(
            net,
            mode=mode,
            x=ctx.tasks.inputs(net, p["examples"]),
            seed=p["seed"],
            progress=ctx.steps(f"{mode} fixed points, iteration"),
            **options,
        ),
    )


def fixed_points_section(net: RecurrentNetwork, ctx: Context) -> Section:
    """Fixed points of the hidden dynamics under zero input: figures, table, summary.

    Parameters
    ----------
    net : RecurrentNetwork
        Loaded by ``dynan.load`` (with ``.checkpoint``, and a task to take inputs from).
    ctx : Context
        ``ctx.settings.params("fixed-points")``: ``examples`` (test sequences seeding the
        search), ``seed``, and optionally ``n_inits``, ``relax``, ``connect_steps``,
        ``max_iter``, ``polish_iter``.

    Returns
    -------
    Section
        Items: the PCA figure and the skeleton side by side, a table of the points by kind,
        and (ARUN) a note on the mode. ``results["fixed-points"]`` is the FixedPoints record;
        headline: the number of fixed points and of stable ones.

    Notes
    -----
    Cost (FAST preset, 64-unit zoo networks, one core): about 1–3 s; dominated by the batched
    Levenberg–Marquardt search (O(iterations · n_inits · N³)) and the relaxation of the starts
    (O(relax · n_inits · N²)).
    """
    p = ctx.settings.params("fixed-points")
    mode = _mode(net)
    x = ctx.tasks.inputs(net, p["examples"])
    result = fixed_points_result(net, ctx)
    orbits = task_trajectories(network_system(net, mode=mode), x=x, seed=p["seed"])
    orbits = orbits.cpu().numpy()
    section = Section(TITLE)
    fig, (left, right) = subplots(1, 2, figsize=(10, 4.2))
    plot_fixed_points(result, left, trajectories=orbits)
    plot_fixed_point_graph(result, right)
    section.items.append(
        figure_item(
            fig,
            "Fixed points and their skeleton",
            caption=f"Left: fixed points under zero input in the plane of the two leading "
            f"principal components of {orbits.shape[0]} test trajectories (grey), coloured by "
            f"kind (stable: every |λ| < 1; saddle-k: k directions with |λ| ≥ 1); hollow "
            f"circles are slow points (q below {result.parameters['tol_slow']:g}). Right: "
            f"arrows from each saddle to the attractors its unstable directions lead to.",
        )
    )
    section.items.append(table_item(_rows(result), "Points by kind", columns=_COLUMNS))
    if mode == "frozen":
        section.items.append(
            text_item(
                "ARUN: hidden state with the shape parameters frozen at their values after "
                f"{result.parameters['network']['hold']} steps of zero input. The joint state "
                "(hidden and controller states) is affordable in `dynan fixed-points --mode "
                "joint`, not within the report's budget.",
                "Mode",
            )
        )
    section.results["fixed-points"] = result
    section.summary.append(f"Under zero input ({mode} mode): {result.summary()}")
    section.headline.update(
        {"fixed points": len(result), "stable fixed points": int(result.is_stable.sum())}
    )
    return section


_COLUMNS = ("kind", "count", "max q", "leading |λ| min", "leading |λ| max")


def _rows(result: FixedPoints) -> list[tuple[Any, ...]]:
    rows = []
    kinds = np.array(result.kinds, dtype=object)
    lead = np.abs(result.eigenvalues[:, 0]) if len(result) else np.zeros(0)
    for kind in sorted(set(result.kinds), key=lambda k: (k != "stable", len(k), k)):
        mask = kinds == kind
        rows.append((kind, int(mask.sum()), result.q[mask].max(), lead[mask].min(),
                     lead[mask].max()))  # fmt: skip
    slow = result.slow_points
    if slow is not None and len(slow):
        rows.append(("slow points", len(slow), slow.q.max(), np.abs(slow.eigenvalues[:, 0]).min(),
                     np.abs(slow.eigenvalues[:, 0]).max()))  # fmt: skip
    return rows or [("none found", 0, None, None, None)]
