"""Representational similarity that says when it can be trusted (CKA and its diagnostics)."""

from dynan.similarity._checks import CKAWarning, SimilarityError
from dynan.similarity.cka import KERNELS, cka, cka_matrix
from dynan.similarity.hsic import hsic, linear_gram, rbf_gram

__all__ = [
    "KERNELS",
    "CKAWarning",
    "SimilarityError",
    "cka",
    "cka_matrix",
    "hsic",
    "linear_gram",
    "rbf_gram",
]
