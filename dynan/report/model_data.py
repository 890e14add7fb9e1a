"""The model facts a report shows that need no dynamical analysis (no pyplot here).

- :func:`accuracy_table`: clean and perturbed test accuracy of checkpoints, read from the
  metrics stored in each checkpoint (``metrics["accuracy"]``, written by
  ``dynan_models.training``).
- :func:`shape_parameters`: the learned (n_i, s_i) of static γ networks.
- :func:`shape_traces`: n_t and s_t of an adaptive (ARUN) network under the paper's step drive,
  averaged over inputs, with the spread over neurons.

References: Geadah et al. (2024), PLOS Comp. Biol. (REFERENCES.md §1): the γ(x; n, s) family,
the neuron variants, the robustness perturbations and the step drive in 200 < t < 400 of 784.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from dynan.results import Result
from dynan_models import ARUN, ElmanRNN, RecurrentNetwork
from dynan_models.perturbations import PERTURBATIONS, default_window, step_drive

__all__ = [
    "AccuracyTable",
    "ShapeParameters",
    "ShapeTraces",
    "accuracy_table",
    "shape_parameters",
    "shape_traces",
]

#: Perturbation names in the order the paper presents them.
PERTURBATION_NAMES = tuple(p.name for p in PERTURBATIONS)


def _name(net: RecurrentNetwork) -> str:
    info = getattr(net, "checkpoint", None)
    return info.name if info is not None else net.architecture


@dataclass(frozen=True)
class AccuracyTable(Result):
    """Test accuracy of checkpoints, clean and under each perturbation.

    Attributes
    ----------
    names, architectures : tuple of str
        One per checkpoint (row).
    perturbations : tuple of str
        One per column ("clean", "sinusoid", "step", "noise").
    accuracy : ndarray (checkpoints, perturbations)
        Fraction correct; NaN where the checkpoint holds no such metric.
    amplitudes : tuple of float
        Amplitude of each perturbation (A for the sinusoid, ξ for the drives).
    """

    names: tuple
    architectures: tuple
    perturbations: tuple
    accuracy: np.ndarray
    amplitudes: tuple

    @property
    def robustness(self) -> np.ndarray:
        """Perturbed accuracy divided by clean accuracy (NaN where clean is 0 or missing)."""
        clean = self.accuracy[:, :1]
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(clean > 0, self.accuracy / clean, np.nan)


def accuracy_table(
    nets: Sequence[RecurrentNetwork], *, names: Sequence[str] | None = None
) -> AccuracyTable:
    """Collect ``metrics["accuracy"]`` of loaded checkpoints into one table.

    Parameters
    ----------
    nets : sequence of networks from ``dynan.load`` (with ``.checkpoint``).
    names : sequence of str, optional
        Row labels (default: each checkpoint's file stem).

    Returns
    -------
    AccuracyTable

    Raises
    ------
    ValueError
        If ``nets`` is empty, a network has no ``.checkpoint`` (build it with ``dynan.load``),
        or ``names`` does not give one name per network.

    Notes
    -----
    No evaluation is run: the numbers are those ``dynan_models.training`` measured on the test
    split of the checkpoint's task at the end of training. Extra perturbation names found in the
    metrics are appended after the paper's four. Cost: O(checkpoints × perturbations).

    Examples
    --------
    >>> import tempfile, os, dynan
    >>> from dynan_models import build, save_checkpoint
    >>> path = os.path.join(tempfile.mkdtemp(), "a.safetensors")
    >>> net = build("relu", input_size=1, hidden_size=4, output_size=2)
    >>> _ = save_checkpoint(net, path, metrics={"accuracy": {"clean": 0.9, "step": 0.5}})
    >>> table = accuracy_table([dynan.load(path)])
    >>> table.accuracy.round(2).tolist()
    [[0.9, nan, 0.5, nan]]
    """
    nets = list(nets)
    if not nets:
        raise ValueError("accuracy_table needs at least one network")
    names = [_name(n) for n in nets] if names is None else [str(n) for n in names]
    if len(names) != len(nets):
        raise ValueError(f"names has {len(names)} entries for {len(nets)} networks")
    metrics = []
    for i, net in enumerate(nets):
        info = getattr(net, "checkpoint", None)
        if info is None:
            raise ValueError(f"network {i} has no .checkpoint; load it with dynan.load(path)")
        acc = info.metrics.get("accuracy") or {}
        metrics.append(acc if isinstance(acc, dict) else {})
    extra = sorted({k for m in metrics for k in m} - set(PERTURBATION_NAMES))
    columns = (*PERTURBATION_NAMES, *extra)
    amplitude = {p.name: p.amplitude for p in PERTURBATIONS}
    values = np.array(
        [[float(m.get(c, np.nan)) for c in columns] for m in metrics], dtype=np.float64
    )
    return AccuracyTable(
        names=tuple(names),
        architectures=tuple(n.architecture for n in nets),
        perturbations=columns,
        accuracy=values,
        amplitudes=tuple(float(amplitude.get(c, np.nan)) for c in columns),
    )


@dataclass(frozen=True)
class ShapeParameters(Result):
    """Learned shape parameters of a static γ network.

    Attributes
    ----------
    name, architecture : str
    n, s : ndarray (N,) or (1,)
        Gain and saturation per neuron (one value for a homogeneous network), n after the
        network's own lower clamp.
    """

    name: str
    architecture: str
    n: np.ndarray
    s: np.ndarray


def shape_parameters(net: RecurrentNetwork) -> ShapeParameters | None:
    """The learned (n, s) of a γ network; None for networks without static shape parameters.

    Parameters
    ----------
    net : a network (``ElmanRNN`` with a γ variant; others return None).

    Returns
    -------
    ShapeParameters or None

    Notes
    -----
    Reads parameters, no computation: O(N). Softplus is γ with n = 1, s = 0 and is reported as
    such; ReLU, GRU/LSTM and ARUN (whose n, s change every step; see :func:`shape_traces`)
    return None.

    Examples
    --------
    >>> from dynan_models import build
    >>> net = build("gamma-heterogeneous", input_size=1, hidden_size=3, output_size=2)
    >>> shape_parameters(net).n.shape
    (3,)
    """
    if not isinstance(net, ElmanRNN):
        return None
    shape = net.shape_parameters()
    if shape is None:
        return None
    n, s = (t.detach().to(torch.float64).cpu().numpy().reshape(-1) for t in shape)
    return ShapeParameters(name=_name(net), architecture=net.architecture, n=n, s=s)


@dataclass(frozen=True)
class ShapeTraces(Result):
    """n_t and s_t of an adaptive network under step drives of several amplitudes.

    Attributes
    ----------
    name : str
    amplitudes : ndarray (A,)
        Drive amplitudes ξ (0 is the undriven baseline).
    window : tuple of int
        [start, stop) of the drive.
    n_mean, s_mean : ndarray (A, T)
        Mean over inputs and neurons.
    n_low, n_high, s_low, s_high : ndarray (A, T)
        10th and 90th percentiles over neurons of the input-averaged traces.
    batch : int
        Number of input sequences averaged.
    """

    name: str
    amplitudes: np.ndarray
    window: tuple
    n_mean: np.ndarray
    n_low: np.ndarray
    n_high: np.ndarray
    s_mean: np.ndarray
    s_low: np.ndarray
    s_high: np.ndarray
    batch: int

    @property
    def steps(self) -> int:
        return self.n_mean.shape[1]


@torch.no_grad()
def shape_traces(
    net: RecurrentNetwork,
    inputs: torch.Tensor,
    *,
    amplitudes: Sequence[float] = (0.0, 1.0, 2.0),
    window: tuple[int, int] | None = None,
) -> ShapeTraces:
    """Run an ARUN network on ``inputs`` under step drives; summarise its n_t and s_t.

    Parameters
    ----------
    net : ARUN
    inputs : tensor (B, T, D)
        Input sequences (e.g. a few test examples of the checkpoint's task).
    amplitudes : sequence of float
        Step-drive amplitudes ξ added to every pre-activation inside ``window``.
    window : (start, stop) or None
        Drive window; None uses the paper's 200 < t < 400 of 784 scaled to T.

    Returns
    -------
    ShapeTraces

    Raises
    ------
    ValueError
        If ``net`` is not adaptive, ``inputs`` has the wrong shape, or no amplitude is given.

    Notes
    -----
    One forward pass per amplitude with trajectories recorded, in float64:
    O(A B T (N² + N G²)) time, O(B T N G) memory (the controller trajectory).
    The paper (Geadah et al. 2024, Fig. 5) shows mean n_t falling and s_t rising while the drive
    is on; this function reports what the given network does.

    Examples
    --------
    >>> import torch
    >>> from dynan_models import build
    >>> net = build("arun", input_size=1, hidden_size=4, output_size=2, controller_size=3)
    >>> traces = shape_traces(net, torch.zeros(2, 20, 1), amplitudes=(0.0, 1.0))
    >>> traces.n_mean.shape
    (2, 20)
    """
    if not isinstance(net, ARUN):
        raise ValueError(f"shape_traces needs an adaptive (ARUN) network, got {net.architecture}")
    amplitudes = [float(a) for a in amplitudes]
    if not amplitudes:
        raise ValueError("amplitudes must hold at least one drive amplitude")
    dtype, device = next(net.parameters()).dtype, next(net.parameters()).device
    x = torch.as_tensor(inputs).to(device, dtype)
    net.check_inputs(x, None)
    batch, steps = x.shape[:2]
    window = tuple(window) if window is not None else default_window(steps)
    stats: dict[str, list[np.ndarray]] = {k: [] for k in ("nm", "nl", "nh", "sm", "sl", "sh")}
    for amplitude in amplitudes:
        drive = step_drive(
            batch, steps, net.hidden_size, amplitude=amplitude, window=window, dtype=dtype
        )
        out = net(x, drive.to(device), return_trajectories=True)
        for key, values in (("n", out.n), ("s", out.s)):
            per_neuron = values.to(torch.float64).mean(0).cpu().numpy()  # (T, N)
            low, high = np.percentile(per_neuron, [10, 90], axis=1)
            stats[key + "m"].append(per_neuron.mean(1))
            stats[key + "l"].append(low)
            stats[key + "h"].append(high)
    return ShapeTraces(
        name=_name(net),
        amplitudes=np.asarray(amplitudes),
        window=window,
        n_mean=np.stack(stats["nm"]),
        n_low=np.stack(stats["nl"]),
        n_high=np.stack(stats["nh"]),
        s_mean=np.stack(stats["sm"]),
        s_low=np.stack(stats["sl"]),
        s_high=np.stack(stats["sh"]),
        batch=int(batch),
    )
