"""Running a network's neurons under the probe protocol: private inputs, drives, masks.

Every neuron gets its own input channel (the input weights replaced by their "diagonal": neuron
i sees only its private stimulus x_i) and an additive drive on its pre-activation; the
recurrence is kept whole ("intact"), reduced to each neuron's self-connection ("isolated"), or
removed ("feedforward"). Works for any ``dynan_models.RecurrentNetwork`` through its own
``input_projection`` and ``recur``: the projection is affine in the input and the drive, so
its per-row input weight, bias and drive gain are read off by evaluating it at 0 and 1.

In a stacked network (``dynan_models.stacked``) the probed neurons are layer 0's: they alone get
the private stimulus and the drive, the mask edits their recurrence, and the layers above never
feed back into them, so their responses are recorded (not the top layer's, which mix them).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from dynan.errors import DynanError
from dynan_models import RecurrentNetwork

__all__ = ["CONNECTIVITY", "ProbeError", "Trajectories", "check_network", "simulate_probe"]

#: How much of the recurrence the probe keeps.
CONNECTIVITY = ("isolated", "intact", "feedforward")


class ProbeError(DynanError, ValueError):
    """A network cannot be probed (unsupported architecture) or a probe option is invalid."""


@dataclass
class Trajectories:
    """Simulated probe: hidden (B, T, N); n, s (B, T, N) or None without shape parameters."""

    hidden: np.ndarray
    n: np.ndarray | None
    s: np.ndarray | None


def check_network(network: object) -> RecurrentNetwork:
    """``network`` if it is a ``dynan_models.RecurrentNetwork``, else a ProbeError saying so."""
    if not isinstance(network, RecurrentNetwork):
        raise ProbeError(
            f"expected a network from dynan.load or dynan_models (a RecurrentNetwork), got "
            f"{type(network).__name__}"
        )
    return network


def _recurrent_weight(net: RecurrentNetwork) -> Tensor:
    """The hidden-to-hidden matrix (P, N), P a multiple of N (gate blocks stacked)."""
    weight = getattr(net, "recurrent_weight", None)
    if weight is None:
        weight = getattr(getattr(net, "rnn", None), "weight_hh_l0", None)
    if not isinstance(weight, Tensor):
        raise ProbeError(f"cannot find the recurrent weights of a {type(net).__name__}")
    return weight


def _neuron_of_row(rows: int, hidden: int) -> Tensor:
    if rows % hidden:
        raise ProbeError(
            f"the network's projected input has {rows} rows, not a multiple of its {hidden} "
            "hidden units: cannot assign input rows to neurons"
        )
    return torch.arange(rows) % hidden


def _masked_copy(network: RecurrentNetwork, connectivity: str) -> RecurrentNetwork:
    """A float64 copy whose recurrence keeps all, the diagonal, or none of its entries."""
    if connectivity not in CONNECTIVITY:
        raise ProbeError(
            f"connectivity must be one of {', '.join(map(repr, CONNECTIVITY))}, "
            f"got {connectivity!r}"
        )
    net = copy.deepcopy(network).to(torch.float64).eval()
    weight = _recurrent_weight(net)
    if connectivity != "intact":
        rows = _neuron_of_row(weight.shape[0], net.hidden_size)
        keep = rows[:, None] == torch.arange(net.hidden_size)[None, :]
        with torch.no_grad():
            weight.mul_(keep.to(weight) if connectivity == "isolated" else 0.0)
    return net


def _private_projection(net: RecurrentNetwork, x: Tensor, drive: Tensor) -> Tensor:
    """Projected inputs (B, T, P) when neuron i sees only x[..., i] and drive[..., i].

    Row r (neuron r mod N) gets u_r x_i + b_r + c_r d_i with u_r = Σ_d U[r, d] (every input
    channel carries the private stimulus; for one input channel, U's column), b_r the bias and
    c_r the drive gain of the row (1 for Elman networks; the candidate gate only for GRU/LSTM).
    """
    dim, hidden = net.input_size, net.hidden_size
    zero = torch.zeros(1, 1, dim, dtype=torch.float64, device=x.device)
    with torch.no_grad():
        bias = net.input_projection(zero)[0, 0]
        weight = net.input_projection(torch.ones_like(zero))[0, 0] - bias
        gain = net.input_projection(zero, zero.new_ones(1, 1, hidden))[0, 0]
        gain = gain - bias
    rows = _neuron_of_row(bias.shape[0], hidden).to(x.device)
    return weight * x[..., rows] + bias + gain * drive[..., rows]


def simulate_probe(
    network: RecurrentNetwork,
    x: np.ndarray,
    drive: np.ndarray,
    *,
    connectivity: str,
    progress: bool = False,
) -> Trajectories:
    """Run the probe: private inputs x (B, T, N) and drives (B, T, N) → trajectories.

    Cost: T steps of the network's own recurrence on B sequences (ARUN: O(B N G²) per step),
    memory O(B T N). Runs in float64 on the network's device; the trajectories come back to
    the host once, after the loop.
    """
    net = _masked_copy(check_network(network), connectivity)
    put = {"dtype": torch.float64, "device": _recurrent_weight(net).device}
    inp = _private_projection(net, torch.as_tensor(x, **put), torch.as_tensor(drive, **put))
    batch, steps = inp.shape[:2]
    hidden, ns, ss = [], [], []
    with torch.no_grad():
        state = net.initial_state(batch, dtype=torch.float64, device=inp.device)
        for t in tqdm(
            range(steps), desc=f"probe ({connectivity})", disable=not progress, leave=False
        ):
            state = net.recur(state, inp[:, t])
            h = net.input_layer(state)
            hidden.append(h)
            shape = net.shape_parameters(state)
            if shape is not None:
                ns.append(torch.broadcast_to(shape[0].detach(), h.shape))
                ss.append(torch.broadcast_to(shape[1].detach(), h.shape))
    h = torch.stack(hidden, 1).cpu().numpy()
    if not np.isfinite(h).all():
        raise ProbeError(f"the probed network ({connectivity}) produced non-finite activity")
    return Trajectories(
        hidden=h,
        n=torch.stack(ns, 1).cpu().numpy() if ns else None,
        s=torch.stack(ss, 1).cpu().numpy() if ss else None,
    )
