"""Reading state dicts: torch.save with weights_only=True only, safetensors, the usual wrappers,
and crafted malicious pickles refused without running anything."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from dynan.cli import main
from dynan.errors import CheckpointError
from dynan.importers import read_state_dict


class _Marker:
    """Unpickling this calls open(path, "w"): it creates the marker file."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _state() -> dict[str, torch.Tensor]:
    return {"rnn.weight_ih_l0": torch.randn(3, 1), "rnn.weight_hh_l0": torch.randn(3, 3)}


@pytest.mark.parametrize("wrapper", [None, "state_dict", "model_state_dict", "model"])
def test_torch_save_state_dict_read_plain_or_wrapped(tmp_path, wrapper):
    state = _state()
    obj = state if wrapper is None else {wrapper: state, "epoch": 7, "optimizer": {"lr": 1e-3}}
    torch.save(obj, tmp_path / "m.pt")
    got, found = read_state_dict(tmp_path / "m.pt")
    assert found == wrapper
    assert set(got) == set(state) and all(torch.equal(got[k], state[k]) for k in state)


def test_legacy_torch_save_and_safetensors_read(tmp_path):
    state = _state()
    torch.save(state, tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    save_file(state, tmp_path / "m.safetensors")
    for name in ("legacy.pt", "m.safetensors"):
        got, _ = read_state_dict(tmp_path / name)
        assert all(torch.equal(got[k], state[k]) for k in state)


def _malicious_files(folder: Path, marker: Path) -> dict[str, Path]:
    evil = _Marker(marker)
    raw = folder / "raw.pkl"
    raw.write_bytes(pickle.dumps({"rnn.weight_ih_l0": evil}))
    zipped = folder / "zipped.pt"
    torch.save({"state_dict": _state(), "hook": evil}, zipped)
    legacy = folder / "legacy.pt"
    torch.save({"w": evil}, legacy, _use_new_zipfile_serialization=False)
    return {"raw": raw, "zipped": zipped, "legacy": legacy}


def test_the_crafted_pickle_really_runs_code_when_unpickled(tmp_path):
    # the control: plain pickle.load of the same bytes does create the marker
    marker = tmp_path / "marker"
    files = _malicious_files(tmp_path, marker)
    pickle.loads(files["raw"].read_bytes())
    assert marker.exists()


@pytest.mark.parametrize("kind", ["raw", "zipped", "legacy"])
def test_malicious_pickle_refused_and_never_run(tmp_path, kind):
    marker = tmp_path / "marker"
    path = _malicious_files(tmp_path, marker)[kind]
    with pytest.raises(CheckpointError, match="refused") as info:
        read_state_dict(path)
    assert "\n" not in str(info.value)
    assert not marker.exists()


@pytest.fixture
def no_python_unpickler(monkeypatch):
    """Python's own unpickler (pickle and _pickle: load, loads, Unpickler) fails if called."""
    import _pickle

    def refuse(*args, **kwargs):
        raise AssertionError("Python's unpickler was called")

    for module in (pickle, _pickle):
        for name in ("load", "loads", "Unpickler"):
            monkeypatch.setattr(module, name, refuse)
    return refuse


def test_no_python_unpickler_runs_while_reading_any_file(tmp_path, no_python_unpickler):
    """Good and malicious files, in every container, are read without pickle.load/Unpickler."""
    for wrapper in (None, "state_dict"):
        path = tmp_path / f"good-{wrapper}.pt"
        torch.save(_state() if wrapper is None else {wrapper: _state(), "epoch": 3}, path)
        assert read_state_dict(path)[1] == wrapper
    legacy = tmp_path / "good-legacy.pt"
    torch.save(_state(), legacy, _use_new_zipfile_serialization=False)
    assert set(read_state_dict(legacy)[0]) == set(_state())
    marker = tmp_path / "marker"
    for path in _malicious_files(tmp_path, marker).values():
        with pytest.raises(CheckpointError, match="refused"):
            read_state_dict(path)
    assert not marker.exists()
    # the guard itself can fail: a plain unpickling call trips it
    with pytest.raises(AssertionError, match="unpickler was called"):
        pickle.loads(b"N.")


def test_cli_refuses_malicious_pickle_with_exit_2_and_one_line(tmp_path, capsys):
    marker = tmp_path / "marker"
    path = _malicious_files(tmp_path, marker)["zipped"]
    code = main(["import", str(path), "--out", str(tmp_path / "out.safetensors")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "refused" in err and "io.open" in err
    assert not marker.exists() and not (tmp_path / "out.safetensors").exists()


def test_whole_model_pickle_refused(tmp_path):
    torch.save(torch.nn.GRU(1, 2), tmp_path / "whole.pt")  # the module object, not its state
    with pytest.raises(CheckpointError, match="refused: reading it would unpickle"):
        read_state_dict(tmp_path / "whole.pt")


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", "not a readable"),
        (b"garbage that is not a pickle", "not a readable"),
    ],
)
def test_unreadable_files_one_line(tmp_path, content, match):
    (tmp_path / "bad.pt").write_bytes(content)
    with pytest.raises(CheckpointError, match=match):
        read_state_dict(tmp_path / "bad.pt")


def test_no_state_dict_inside(tmp_path):
    torch.save({"epoch": 3, "optimizer": {"lr": 0.1}}, tmp_path / "m.pt")
    with pytest.raises(CheckpointError, match=r"no state dict found.*'epoch'"):
        read_state_dict(tmp_path / "m.pt")
    torch.save([torch.zeros(2)], tmp_path / "l.pt")
    with pytest.raises(CheckpointError, match="holds a list"):
        read_state_dict(tmp_path / "l.pt")
    with pytest.raises(CheckpointError, match="no such file"):
        read_state_dict(tmp_path / "missing.pt")
