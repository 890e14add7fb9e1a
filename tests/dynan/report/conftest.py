"""A small report built once per session and shared by the report and browser tests."""

from __future__ import annotations

import pytest
from report_helpers import ARCHITECTURES, make_checkpoint


@pytest.fixture(scope="session")
def built_report(tmp_path_factory):
    """(summary, out directory, checkpoint paths) of a report of three small networks."""
    from dynan.report import report

    root = tmp_path_factory.mktemp("report")
    paths = [make_checkpoint(root / "ckpt", a) for a in ARCHITECTURES]
    out = root / "out"
    summary = report(paths, out=out, progress=False)
    return summary, out, paths
