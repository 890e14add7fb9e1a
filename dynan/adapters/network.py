"""Networks of ``dynan_models`` as dynamical systems: joint and frozen modes, closed-form
Jacobians.

joint
    The whole state of the network: h, then for ARUN every neuron's controller state g
    (N·G, neuron-major), for an LSTM the cell c; for a stacked network every layer's h (then c),
    layer 0 first. Input u_t = (x_t, d_t), d_t the additive drive on the pre-activations (of
    layer 0 in a stacked network; zeros when unused).
frozen
    The paper's analysis (Geadah et al. 2024): h only, h' = γ(U x + W h + b + d; n_t, s_t) with
    the shape parameters n_t, s_t given as inputs, u_t = (x_t, d_t, n_t, s_t). Only for
    networks with shape parameters (softplus, the static γ variants and ARUN).

References
----------
Geadah, Horoi, Kerg, Wolf, Lajoie (2024). Neural networks with optimized single-neuron
adaptation uncover biologically plausible regularization. PLOS Comp. Biol. (REFERENCES.md §1).
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor

from dynan.adapters.kernels import _elman_map, check_dtype
from dynan.adapters.network_maps import joint_recurrence
from dynan.adapters.torch_rnn import RecurrentSystem
from dynan.errors import SystemError_
from dynan_models import ARUN, ElmanRNN, RecurrentNetwork
from dynan_models.activation import gamma, gamma_dx
from dynan_models.elman import N_MIN

__all__ = ["MODES", "NetworkSystem", "frozen_inputs", "has_shape_parameters", "network_system"]

#: The valid ``mode`` names of :func:`network_system`.
MODES = ("joint", "frozen")


def has_shape_parameters(net: RecurrentNetwork) -> bool:
    """True for networks whose γ shape parameters (n, s) the frozen mode can hold: ARUN and the
    Elman variants other than fixed ReLU (whose n is infinite)."""
    return isinstance(net, ARUN) or (isinstance(net, ElmanRNN) and net.variant != "relu")


class NetworkSystem(RecurrentSystem):
    """A ``dynan_models`` network as a system (see :func:`network_system`).

    Attributes
    ----------
    network : RecurrentNetwork
        The deep copy, cast to ``dtype``, that the system steps (never the user's network).
    mode : {"joint", "frozen"}
    layout : dict of str to slice
        Blocks of the flat state: ``{"h": ...}`` plus ``"g"`` (ARUN joint) or ``"c"`` (LSTM).
    input_layout : dict of str to slice
        Blocks of the input: ``{"x", "drive"}`` plus ``{"n", "s"}`` in frozen mode.
    shape_parameters : tuple of two Tensors (N,) or None
        Frozen mode: the default (n, s) (a static γ network's own, or those given to
        :func:`network_system`); None otherwise.
    """

    def __init__(
        self,
        network: RecurrentNetwork,
        mode: str,
        *,
        shape_parameters: tuple[Tensor, Tensor] | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.network = network
        self.mode = mode
        self.shape_parameters = shape_parameters
        d, n = network.input_size, network.hidden_size
        names = ("x", "drive", "n", "s") if mode == "frozen" else ("x", "drive")
        widths = (d, n, n, n)
        starts = [sum(widths[:i]) for i in range(len(names) + 1)]
        self.input_layout = {k: slice(starts[i], starts[i + 1]) for i, k in enumerate(names)}

    def inputs(
        self,
        x: Tensor,
        drive: Tensor | None = None,
        *,
        n: Tensor | float | None = None,
        s: Tensor | float | None = None,
    ) -> Tensor:
        """Input sequence (B, T, input_dim) from x (B, T, D) and an optional drive (B, T, N).

        In frozen mode the shape parameters are appended: constant ``n``, ``s`` when given
        (scalars, (N,) or (B, T, N)), else those of the system's defaults, else the trajectory
        of the full network (see :func:`frozen_inputs`). Raises ``SystemError_`` for ``n``/``s``
        in joint mode, ``ValueError`` for mis-shaped x or drive.
        """
        if self.mode == "frozen":
            return frozen_inputs(self, x, drive, n=n, s=s)
        if n is not None or s is not None:
            raise SystemError_("n and s are inputs of the frozen mode only (mode='joint' here)")
        return _base_inputs(self.network, x, drive, self.dtype)


def network_system(
    net: RecurrentNetwork,
    *,
    mode: str = "joint",
    dtype: torch.dtype = torch.float64,
    n: Tensor | float | None = None,
    s: Tensor | float | None = None,
) -> NetworkSystem:
    """Turn a ``dynan_models`` network (Elman variants, ARUN, GRU, LSTM, stacked) into a system.

    Parameters
    ----------
    net : RecurrentNetwork
        The network; a deep copy cast to ``dtype`` is stepped, ``net`` itself is untouched.
    mode : {"joint", "frozen"}, default "joint"
        joint: state = every state tensor of the network, flattened and concatenated (h; ARUN:
        then g, N·G; LSTM: then c; stacked: h (L, N), then c (L, N)); input u = (x, d),
        dim D + N. frozen: state h (N), input
        u = (x, d, n, s), dim D + 3N (γ networks only).
    dtype : torch.dtype, default float64
    n, s : float or Tensor (N,), optional (frozen mode only)
        Default shape parameters, used when ``step`` gets ``u=None`` (then x = d = 0) and by
        ``inputs``. Static γ networks default to their own (n, s); ARUN has no default.

    Returns
    -------
    NetworkSystem
        With ``layout``, ``input_layout``, ``encode``, ``decode``, ``inputs`` and
        ``initial_state`` (the network's zero state plus 1e-3 noise, see
        :meth:`~dynan.adapters.torch_rnn.RecurrentSystem.initial_state`).

    Raises
    ------
    SystemError_
        Unknown mode (the valid names are listed), frozen mode on a network without shape
        parameters (relu, GRU, LSTM), ``n``/``s`` in joint mode, a non-float dtype.

    Notes
    -----
    Jacobians are closed form and matrix-free (``step_and_jvp`` never forms J):

    - Elman, φ ∈ {ReLU, softplus, γ(·; n, s)}: a = U x + W h + b + d, J = diag(φ'(a)) W;
      O(B k N²) for k tangents.
    - ARUN joint, z = u_g a + W_g g + b_g per neuron, g' = tanh(z), n = max(w_n·g' + b_n, N_MIN),
      s = w_s·g' + b_s, h' = γ(a; n, s). With δa = W δh:
      δg' = (1 − g'²) ⊙ (u_g δa + W_g δg),  δh' = γ_x δa + γ_n [n unclamped] (w_n·δg') + γ_s
      (w_s·δg'). The Jacobian has (N(1+G))² entries but is never formed: k tangents cost
      O(B k (N² + N G²)) time (two batched matmuls) and O(B k N G) memory.
    - frozen: J = diag(γ_x(a; n_t, s_t)) W.
    - GRU/LSTM: PyTorch's gate equations, shared with :mod:`dynan.adapters.torch_rnn`.
    - stacked RNN/GRU/LSTM: block lower-triangular J, the map of ``dynan.as_system`` for the
      torch module itself (:func:`dynan.adapters.stacked.stacked_recurrence`).

    References
    ----------
    Geadah et al. (2024), PLOS Comp. Biol.; REFERENCES.md §1 (ARUN equations, γ derivatives).

    Examples
    --------
    >>> import torch
    >>> from dynan_models import build
    >>> from dynan.adapters.network import network_system
    >>> net = build("arun", input_size=1, hidden_size=4, output_size=2, controller_size=3)
    >>> sys = network_system(net)
    >>> sys.dim, sys.input_dim, sys.layout["g"]
    (16, 5, slice(4, 16, None))
    >>> x = sys.initial_state(2, generator=torch.Generator().manual_seed(0))
    >>> x1, jv = sys.step_and_jvp(x, None, torch.ones(2, 16, 1, dtype=torch.float64))
    >>> jv.shape
    torch.Size([2, 16, 1])
    """
    if not isinstance(net, RecurrentNetwork):
        raise SystemError_(
            f"network_system expects a dynan_models network, got {type(net).__name__}"
        )
    if mode not in MODES:
        raise SystemError_(f"unknown mode {mode!r}; valid names: {', '.join(MODES)}")
    check_dtype(dtype)
    kind = type(net).__name__
    if mode == "frozen" and not has_shape_parameters(net):
        label = getattr(net, "variant", net.architecture)
        raise SystemError_(
            f"frozen mode needs shape parameters (n, s); a {label} network ({kind}) has "
            "none: use mode='joint'"
        )
    if mode == "joint" and (n is not None or s is not None):
        raise SystemError_("n and s are options of the frozen mode only")
    net = copy.deepcopy(net).to(dtype).requires_grad_(False)
    d, size = net.input_size, net.hidden_size
    device = next(net.parameters()).device  # the system runs where the network lives
    rest = torch.cat([t.reshape(-1) for t in net.initial_state(1, dtype=dtype, device=device)])
    if mode == "frozen":
        return _frozen_system(net, n, s)

    def project(u: Tensor) -> Tensor:
        return net.input_projection(u[:, None, :d], u[:, None, d:])[:, 0]

    recurrence = joint_recurrence(net)
    shapes = net.state_shapes()
    blocks = {k: tuple(v) for k, v in zip(_block_names(net), shapes, strict=True)}
    return NetworkSystem(
        net,
        "joint",
        blocks=blocks,
        input_dim=d + size,
        project=project,
        recurrence=recurrence,
        default_input=rest.new_zeros(d + size),
        rest=rest,
        name=f"{net.architecture} (joint, {_sizes(net)})",
    )


def frozen_inputs(
    system_or_net: NetworkSystem | RecurrentNetwork,
    x: Tensor,
    drive: Tensor | None = None,
    *,
    n: Tensor | float | None = None,
    s: Tensor | float | None = None,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    """Inputs (B, T, D + 3N) with which the frozen system reproduces the network's h trajectory.

    Parameters
    ----------
    system_or_net : NetworkSystem or RecurrentNetwork
        A system from :func:`network_system` (its network copy is run) or a γ network (copied
        to ``dtype``).
    x : Tensor (B, T, D)
    drive : Tensor (B, T, N), optional
    n, s : float or Tensor, optional
        Constant shape parameters (scalars, (N,) or (B, T, N)), both or neither. When neither is
        given (and the system has no defaults) the FULL network runs — ARUN controllers
        included — and its n_t, s_t are returned, so stepping the frozen system from the zero
        state with these inputs gives the network's hidden states exactly.
    dtype : torch.dtype, default float64
        Only used when a network (not a system) is given.

    Returns
    -------
    Tensor (B, T, D + 3N)
        concat(x, drive or 0, n, s) along the last axis (layout ``system.input_layout``).

    Raises
    ------
    SystemError_
        A network without shape parameters, only one of ``n``/``s``, mis-shaped ``n``/``s``.
    ValueError
        x or drive of the wrong shape.

    Notes
    -----
    One forward pass of the network: O(B T (N² + N G²)) time, O(B T N G) memory for ARUN.

    References
    ----------
    Geadah et al. (2024): Lyapunov exponents of h_{t+1} = γ(W h_t; n_t, s_t), REFERENCES.md §1.

    Examples
    --------
    >>> import torch
    >>> from dynan_models import build
    >>> from dynan.adapters.network import frozen_inputs
    >>> net = build("arun", input_size=1, hidden_size=4, output_size=2, controller_size=3)
    >>> frozen_inputs(net, torch.zeros(2, 5, 1)).shape
    torch.Size([2, 5, 13])
    """
    if isinstance(system_or_net, NetworkSystem):
        system = system_or_net
        if system.mode != "frozen":
            system = network_system(system.network, mode="frozen", dtype=system.dtype)
    else:
        system = network_system(system_or_net, mode="frozen", dtype=dtype)
    net = system.network
    if (n is None) != (s is None):
        raise SystemError_("give both n and s (constant shape parameters) or neither")
    base = _base_inputs(net, x, drive, system.dtype)
    shape = (*base.shape[:2], net.hidden_size)
    if n is None and system.shape_parameters is not None:
        n, s = system.shape_parameters
    if n is None:
        with torch.no_grad():
            out = net(
                base[..., : net.input_size],
                drive=base[..., net.input_size :],
                return_trajectories=True,
            )
        n_t, s_t = out.n, out.s
    else:
        n_t = _broadcast_shape_parameter("n", n, shape, system.dtype).to(base.device)
        s_t = _broadcast_shape_parameter("s", s, shape, system.dtype).to(base.device)
    return torch.cat([base, n_t, s_t], -1)


# -- helpers -----------------------------------------------------------------------------------
def _base_inputs(net: RecurrentNetwork, x: Tensor, drive: Tensor | None, dtype) -> Tensor:
    device = next(net.parameters()).device  # inputs follow the network (moved once, here)
    x = torch.as_tensor(x, dtype=dtype).to(device)
    drive = None if drive is None else torch.as_tensor(drive, dtype=dtype).to(device)
    net.check_inputs(x, drive)
    if drive is None:
        drive = x.new_zeros(*x.shape[:2], net.hidden_size)
    return torch.cat([x, drive], -1)


def _broadcast_shape_parameter(name: str, value, shape: tuple[int, ...], dtype) -> Tensor:
    value = torch.as_tensor(value, dtype=dtype)
    try:
        return torch.broadcast_to(value, shape)
    except RuntimeError:
        raise SystemError_(
            f"{name} must be a scalar or have shape (N,) = ({shape[-1]},) or (B, T, N) = "
            f"{shape}, got {tuple(value.shape)}"
        ) from None


def _block_names(net: RecurrentNetwork) -> tuple[str, ...]:
    """h, then ARUN's g or an LSTM's c (stacked ones too)."""
    return ("h", "g") if isinstance(net, ARUN) else ("h", "c")[: len(net.state_shapes())]


def _sizes(net: RecurrentNetwork) -> str:
    text = f"N={net.hidden_size}"
    layers = getattr(net, "num_layers", 1)
    text += f", {layers} layers" if layers > 1 else ""
    return text + (f", G={net.controller_size}" if isinstance(net, ARUN) else "")


def _frozen_system(
    net: RecurrentNetwork, n: Tensor | float | None, s: Tensor | float | None
) -> NetworkSystem:
    """h' = γ(U x + W h + b + d; n_t, s_t) with u = (x, d, n, s); J = diag(γ_x) W."""
    d, size = net.input_size, net.hidden_size
    weight = net.recurrent_weight
    dtype = weight.dtype
    if (n is None) != (s is None):
        raise SystemError_("give both n and s (constant shape parameters) or neither")
    if n is None and isinstance(net, ElmanRNN):
        n, s = net.shape_parameters()
    defaults, default_input = None, None
    if n is not None:
        defaults = tuple(
            _broadcast_shape_parameter(name, value, (size,), dtype).to(weight.device)
            for name, value in (("n", n), ("s", s))
        )
        default_input = torch.cat([weight.new_zeros(d + size), *defaults])

    def project(u: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        inp = net.input_projection(u[:, None, :d], u[:, None, d : d + size])[:, 0]
        return inp, u[:, d + size : d + 2 * size].clamp_min(N_MIN), u[:, d + 2 * size :]

    def recurrence(h: Tensor, p: tuple[Tensor, Tensor, Tensor], tangents: Tensor | None):
        inp, n_t, s_t = p
        return _elman_map(
            h,
            inp,
            weight,
            lambda a: gamma(a, n_t, s_t),
            lambda a, out: gamma_dx(a, n_t, s_t),
            tangents,
        )

    return NetworkSystem(
        net,
        "frozen",
        blocks={"h": (size,)},
        input_dim=d + 3 * size,
        project=project,
        recurrence=recurrence,
        default_input=default_input,
        rest=weight.new_zeros(size),
        shape_parameters=defaults,
        name=f"{net.architecture} (frozen, {_sizes(net)})",
    )
