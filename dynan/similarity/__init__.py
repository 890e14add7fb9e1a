"""Representational similarity that says when it can be trusted: CKA and its diagnostics.

Compute: :func:`cka` (linear/RBF, biased/debiased), :func:`hsic`, :func:`cka_map` and
:func:`cka_time_map`, exact :class:`StreamingCKA` over batches, :class:`MinibatchCKA`
(Nguyen et al.), other measures (Procrustes/shape, CCA, SVCCA, RSA), permutation tests and
bootstrap intervals. Trust: the Davari et al. diagnostics in :mod:`~dynan.similarity.translation`
and :mod:`~dynan.similarity.reliability`, gathered into a verdict by :func:`assess_reliability`.
Networks: representations of checkpoints, the CKA-map manipulation experiment, and the
comparison of many checkpoints (:func:`compare_checkpoints`). REFERENCES.md §5.
"""

from dynan.similarity._checks import CKAWarning, SimilarityError
from dynan.similarity.cka import KERNELS, cka, cka_matrix
from dynan.similarity.comparison import (
    CKAComparison,
    compare_checkpoints,
    compare_representations,
    similarity_graph,
)
from dynan.similarity.hooks import ActivationCapture, capture_activations
from dynan.similarity.hsic import hsic, linear_gram, rbf_gram
from dynan.similarity.inference import (
    BootstrapCI,
    PermutationTest,
    bootstrap_ci,
    jackknife_interval,
    permutation_test,
)
from dynan.similarity.manipulation import (
    ManipulationResult,
    manipulate_checkpoint,
    manipulate_cka_map,
)
from dynan.similarity.maps import CKAMap, cka_map, cka_time_map
from dynan.similarity.measures import (
    SIMILARITIES,
    angular_shape_distance,
    cca_correlations,
    mean_cca_r2,
    procrustes_distance,
    procrustes_similarity,
    rsa,
    svcca,
)
from dynan.similarity.minibatch import MinibatchCKA, minibatch_cka
from dynan.similarity.reliability import (
    LinearMapSensitivity,
    ReliabilityVerdict,
    assess_reliability,
    leave_one_out,
    linear_map_sensitivity,
)
from dynan.similarity.representations import (
    Representations,
    checkpoint_representations,
    network_representations,
)
from dynan.similarity.streaming import StreamingCKA, streaming_cka
from dynan.similarity.translation import (
    TranslationCurve,
    participation_ratio,
    single_point_limits,
    single_point_translation,
    subset_translation_curve,
    subset_translation_limit,
)

__all__ = [
    "KERNELS",
    "SIMILARITIES",
    "ActivationCapture",
    "BootstrapCI",
    "CKAComparison",
    "CKAMap",
    "CKAWarning",
    "LinearMapSensitivity",
    "ManipulationResult",
    "MinibatchCKA",
    "PermutationTest",
    "ReliabilityVerdict",
    "Representations",
    "SimilarityError",
    "StreamingCKA",
    "TranslationCurve",
    "angular_shape_distance",
    "assess_reliability",
    "bootstrap_ci",
    "capture_activations",
    "cca_correlations",
    "checkpoint_representations",
    "cka",
    "cka_map",
    "cka_matrix",
    "cka_time_map",
    "compare_checkpoints",
    "compare_representations",
    "hsic",
    "jackknife_interval",
    "leave_one_out",
    "linear_gram",
    "linear_map_sensitivity",
    "manipulate_checkpoint",
    "manipulate_cka_map",
    "mean_cca_r2",
    "minibatch_cka",
    "network_representations",
    "participation_ratio",
    "permutation_test",
    "procrustes_distance",
    "procrustes_similarity",
    "rbf_gram",
    "rsa",
    "similarity_graph",
    "single_point_limits",
    "single_point_translation",
    "streaming_cka",
    "subset_translation_curve",
    "subset_translation_limit",
    "svcca",
]
