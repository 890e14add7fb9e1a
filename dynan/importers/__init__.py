"""Bring your own model: turn a trained PyTorch model's weights into a dynan checkpoint.

``import_model(source, out)`` reads a ``torch.save`` or safetensors state dict safely (never
unpickling anything but tensors and plain containers), finds the recurrent module — an
``nn.RNN``/``GRU``/``LSTM`` or cell under any prefix, or the seed paper's ANRU or static γ-RNN —
and its linear read-out, maps them exactly onto a ``dynan_models`` network and writes it with
``dynan_models.save_checkpoint``. ``dynan import`` is its command line.
"""

from dynan.importers.convert import DEFAULT_STEPS, ImportSummary, import_model
from dynan.importers.inputs import analysis_inputs
from dynan.importers.reading import read_state_dict

__all__ = ["DEFAULT_STEPS", "ImportSummary", "analysis_inputs", "import_model", "read_state_dict"]
