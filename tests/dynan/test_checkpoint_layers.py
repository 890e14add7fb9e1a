"""``dynan.load`` of stacked networks: the layer count repeats tensors, and a config's layer count
that no file backs is refused from the counts alone."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

import dynan
from dynan._checkpoint_config import expected_shapes, tensor_count
from dynan.errors import CheckpointError
from dynan_models import build, save_checkpoint
from dynan_models.checkpoint import METADATA_KEY, checkpoint_config

STACKED = ("stacked-rnn", "stacked-gru", "stacked-lstm")
SIZES = {"input_size": 2, "hidden_size": 5, "output_size": 3}


def _write(path, net, tensors, **argument_changes):
    config = checkpoint_config(net)
    config["arguments"] = {**config["arguments"], **argument_changes}
    save_file(
        {k: v.contiguous() for k, v in tensors.items()},
        str(path),
        metadata={METADATA_KEY: json.dumps(config)},
    )
    return path


@pytest.mark.parametrize("arch", STACKED)
@pytest.mark.parametrize("layers", [1, 2, 4])
def test_expected_shapes_follow_the_layer_count(arch, layers):
    arguments = {"input_size": 3, "hidden_size": 7, "output_size": 2, "num_layers": layers}
    built = {k: tuple(v.shape) for k, v in build(arch, **arguments).state_dict().items()}
    assert expected_shapes(arch, arguments) == built
    assert tensor_count(arch, arguments) == len(built) == 4 * layers + 2


@pytest.mark.parametrize("arch", STACKED)
def test_stacked_round_trip_keeps_layers_and_outputs(tmp_path, arch):
    extra = {"nonlinearity": "relu"} if arch == "stacked-rnn" else {}
    net = build(arch, **SIZES, num_layers=3, **extra).double()
    loaded = dynan.load(save_checkpoint(net, tmp_path / "s.safetensors"))
    assert loaded.arguments == net.arguments and loaded.rnn.num_layers == 3
    x = torch.randn(4, 6, 2, dtype=torch.float64)
    torch.testing.assert_close(loaded(x).logits, net(x).logits, rtol=0, atol=0)


def test_missing_upper_layer_tensor_is_named(tmp_path):
    net = build("stacked-lstm", **SIZES, num_layers=3)
    tensors = dict(net.state_dict())
    del tensors["rnn.bias_hh_l2"]
    path = _write(tmp_path / "missing.safetensors", net, tensors)
    with pytest.raises(CheckpointError, match=r"missing \['rnn.bias_hh_l2'\]"):
        dynan.load(path)


def test_more_layers_than_the_file_holds_lists_the_missing(tmp_path):
    net = build("stacked-gru", **SIZES, num_layers=2)
    path = _write(tmp_path / "deeper.safetensors", net, net.state_dict(), num_layers=3)
    names = ", ".join(f"'rnn.{k}_l2'" for k in ("bias_hh", "bias_ih", "weight_hh", "weight_ih"))
    with pytest.raises(CheckpointError) as info:
        dynan.load(path)
    assert f"missing [{names}]" in str(info.value)


def test_absurd_layer_count_refused_from_the_counts(tmp_path):
    # 2**31 − 1 layers would list 8.6e9 tensor names: the header's 10 tensors say no first
    from checkpoint_fuzz import address_space_limit

    net = build("stacked-rnn", **SIZES, num_layers=2)
    path = _write(tmp_path / "deep.safetensors", net, net.state_dict(), num_layers=2**31 - 1)
    with address_space_limit(256 * 2**20), pytest.raises(CheckpointError) as info:
        dynan.load(path)
    message = str(info.value)
    assert "deep.safetensors" in message and "imply 8589934590 tensors" in message
    assert "the file holds 10" in message


def test_unknown_nonlinearity_refused(tmp_path):
    net = build("stacked-rnn", **SIZES)
    path = _write(tmp_path / "sig.safetensors", net, net.state_dict(), nonlinearity="sigmoid")
    with pytest.raises(CheckpointError, match=r"sig.safetensors: cannot build .*nonlinearity"):
        dynan.load(path)
