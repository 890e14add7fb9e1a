"""Exact full-data linear CKA over batches, in memory independent of the number of examples.

The accumulator keeps the float64 sums of :class:`~dynan.similarity.hsic.ShiftedSums` for each
side, shifted by the mean of the first batch (the full mean is not known yet), and the
:class:`~dynan.similarity.hsic.CrossSums` of the pair: O(p² + q² + pq) numbers. At the end
:func:`~dynan.similarity.hsic.summed_hsic` turns them, exactly in exact arithmetic, into the
biased or the unbiased (HSIC₁) HSICs of all the data (the algebra is in
:mod:`dynan.similarity.hsic`). Shifting by the first batch's mean keeps the subtractions small:
the rounding error is about ε·(1 + ‖x̄ − c‖²/σ²) relative, negligible unless the first batch
lies many standard deviations away from the rest. :func:`dynan.cka` runs the same sums over
blocks of an in-memory array, shifted by the exact mean.

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
from dynan.similarity.hsic import CrossSums, ShiftedSums, summed_hsic

__all__ = ["StreamingCKA", "streaming_cka"]


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
    O(b (p² + q² + pq)) time; memory O(p² + q² + pq) for the sums plus O(b (p + q)) for the
    batch in float64 while it is added, independent of the total n.

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
        self._x: ShiftedSums | None = None
        self._y: ShiftedSums | None = None
        self._xy: CrossSums | None = None

    @property
    def n(self) -> int:
        """Number of examples added so far."""
        return 0 if self._x is None else self._x.n

    def update(self, x: Any, y: Any) -> Self:
        """Add a batch: x (b, p), y (b, q) — arrays or tensors, the same b examples."""
        x, y = check_pair(x, y, ("x", "y"), native=True)
        if self._x is None:
            self._x = ShiftedSums(x.mean(0, dtype=np.float64), x[0])
            self._y = ShiftedSums(y.mean(0, dtype=np.float64), y[0])
            self._xy = CrossSums(x.shape[1], y.shape[1])
        elif (x.shape[1], y.shape[1]) != self._xy.cross.shape:
            raise SimilarityError(
                f"batch has {x.shape[1]} x-features and {y.shape[1]} y-features; earlier "
                f"batches had {self._xy.cross.shape[0]} and {self._xy.cross.shape[1]}"
            )
        self._xy.add(*self._x.add(x), *self._y.add(y))
        return self

    def result(self) -> float:
        """CKA of everything seen so far (NaN with a warning if a side is constant)."""
        if self._x is None:
            raise SimilarityError("no batches were added; call update(x, y) first")
        check_rows(self.n, debiased=self.debiased)
        sx, sy = self._x, self._y
        return float(
            normalise(
                np.array([[summed_hsic(sx, sy, self._xy, debiased=self.debiased)]]),
                np.array([summed_hsic(sx, sx, None, debiased=self.debiased)]),
                np.array([summed_hsic(sy, sy, None, debiased=self.debiased)]),
                scale_a=[sx.scale],
                scale_b=[sy.scale],
                names_a=["x"],
                names_b=["y"],
                constant_a=[sx.constant],
                constant_b=[sy.constant],
                debiased=self.debiased,
                n=self.n,
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
