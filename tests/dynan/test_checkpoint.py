"""``dynan.load``: exact round trips, and a CheckpointError naming the file for every bad file."""

from __future__ import annotations

import json
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import dynan
from dynan.checkpoint import CheckpointInfo, read_config
from dynan.errors import CheckpointError, DynanError
from dynan_models import ARCHITECTURES, FORMAT_VERSION, __version__, build, save_checkpoint
from dynan_models.checkpoint import METADATA_KEY, checkpoint_config

TASK = {"name": "digits", "steps": 64}
CONFIG_FIELDS = (
    "architecture",
    "arguments",
    "task",
    "seed",
    "metrics",
    "format_version",
    "library_version",
)


def _net(arch: str = "arun"):
    extra = {"controller_size": 3} if arch == "arun" else {}
    return build(arch, input_size=2, hidden_size=5, output_size=3, **extra)


def _save(tmp_path, arch: str = "arun", name: str = "net.safetensors"):
    net = _net(arch)
    path = save_checkpoint(
        net, tmp_path / name, task=TASK, seed=7, metrics={"accuracy": 0.5}, training={"lr": 1e-3}
    )
    return net, path


def _write(path, tensors: dict, config: dict | None):
    """A safetensors file with an arbitrary (possibly broken) dynan config."""
    metadata = None if config is None else {METADATA_KEY: json.dumps(config)}
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path), metadata=metadata)
    return path


def _raises(path, *fragments: str):
    """dynan.load(path) raises a CheckpointError whose message names the file and the problem."""
    with pytest.raises(CheckpointError) as info:
        dynan.load(path)
    message = str(info.value)
    assert os.path.basename(path) in message
    for fragment in fragments:
        assert fragment in message, message
    assert "\n" not in message
    return message


# -- round trips -----------------------------------------------------------------------------


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_round_trip_identical_outputs(tmp_path, arch):
    net, path = _save(tmp_path, arch)
    net.eval()
    loaded = dynan.load(path)
    assert type(loaded) is type(net)
    x = torch.randn(4, 9, 2)
    drive = torch.randn(4, 9, 5)
    for d in (None, drive):
        a = net(x, d, return_trajectories=True)
        b = loaded(x, d, return_trajectories=True)
        assert torch.equal(a.logits, b.logits)
        assert torch.equal(a.hidden, b.hidden)
        for u, v in zip(a.state, b.state, strict=True):
            assert torch.equal(u, v)
    for (k, u), (k2, v) in zip(net.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(u, v)
    info = loaded.checkpoint
    assert isinstance(info, CheckpointInfo)
    assert info.architecture == arch
    assert info.arguments == net.arguments
    assert (info.task, info.seed, info.metrics) == (TASK, 7, {"accuracy": 0.5})
    assert info.training == {"lr": 1e-3}
    assert (info.format_version, info.library_version) == (FORMAT_VERSION, __version__)
    assert info.name == "net"
    assert len(info.sha256) == 64


ZOO = sorted((Path(__file__).resolve().parents[2] / "models" / "zoo").glob("*.safetensors"))


@pytest.mark.skipif(not ZOO, reason="the zoo has not been trained yet")
@pytest.mark.parametrize("path", ZOO, ids=[p.stem for p in ZOO])
def test_shipped_zoo_checkpoints_load(path):
    net = dynan.load(path, dtype=torch.float64)
    config = read_config(path)
    for field in CONFIG_FIELDS:
        assert field in config
    assert config["format_version"] <= FORMAT_VERSION
    x = torch.randn(2, 16, net.input_size, dtype=torch.float64)
    assert torch.isfinite(net(x).logits).all()


def test_config_fields_in_the_header(tmp_path):
    _, path = _save(tmp_path, "gamma-heterogeneous")
    config = read_config(path)
    for field in CONFIG_FIELDS:
        assert field in config
    assert config["arguments"]["variant"] == "gamma-heterogeneous"
    # the config sits in the raw safetensors header, readable by any safetensors reader
    with open(path, "rb") as fh:
        (length,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(length))
    assert json.loads(header["__metadata__"][METADATA_KEY]) == config


def test_load_float64_eval_mode_and_output_mode(tmp_path):
    net = build("arun", input_size=1, hidden_size=4, output_size=2, output_mode="all")
    path = save_checkpoint(net, tmp_path / "all.safetensors")
    loaded = dynan.load(path, dtype=torch.float64)
    assert not loaded.training
    assert all(p.dtype == torch.float64 for p in loaded.parameters())
    assert loaded.output_mode == "all"
    x = torch.randn(2, 6, 1, dtype=torch.float64)
    assert loaded(x).logits.shape == (2, 6, 2)
    assert dynan.load(str(path)).readout.weight.dtype == torch.float32  # default: as saved


@pytest.mark.parametrize("saved", [torch.float64, torch.float16])
def test_saved_precision_is_kept(tmp_path, saved):
    net = _net().to(saved)
    path = save_checkpoint(net, tmp_path / "p.safetensors")
    loaded = dynan.load(path)
    assert all(p.dtype == saved for p in loaded.parameters())
    for u, v in zip(net.state_dict().values(), loaded.state_dict().values(), strict=True):
        assert torch.equal(u, v)
    x = torch.randn(2, 4, 2, dtype=saved)
    if saved == torch.float64:
        assert torch.equal(net.eval()(x).logits, loaded(x).logits)
    assert dynan.load(path, dtype=torch.float32).readout.weight.dtype == torch.float32


def test_save_is_atomic_and_leaves_no_temporary(tmp_path):
    _, path = _save(tmp_path, "relu", name="sub/dir/a.safetensors")
    assert path.exists()
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.safetensors"]


def test_saved_file_has_ordinary_permissions(tmp_path):
    # the same mode as any file created here (umask respected), not mkstemp's private 0600
    reference = tmp_path / "reference"
    reference.write_bytes(b"")
    _, path = _save(tmp_path)
    assert path.stat().st_mode == reference.stat().st_mode


def test_checkpoint_error_is_a_dynan_error():
    assert issubclass(CheckpointError, DynanError)
    assert issubclass(CheckpointError, ValueError)


# -- files that are not checkpoints ----------------------------------------------------------


def test_missing_file(tmp_path):
    _raises(tmp_path / "absent.safetensors", "no such checkpoint file")


def test_directory_is_not_a_file(tmp_path):
    (tmp_path / "dir.safetensors").mkdir()
    _raises(tmp_path / "dir.safetensors", "no such checkpoint file")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.safetensors"
    path.write_bytes(b"")
    _raises(path, "empty")


@pytest.mark.parametrize("cut", ["size", "header", "data", "last-byte"])
def test_truncated_file(tmp_path, cut):
    _, good = _save(tmp_path)
    blob = good.read_bytes()
    (length,) = struct.unpack("<Q", blob[:8])
    keep = {"size": 5, "header": 8 + length // 2, "data": 8 + length + 40, "last-byte": -1}[cut]
    path = tmp_path / f"cut-{cut}.safetensors"
    path.write_bytes(blob[:keep])
    _raises(path, "truncated")


def test_random_bytes(tmp_path):
    path = tmp_path / "noise.safetensors"
    path.write_bytes(torch.randint(0, 256, (4096,), dtype=torch.uint8).numpy().tobytes())
    _raises(path, "not a safetensors file")


def test_numpy_file(tmp_path):
    path = tmp_path / "weights.npy"
    np.save(path, np.zeros(3))
    _raises(path, "not a safetensors file", "NumPy")


class _Payload:
    """Unpickling this creates ``marker``: what a malicious checkpoint would do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
@pytest.mark.parametrize("wrap", ["bare", "dict"])
def test_malicious_pickle_is_never_unpickled(tmp_path, protocol, wrap):
    payload = _Payload(tmp_path / "pwned")
    blob = pickle.dumps(payload if wrap == "bare" else {"weights": payload}, protocol=protocol)
    # the payload is live: unpickling it (here, on purpose) does create its marker
    probe = pickle.dumps(_Payload(tmp_path / "probe"), protocol=protocol)
    pickle.loads(probe).close()
    assert (tmp_path / "probe").exists()
    for name in ("evil.safetensors", "evil.pt", "evil.pkl"):
        path = tmp_path / name
        path.write_bytes(blob)
        _raises(path, "pickle")
        assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("zipfile", [True, False], ids=["zip", "legacy"])
def test_torch_save_file(tmp_path, zipfile):
    path = tmp_path / "weights.pt"
    torch.save(_net().state_dict(), path, _use_new_zipfile_serialization=zipfile)
    _raises(path, "torch.save" if zipfile else "pickle")


def test_safetensors_without_dynan_metadata(tmp_path):
    tensors = _net().state_dict()
    _raises(_write(tmp_path / "plain.safetensors", tensors, None), "without a dynan config")
    other = tmp_path / "other.safetensors"
    save_file(tensors, str(other), metadata={"format": "pt"})
    _raises(other, "without a dynan config")


def test_config_is_not_json(tmp_path):
    path = tmp_path / "badjson.safetensors"
    save_file(_net().state_dict(), str(path), metadata={METADATA_KEY: "{not json"})
    _raises(path, "not valid JSON")
    path = tmp_path / "list.safetensors"
    save_file(_net().state_dict(), str(path), metadata={METADATA_KEY: "[1, 2]"})
    _raises(path, "not a JSON object")


# -- configs and tensors that do not fit -----------------------------------------------------


def _config(net, **changes):
    config = checkpoint_config(net, task=TASK, seed=0)
    config.update(changes)
    return config


def test_unknown_architecture(tmp_path):
    net = _net()
    path = _write(tmp_path / "x.safetensors", net.state_dict(), _config(net, architecture="tcn"))
    _raises(path, "unknown architecture 'tcn'", "arun")


def test_newer_format_version(tmp_path):
    net = _net()
    config = _config(net, format_version=FORMAT_VERSION + 1, library_version="9.9")
    path = _write(tmp_path / "new.safetensors", net.state_dict(), config)
    _raises(path, f"format {FORMAT_VERSION + 1}", "9.9", f"reads format <= {FORMAT_VERSION}")


def test_missing_format_version(tmp_path):
    net = _net()
    config = _config(net)
    del config["format_version"]
    _raises(_write(tmp_path / "nov.safetensors", net.state_dict(), config), "format_version")


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        ({"hidden_size": -3}, "hidden_size must be a positive integer"),
        ({"hidden_size": "five"}, "hidden_size must be a positive integer"),
        ({"colour": "red"}, "colour"),
        ({"controller_size": 0}, "controller_size must be a positive integer"),
    ],
)
def test_bad_constructor_arguments(tmp_path, arguments, fragment):
    net = _net()
    config = _config(net, arguments={**net.arguments, **arguments})
    path = _write(tmp_path / "args.safetensors", net.state_dict(), config)
    _raises(path, "cannot build 'arun'", fragment)


def test_arguments_not_an_object(tmp_path):
    net = _net()
    path = _write(tmp_path / "a.safetensors", net.state_dict(), _config(net, arguments=[1]))
    _raises(path, "arguments")


def test_shape_mismatch(tmp_path):
    net = _net()
    tensors = net.state_dict()
    tensors["recurrent_weight"] = torch.zeros(6, 6)
    path = _write(tmp_path / "shape.safetensors", tensors, _config(net))
    _raises(path, "'recurrent_weight'", "(6, 6)", "(5, 5)")


def test_missing_tensor(tmp_path):
    net = _net()
    tensors = dict(net.state_dict())
    del tensors["controller.n_bias"]
    path = _write(tmp_path / "missing.safetensors", tensors, _config(net))
    _raises(path, "missing ['controller.n_bias']")


def test_unexpected_tensor(tmp_path):
    net = _net()
    tensors = {**net.state_dict(), "extra": torch.zeros(2)}
    path = _write(tmp_path / "extra.safetensors", tensors, _config(net))
    _raises(path, "unexpected ['extra']")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_weights(tmp_path, value):
    net = _net()
    tensors = net.state_dict()
    tensors["input_weight"][1, 0] = value
    tensors["readout.bias"][:] = value
    path = _write(tmp_path / "nonfinite.safetensors", tensors, _config(net))
    _raises(path, "non-finite")


def test_integer_weights(tmp_path):
    net = _net()
    tensors = net.state_dict()
    tensors["bias"] = torch.zeros(5, dtype=torch.int64)
    _raises(_write(tmp_path / "int.safetensors", tensors, _config(net)), "non-float dtype")


def test_corrupt_header_offsets(tmp_path):
    _, good = _save(tmp_path)
    blob = bytearray(good.read_bytes())
    (length,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + length])
    name = next(k for k in header if k != "__metadata__")
    header[name]["data_offsets"] = "nowhere"
    text = json.dumps(header).encode()
    path = tmp_path / "offsets.safetensors"
    path.write_bytes(struct.pack("<Q", len(text)) + text + bytes(blob[8 + length :]))
    _raises(path, "corrupt")


# -- every field checked before anything the size of the network is allocated -----------------


def _rewrite(tmp_path, name, blob: bytes, edit) -> Path:
    """``blob`` with its header JSON passed through ``edit`` (the data bytes kept as they are)."""
    (length,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + length])
    edit(header)
    text = json.dumps(header).encode()
    path = tmp_path / name
    path.write_bytes(struct.pack("<Q", len(text)) + text + blob[8 + length :])
    return path


def _edit_config(**changes):
    def edit(header):
        config = json.loads(header["__metadata__"][METADATA_KEY])
        config.update(changes)
        header["__metadata__"][METADATA_KEY] = json.dumps(config)

    return edit


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
@pytest.mark.parametrize("sizes", [(1, 1, 1, 1), (3, 8, 2, 5), (16, 7, 10, 2)])
def test_expected_shapes_match_the_built_network(arch, sizes):
    from dynan._checkpoint_config import expected_shapes

    arguments = dict(zip(("input_size", "hidden_size", "output_size"), sizes[:3], strict=True))
    if arch == "arun":
        arguments["controller_size"] = sizes[3]
    built = {k: tuple(v.shape) for k, v in build(arch, **arguments).state_dict().items()}
    assert expected_shapes(arch, arguments) == built


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"architecture": ["arun"]}, "unknown architecture"),
        ({"architecture": {"a": 1}}, "unknown architecture"),
        ({"format_version": True}, "integer format_version"),
        ({"format_version": 0}, "not a dynan format"),
        ({"format_version": 1.0}, "integer format_version"),
        ({"seed": "7"}, "'seed' must be int or null"),
        ({"seed": False}, "'seed' must be int or null"),
        ({"task": "digits"}, "'task' must be dict or null"),
        ({"metrics": [0.5]}, "'metrics' must be dict or null"),
        ({"training": 3}, "'training' must be dict or null"),
        ({"library_version": 1}, "'library_version' must be str"),
        ({"metrics": {"accuracy": {"clean": 1.5}}}, "accuracy.clean = 1.5 is not in [0, 1]"),
        ({"metrics": {"test_accuracy": -0.1}}, "test_accuracy = -0.1"),
        ({"training": {"a": [[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]}}, "nests deeper"),
    ],
)
def test_config_field_types_and_ranges(tmp_path, changes, fragment):
    _, good = _save(tmp_path)
    _raises(
        _rewrite(tmp_path, "f.safetensors", good.read_bytes(), _edit_config(**changes)), fragment
    )


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        ({"hidden_size": True}, "hidden_size must be a positive integer"),
        ({"hidden_size": 5.0}, "hidden_size must be a positive integer"),
        ({"hidden_size": 2**40}, "hidden_size must be a positive integer"),
        ({"output_mode": ["last"]}, "output_mode must be a string"),
        ({"output_mode": "first"}, "output_mode must be one of"),
    ],
)
def test_argument_types_and_ranges(tmp_path, arguments, fragment):
    net, good = _save(tmp_path)
    edit = _edit_config(arguments={**net.arguments, **arguments})
    _raises(_rewrite(tmp_path, "a.safetensors", good.read_bytes(), edit), fragment)


def test_missing_required_argument(tmp_path):
    net, good = _save(tmp_path)
    arguments = {k: v for k, v in net.arguments.items() if k != "input_size"}
    path = _rewrite(
        tmp_path, "m.safetensors", good.read_bytes(), _edit_config(arguments=arguments)
    )
    _raises(path, "missing argument(s) ['input_size']")


def test_sizes_that_contradict_the_header_allocate_nothing(tmp_path):
    # hidden_size 2**17 would build a 64 GiB recurrent matrix: the header's (5, 5) says no first
    from checkpoint_fuzz import address_space_limit

    net, good = _save(tmp_path)
    edit = _edit_config(arguments={**net.arguments, "hidden_size": 2**17})
    path = _rewrite(tmp_path, "big.safetensors", good.read_bytes(), edit)
    with address_space_limit(256 * 2**20):
        _raises(path, "has shape (5", "the architecture needs (131072")


def test_consistent_header_larger_than_the_file_allocates_nothing(tmp_path):
    # config, shapes and offsets agree on a 2**16-unit network; only the file size disagrees
    from checkpoint_fuzz import address_space_limit

    from dynan._checkpoint_config import expected_shapes

    net, good = _save(tmp_path)
    arguments = {**net.arguments, "hidden_size": 2**16}

    def edit(header):
        _edit_config(arguments=arguments)(header)
        offset = 0
        for name, shape in expected_shapes("arun", arguments).items():
            end = offset + 4 * int(np.prod(shape))
            header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, end]}
            offset = end

    path = _rewrite(tmp_path, "lie.safetensors", good.read_bytes(), edit)
    assert path.stat().st_size < 2**16
    with address_space_limit(256 * 2**20):
        _raises(path, "truncated", "ends at byte")


@pytest.mark.parametrize(
    ("offsets", "fragment"),
    [
        (lambda s, e: [s, e - 4], "needs"),
        (lambda s, e: [s, e + 4], "truncated"),
        (lambda s, e: [e, s], "out of order"),
        (lambda s, e: [s - 4, e - 4], "overlaps"),
        (lambda s, e: [-4, e], "out of order"),
    ],
)
def test_header_byte_ranges_checked(tmp_path, offsets, fragment):
    _, good = _save(tmp_path)

    def edit(header):  # the last tensor in the data: it has a neighbour before it
        entry = max(
            (v for k, v in header.items() if k != "__metadata__"), key=lambda v: v["data_offsets"]
        )
        entry["data_offsets"] = offsets(*entry["data_offsets"])

    _raises(_rewrite(tmp_path, "o.safetensors", good.read_bytes(), edit), fragment)


def test_bytes_after_the_last_tensor(tmp_path):
    _, good = _save(tmp_path)
    path = tmp_path / "tail.safetensors"
    path.write_bytes(good.read_bytes() + b"\0" * 8)
    _raises(path, "bytes after the last tensor")


def test_config_json_too_deep_or_too_long(tmp_path):
    _, good = _save(tmp_path)

    def deep(header):
        header["__metadata__"][METADATA_KEY] = "[" * 100_000 + "]" * 100_000

    _raises(_rewrite(tmp_path, "d.safetensors", good.read_bytes(), deep), "nested too deeply")

    def long_int(header):
        header["__metadata__"][METADATA_KEY] = '{"seed": ' + "9" * 5000 + "}"

    _raises(_rewrite(tmp_path, "i.safetensors", good.read_bytes(), long_int), "not valid JSON")
