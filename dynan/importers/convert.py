"""``import_model``: a trained model's weights → a dynan checkpoint, checked on the way.

Steps: read the state dict safely (:mod:`~dynan.importers.reading`), find the recurrent module
and its read-out (:mod:`~dynan.importers.layouts`), map them onto a ``dynan_models`` network
(:mod:`~dynan.importers.mapping`), compare its logits with PyTorch's own modules on the same
weights (``torch`` layouts), and write the checkpoint with ``dynan_models.save_checkpoint``,
recording where it came from under ``training["imported"]``.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from dynan.errors import CheckpointError
from dynan.importers.inputs import DEFAULT_STEPS
from dynan.importers.layouts import Layout, Readout, find_layout, find_readout
from dynan.importers.mapping import build_network
from dynan.importers.reading import read_state_dict
from dynan_models import RecurrentNetwork, save_checkpoint

__all__ = ["DEFAULT_STEPS", "ImportSummary", "import_model"]


@dataclass(frozen=True)
class ImportSummary:
    """What ``import_model`` did: the checkpoint, the layout found, checks and notes."""

    out: str
    architecture: str
    layout: str
    readout: str | None
    max_logit_error: float | None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def lines(self) -> list[str]:
        """Human-readable report, one fact a line."""
        readout = repr(self.readout) if self.readout is not None else "none (logits = h)"
        lines = [
            f"found {self.layout}, read-out {readout}",
            f"wrote {self.out} (architecture {self.architecture})",
        ]
        if self.max_logit_error is not None:
            lines.append(
                f"checked: max |Δ logits| = {self.max_logit_error:.2e} against PyTorch's own "
                "modules on 8 random sequences of 25 steps"
            )
        return lines + list(self.notes)


def import_model(
    source: str | os.PathLike,
    out: str | os.PathLike,
    *,
    prefix: str | None = None,
    readout: str | None = None,
    layout: str | None = None,
    activation: str | None = None,
    shape: tuple[float, float] | None = None,
    task: dict | None = None,
    output_mode: str = "last",
    allow_unused: bool = False,
    steps: int = DEFAULT_STEPS,
) -> ImportSummary:
    """Convert a trained model's state dict into a dynan checkpoint whose outputs equal it.

    Parameters
    ----------
    source : a ``torch.save`` file (a state dict, or a dict with one under ``state_dict``,
        ``model_state_dict`` or ``model``) or a safetensors state dict.
    out : the ``.safetensors`` checkpoint to write.
    prefix : key prefix of the recurrent module, when there are several.
    readout : key prefix of the read-out ``Linear(N → C)``, when there are several; ``"none"``
        for none (logits = the hidden state).
    layout : ``"torch"``, ``"anru"`` or ``"gamma-rnn"`` to restrict the search.
    activation : the fixed activation of an ``nn.RNN`` (tanh, relu) or a γ-RNN without learned
        shape (tanh, relu, softplus, sigmoid), which a state dict does not record.
    shape : (n, s) of a γ-RNN with a fixed γ activation.
    task : a task spec (``{"name": "digits", "seed": 0, ...}``) whose inputs analyses use; its
        input and output sizes must match the network. None: analyses use zero input (Lyapunov,
        fixed points) or ``steps``-step N(0, 1) inputs where they need an ensemble.
    output_mode : "last" (the read-out of the last hidden state) or "all" (of every step).
    allow_unused : import although the state dict holds tensors that are neither the recurrent
        module nor the read-out (the model then does more than dynan reproduces).
    steps : length of the random input sequences used without a task.

    Returns
    -------
    ImportSummary

    Raises
    ------
    CheckpointError
        For an unreadable or unsafe file, no or several candidate modules or read-outs (naming
        the options that choose), a layout dynan cannot represent, unused tensors, a task of the
        wrong size, or logits that do not match.

    Notes
    -----
    One read of the file and a forward pass of 8 × 25 steps: O(size + 200 B N²).

    References
    ----------
    Geadah et al. (2024), REFERENCES.md §1 (the ANRU and γ-RNN layouts).

    Examples
    --------
    >>> import torch, tempfile, os
    >>> folder = tempfile.mkdtemp()
    >>> model = torch.nn.ModuleDict({"rnn": torch.nn.GRU(1, 8), "head": torch.nn.Linear(8, 3)})
    >>> torch.save(model.state_dict(), os.path.join(folder, "model.pt"))
    >>> src, dst = os.path.join(folder, "model.pt"), os.path.join(folder, "g.safetensors")
    >>> summary = import_model(src, dst)
    >>> summary.architecture, summary.max_logit_error < 1e-12
    ('gru', True)
    """
    source, out = Path(source), Path(out)
    if out.suffix != ".safetensors":
        raise CheckpointError(f"--out must end in .safetensors, got {str(out)!r}")
    if output_mode not in ("last", "all"):
        raise CheckpointError(f"output_mode must be 'last' or 'all', got {output_mode!r}")
    if not isinstance(steps, int) or steps < 1:
        raise CheckpointError(f"steps must be a positive integer, got {steps!r}")
    state, wrapper = read_state_dict(source)
    found = find_layout(state, prefix=prefix, kind=layout)
    head = find_readout(state, found, prefix=readout)
    net = build_network(
        state, found, head, activation=activation, shape=shape, output_mode=output_mode
    )
    unused = sorted(set(state) - set(found.keys) - set(head.keys))
    if unused and not allow_unused:
        listed = ", ".join(unused[:8]) + (" ..." if len(unused) > 8 else "")
        raise CheckpointError(
            f"{source}: tensors outside {found.describe()} and the read-out: {listed}; the model "
            "does more than a recurrent module and a read-out, so the import would not "
            "reproduce it (pass --allow-unused to import anyway, or --prefix/--readout)"
        )
    error = (
        _check_against_torch(state, found, head, net, activation)
        if found.kind == "torch"
        else None
    )
    notes = _notes(found, net, wrapper, unused, task, steps)
    if task is not None:
        _check_task(task, net)
    provenance = {
        "source": source.name,
        "sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
        "wrapper": wrapper,
        "layout": found.describe(),
        "readout": head.prefix,
        "activation": activation,
        "unused": unused,
        "steps": steps,
        "notes": notes,
    }
    save_checkpoint(net, out, task=task, training={"imported": provenance})
    return ImportSummary(
        out=str(out),
        architecture=net.architecture,
        layout=found.describe(),
        readout=head.prefix,
        max_logit_error=error,
        notes=tuple(notes),
    )


def _notes(found: Layout, net, wrapper, unused, task, steps) -> list[str]:
    notes = []
    if wrapper is not None:
        notes.append(f"the state dict sat under {wrapper!r} (other entries ignored)")
    if unused:
        notes.append(f"ignored {len(unused)} tensors outside the module: {', '.join(unused[:8])}")
    if net.architecture == "gamma-heterogeneous" and net.hidden_size == found.hidden_size + 1:
        notes.append(
            f"tanh has no zoo variant: imported as its exact conjugate, {net.hidden_size} γ "
            f"units with n = 2, s = 1 holding (h + 1)/2 and a constant unit {found.hidden_size} "
            "(the same outputs and Lyapunov exponents, plus one at −∞)"
        )
    if found.kind == "anru":
        notes.append("ARUN clamps n_t at 0.01 (γ divides by n); the paper's code does not")
    if found.layers > 1:
        notes.append(
            f"{found.layers} layers: the analyses' state is every layer's h"
            + (" and c" if found.cell == "lstm" else "")
            + " (layer 0 first), CKA and the read-out use the top layer's h, a drive enters "
            "layer 0's pre-activation"
        )
    if task is None:
        notes.append(
            "no --task: analyses run on zero input (Lyapunov, fixed points) or on N(0, 1) "
            f"inputs of {steps} steps where they need an ensemble of sequences"
        )
    return notes


def _check_task(task: dict, net: RecurrentNetwork) -> None:
    from dynan_models.tasks import load_task

    built = load_task(task)
    d, classes = built.test.x.shape[-1], built.output_size
    if (d, classes) != (net.input_size, net.output_size):
        raise CheckpointError(
            f"task {task.get('name')!r} has {d} input(s) and {classes} outputs; the network "
            f"has {net.input_size} and {net.output_size}"
        )


def _check_against_torch(
    state: dict[str, Tensor], found: Layout, head: Readout, net, activation
) -> float:
    """Max |Δ logits| between ``net`` and PyTorch's modules loaded with the same tensors."""
    cls = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}[found.cell]
    kwargs = {"nonlinearity": activation} if found.cell == "rnn" else {}
    bias = any(key.startswith(f"{found.prefix}bias_") for key in found.keys)
    module = cls(
        found.input_size,
        found.hidden_size,
        num_layers=found.layers,
        bias=bias,
        batch_first=True,
        **kwargs,
    )
    tensors = {  # a cell's names get the one layer's suffix
        key[len(found.prefix) :] + ("" if re.search(r"_l\d+$", key) else "_l0"): state[key]
        for key in found.keys
    }
    module.load_state_dict(tensors)
    module.to(torch.float64)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(8, 25, found.input_size, generator=gen, dtype=torch.float64)
    with torch.no_grad():
        hidden = module(x)[0]
        if net.output_mode == "last":
            hidden = hidden[:, -1]
        if head.prefix is None:
            expected = hidden
        else:
            weight = state[f"{head.prefix}weight"].to(torch.float64)
            bias_out = state.get(f"{head.prefix}bias")
            expected = hidden @ weight.T + (0 if bias_out is None else bias_out.to(torch.float64))
        got = net(x).logits
    error = float((got - expected).abs().max())
    scale = max(1.0, float(expected.abs().max()))
    if not error <= 1e-9 * scale:
        raise CheckpointError(
            f"the imported network's logits differ from PyTorch's by {error:.3g}: not imported"
        )
    return error
