"""What every network in `dynan_models` shares: the state-space interface and the sequence loop.

A network is a discrete-time map on a tuple of state tensors:

    inp_t   = project(x_t) (+ drive_t)        input_projection, for all t at once
    state_t = recur(state_{t−1}, inp_t)       one step, batched

``step`` chains both for one time step; ``forward`` runs a whole sequence and reads out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

__all__ = ["RNNOutput", "RecurrentNetwork", "State", "Trajectory"]

State = tuple[Tensor, ...]


@dataclass
class RNNOutput:
    """Output of ``forward``.

    logits: (B, classes) on the last hidden state, or (B, T, out) with ``output_mode="all"``.
    hidden: (B, T, N) hidden trajectory (only with ``return_trajectories=True``).
    n, s: (B, T, N) shape-parameter trajectories (adaptive networks; static γ networks give
        their constant values broadcast; None where the activation has no shape parameters).
    controller: (B, T, N, G) controller states of adaptive networks, else None.
    state: the final state tuple.
    """

    logits: Tensor
    state: State
    hidden: Tensor | None = None
    n: Tensor | None = None
    s: Tensor | None = None
    controller: Tensor | None = None


@dataclass
class Trajectory:
    """What ``sequence`` returns: the final state, h_1 … h_T (B, T, N) and, when trajectories
    were asked for, n, s (B, T, N) and controller states (B, T, N, G) (None where absent)."""

    state: State
    hidden: Tensor
    n: Tensor | None = None
    s: Tensor | None = None
    controller: Tensor | None = None


class RecurrentNetwork(nn.Module):
    """Base class: constructor arguments are recorded so a checkpoint can rebuild the network."""

    OUTPUT_MODES: ClassVar[tuple[str, ...]] = ("last", "all")

    def __init__(self, input_size: int, hidden_size: int, output_size: int, output_mode: str):
        super().__init__()
        for name, value in (
            ("input_size", input_size),
            ("hidden_size", hidden_size),
            ("output_size", output_size),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if output_mode not in self.OUTPUT_MODES:
            raise ValueError(
                f"output_mode must be one of {self.OUTPUT_MODES}, got {output_mode!r}"
            )
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = output_size
        self.output_mode = output_mode
        self.architecture = ""  # set by each subclass to its registry name
        self.readout = nn.Linear(hidden_size, output_size)

    #: keyword arguments of a subclass's constructor beyond the sizes and ``output_mode``, each
    #: read back from the attribute of the same name
    ARGUMENTS: ClassVar[tuple[str, ...]] = ()

    @property
    def arguments(self) -> dict:
        """Every constructor argument, JSON-serialisable (stored in checkpoints)."""
        sizes = {"input_size": self.input_size, "hidden_size": self.hidden_size}
        own = {name: getattr(self, name) for name in self.ARGUMENTS}
        return {**sizes, "output_size": self.output_size, **own, "output_mode": self.output_mode}

    # -- to be provided by subclasses -------------------------------------------------------

    def initial_state(self, batch: int, *, dtype=None, device=None) -> State:
        raise NotImplementedError

    def input_projection(self, x: Tensor, drive: Tensor | None = None) -> Tensor:
        """Input-driven part of the pre-activations for all steps: (B, T, D) → (B, T, P)."""
        raise NotImplementedError

    def recur(self, state: State, inp: Tensor) -> State:
        """One step of the recurrence given the projected input ``inp`` (B, P)."""
        raise NotImplementedError

    def shape_parameters(self, state: State) -> tuple[Tensor, Tensor] | None:
        """(n, s) in force at ``state``, each broadcastable to (B, N); None if not a γ network."""
        return None

    def controller_state(self, state: State) -> Tensor | None:
        """Per-neuron controller states (B, N, G) of adaptive networks, else None."""
        return None

    # -- shared ----------------------------------------------------------------------------
    @staticmethod
    def hidden(state: State) -> Tensor:
        """The hidden state h (B, N): by convention the first state tensor."""
        return state[0]

    def input_layer(self, state: State) -> Tensor:
        """h (B, N) of the neurons the input and a drive reach directly (what single-neuron
        probes record): ``hidden``, except in a stack of layers, whose first layer it is."""
        return self.hidden(state)

    def state_shapes(self) -> tuple[tuple[int, ...], ...]:
        """Per-example shape of each state tensor."""
        return tuple(tuple(t.shape[1:]) for t in self.initial_state(1))

    def step(self, state: State, x_t: Tensor, drive_t: Tensor | None = None) -> State:
        """One time step: x_t (B, D), optional drive_t (B, N) added to the pre-activations."""
        if x_t.ndim != 2 or x_t.shape[-1] != self.input_size:
            raise ValueError(
                f"x_t must have shape (batch, {self.input_size}), got {tuple(x_t.shape)}"
            )
        if drive_t is not None and tuple(drive_t.shape) != (x_t.shape[0], self.hidden_size):
            raise ValueError(
                f"drive_t must have shape (batch, hidden) = {(x_t.shape[0], self.hidden_size)}, "
                f"got {tuple(drive_t.shape)}"
            )
        inp = self.input_projection(x_t[:, None], None if drive_t is None else drive_t[:, None])
        return self.recur(state, inp[:, 0])

    def check_inputs(self, x: Tensor, drive: Tensor | None) -> None:
        """Raise a ValueError naming the argument unless x is (B, T ≥ 1, D), drive is (B, T, N)
        and both have the dtype of the weights."""
        if x.ndim != 3 or x.shape[-1] != self.input_size:
            raise ValueError(
                f"{type(self).__name__} expects inputs (batch, time, {self.input_size}), "
                f"got {tuple(x.shape)}"
            )
        if x.shape[1] < 1:
            raise ValueError(f"inputs need at least one time step, got {tuple(x.shape)}")
        if drive is not None and tuple(drive.shape) != (*x.shape[:2], self.hidden_size):
            raise ValueError(
                f"drive must have shape (batch, time, hidden) = "
                f"{(*x.shape[:2], self.hidden_size)}, got {tuple(drive.shape)}"
            )
        weights = self.readout.weight.dtype
        for name, tensor in (("inputs", x), ("drive", drive)):
            if tensor is not None and tensor.dtype != weights:
                raise ValueError(
                    f"{name} have dtype {tensor.dtype} but the weights {weights}; cast one to "
                    "the other (e.g. net.double(), or dynan.load(path, dtype=torch.float64))"
                )

    def check_state(self, state: State, batch: int) -> None:
        """Raise a ValueError unless ``state`` matches ``initial_state(batch)`` in shapes."""
        expected = tuple((batch, *shape) for shape in self.state_shapes())
        if isinstance(state, tuple | list) and all(isinstance(t, Tensor) for t in state):
            got = tuple(tuple(t.shape) for t in state)
        else:
            got = type(state).__name__
        if got != expected:
            raise ValueError(
                f"state must be a tuple of tensors with shapes {expected} for batch {batch}, "
                f"got {got}"
            )

    def forward(
        self,
        x: Tensor,
        drive: Tensor | None = None,
        *,
        state: State | None = None,
        return_trajectories: bool = False,
    ) -> RNNOutput:
        """Run a sequence x (B, T, D) with an optional additive drive (B, T, N)."""
        self.check_inputs(x, drive)
        batch = x.shape[0]
        if state is None:
            state = self.initial_state(batch, dtype=x.dtype, device=x.device)
        else:
            self.check_state(state, batch)
        inp = self.input_projection(x, drive)
        run = self.sequence(state, inp, trajectories=return_trajectories)
        if self.output_mode == "all":
            logits = self.readout(run.hidden)
        else:
            logits = self.readout(self.hidden(run.state))
        if not return_trajectories:
            return RNNOutput(logits=logits, state=run.state)
        return RNNOutput(
            logits=logits,
            state=run.state,
            hidden=run.hidden,
            n=run.n,
            s=run.s,
            controller=run.controller,
        )

    def sequence(self, state: State, inp: Tensor, *, trajectories: bool = False) -> Trajectory:
        """Run the recurrence over projected inputs ``inp`` (B, T, P) from ``state``.

        Subclasses replace it by a faster equivalent (``dynan_models.sequence``); this default
        is ``loop``, the straightforward one the tests compare them against.
        """
        return self.loop(state, inp, trajectories=trajectories)

    def loop(self, state: State, inp: Tensor, *, trajectories: bool = False) -> Trajectory:
        """``recur`` step after step under autograd: the reference implementation.

        Cost: O(T) autograd nodes per step's operations; the backward is linear in T because
        the steps are taken with ``unbind`` (one stack in the backward), never ``inp[:, t]``,
        whose backward would allocate and zero-fill a (B, T, P) gradient at every step.
        """
        hidden, ns, ss, ctrl = [], [], [], []
        for inp_t in inp.unbind(1):
            state = self.recur(state, inp_t)
            h = self.hidden(state)
            hidden.append(h)
            if trajectories:
                shape = self.shape_parameters(state)
                if shape is not None:
                    ns.append(torch.broadcast_to(shape[0], h.shape))
                    ss.append(torch.broadcast_to(shape[1], h.shape))
                g = self.controller_state(state)
                if g is not None:
                    ctrl.append(g)
        return Trajectory(
            state=state,
            hidden=torch.stack(hidden, 1),
            n=torch.stack(ns, 1) if ns else None,
            s=torch.stack(ss, 1) if ss else None,
            controller=torch.stack(ctrl, 1) if ctrl else None,
        )
