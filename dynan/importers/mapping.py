"""Mapping a found layout onto a ``dynan_models`` network whose outputs equal the original's.

- ``nn.GRU``/``nn.LSTM`` (one layer) and their cells → ``GRUNet``/``LSTMNet``: the same weights.
- ``nn.RNN``/``GRU``/``LSTM`` with ``num_layers`` > 1 → the stacked network of the same kind
  (``dynan_models.stacked``: "stacked-rnn" with the given tanh or ReLU, "stacked-gru",
  "stacked-lstm"): every layer's ``*_l{k}`` tensors as they are, a missing bias as zeros.
- ``nn.RNN`` (one layer) and ``nn.RNNCell`` with ReLU → ``ElmanRNN("relu")``: b = b_ih + b_hh.
- with tanh, which the zoo's Elman variants lack → an exact conjugate in ``ElmanRNN
  ("gamma-heterogeneous")`` with N + 1 units (:func:`tanh_as_sigmoid`).
- the paper's ANRU → ``ARUN`` (REFERENCES.md §1): its two biases per pre-activation sum into
  one (b = b_Uxh + b_Whh, b_g = b_Uag + b_Wgg); u_g, w_n, w_s are the (G, 1), (1, G), (1, G)
  ``nn.Linear`` weights as vectors.
- the paper's static γ-RNN → ``ElmanRNN``: learned (n, s) of one value → "gamma-homogeneous",
  of one per neuron → "gamma-heterogeneous"; a fixed activation named by the user → "relu",
  "softplus", "gamma-homogeneous" (sigmoid: n = 1, s = 1; or given n, s) or the tanh conjugate.

Bidirectional and projected modules are refused (see :func:`build_network`).

References
----------
Geadah et al. (2024), REFERENCES.md §1; PyTorch documentation of ``nn.RNN``/``GRU``/``LSTM``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from dynan.errors import CheckpointError
from dynan.importers.layouts import Layout, Readout
from dynan_models import RecurrentNetwork, build

__all__ = ["ACTIVATIONS", "CLOCK_BIAS", "build_network", "tanh_as_sigmoid"]

#: Gate blocks per cell (rows of ``weight_ih`` per hidden unit).
GATES = {"rnn": 1, "gru": 3, "lstm": 4}

#: Fixed activations a state dict cannot record (``--activation``).
ACTIVATIONS = ("tanh", "relu", "softplus", "sigmoid")
#: Pre-activation of the constant unit of the tanh conjugate: σ(2·40) rounds to exactly 1.0 in
#: float32 and float64, and its derivative to exactly 0.
CLOCK_BIAS = 40.0
F64 = torch.float64


def _get(state: dict[str, Tensor], key: str, shape: tuple[int, ...], optional=False) -> Tensor:
    """``state[key]`` in float64, checked against ``shape`` (zeros for a missing optional one)."""
    if key not in state:
        if optional:
            return torch.zeros(shape, dtype=F64)
        raise CheckpointError(f"{key}: missing from the state dict")
    value = state[key]
    if tuple(value.shape) != shape:
        raise CheckpointError(f"{key} has shape {tuple(value.shape)}, expected {shape}")
    if not value.is_floating_point() or not torch.isfinite(value).all():
        raise CheckpointError(f"{key}: not a finite floating-point tensor")
    return value.to(F64)


def _readout(state: dict[str, Tensor], readout: Readout, size: int) -> tuple[Tensor, Tensor]:
    """(V (C, N), c (C,)); the identity for ``readout.prefix`` None."""
    if readout.prefix is None:
        return torch.eye(size, dtype=F64), torch.zeros(size, dtype=F64)
    weight = state[f"{readout.prefix}weight"]
    rows = weight.shape[0]
    return _get(state, f"{readout.prefix}weight", (rows, size)), _get(
        state, f"{readout.prefix}bias", (rows,), optional=True
    )


def _assign(net: RecurrentNetwork, values: dict[str, Tensor]) -> RecurrentNetwork:
    net = net.to(F64)
    params = dict(net.named_parameters())
    with torch.no_grad():
        for name, value in values.items():
            params[name].copy_(value.reshape(params[name].shape))
    return net.eval()


def tanh_as_sigmoid(
    w_ih: Tensor, w_hh: Tensor, bias: Tensor, readout: tuple[Tensor, Tensor], output_mode: str
) -> RecurrentNetwork:
    """An exact ``ElmanRNN("gamma-heterogeneous")`` image of h_t = tanh(U x_t + W h_{t−1} + b).

    tanh(a) = 2σ(2a) − 1 = 2γ(a; 2, 1) − 1, so h' = (h + 1)/2 obeys h'_t = γ(W_ih x_t + 2 W_hh
    h'_{t−1} − W_hh 1 + b; 2, 1). The zoo starts from h' = 0 (h = −1), not from h = 0, so the
    constant −W_hh 1 must be absent at the first step: it rides on an extra unit k with
    a_k = CLOCK_BIAS, which is 0 before the first step and exactly 1 (σ(80) in floating point)
    after, with derivative exactly 0. Read-out: V h + c = 2V h' + (c − V 1).

    The imported network has N + 1 units: units 0…N−1 hold (h + 1)/2, unit N the constant 1.
    The hidden dynamics are conjugate by the affine map h = 2h' − 1 (the same Lyapunov
    exponents plus one at −∞ from unit N, fixed points mapped by the same affine map).

    Examples
    --------
    >>> import torch
    >>> rnn = torch.nn.RNN(1, 3, batch_first=True).double()
    >>> lin = torch.nn.Linear(3, 2).double()
    >>> b = rnn.bias_ih_l0 + rnn.bias_hh_l0
    >>> w_ih, w_hh = rnn.weight_ih_l0, rnn.weight_hh_l0
    >>> net = tanh_as_sigmoid(w_ih, w_hh, b, (lin.weight, lin.bias), "last")
    >>> x = torch.randn(4, 7, 1, dtype=torch.float64)
    >>> torch.allclose(net(x).logits, lin(rnn(x)[0][:, -1]), atol=1e-12)
    True
    """
    size, d = w_hh.shape[0], w_ih.shape[1]
    v, c = readout
    w_in = torch.zeros(size + 1, d, dtype=F64)
    w_in[:size] = w_ih
    w_rec = torch.zeros(size + 1, size + 1, dtype=F64)
    w_rec[:size, :size] = 2 * w_hh
    w_rec[:size, size] = -w_hh.sum(1)
    b = torch.full((size + 1,), CLOCK_BIAS, dtype=F64)
    b[:size] = bias
    v_new = torch.zeros(v.shape[0], size + 1, dtype=F64)
    v_new[:, :size] = 2 * v
    net = build(
        "gamma-heterogeneous",
        input_size=d,
        hidden_size=size + 1,
        output_size=v.shape[0],
        output_mode=output_mode,
    )
    values = {
        "input_weight": w_in,
        "recurrent_weight": w_rec,
        "bias": b,
        "n": torch.full((size + 1,), 2.0, dtype=F64),
        "s": torch.ones(size + 1, dtype=F64),
        "readout.weight": v_new,
        "readout.bias": c - v.sum(1),
    }
    return _assign(net, values)


def _elman(kind, w_ih, w_hh, bias, readout, output_mode, shape=None) -> RecurrentNetwork:
    """An ``ElmanRNN`` of variant ``kind`` with these weights (and (n, s) for γ variants)."""
    v, c = readout
    net = build(
        kind,
        input_size=w_ih.shape[1],
        hidden_size=w_hh.shape[0],
        output_size=v.shape[0],
        output_mode=output_mode,
    )
    values = {"input_weight": w_ih, "recurrent_weight": w_hh, "bias": bias}
    values.update({"readout.weight": v, "readout.bias": c})
    if shape is not None:
        values.update(n=shape[0], s=shape[1])
    return _assign(net, values)


def _torch(state, layout: Layout, readout, activation, output_mode) -> RecurrentNetwork:
    what = layout.describe()
    if layout.bidirectional:
        raise CheckpointError(
            f"{what} is bidirectional: not a dynamical system in time (its backward direction "
            "reads the sequence from the end); import one direction as its own module"
        )
    if layout.projected:
        raise CheckpointError(f"{what} has proj_size > 0, which dynan's LSTM does not have")
    if layout.cell == "rnn" and activation not in ("tanh", "relu"):
        raise CheckpointError(
            f"{what}: a state dict does not record an nn.RNN's nonlinearity: pass "
            "--activation tanh (torch's default) or --activation relu"
        )
    if layout.cell != "rnn" and activation is not None:
        raise CheckpointError(f"--activation applies to nn.RNN and the γ-RNN, not to {what}")
    if layout.layers > 1:
        return _stacked(state, layout, readout, activation, output_mode)
    size, d, p = layout.hidden_size, layout.input_size, layout.prefix
    suffix = "_l0" if f"{p}weight_ih_l0" in state else ""
    w_ih, w_hh, b_ih, b_hh = _layer(state, layout, suffix, d)
    v, c = _readout(state, readout, size)
    if layout.cell == "rnn":
        if activation == "relu":
            return _elman("relu", w_ih, w_hh, b_ih + b_hh, (v, c), output_mode)
        return tanh_as_sigmoid(w_ih, w_hh, b_ih + b_hh, (v, c), output_mode)
    net = build(
        layout.cell,
        input_size=d,
        hidden_size=size,
        output_size=v.shape[0],
        output_mode=output_mode,
    )
    values = {
        "rnn.weight_ih_l0": w_ih,
        "rnn.weight_hh_l0": w_hh,
        "rnn.bias_ih_l0": b_ih,
        "rnn.bias_hh_l0": b_hh,
        "readout.weight": v,
        "readout.bias": c,
    }
    return _assign(net, values)


def _layer(state, layout: Layout, suffix: str, width: int) -> tuple[Tensor, ...]:
    """(W_ih, W_hh, b_ih, b_hh) of one layer (``suffix`` "_l{k}", or "" for a cell), checked
    against its shapes; ``width`` the layer's input size. Missing biases are zeros."""
    p, rows, size = layout.prefix, GATES[layout.cell] * layout.hidden_size, layout.hidden_size
    return (
        _get(state, f"{p}weight_ih{suffix}", (rows, width)),
        _get(state, f"{p}weight_hh{suffix}", (rows, size)),
        _get(state, f"{p}bias_ih{suffix}", (rows,), optional=True),
        _get(state, f"{p}bias_hh{suffix}", (rows,), optional=True),
    )


def _stacked(state, layout: Layout, readout, activation, output_mode) -> RecurrentNetwork:
    """A multi-layer ``nn.RNN``/``GRU``/``LSTM`` → "stacked-{cell}" with the same tensors."""
    size = layout.hidden_size
    values = {}
    for k in range(layout.layers):
        weights = _layer(state, layout, f"_l{k}", layout.input_size if k == 0 else size)
        names = (f"rnn.{name}_l{k}" for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
        values.update(zip(names, weights, strict=True))
    v, c = _readout(state, readout, size)
    values.update({"readout.weight": v, "readout.bias": c})
    net = build(
        f"stacked-{layout.cell}",
        input_size=layout.input_size,
        hidden_size=size,
        output_size=v.shape[0],
        num_layers=layout.layers,
        output_mode=output_mode,
        **({"nonlinearity": activation} if layout.cell == "rnn" else {}),
    )
    return _assign(net, values)


def _anru(state, layout: Layout, readout, output_mode) -> RecurrentNetwork:
    p, size, d = layout.prefix, layout.hidden_size, layout.input_size
    g = state[f"{p}Wgg.weight"].shape[0]
    v, c = _readout(state, readout, size)
    net = build(
        "arun",
        input_size=d,
        hidden_size=size,
        output_size=v.shape[0],
        controller_size=g,
        output_mode=output_mode,
    )

    def lin(name, rows, cols):
        weight = _get(state, f"{p}{name}.weight", (rows, cols))
        return weight, _get(state, f"{p}{name}.bias", (rows,), optional=True)

    (u, b_u), (w, b_w) = lin("Uxh", size, d), lin("Whh", size, size)
    (u_g, b_ug), (w_g, b_wg) = lin("Uag", g, 1), lin("Wgg", g, g)
    (w_n, b_n), (w_s, b_s) = lin("Wgn", 1, g), lin("Wgs", 1, g)
    values = {
        "input_weight": u,
        "recurrent_weight": w,
        "bias": b_u + b_w,
        "controller.input_weight": u_g[:, 0],
        "controller.recurrent_weight": w_g,
        "controller.bias": b_ug + b_wg,
        "controller.n_weight": w_n[0],
        "controller.n_bias": b_n[0],
        "controller.s_weight": w_s[0],
        "controller.s_bias": b_s[0],
        "readout.weight": v,
        "readout.bias": c,
    }
    return _assign(net, values)


def _gamma_rnn(state, layout: Layout, readout, activation, shape, output_mode):
    p, size, d = layout.prefix, layout.hidden_size, layout.input_size
    u = _get(state, f"{p}U.weight", (size, d))
    w = _get(state, f"{p}V.weight", (size, size))
    bias = _get(state, f"{p}U.bias", (size,), optional=True)
    bias = bias + _get(state, f"{p}V.bias", (size,), optional=True)
    v, c = _readout(state, readout, size)
    learned = [k for k in (f"{p}n", f"{p}s") if k in state]
    if learned:
        if len(learned) == 1 or activation is not None or shape is not None:
            raise CheckpointError(
                f"{layout.describe()}: learned shape parameters need both {p}n and {p}s, and "
                "take no --activation or --shape"
            )
        numel = state[f"{p}n"].numel()
        if numel not in (1, size) or state[f"{p}s"].numel() != numel:
            raise CheckpointError(
                f"{p}n and {p}s must both hold 1 or {size} values, got "
                f"{numel} and {state[f'{p}s'].numel()}"
            )
        ns = (
            _get(state, f"{p}n", tuple(state[f"{p}n"].shape)).reshape(numel),
            _get(state, f"{p}s", tuple(state[f"{p}s"].shape)).reshape(numel),
        )
        kind = "gamma-homogeneous" if numel == 1 else "gamma-heterogeneous"
        return _elman(kind, u, w, bias, (v, c), output_mode, shape=ns)
    if shape is not None:
        ns = (
            torch.tensor([float(shape[0])], dtype=F64),
            torch.tensor([float(shape[1])], dtype=F64),
        )
        return _elman("gamma-homogeneous", u, w, bias, (v, c), output_mode, shape=ns)
    if activation == "tanh":
        return tanh_as_sigmoid(u, w, bias, (v, c), output_mode)
    if activation == "sigmoid":  # σ(x) = γ(x; 1, 1)
        one = torch.ones(1, dtype=F64)
        return _elman("gamma-homogeneous", u, w, bias, (v, c), output_mode, shape=(one, one))
    if activation in ("relu", "softplus"):
        return _elman(activation, u, w, bias, (v, c), output_mode)
    raise CheckpointError(
        f"{layout.describe()} has no learned n, s: name its fixed activation with --activation "
        f"{' | '.join(ACTIVATIONS)}, or --shape N,S for a fixed γ(·; n, s)"
    )


def build_network(
    state: dict[str, Tensor],
    layout: Layout,
    readout: Readout,
    *,
    activation: str | None = None,
    shape: tuple[float, float] | None = None,
    output_mode: str = "last",
) -> RecurrentNetwork:
    """The ``dynan_models`` network (float64, eval mode) equal to ``layout`` + ``readout``.

    Parameters
    ----------
    state : the state dict.
    layout, readout : from :func:`~dynan.importers.layouts.find_layout` and ``find_readout``.
    activation : one of :data:`ACTIVATIONS`, for an ``nn.RNN``/``RNNCell`` (tanh or relu) or a
        γ-RNN without learned shape parameters.
    shape : (n, s) of a γ-RNN with a fixed γ activation.
    output_mode : "last" (read out the last hidden state) or "all" (every step).

    Raises
    ------
    CheckpointError
        For a bidirectional or projected module, a missing ``activation``,
        mis-shaped or non-finite tensors, each naming the option or tensor concerned.

    Notes
    -----
    O(number of parameters) time and memory; no forward pass.
    """
    if activation is not None and activation not in ACTIVATIONS:
        raise CheckpointError(
            f"unknown activation {activation!r}; valid: {', '.join(ACTIVATIONS)}"
        )
    if layout.kind == "torch":
        if shape is not None:
            raise CheckpointError("--shape applies to the paper's γ-RNN only")
        return _torch(state, layout, readout, activation, output_mode)
    if layout.kind == "anru":
        if activation is not None or shape is not None:
            raise CheckpointError("the ANRU's activation is γ with adaptive n, s: no --activation")
        return _anru(state, layout, readout, output_mode)
    return _gamma_rnn(state, layout, readout, activation, shape, output_mode)
