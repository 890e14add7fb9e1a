"""dynan.sweep.engine: run_tasks on the shared LocalCluster; the table's types and files."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from dynan.sweep import columns, run_tasks
from dynan.sweep.engine import cluster, describe_error
from dynan.sweep.table import describe, make_table, write_table

NOWHERE = "tcp://127.0.0.1:9"


def test_run_tasks_keeps_order_and_fails_only_the_bad_item(dask_client):
    seen = []
    runs = run_tasks(
        math.sqrt,
        [4.0, -1.0, 9.0],
        labels=["a", "b", "c"],
        scheduler=dask_client,
        progress=False,
        on_result=lambda i, run: seen.append(i),
    )
    assert [r.value for r in runs] == [2.0, None, 3.0]
    assert [r.label for r in runs] == ["a", "b", "c"]
    assert runs[1].error == "ValueError: math domain error" and not runs[1].ok
    assert sorted(seen) == [0, 1, 2]


def test_run_tasks_without_items_connects_nowhere():
    assert run_tasks(math.sqrt, [], scheduler=NOWHERE, progress=False) == []


def test_run_tasks_rejects_labels_of_another_length():
    with pytest.raises(ValueError, match="2 labels for 1 items"):
        run_tasks(math.sqrt, [1.0], labels=["a", "b"], progress=False)


@pytest.mark.parametrize("workers", [0, -2, 1.5])
def test_cluster_rejects_a_bad_worker_count(workers):
    with (
        pytest.raises(ValueError, match="workers must be a positive integer"),
        cluster(workers=workers),
    ):
        pass


def test_describe_error_is_one_line():
    assert describe_error(ValueError("first\nsecond")) == "ValueError: first"
    assert describe_error(KeyError()) == "KeyError"


def test_describe_missing_and_foreign_files(tmp_path):
    missing = describe(tmp_path / "nope.safetensors")
    assert missing["error"].startswith("CheckpointError")
    assert "nope.safetensors" in missing["error"]
    zip_file = tmp_path / "model.safetensors"
    zip_file.write_bytes(b"PK\x03\x04" + bytes(64))
    assert "pickle" in describe(zip_file)["error"]


def test_make_table_types_do_not_depend_on_the_rows(tmp_path):
    rows = [{"file": "a", "lyapunov_k": 16, "fp_total": 3, "lambda1": 0.1, "fp_mode": "joint"}]
    full = make_table(rows, ["lyapunov", "fixed-points"])
    empty = make_table([{"file": "b", "error": "x"}], ["lyapunov", "fixed-points"])
    assert list(full.columns) == columns(["lyapunov", "fixed-points"])
    assert full.dtypes.astype(str).tolist() == empty.dtypes.astype(str).tolist()
    assert str(full["fp_total"].dtype) == "Int64" and full["fp_mode"].iloc[0] == "joint"
    assert empty["fp_mode"].iloc[0] == "" and pd.isna(empty["fp_total"].iloc[0])
    both = pd.concat([full, empty], ignore_index=True)
    assert str(both["fp_total"].dtype) == "Int64"
    parquet, _ = write_table(both, tmp_path)
    pd.testing.assert_frame_equal(pd.read_parquet(parquet), both)
    assert not list(tmp_path.glob(".*.tmp"))


def test_cluster_unreachable_scheduler_is_a_one_line_value_error():
    import dask

    with (
        dask.config.set({"distributed.comm.timeouts.connect": "1s"}),
        pytest.raises(ValueError, match=r"cannot reach a Dask scheduler at tcp://127\.0\.0\.1:9"),
        cluster(NOWHERE),
    ):
        pass


def test_comparison_groups_seeds_by_variant_and_marks_their_mean(tmp_path):
    from dynan.report.sweep_figures import comparison_page, plot_metric

    rows = [
        {"file": f"{a}{s}", "architecture": a, "task": t, "seed": s, "lambda1": v}
        for a, t, s, v in [
            ("relu", "digits", 0, 0.1), ("relu", "digits", 1, 0.3),
            ("gru", "digits", 0, -0.2), ("gru", "flipflop", 1, -0.5),
        ]
    ]  # fmt: skip
    table = make_table(rows, ["lyapunov"])
    ax = plot_metric(table, "lambda1")
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["gru · digits", "gru · flipflop", "relu · digits"]
    means = sorted(line.get_ydata()[0] for line in ax.lines if line.get_marker() == "D")
    assert means == pytest.approx([-0.5, -0.2, 0.2])  # one per variant; relu's two seeds: 0.2
    assert comparison_page(table, tmp_path).name == "comparison.html"


def test_unique_names_of_repeated_stems_and_repeated_files():
    from dynan.report.jobs import unique_names

    stems = ["net", "other", "net", "net"]
    shas = ["1111111199", "2", "22222222ff", "1111111199"]  # the last is the first file again
    assert unique_names(stems, shas) == ["net-11111111", "other", "net-22222222", "net-11111111-2"]


def test_comparison_interval_is_the_published_t_interval():
    from dynan.report.sweep_figures import _interval

    # two seeds 0.1, 0.3: sd/√2 = 0.1, times t(0.975, 1 df) = 12.7062 (any t table)
    assert _interval(np.array([0.1, 0.3, np.nan])) == pytest.approx(1.270620, abs=1e-6)
    assert math.isnan(_interval(np.array([0.2, np.nan])))
