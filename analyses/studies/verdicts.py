"""Verdict rules, written down before any study runs: the numbers decide, never the author.

Two kinds of claim:

- **Comparisons over networks** (one variant against others, or a per-network effect against
  0): each sub-comparison (e.g. one perturbation) is *significant* when its effect has the
  paper's sign, its 95 % bootstrap interval excludes 0 and its one-sided test gives p < 0.05;
  *opposite* when the same holds in the other direction. Then :func:`comparison_verdict`:
  reproduced = every sub-comparison significant; partly reproduced = at least one significant
  and none opposite; contradicted = at least one opposite and none significant; otherwise not
  reproduced at this scale. A setting with fewer than ``MIN_NETWORKS`` networks in a group
  cannot give more than "partly reproduced" (the issue asks for ≥ 3 seeds per variant).
- **Checks in every network** (a property each trained network should show, with a test inside
  the network — over examples, neurons or inputs): :func:`every_network_verdict` with each
  network's criteria true/false: reproduced = every criterion holds in every network; partly
  reproduced = every network meets at least one criterion, or some network meets all;
  contradicted = the study's own contradiction criterion holds in every network; otherwise not
  reproduced at this scale.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from analyses.studies.statistics import Comparison

__all__ = [
    "ALPHA",
    "COMPARISON_RULE",
    "EVERY_NETWORK_RULE",
    "MIN_NETWORKS",
    "VERDICTS",
    "comparison_verdict",
    "direction",
    "every_network_verdict",
]

VERDICTS = ("reproduced", "partly reproduced", "not reproduced at this scale", "contradicted")
ALPHA = 0.05
MIN_NETWORKS = 3

COMPARISON_RULE = (
    "Each sub-comparison is significant when its effect has the paper's sign, its 95% bootstrap "
    "interval (networks resampled) excludes 0 and its one-sided test over networks gives "
    f"p < {ALPHA}; opposite when all three hold the other way. reproduced: every sub-comparison "
    "significant; partly reproduced: at least one significant, none opposite; contradicted: at "
    "least one opposite, none significant; otherwise not reproduced at this scale. With fewer "
    f"than {MIN_NETWORKS} networks in a group the verdict is at most partly reproduced."
)

EVERY_NETWORK_RULE = (
    "Each network is checked against the listed criteria (each with its own test inside the "
    "network). reproduced: every criterion holds in every network; partly reproduced: every "
    "network meets at least one criterion, or some network meets all; contradicted: the "
    "contradiction criterion holds in every network; otherwise not reproduced at this scale."
)


def direction(c: Comparison, *, alpha: float = ALPHA) -> int:
    """+1 significant in the paper's direction, −1 significant against it, 0 neither.

    Examples
    --------
    >>> from analyses.studies.statistics import compare_groups
    >>> direction(compare_groups("x", [3.0, 3.1, 2.9, 3.2], [1.0, 1.2, 0.8, 1.1]))
    1
    >>> direction(compare_groups("x", [3.0, 3.1, 2.9], [1.0, 1.2, 0.8]))  # p = 1/20: not < 0.05
    0
    """
    if math.isnan(c.low) or math.isnan(c.high):
        return 0
    s = c.expected_sign
    if s * c.estimate > 0 and min(s * c.low, s * c.high) > 0 and c.p_value < alpha:
        return 1
    if s * c.estimate < 0 and max(s * c.low, s * c.high) < 0 and c.p_opposite < alpha:
        return -1
    return 0


def comparison_verdict(
    comparisons: Sequence[Comparison], *, min_networks: int = MIN_NETWORKS
) -> str:
    """The verdict of :data:`COMPARISON_RULE` for a claim's sub-comparisons.

    Examples
    --------
    >>> from analyses.studies.statistics import compare_groups
    >>> up = compare_groups("up", [3.0, 3.1, 2.9, 3.2], [1.0, 1.2, 0.8, 1.1])
    >>> flat = compare_groups("flat", [1.0, 2.0, 3.0, 2.5], [2.0, 1.0, 3.0, 2.4])
    >>> comparison_verdict([up]), comparison_verdict([up, flat]), comparison_verdict([flat])
    ('reproduced', 'partly reproduced', 'not reproduced at this scale')
    """
    if not comparisons:
        raise ValueError("a verdict needs at least one comparison")
    signs = [direction(c) for c in comparisons]
    small = any(c.n_a < min_networks or 0 < c.n_b < min_networks for c in comparisons)
    if all(s == 1 for s in signs):
        return VERDICTS[1] if small else VERDICTS[0]
    if 1 in signs and -1 not in signs:
        return VERDICTS[1]
    if -1 in signs and 1 not in signs:
        return VERDICTS[3]
    if 1 in signs and -1 in signs:
        return VERDICTS[1]  # mixed: reported as partial, the evidence shows both directions
    return VERDICTS[2]


def every_network_verdict(
    checks: Mapping[str, Mapping[str, bool]],
    *,
    contradiction: Mapping[str, bool] | None = None,
) -> str:
    """The verdict of :data:`EVERY_NETWORK_RULE`: ``checks[network][criterion]`` → bool.

    Examples
    --------
    >>> every_network_verdict({"a": {"x": True, "y": True}, "b": {"x": True, "y": True}})
    'reproduced'
    >>> every_network_verdict({"a": {"x": True, "y": False}, "b": {"x": False, "y": True}})
    'partly reproduced'
    >>> every_network_verdict({"a": {"x": False}}, contradiction={"a": True})
    'contradicted'
    """
    if not checks:
        raise ValueError("a verdict needs at least one network")
    full = [all(c.values()) for c in checks.values()]
    some = [any(c.values()) for c in checks.values()]
    if all(full):
        return VERDICTS[0]
    if contradiction and all(contradiction.get(name, False) for name in checks):
        return VERDICTS[3]
    if all(some) or any(full):
        return VERDICTS[1]
    return VERDICTS[2]
