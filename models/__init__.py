"""Networks, tasks and training for dynan: pure PyTorch, importing nothing from dynan."""

from models._version import __version__
from models.activation import gamma, gamma_dn, gamma_ds, gamma_dx, softplus_n
from models.arun import ARUN
from models.base import RecurrentNetwork, RNNOutput
from models.checkpoint import FORMAT_VERSION, save_checkpoint
from models.elman import ElmanRNN
from models.gated import GRUNet, LSTMNet
from models.registry import ARCHITECTURES, build

__all__ = [
    "ARCHITECTURES",
    "ARUN",
    "FORMAT_VERSION",
    "ElmanRNN",
    "GRUNet",
    "LSTMNet",
    "RNNOutput",
    "RecurrentNetwork",
    "__version__",
    "build",
    "gamma",
    "gamma_dn",
    "gamma_ds",
    "gamma_dx",
    "save_checkpoint",
    "softplus_n",
]
