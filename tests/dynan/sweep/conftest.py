"""Shared by the sweep tests: one 2-worker LocalCluster per session, cheap settings, zoo paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from dynan.report.jobs import FAST, Settings, _changed

ZOO = Path(__file__).resolve().parents[3] / "models" / "zoo"

#: One of each kind: static, γ with learned shapes, adaptive, and the 3-bit flip-flop GRU whose
#: 2^3 memories are stable fixed points (the zoo's model card).
ZOO_FILES = tuple(
    ZOO / f"{stem}.safetensors"
    for stem in (
        "relu-digits-s0",
        "gamma-heterogeneous-digits-s0",
        "arun-digits-s0",
        "gru-flipflop3-s1",
    )
)

#: Seconds, not minutes: few exponents, sequences and fixed-point starts.
SETTINGS = Settings(
    name="test",
    examples=4,
    trace_amplitudes=(0.0, 1.0),
    analyses=_changed(
        FAST,
        {
            "lyapunov": {"k": 2, "joint_k": 2, "examples": 2, "transient": 8},
            "fixed-points": {"examples": 4, "n_inits": 32},
        },
    ),
)

#: The analyses of the shared sweep (fractional, the slowest, runs on one checkpoint apart).
CHEAP = ("accuracy", "shape", "lyapunov", "fixed-points")


@pytest.fixture(scope="session")
def dask_client():
    """A LocalCluster of two single-thread worker processes, shared by every sweep test."""
    from dynan.sweep.engine import cluster

    with cluster(workers=2) as client:  # the sweep's own embedded cluster, closed at the end
        yield client


@pytest.fixture
def corrupt(tmp_path):
    """The first 500 bytes of a zoo checkpoint: a truncated file."""
    path = tmp_path / "corrupt.safetensors"
    path.write_bytes(ZOO_FILES[0].read_bytes()[:500])
    return path
