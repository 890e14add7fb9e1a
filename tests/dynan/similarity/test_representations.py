"""Hidden states of networks and checkpoints; forward-hook capture that keeps every call."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from dynan.similarity import SimilarityError, cka_map
from dynan.similarity.hooks import ActivationCapture, capture_activations
from dynan.similarity.representations import (
    Representations,
    checkpoint_representations,
    network_representations,
)
from dynan_models import build, save_checkpoint

DIGITS = {"name": "digits", "seed": 0, "permuted": True}


def test_arun_states_match_the_forward_trajectories():
    net = build("arun", input_size=1, hidden_size=5, output_size=3, controller_size=4).double()
    x = torch.rand(7, 9, 1, dtype=torch.float64)
    with torch.no_grad():
        out = net(x, return_trajectories=True)
    reps = network_representations(
        net, x, steps=[2, -1], include=("hidden", "controller", "shape"), batch_size=3
    )
    assert reps.labels == ("h[t=2]", "g[t=2]", "ns[t=2]", "h[t=8]", "g[t=8]", "ns[t=8]")
    np.testing.assert_allclose(reps["h[t=2]"], out.hidden[:, 2].numpy(), atol=1e-14)
    np.testing.assert_allclose(reps["g[t=8]"], out.controller[:, 8].reshape(7, 20), atol=1e-14)
    np.testing.assert_allclose(
        reps["ns[t=8]"], torch.cat([out.n[:, 8], out.s[:, 8]], 1).numpy(), atol=1e-14
    )


def test_gru_steps_agree_with_the_fused_kernel():
    net = build("gru", input_size=1, hidden_size=6, output_size=2).double()
    x = torch.rand(4, 11, 1, dtype=torch.float64)
    with torch.no_grad():
        final = net(x).state[0].numpy()
    assert network_representations(net, x).arrays[0] == pytest.approx(final, abs=1e-12)


def test_checkpoint_representations_use_the_task_test_split(tmp_path):
    path = tmp_path / "relu-digits.safetensors"
    save_checkpoint(build("relu", input_size=1, hidden_size=6, output_size=10), path, task=DIGITS)
    reps = checkpoint_representations(path, steps=2, limit=50)
    assert reps.name == "relu-digits" and reps.architecture == "relu"
    assert reps.labels == ("h[t=31]", "h[t=63]") and reps.n == 50
    assert reps.task == DIGITS and reps["h[t=63]"].dtype == np.float64
    back = Representations.from_json(reps.to_json())
    np.testing.assert_array_equal(back["h[t=31]"], reps["h[t=31]"])
    assert cka_map(reps).matrix.shape == (2, 2)  # a Representations is a mapping


def test_representation_error_paths(tmp_path):
    net = build("relu", input_size=1, hidden_size=3, output_size=2)
    with pytest.raises(SimilarityError, match="relu has no controller"):
        network_representations(net, torch.zeros(2, 4, 1), include=("controller",))
    with pytest.raises(SimilarityError, match=r"inputs must have shape \(examples, time, 1\)"):
        network_representations(net, torch.zeros(2, 4))
    with pytest.raises(SimilarityError, match="include must be one of"):
        network_representations(net, torch.zeros(2, 4, 1), include=("gates",))
    with pytest.raises(SimilarityError, match="steps must be 'final'"):
        network_representations(net, torch.zeros(2, 4, 1), steps="last")
    path = tmp_path / "no-task.safetensors"
    save_checkpoint(net, path)  # no task: seeded N(0, 1) stand-ins, the same on every call
    first, again = checkpoint_representations(path, limit=5), checkpoint_representations(path)
    assert first.arrays[0].shape[0] == 5 and again.arrays[0].shape[0] == 256
    np.testing.assert_allclose(first.arrays[0], again.arrays[0][:5], rtol=0, atol=1e-12)
    with pytest.raises(SimilarityError, match="no checkpoint and so no task"):
        checkpoint_representations(net)


class _Reuse(nn.Module):
    """Calls the same Linear twice, and has a module it never calls."""

    def __init__(self):
        super().__init__()
        self.cell = nn.Linear(3, 3)
        self.unused = nn.Linear(3, 3)
        self.gru = nn.GRU(3, 2, batch_first=True)

    def forward(self, x):
        h1 = torch.tanh(self.cell(x))
        h2 = torch.tanh(self.cell(h1))
        return self.gru(h2[:, None])[0]


def test_reused_module_keeps_every_call_and_hooks_are_removed():
    model = _Reuse().double()
    x = torch.rand(10, 3, dtype=torch.float64)
    reps = capture_activations(model, x, ["cell", "gru"], batch_size=4)
    assert reps.labels == ("cell[call=0]", "cell[call=1]", "gru")
    with torch.no_grad():
        first = model.cell(x)
        second = model.cell(torch.tanh(first))
    np.testing.assert_allclose(reps["cell[call=0]"], first.numpy(), atol=1e-15)
    np.testing.assert_allclose(reps["cell[call=1]"], second.numpy(), atol=1e-15)
    assert reps["gru"].shape == (10, 2)  # the GRU's first output (B, 1, 2), flattened
    assert not model.cell._forward_hooks and not model.gru._forward_hooks


def test_arun_controller_hook_sees_every_step():
    net = build("arun", input_size=1, hidden_size=4, output_size=2, controller_size=3).double()
    x = torch.rand(5, 6, 1, dtype=torch.float64)
    reps = capture_activations(lambda_model(net), x, ["net.controller"])
    assert len(reps) == 6
    with torch.no_grad():
        traj = net(x, return_trajectories=True).controller
    np.testing.assert_allclose(reps["net.controller[call=5]"], traj[:, 5].reshape(5, 12))


def test_arun_runs_its_loop_under_a_global_module_hook():
    # the fused sequence never calls the controller module: a global hook must still see it
    net = build("arun", input_size=1, hidden_size=4, output_size=2, controller_size=3).double()
    x = torch.rand(5, 6, 1, dtype=torch.float64)
    calls = []

    def hook(module, args, output):
        if module is net.controller:
            calls.append(output.detach().clone())

    handle = torch.nn.modules.module.register_module_forward_hook(hook)
    try:
        with torch.no_grad():
            hooked = net(x, return_trajectories=True)
    finally:
        handle.remove()
    with torch.no_grad():
        plain = net(x, return_trajectories=True)
    assert len(calls) == 6
    torch.testing.assert_close(torch.stack(calls, 1), plain.controller, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(hooked.hidden, plain.hidden, rtol=1e-12, atol=1e-14)


def lambda_model(net):
    class Wrap(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net(x).logits

    return Wrap()


def test_capture_error_paths():
    model = _Reuse()
    x = torch.rand(4, 3)
    with pytest.raises(SimilarityError, match=r"\['unused'\] never ran"):
        capture_activations(model, x, ["unused"])
    with pytest.raises(SimilarityError, match=r"no module named \['nope'\].*'cell'"):
        ActivationCapture(model, ["nope"])
    with pytest.raises(SimilarityError, match="names is empty"):
        ActivationCapture(model, [])
    assert not model.unused._forward_hooks  # removed after the error
