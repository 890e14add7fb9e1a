"""Architectures by name: the one place that maps a checkpoint's name to a class."""

from __future__ import annotations

from dynan_models.arun import ARUN
from dynan_models.base import RecurrentNetwork
from dynan_models.elman import ElmanRNN
from dynan_models.gated import GRUNet, LSTMNet
from dynan_models.stacked import StackedGRU, StackedLSTM, StackedRNN

__all__ = ["ARCHITECTURES", "build"]

#: name → class. The four static Elman variants share a class and differ by ``variant``; the
#: stacked (multi-layer) PyTorch networks take ``num_layers`` (and, for "stacked-rnn",
#: ``nonlinearity``).
ARCHITECTURES: dict[str, type[RecurrentNetwork]] = {
    "relu": ElmanRNN,
    "softplus": ElmanRNN,
    "gamma-homogeneous": ElmanRNN,
    "gamma-heterogeneous": ElmanRNN,
    "arun": ARUN,
    "gru": GRUNet,
    "lstm": LSTMNet,
    "stacked-rnn": StackedRNN,
    "stacked-gru": StackedGRU,
    "stacked-lstm": StackedLSTM,
}


def build(architecture: str, **arguments) -> RecurrentNetwork:
    """Construct a network by registry name.

    Examples
    --------
    >>> from dynan_models import build
    >>> build("arun", input_size=1, hidden_size=8, output_size=10).architecture
    'arun'
    """
    if architecture not in ARCHITECTURES:
        raise ValueError(
            f"unknown architecture {architecture!r}; valid names: {', '.join(ARCHITECTURES)}"
        )
    cls = ARCHITECTURES[architecture]
    if cls is ElmanRNN:
        variant = arguments.setdefault("variant", architecture)
        if variant != architecture:
            raise ValueError(f"architecture {architecture!r} does not match variant {variant!r}")
    return cls(**arguments)
