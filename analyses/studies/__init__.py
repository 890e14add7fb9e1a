"""Studies of the seed papers' claims (REFERENCES.md §6), each with a verdict fixed by a rule.

One module per claim group — :mod:`~analyses.studies.robustness` (G1–G3),
:mod:`~analyses.studies.single_neurons` (G4, G5), :mod:`~analyses.studies.edge_of_chaos` (G6),
:mod:`~analyses.studies.controller` (G7), :mod:`~analyses.studies.cka_translation` (D1, D2),
:mod:`~analyses.studies.cka_manipulation` (D3), :mod:`~analyses.studies.cka_fragility` (D4) —
and shared ones: :mod:`~analyses.studies.statistics` (bootstrap intervals, permutation and
sign-flip tests), :mod:`~analyses.studies.verdicts` (the rules), :mod:`~analyses.studies.registry`
(the claims and the study list), :mod:`~analyses.studies.checkpoints` (networks, per-checkpoint
numbers, cache) and :mod:`~analyses.studies.page` (claims.json, summary.md, index.html).
``make studies`` runs ``python -m analyses.studies`` and writes reports/studies/.
"""
