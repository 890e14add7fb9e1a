"""Minibatch CKA (Nguyen, Raghu, Kornblith 2021): HSIC₁ averaged over batches, then normalised.

    CKA_mb = mean_k HSIC₁(K_k, L_k) / √(mean_k HSIC₁(K_k, K_k) · mean_k HSIC₁(L_k, L_k))

Each HSIC₁ is unbiased, so the averages estimate the population HSICs whatever the batch size,
and CKA_mb estimates the same population CKA as full-data debiased CKA — but it is not the same
number. Built on the biased HSIC₀ instead (``debiased=False``, offered to show the problem) the
bias of every batch survives the average and the value drifts with the batch size.

References
----------
Nguyen, Raghu, Kornblith (2021), "Do wide and deep networks learn the same things?", ICLR, §3.
Song et al. (2012), JMLR 13. REFERENCES.md §5.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
from tqdm.auto import tqdm

from dynan.similarity._checks import (
    SimilarityError,
    check_pair,
    check_positive,
    check_rows,
    is_constant,
)
from dynan.similarity.cka import check_options, choose_space, normalise, prepare
from dynan.similarity.hsic import pair_hsic

__all__ = ["MinibatchCKA", "minibatch_cka"]


class MinibatchCKA:
    """Accumulate per-batch HSICs of paired features; :meth:`result` is minibatch CKA.

    Parameters
    ----------
    kernel : {"linear", "rbf"}
    debiased : bool
        HSIC₁ per batch (default; Nguyen et al.). ``False`` uses HSIC₀, which drifts with the
        batch size and is there to show it.
    sigma : float, optional
        RBF bandwidth multiple (of each batch's median distance).

    Notes
    -----
    Cost per batch of b rows: O(b (p² + q² + pq)) (linear, feature space) or O(b²(p + q));
    memory O(1) between batches. Every batch needs b ≥ 4 for HSIC₁.

    References
    ----------
    Nguyen, Raghu, Kornblith (2021), ICLR. REFERENCES.md §5.

    Examples
    --------
    >>> import numpy as np
    >>> from dynan.similarity import MinibatchCKA
    >>> x = np.random.default_rng(0).normal(size=(512, 6))
    >>> acc = MinibatchCKA()
    >>> for i in range(0, 512, 64):
    ...     _ = acc.update(x[i:i + 64], 2 * x[i:i + 64])
    >>> round(acc.result(), 12)
    1.0
    """

    def __init__(
        self, *, kernel: str = "linear", debiased: bool = True, sigma: float | None = None
    ):
        self.kernel = kernel
        self.sigma = check_options(kernel, sigma, "auto")
        self.debiased = bool(debiased)
        self.batches = 0
        self._sums = np.zeros(3)  # Σ HSIC(x, y), Σ HSIC(x, x), Σ HSIC(y, y)
        self._scales = np.zeros(2)
        self._constant = [True, True]  # every batch so far constant
        self._widths: tuple[int, int] | None = None

    def update(self, x: Any, y: Any) -> Self:
        """Add one batch: x (b, p), y (b, q), arrays or tensors of the same b examples."""
        x, y = check_pair(x, y, ("x", "y"))
        check_rows(x.shape[0], debiased=self.debiased, what="minibatch CKA (per batch)")
        widths = (x.shape[1], y.shape[1])
        if self._widths is not None and widths != self._widths:
            raise SimilarityError(f"batch feature counts {widths} differ from {self._widths}")
        self._widths = widths
        space = choose_space(x.shape[0], [x.shape[1]], [y.shape[1]], "auto")
        a, b = (
            prepare(z, kernel=self.kernel, debiased=self.debiased, sigma=self.sigma, space=space)
            for z in (x, y)
        )
        self._sums += [
            float(pair_hsic(a, b, debiased=self.debiased)),
            float(pair_hsic(a, a, debiased=self.debiased)),
            float(pair_hsic(b, b, debiased=self.debiased)),
        ]
        self._scales += [a.scale, b.scale]
        self._constant = [
            self._constant[0] and is_constant(x),
            self._constant[1] and is_constant(y),
        ]
        self.batches += 1
        return self

    def result(self) -> float:
        """Minibatch CKA over the batches added so far."""
        if self.batches == 0:
            raise SimilarityError("no batches were added; call update(x, y) first")
        xy, xx, yy = self._sums / self.batches
        return float(
            normalise(
                np.array([[xy]]),
                np.array([xx]),
                np.array([yy]),
                scale_a=[self._scales[0] / self.batches],
                scale_b=[self._scales[1] / self.batches],
                names_a=["x"],
                names_b=["y"],
                constant_a=[self._constant[0]],
                constant_b=[self._constant[1]],
                debiased=self.debiased,
                n=self.batches,
            )[0, 0]
        )


def minibatch_cka(
    x: Any,
    y: Any,
    *,
    batch_size: int = 256,
    kernel: str = "linear",
    debiased: bool = True,
    sigma: float | None = None,
    seed: int | None = 0,
    progress: bool = False,
) -> float:
    """Minibatch CKA of x (n, p) and y (n, q), split into ⌊n / batch_size⌋ near-equal batches.

    Parameters
    ----------
    batch_size : int
        Smallest batch size; the n rows are split into ⌊n / batch_size⌋ batches whose sizes
        differ by at most one, so no example is dropped and no batch is smaller than asked.
    seed : int or None
        Shuffle the rows with this seed first (None keeps their order).
    kernel, debiased, sigma, progress
        As in :class:`MinibatchCKA`.

    Returns
    -------
    float

    Raises
    ------
    SimilarityError
        Bad shapes, ``batch_size`` above n, or batches smaller than 4 with ``debiased=True``.

    References
    ----------
    Nguyen, Raghu, Kornblith (2021), ICLR. REFERENCES.md §5.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(1000, 5))
    >>> round(minibatch_cka(x, -x, batch_size=100), 12)
    1.0
    """
    x, y = check_pair(x, y)
    n = x.shape[0]
    check_positive(batch_size, "batch_size", integer=True)
    if batch_size > n:
        raise SimilarityError(f"batch_size={batch_size} is larger than the n={n} examples")
    order = np.arange(n) if seed is None else np.random.default_rng(seed).permutation(n)
    acc = MinibatchCKA(kernel=kernel, debiased=debiased, sigma=sigma)
    parts = np.array_split(order, n // batch_size)
    for idx in tqdm(parts, desc="minibatch CKA", unit="batch", disable=not progress):
        acc.update(x[idx], y[idx])
    return acc.result()
