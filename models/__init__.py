"""Networks, tasks and training for dynan: pure PyTorch, importing nothing from dynan."""

from dynan_models._version import __version__
from dynan_models.activation import gamma, gamma_dn, gamma_ds, gamma_dx, softplus_n
from dynan_models.arun import ARUN
from dynan_models.base import RecurrentNetwork, RNNOutput
from dynan_models.checkpoint import FORMAT_VERSION, save_checkpoint
from dynan_models.elman import ElmanRNN
from dynan_models.gated import GRUNet, LSTMNet
from dynan_models.registry import ARCHITECTURES, build
from dynan_models.stacked import StackedGRU, StackedLSTM, StackedRNN

__all__ = [
    "ARCHITECTURES",
    "ARUN",
    "FORMAT_VERSION",
    "ElmanRNN",
    "GRUNet",
    "LSTMNet",
    "RNNOutput",
    "RecurrentNetwork",
    "StackedGRU",
    "StackedLSTM",
    "StackedRNN",
    "__version__",
    "build",
    "gamma",
    "gamma_dn",
    "gamma_ds",
    "gamma_dx",
    "save_checkpoint",
    "softplus_n",
]
