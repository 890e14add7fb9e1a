"""Training: one-epoch smoke run, determinism, Ctrl-C leaves a usable checkpoint, resume."""

from __future__ import annotations

import pytest
import torch

import dynan
import dynan_models.training as training
from dynan.cli import main
from dynan_models.training import TrainConfig, train

TASK = {"name": "digits", "seed": 0, "permuted": True}


def _cfg(tmp_path, **kw):
    base = dict(
        architecture="relu",
        task=TASK,
        out=str(tmp_path / "n.safetensors"),
        hidden_size=8,
        epochs=1,
    )
    return TrainConfig(**{**base, **kw})


def test_one_epoch_smoke_writes_loadable_checkpoint_with_metrics(tmp_path):
    result = train(_cfg(tmp_path), progress=False)
    net = dynan.load(result.path)
    metrics = net.checkpoint.metrics
    assert set(metrics["accuracy"]) == {"clean", "sinusoid", "step", "noise"}
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    assert net.checkpoint.training["command"].startswith("dynan train relu")
    assert net.checkpoint.task == TASK


def test_same_seed_same_weights(tmp_path):
    a = train(
        _cfg(
            tmp_path, out=str(tmp_path / "a.safetensors"), architecture="arun", controller_size=4
        ),
        progress=False,
    )
    b = train(
        _cfg(
            tmp_path, out=str(tmp_path / "b.safetensors"), architecture="arun", controller_size=4
        ),
        progress=False,
    )
    for (k, v), w in zip(a.model.state_dict().items(), b.model.state_dict().values(), strict=True):
        assert torch.equal(v, w), k


def test_ctrl_c_leaves_a_usable_checkpoint(tmp_path, monkeypatch):
    calls = {"n": 0}
    real = training.loss_fn

    def interrupting(*args):
        calls["n"] += 1
        if calls["n"] == 25:  # inside epoch 2 (19 batches per epoch)
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(training, "loss_fn", interrupting)
    with pytest.raises(KeyboardInterrupt, match="best checkpoint saved"):
        train(_cfg(tmp_path, epochs=5), progress=False)
    net = dynan.load(tmp_path / "n.safetensors")
    assert net.checkpoint.training["interrupted"] is True
    assert net.checkpoint.training["epochs_trained"] == 1
    assert "test_accuracy" in net.checkpoint.metrics


def test_cli_train_then_resume(tmp_path, capsys):
    out = str(tmp_path / "c.safetensors")
    args = ["train", "relu", "--hidden-size", "8", "--epochs", "1", "--quiet", "--out", out]
    assert main(args) == 0
    assert main([*args[:-1], out, "--resume", out]) == 0
    net = dynan.load(out)
    assert net.checkpoint.training["epochs_trained"] == 2
    assert "test accuracy" in capsys.readouterr().out


def test_cli_train_rejects_bad_settings(tmp_path, capsys):
    assert main(["train", "relu", "--lr", "-1", "--out", str(tmp_path / "x.safetensors")]) == 2
    assert "lr=-1" in capsys.readouterr().err


def test_progress_inside_an_epoch_shows_batches(tmp_path, capsys):
    train(_cfg(tmp_path, hidden_size=4), progress=True)
    err = capsys.readouterr().err
    assert "epoch 1" in err and "/19" in err and "batch" in err  # 1,197 / 64 → 19 batches


def test_mnist_subset_options_reach_the_command_line():
    cfg = TrainConfig(
        architecture="relu",
        task={"name": "mnist", "seed": 0, "permuted": True, "downsample": 2, "train_size": 100},
        out="x.safetensors",
    )
    words = cfg.command().split()
    assert words[words.index("--downsample") + 1] == "2"
    assert words[words.index("--train-size") + 1] == "100"


def test_stacked_depth_and_activation_reach_the_network_and_the_command(tmp_path, capsys):
    out = str(tmp_path / "s.safetensors")
    args = ["train", "stacked-rnn", "--num-layers", "3", "--nonlinearity", "relu"]
    args += ["--hidden-size", "6", "--epochs", "1", "--quiet", "--out", out]
    assert main(args) == 0
    net = dynan.load(out)
    assert (net.num_layers, net.nonlinearity) == (3, "relu")
    assert net.rnn.num_layers == 3 and net.rnn.nonlinearity == "relu"
    words = net.checkpoint.training["command"].split()
    assert words[words.index("--num-layers") + 1] == "3"
    assert words[words.index("--nonlinearity") + 1] == "relu"
    assert "--controller-size" not in words
    # only the settings an architecture takes are recorded
    arun = TrainConfig(architecture="arun", task=TASK, out="a.safetensors", controller_size=7)
    assert arun.architecture_options() == {"controller_size": 7}
    assert "--num-layers" not in arun.command()
    gru = TrainConfig(architecture="stacked-gru", task=TASK, out="g.safetensors", num_layers=4)
    assert gru.architecture_options() == {"num_layers": 4}
    with pytest.raises(ValueError, match="nonlinearity='sigmoid'"):
        TrainConfig(
            architecture="stacked-rnn", task=TASK, out="x.safetensors", nonlinearity="sigmoid"
        )
