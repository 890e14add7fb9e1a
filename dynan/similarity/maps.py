"""CKA maps: every layer (or time step) of one network against every one of another.

Each representation is prepared once — centred features, or its Gram matrix — and reused for
all the pairs it takes part in (never rebuilt per pair): for L_a × L_b representations of n
examples the cost is O(n Σp²) preparation plus O(n p q) per pair in feature space, or O(n² Σp)
plus O(n²) per pair in Gram space; memory O(Σp²) or O((L_a + L_b) n²).

References
----------
Kornblith et al. (2019), ICML, §6 (layer-by-layer CKA maps); Nguyen, Raghu, Kornblith (2021),
ICLR. REFERENCES.md §5.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dynan.results import Result
from dynan.similarity._checks import SimilarityError, as_matrix
from dynan.similarity.cka import cka_matrix

__all__ = ["CKAMap", "cka_map", "cka_time_map", "select_steps"]


@dataclass(frozen=True)
class CKAMap(Result):
    """A CKA map: ``matrix[i, j]`` = CKA(representation i of A, representation j of B)."""

    matrix: np.ndarray
    labels_a: tuple[str, ...]
    labels_b: tuple[str, ...]
    kernel: str
    debiased: bool
    sigma: float | None
    n: int
    name_a: str = "A"
    name_b: str = "B"

    @property
    def symmetric(self) -> bool:
        """Whether this is a network against itself (same labels, symmetric matrix)."""
        return self.labels_a == self.labels_b and np.allclose(
            self.matrix, self.matrix.T, equal_nan=True
        )


def _named(reps: Mapping[str, Any] | Sequence[Any], prefix: str) -> tuple[list[str], list]:
    if isinstance(reps, Mapping):
        return [str(k) for k in reps], list(reps.values())
    if isinstance(reps, np.ndarray) or hasattr(reps, "detach"):
        raise SimilarityError(
            f"{prefix} must be a sequence or mapping of (n, features) arrays, one per layer; "
            "for a trajectory (n, T, N) use cka_time_map"
        )
    return [str(i) for i in range(len(reps))], list(reps)


def cka_map(
    reps_a: Mapping[str, Any] | Sequence[Any],
    reps_b: Mapping[str, Any] | Sequence[Any] | None = None,
    *,
    kernel: str = "linear",
    debiased: bool = False,
    sigma: float | None = None,
    method: str = "auto",
    name_a: str = "A",
    name_b: str | None = None,
    progress: bool = False,
) -> CKAMap:
    """CKA between every representation in ``reps_a`` and every one in ``reps_b``.

    Parameters
    ----------
    reps_a, reps_b : mapping label → (n, p) array, or a sequence of arrays
        Representations of the same n examples (e.g. layers, or time steps). ``reps_b=None``
        compares ``reps_a`` with itself (only the upper triangle is computed).
    kernel, debiased, sigma, method
        As in :func:`dynan.cka`.
    name_a, name_b : str
        Names of the two networks (for figures).
    progress : bool
        Show a progress bar over the rows.

    Returns
    -------
    CKAMap

    Raises
    ------
    SimilarityError
        Representations with different n, bad arrays, or bad options (see :func:`dynan.cka`).

    Notes
    -----
    Each representation's Gram matrix (or centred features) is built once; see the module
    notes for the cost.

    References
    ----------
    Kornblith et al. (2019), ICML. REFERENCES.md §5.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(100, 4))
    >>> m = cka_map({"x": x, "2x": 2 * x, "x²": x**2})
    >>> np.round(m.matrix[0], 3).tolist()
    [1.0, 1.0, 0.047]
    """
    labels_a, arrays_a = _named(reps_a, name_a)
    if reps_b is None:
        labels_b, arrays_b = labels_a, None
        name_b = name_a if name_b is None else name_b
    else:
        name_b = "B" if name_b is None else name_b
        labels_b, arrays_b = _named(reps_b, name_b)
    matrix = cka_matrix(
        arrays_a,
        arrays_b,
        kernel=kernel,
        debiased=debiased,
        sigma=sigma,
        method=method,
        names_a=[f"{name_a}[{s}]" for s in labels_a],
        names_b=[f"{name_b}[{s}]" for s in labels_b],
        progress=progress,
    )
    return CKAMap(
        matrix=matrix,
        labels_a=tuple(labels_a),
        labels_b=tuple(labels_b),
        kernel=kernel,
        debiased=debiased,
        sigma=sigma if kernel == "rbf" else None,
        n=int(np.shape(arrays_a[0])[0]),
        name_a=name_a,
        name_b=name_b,
    )


def select_steps(total: int, steps: int | Sequence[int] | None) -> list[int]:
    """Time indices: all (None), ``steps`` evenly spaced ending at the last step (int), or given.

    Negative indices count from the end. Raises SimilarityError for indices out of range.
    """
    if steps is None:
        return list(range(total))
    if isinstance(steps, int | np.integer):
        if steps < 1:
            raise SimilarityError(f"steps must be a positive count, got {steps}")
        k = min(int(steps), total)
        return sorted({round(float(v)) for v in np.linspace(total / k - 1, total - 1, k)})
    out = []
    for t in steps:
        if not -total <= int(t) < total:
            raise SimilarityError(f"time step {t} is out of range for {total} steps")
        out.append(int(t) % total)
    if not out:
        raise SimilarityError("steps is empty")
    return out


def _trajectory(traj: Any, name: str) -> np.ndarray:
    if hasattr(traj, "detach"):
        traj = traj.detach().cpu().numpy()
    traj = np.asarray(traj)
    if traj.ndim == 4:  # (n, T, N, G) controller states
        traj = traj.reshape(*traj.shape[:2], -1)
    if traj.ndim != 3:
        raise SimilarityError(
            f"{name} must be a trajectory of shape (examples, time, features), got {traj.shape}"
        )
    return traj


def cka_time_map(
    traj_a: Any,
    traj_b: Any | None = None,
    *,
    steps: int | Sequence[int] | None = None,
    kernel: str = "linear",
    debiased: bool = False,
    sigma: float | None = None,
    name_a: str = "A",
    name_b: str | None = None,
    progress: bool = False,
) -> CKAMap:
    """Time × time CKA map of hidden trajectories (n, T, N) (and (n, T, N, G) flattened).

    ``steps`` selects the time indices (see :func:`select_steps`); the same indices are used for
    both trajectories, which may differ in T only if ``steps`` is given explicitly.

    Examples
    --------
    >>> import numpy as np
    >>> h = np.random.default_rng(0).normal(size=(50, 10, 3)).cumsum(1)
    >>> m = cka_time_map(h, steps=[0, 9])
    >>> m.labels_a, bool(m.matrix[0, 0] == 1.0 and m.matrix[0, 1] < 1.0)
    (('t=0', 't=9'), True)
    """
    a = _trajectory(traj_a, "traj_a")
    b = None if traj_b is None else _trajectory(traj_b, "traj_b")
    if b is not None and b.shape[1] != a.shape[1] and (steps is None or isinstance(steps, int)):
        raise SimilarityError(
            f"trajectories have {a.shape[1]} and {b.shape[1]} steps; pass explicit steps"
        )
    idx = select_steps(a.shape[1], steps)
    if b is not None:
        select_steps(b.shape[1], idx)
    reps_a = {f"t={t}": as_matrix(a[:, t], f"{name_a}[t={t}]") for t in idx}
    reps_b = None if b is None else {f"t={t}": b[:, t] for t in idx}
    return cka_map(
        reps_a, reps_b, kernel=kernel, debiased=debiased, sigma=sigma,
        name_a=name_a, name_b=name_b, progress=progress,
    )  # fmt: skip
