"""`dynan report` on the sweep engine: its pages built by a running Dask cluster."""

from __future__ import annotations

import json

from dynan.cli import main
from tests.dynan.report.report_helpers import make_checkpoint


def test_report_pages_on_a_running_cluster_match_serial(dask_client, tmp_path, capsys):
    paths = [str(make_checkpoint(tmp_path, a)) for a in ("relu", "gamma-heterogeneous")]
    common = ["report", *paths, "--sections", "config,accuracy,shape", "--no-compare", "--quiet"]
    assert main([*common, "--out", str(tmp_path / "serial")]) == 0
    address = dask_client.scheduler.address
    assert main([*common, "--out", str(tmp_path / "dask"), "--scheduler", address]) == 0
    assert "wrote 2 page(s)" in capsys.readouterr().out
    for name in ("relu-s0", "gamma-heterogeneous-s0"):
        serial = json.loads((tmp_path / "serial" / f"{name}.json").read_text())
        remote = json.loads((tmp_path / "dask" / f"{name}.json").read_text())
        assert serial["results"] == remote["results"] and serial["headline"] == remote["headline"]
    index = json.loads((tmp_path / "dask" / "index.json").read_text())
    assert [p["name"] for p in index["pages"]] == ["relu-s0", "gamma-heterogeneous-s0"]
