"""dynan.sweep.run_sweep on a 2-worker LocalCluster over zoo checkpoints and a corrupt file.

Known answers come from outside the sweep: the accuracies training recorded in each checkpoint,
the shape parameters stored as tensors, the flip-flop's 2^3 stable memories; the rest checks
the table against the full results written beside it and the cache (a rerun computes nothing).
"""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import load_file

from dynan.cli import main
from dynan.lyapunov import LyapunovSpectrum
from dynan.sweep import ANALYSES, DEFAULT_ANALYSES, columns, read_table, run_sweep
from tests.dynan.sweep.conftest import CHEAP, SETTINGS, ZOO_FILES

#: A scheduler address nothing listens on: a sweep that only reads its cache never connects.
NOWHERE = "tcp://127.0.0.1:9"


@pytest.fixture(scope="module")
def swept(tmp_path_factory, dask_client):
    root = tmp_path_factory.mktemp("sweep")
    bad = root / "corrupt.safetensors"
    bad.write_bytes(ZOO_FILES[0].read_bytes()[:500])
    out = root / "out"
    result = run_sweep(
        [*ZOO_FILES, bad],
        analyses=CHEAP,
        preset=SETTINGS,
        out=out,
        scheduler=dask_client,
        progress=False,
    )
    return result, out, bad


def _row(result, stem):
    rows = result.table[result.table["name"] == stem]
    assert len(rows) == 1, stem
    return rows.iloc[0]


def test_sweep_table_has_one_row_per_file_and_every_column(swept):
    result, _, bad = swept
    table = result.table
    assert list(table.columns) == columns(CHEAP)
    assert list(table["file"]) == [str(p) for p in (*ZOO_FILES, bad.resolve())]
    assert result.tasks == len(ZOO_FILES) * len(CHEAP)
    assert result.computed == result.tasks and result.cached == 0
    for column in ("seed", "hidden_size", "fp_total", "lyapunov_k"):
        assert str(table[column].dtype) == "Int64", column
    for column in ("lambda1", "acc_clean", "mean_n"):
        assert table[column].dtype == np.float64, column


def test_sweep_corrupt_file_is_a_row_with_its_error(swept):
    result, _, bad = swept
    row = _row(result, "corrupt")
    assert "CheckpointError" in row["error"] and str(bad.resolve()) in row["error"]
    assert math.isnan(row["lambda1"]) and row["architecture"] == ""
    assert row["sha256"] == hashlib.sha256(bad.read_bytes()).hexdigest()
    good = result.table[result.table["name"] != "corrupt"]
    assert (good["error"] == "").all(), list(good["error"])
    assert not result.ok and [f for f, _ in result.failures] == [str(bad.resolve())]


def test_sweep_meta_columns_come_from_the_headers(swept):
    result, _, _ = swept
    arun = _row(result, "arun-digits-s0")
    assert (arun["architecture"], arun["task"], arun["seed"]) == ("arun", "digits", 0)
    assert (arun["hidden_size"], arun["controller_size"]) == (64, 16)
    gru = _row(result, "gru-flipflop3-s1")
    assert (gru["task"], gru["seed"], gru["hidden_size"]) == ("flipflop", 1, 32)
    assert pd.isna(gru["controller_size"])
    assert gru["sha256"] == hashlib.sha256(ZOO_FILES[3].read_bytes()).hexdigest()


def test_sweep_accuracy_matches_what_training_recorded(swept):
    from dynan.checkpoint import read_config

    result, _, _ = swept
    for path in ZOO_FILES:
        recorded = read_config(path)["metrics"]["accuracy"]
        row = _row(result, path.stem)
        for name, value in recorded.items():
            # within one test example (300 digits; the flip-flop scores thousands of steps)
            assert abs(row[f"acc_{name}"] - value) <= 1 / 300 + 1e-9, (path.stem, name)


def test_sweep_shape_columns_are_the_stored_parameters(swept):
    from dynan_models.elman import N_MIN

    result, _, _ = swept
    row = _row(result, "gamma-heterogeneous-digits-s0")
    tensors = load_file(ZOO_FILES[1])  # the n_i, s_i tensors as saved, read without dynan
    n, s = np.maximum(tensors["n"].astype(np.float64), N_MIN), tensors["s"].astype(np.float64)
    assert row["shape_kind"] == "static"
    assert (row["mean_n"], row["std_n"]) == pytest.approx((n.mean(), n.std()), rel=1e-6)
    assert (row["mean_s"], row["std_s"]) == pytest.approx((s.mean(), s.std()), rel=1e-6)
    assert _row(result, "arun-digits-s0")["shape_kind"] == "adaptive"
    relu = _row(result, "relu-digits-s0")
    assert relu["shape_kind"] == "none" and math.isnan(relu["mean_n"])


def test_sweep_lyapunov_columns_are_the_spectrum_written_beside(swept):
    result, out, _ = swept
    for path in ZOO_FILES:
        row = _row(result, path.stem)
        saved = json.loads((out / "json" / f"{path.stem}.json").read_text())
        assert saved["sha256"] == row["sha256"]
        lyap = saved["analyses"]["lyapunov"]
        spectrum = LyapunovSpectrum.from_dict(lyap["results"]["spectrum-joint"])
        assert row["lambda1"] == pytest.approx(spectrum.exponents[0], abs=0, rel=1e-12)
        assert row["lambda1_low"] <= row["lambda1"] <= row["lambda1_high"]
        assert row["lyapunov_k"] == SETTINGS.analyses["lyapunov"]["k"]
        assert row["lambda1_mode"] == "joint"
        frozen = "spectrum-frozen" in lyap["results"]
        assert frozen == (row["architecture"] == "arun") != math.isnan(row["lambda1_frozen"])
    assert _row(result, "arun-digits-s0")["state_dim"] == 64 * (1 + 16)


def test_sweep_fixed_point_kinds_add_up(swept):
    result, _, _ = swept
    table = result.table.dropna(subset=["fp_total"])
    assert len(table) == len(ZOO_FILES)
    kinds = table[["fp_stable", "fp_saddle1", "fp_saddle2plus", "fp_unstable"]].sum(axis=1)
    assert (kinds == table["fp_total"]).all()
    assert _row(result, "arun-digits-s0")["fp_mode"] == "frozen"


def test_sweep_default_analyses_find_the_flipflop_memories(dask_client, tmp_path):
    # the "fast" fixed-point search finds all 2^3 memories of the 3-bit flip-flop (model card)
    result = run_sweep(ZOO_FILES[3], out=tmp_path, scheduler=dask_client, progress=False)
    assert result.analyses == DEFAULT_ANALYSES and result.ok
    row = result.table.iloc[0]
    assert row["fp_stable"] == 2**3
    for kind in ("isolated", "intact"):
        est, low, high = (row[f"alpha_{kind}{s}"] for s in ("", "_low", "_high"))
        assert low <= est <= high, kind
    assert row["alpha_xi"] == 10.0  # the largest ξ of the "fast" probe protocol
    assert list(result.table.columns) == columns(ANALYSES)


def test_sweep_files_load_and_match_the_table(swept):
    result, out, _ = swept
    pd.testing.assert_frame_equal(read_table(out), result.table)
    csv = pd.read_csv(out / "results.csv", keep_default_na=False, na_values=[""])
    assert list(csv.columns) == list(result.table.columns)
    assert csv["lambda1"].to_numpy() == pytest.approx(
        result.table["lambda1"].to_numpy(), nan_ok=True
    )
    assert (out / "comparison.html").is_file()
    assert sorted(p.stem for p in (out / "json").glob("*.json")) == sorted(
        p.stem for p in ZOO_FILES
    )


def test_sweep_rerun_computes_nothing_and_starts_no_cluster(swept):
    result, out, bad = swept
    again = run_sweep(
        [*ZOO_FILES, bad],
        analyses=CHEAP,
        preset=SETTINGS,
        out=out,
        scheduler=NOWHERE,
        progress=False,
    )
    assert (again.computed, again.cached) == (0, result.tasks)
    pd.testing.assert_frame_equal(again.table, result.table)


def test_sweep_new_checkpoint_computes_only_what_is_missing(swept, dask_client):
    _, out, _ = swept
    # same output directory, one more checkpoint: only its tasks are sent
    extra = ZOO_FILES[0].with_name("relu-digits-s1.safetensors")
    again = run_sweep(
        [ZOO_FILES[0], extra],
        analyses=["lyapunov"],
        preset=SETTINGS,
        out=out,
        scheduler=dask_client,
        progress=False,
    )
    assert (again.computed, again.cached) == (1, 1)


def test_cli_sweep_exit_status_and_summary(swept, dask_client, capsys, tmp_path):
    _, _, bad = swept
    out = tmp_path / "cli"
    options = ["--out", str(out), "--analyses", "accuracy,shape", "--quiet", "--scheduler"]
    argv = ["sweep", str(ZOO_FILES[3]), *options]
    assert main([*argv, dask_client.scheduler.address]) == 0
    assert "2 task(s) computed" in capsys.readouterr().out
    assert main(["sweep", str(ZOO_FILES[3]), str(bad), *options, NOWHERE]) == 1
    captured = capsys.readouterr()
    assert "0 task(s) computed, 2 cached" in captured.out
    assert captured.err.count("\n") == 1 and "1 of 2 checkpoint(s) failed" in captured.err


@pytest.mark.parametrize(
    "extra, message",
    [(["--analyses", "lyapunov,nope"], "unknown analysis"), (["--preset", "huge"], "preset")],
)
def test_cli_sweep_bad_input_exits_2(extra, message, capsys, tmp_path):
    argv = ["sweep", str(ZOO_FILES[0]), "--out", str(tmp_path), "--quiet", *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_cli_sweep_empty_folder_exits_2(capsys, tmp_path):
    assert main(["sweep", str(tmp_path), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "no *.safetensors" in capsys.readouterr().err
