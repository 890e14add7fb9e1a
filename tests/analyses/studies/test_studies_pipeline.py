"""The studies end to end on a tiny synthetic zoo (untrained 12-unit digits networks)."""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import pytest
import torch

from analyses.studies import (
    cka_fragility,
    cka_manipulation,
    cka_translation,
    controller,
    edge_of_chaos,
    robustness,
    single_neurons,
)
from analyses.studies.checkpoints import StudyCache, discover
from analyses.studies.page import claim_record
from analyses.studies.registry import Context
from analyses.studies.verdicts import VERDICTS
from dynan_models import build, save_checkpoint

TASK = {"name": "digits", "seed": 0, "permuted": True}


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    root = tmp_path_factory.mktemp("zoo")
    for arch in ("arun", "relu", "softplus", "gamma-homogeneous", "gamma-heterogeneous"):
        for seed in range(2):
            extra = {"controller_size": 3} if arch == "arun" else {}
            torch.manual_seed(seed)
            net = build(arch, input_size=1, hidden_size=12, output_size=10, **extra)
            path = root / f"{arch}-digits-s{seed}.safetensors"
            save_checkpoint(net, path, task=TASK, seed=seed)
    return root


@pytest.mark.parametrize(
    "study",
    [robustness, single_neurons, edge_of_chaos, controller, cka_translation, cka_manipulation,
     cka_fragility],
)  # fmt: skip
@pytest.mark.filterwarnings("ignore::dynan.similarity.CKAWarning")  # untrained: silent units
def test_study_runs_on_a_synthetic_zoo(zoo, tmp_path, study):
    settings = discover(zoo)
    assert len(settings["digits"]) == 10 and settings["psmnist"] == []
    context = Context(settings, StudyCache(tmp_path), quick=True)
    claims = study.run(context)
    assert claims
    for claim in claims:
        assert claim.verdict in VERDICTS
        record = json.loads(json.dumps(claim_record(claim)))  # JSON all the way down
        assert record["evidence"]["headline"]
        if claim.id.startswith("G"):
            assert claim.evidence["primary_setting"] == "digits"
    again = study.run(context)  # the second run reads every number from the cache
    assert [c.verdict for c in again] == [c.verdict for c in claims]
    plt.close("all")
