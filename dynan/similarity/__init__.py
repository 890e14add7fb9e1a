"""Representational similarity that says when it can be trusted (CKA and its diagnostics)."""

from dynan.similarity._checks import CKAWarning, SimilarityError
from dynan.similarity.cka import KERNELS, cka, cka_matrix
from dynan.similarity.hsic import hsic, linear_gram, rbf_gram
from dynan.similarity.streaming import StreamingCKA, streaming_cka

__all__ = [
    "KERNELS",
    "CKAWarning",
    "SimilarityError",
    "StreamingCKA",
    "cka",
    "cka_matrix",
    "hsic",
    "linear_gram",
    "rbf_gram",
    "streaming_cka",
]
