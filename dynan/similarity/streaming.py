"""Exact full-data linear CKA over batches, in memory independent of the number of examples.

The accumulator keeps, for features shifted by a fixed point c (the mean of the first batch),
u = x − c and v = y − c′, the float64 sums

    n, Σu, Σv, Σuuᵀ, Σvvᵀ, Σuvᵀ, Σa, Σb, Σa², Σb², Σab, Σa·u, Σb·v, Σa·v, Σb·u  (a=‖u‖², b=‖v‖²)

(O(p² + q² + pq) numbers). At the end they are turned, exactly in exact arithmetic, into the
centred-feature summaries of :func:`dynan.similarity.hsic.linear_hsic`: with m = Σu/n,
C = Σuvᵀ − n mₓm_yᵀ and d̂ᵢ = ‖xᵢ − x̄‖² = aᵢ − 2uᵢ·mₓ + ‖mₓ‖²,

    Σd̂ₓ = Σa − n‖mₓ‖²,
    d̂ₓᵀd̂_y = Σab − 2m_y·Σa·v − 2mₓ·Σb·u + 4mₓᵀ(Σuvᵀ)m_y + ‖m_y‖²Σa + ‖mₓ‖²Σb − 3n‖mₓ‖²‖m_y‖²,

so the biased and the unbiased (HSIC₁) CKA of all the data come out of one pass. Shifting by
the first batch's mean keeps the subtractions small: the rounding error is about ε·(1 + ‖x̄ −
c‖²/σ²) relative, negligible unless the first batch lies many standard deviations away from the
rest.

References
----------
Kornblith et al. (2019), ICML (feature-space linear CKA); Song et al. (2012), JMLR 13 (HSIC₁);
Chan, Golub, LeVeque (1983), "Algorithms for computing the sample variance" (shifted sums).
REFERENCES.md §5.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Self

import numpy as np
from tqdm.auto import tqdm

from dynan.similarity._checks import SimilarityError, check_pair, check_rows
from dynan.similarity.cka import normalise
from dynan.similarity.hsic import linear_hsic

__all__ = ["StreamingCKA", "streaming_cka"]


class _Side:
    """Shifted sums of one representation."""

    def __init__(self, first: np.ndarray):
        p = first.shape[1]
        self.shift = first.mean(0)
        self.first_row = first[0].copy()
        self.constant = True  # every row seen so far equals the first
        self.s = np.zeros(p)
        self.gram = np.zeros((p, p))
        self.sum_a = self.sum_a2 = 0.0
        self.au = np.zeros(p)  # Σ aᵢ uᵢ

    def add(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Accumulate a batch; returns (u, a) for the cross terms."""
        self.constant = self.constant and bool(np.all(x == self.first_row))
        u = x - self.shift
        a = (u**2).sum(1)
        self.s += u.sum(0)
        self.gram += u.T @ u
        self.sum_a += float(a.sum())
        self.sum_a2 += float(a @ a)
        self.au += a @ u
        return u, a


def _centred(sum_ab, a_v, b_u, cross, mx, my, sum_a, sum_b, n):
    """(‖C‖²_F, d̂ₓᵀd̂_y) from the shifted sums (see the module notes)."""
    c = cross - n * np.outer(mx, my)
    ax, ay = float(mx @ mx), float(my @ my)
    dd = (
        sum_ab - 2 * float(my @ a_v) - 2 * float(mx @ b_u) + 4 * float(mx @ cross @ my)
        + ay * sum_a + ax * sum_b - 3 * n * ax * ay
    )  # fmt: skip
    return float((c**2).sum()), dd


class StreamingCKA:
    """Accumulate batches of paired features; :meth:`result` is the CKA of all of them.

    Parameters
    ----------
    debiased : bool
        Unbiased HSIC₁ (Song et al. 2012) instead of the biased HSIC₀.

    Notes
    -----
    Equals :func:`dynan.cka` (linear kernel) on the concatenated data to ~1e-13, whatever the
    batch sizes (see the module notes for the algorithm). Cost per batch of b rows:
    O(b (p² + q² + pq)) time; memory O(p² + q² + pq), independent of the total n.

    References
    ----------
    Kornblith et al. (2019), ICML; Song et al. (2012), JMLR 13; REFERENCES.md §5.

    Examples
    --------
    >>> import numpy as np
    >>> from dynan.similarity import StreamingCKA, cka
    >>> x = np.random.default_rng(0).normal(size=(1000, 8))
    >>> y = np.tanh(x)
    >>> acc = StreamingCKA()
    >>> for start in range(0, 1000, 128):
    ...     _ = acc.update(x[start:start + 128], y[start:start + 128])
    >>> bool(abs(acc.result() - cka(x, y)) < 1e-12)
    True
    """

    def __init__(self, *, debiased: bool = False):
        self.debiased = bool(debiased)
        self.n = 0
        self._x: _Side | None = None
        self._y: _Side | None = None
        self._cross: np.ndarray | None = None
        self._sum_ab = 0.0
        self._a_v: np.ndarray | None = None  # Σ aᵢ vᵢ
        self._b_u: np.ndarray | None = None  # Σ bᵢ uᵢ

    def update(self, x: Any, y: Any) -> Self:
        """Add a batch: x (b, p), y (b, q) — arrays or tensors, the same b examples."""
        x, y = check_pair(x, y, ("x", "y"))
        if self._x is None:
            self._x, self._y = _Side(x), _Side(y)
            self._cross = np.zeros((x.shape[1], y.shape[1]))
            self._a_v, self._b_u = np.zeros(y.shape[1]), np.zeros(x.shape[1])
        elif (x.shape[1], y.shape[1]) != self._cross.shape:
            raise SimilarityError(
                f"batch has {x.shape[1]} x-features and {y.shape[1]} y-features; earlier "
                f"batches had {self._cross.shape[0]} and {self._cross.shape[1]}"
            )
        u, a = self._x.add(x)
        v, b = self._y.add(y)
        self._cross += u.T @ v
        self._sum_ab += float(a @ b)
        self._a_v += a @ v
        self._b_u += b @ u
        self.n += x.shape[0]
        return self

    def result(self) -> float:
        """CKA of everything seen so far (NaN with a warning if a side is constant)."""
        if self._x is None:
            raise SimilarityError("no batches were added; call update(x, y) first")
        n, sx, sy = self.n, self._x, self._y
        check_rows(n, debiased=self.debiased)
        mx, my = sx.s / n, sy.s / n
        sum_dx, sum_dy = sx.sum_a - n * float(mx @ mx), sy.sum_a - n * float(my @ my)
        terms = {
            "xy": _centred(
                self._sum_ab, self._a_v, self._b_u, self._cross, mx, my, sx.sum_a, sy.sum_a, n
            ),
            "xx": _centred(sx.sum_a2, sx.au, sx.au, sx.gram, mx, mx, sx.sum_a, sx.sum_a, n),
            "yy": _centred(sy.sum_a2, sy.au, sy.au, sy.gram, my, my, sy.sum_a, sy.sum_a, n),
        }
        sums = {"xy": (sum_dx, sum_dy), "xx": (sum_dx, sum_dx), "yy": (sum_dy, sum_dy)}
        h = {
            k: linear_hsic(c2, dd, *sums[k], n, debiased=self.debiased)
            for k, (c2, dd) in terms.items()
        }
        return float(
            normalise(
                np.array([[h["xy"]]]),
                np.array([h["xx"]]),
                np.array([h["yy"]]),
                scale_a=[(sum_dx / (n - 1)) ** 2],
                scale_b=[(sum_dy / (n - 1)) ** 2],
                names_a=["x"],
                names_b=["y"],
                constant_a=[sx.constant],
                constant_b=[sy.constant],
                debiased=self.debiased,
                n=n,
            )[0, 0]
        )


def streaming_cka(
    batches: Iterable[tuple[Any, Any]], *, debiased: bool = False, progress: bool = False
) -> float:
    """Exact linear CKA of all examples in ``batches``, an iterable of (x, y) pairs.

    Memory independent of the number of examples; see :class:`StreamingCKA`.

    Examples
    --------
    >>> import numpy as np
    >>> from dynan.similarity import streaming_cka
    >>> x = np.random.default_rng(1).normal(size=(300, 4))
    >>> round(streaming_cka(((x[i:i + 50], 2 * x[i:i + 50]) for i in range(0, 300, 50))), 12)
    1.0
    """
    acc = StreamingCKA(debiased=debiased)
    for x, y in tqdm(batches, desc="streaming CKA", unit="batch", disable=not progress):
        acc.update(x, y)
    return acc.result()
