"""The dynan config of a checkpoint: every field type- and range-checked, and the tensor shapes
its sizes imply, computed without building the network.

The shapes come from the registry itself, not from a second table here: each architecture is
built once at two probe sizes (small distinct primes for its integer arguments) and every tensor
dimension is read as ``c · argument`` or a constant. A checkpoint's sizes are then compared with
its header's shapes before anything the size of the network is allocated.

The layer count :data:`LAYERS` (``num_layers`` of the stacked networks) repeats tensors instead
of sizing them: the probes hold it at 2, and the tensors of layer 1 (PyTorch's names ending in
``_l1``) stand for every layer above 0. :func:`tensor_count` says how many tensors a config
implies without listing them, so a header's tensor count bounds the listing.

Cost: the first call per architecture builds two tiny networks (milliseconds); later calls are
O(number of tensors). Memory O(1) beyond the config.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

from dynan.errors import CheckpointError
from dynan_models import ARCHITECTURES, build
from dynan_models.checkpoint import FORMAT_VERSION

__all__ = [
    "LAYERS",
    "MAX_DEPTH",
    "MAX_SIZE",
    "check_config",
    "expected_shapes",
    "reference_arguments",
    "tensor_count",
]

#: Largest size argument accepted (a tensor dimension must fit an int32 index).
MAX_SIZE = 2**31 - 1
#: Deepest nesting of JSON in a config (a real one is 3 levels deep).
MAX_DEPTH = 16
#: Arguments every architecture needs (the constructor's positional ones).
_REQUIRED = ("input_size", "hidden_size", "output_size")
_PROBES = ((2, 3, 5, 7, 11, 13), (17, 19, 23, 29, 31, 37))
#: The integer argument that sets how many times a layer's tensors repeat (PyTorch's ``_l{k}``).
LAYERS = "num_layers"
_PROBE_LAYERS = 2
_UPPER_LAYER = "_l1"  # the suffix of layer 1's tensor names


@functools.cache
def reference_arguments(architecture: str) -> dict:
    """The constructor arguments of ``architecture`` with sizes 1 and every default."""
    return build(architecture, **dict.fromkeys(_REQUIRED, 1)).arguments


@functools.cache
def _shape_rules(architecture: str) -> dict[str, tuple[tuple[int, str | None], ...]]:
    """Tensor name → per dimension (multiplier, size argument) or (constant, None); with a
    :data:`LAYERS` argument, the names of layer 1 stand for every layer above 0."""
    reference = reference_arguments(architecture)
    sizes = sorted(k for k, v in reference.items() if type(v) is int and k != LAYERS)
    probes = [dict(zip(sizes, primes, strict=False)) for primes in _PROBES]
    if LAYERS in reference:
        for probe in probes:
            probe[LAYERS] = _PROBE_LAYERS
    first, second = (build(architecture, **{**reference, **p}).state_dict() for p in probes)
    rules = {}
    for name, tensor in first.items():
        dims = []
        for d1, d2 in zip(tensor.shape, second[name].shape, strict=True):
            if d1 == d2:
                dims.append((d1, None))
                continue
            found = [
                (d1 // probes[0][k], k)
                for k in sizes
                if d1 % probes[0][k] == 0 and d1 // probes[0][k] * probes[1][k] == d2
            ]
            if len(found) != 1:
                raise RuntimeError(f"{architecture}: cannot tell which size sets {name!r}")
            dims.append(found[0])
        rules[name] = tuple(dims)
    return rules


@functools.cache
def _upper_layer_names(architecture: str) -> frozenset[str]:
    """The rules' names of layer 1, which stand for every layer above 0 (none without LAYERS)."""
    if LAYERS not in reference_arguments(architecture):
        return frozenset()
    return frozenset(name for name in _shape_rules(architecture) if name.endswith(_UPPER_LAYER))


def tensor_count(architecture: str, arguments: dict) -> int:
    """How many tensors the state dict of checked ``arguments`` holds, in O(1) after the first
    call: those of layer 1 count once per layer above 0.

    Examples
    --------
    >>> arguments = {"input_size": 2, "hidden_size": 5, "output_size": 3, "num_layers": 3}
    >>> tensor_count("stacked-gru", arguments)  # 4 per layer and the read-out's 2
    14
    """
    upper = len(_upper_layer_names(architecture))
    layers = {**reference_arguments(architecture), **arguments}.get(LAYERS, 1)
    return len(_shape_rules(architecture)) + upper * (layers - 2)


def expected_shapes(architecture: str, arguments: dict) -> dict[str, tuple[int, ...]]:
    """The state dict's shapes for checked ``arguments``, without building the network.

    Time and memory O(:func:`tensor_count`): bound that first when the layer count is untrusted.

    Examples
    --------
    >>> shapes = expected_shapes("gru", {"input_size": 2, "hidden_size": 5, "output_size": 3})
    >>> shapes["rnn.weight_hh_l0"]
    (15, 5)
    >>> arguments = {"input_size": 2, "hidden_size": 5, "output_size": 3, "num_layers": 3}
    >>> expected_shapes("stacked-lstm", arguments)["rnn.weight_ih_l2"]
    (20, 5)
    """
    values = {**reference_arguments(architecture), **arguments}
    upper = _upper_layer_names(architecture)
    shapes = {}
    for name, dims in _shape_rules(architecture).items():
        shape = tuple(c * values[k] if k else c for c, k in dims)
        if name not in upper:
            shapes[name] = shape
            continue
        stem = name[: -len("1")]  # "…_l"
        for layer in range(1, values[LAYERS]):
            shapes[f"{stem}{layer}"] = shape
    return shapes


def _depth(value) -> int:
    """Nesting depth of a JSON value, without recursion (a hostile file may nest deeply)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            break
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        )
        stack.extend((child, level + 1) for child in children)
    return deepest


def _accuracies_in_range(value, key: str = "", accuracy: bool = False) -> str:
    """The first accuracy (a number under a key naming accuracy) outside [0, 1], or ''."""
    if isinstance(value, dict):
        for k, v in value.items():
            bad = _accuracies_in_range(v, f"{key}.{k}" if key else k, accuracy or "accuracy" in k)
            if bad:
                return bad
    elif accuracy and isinstance(value, int | float) and not isinstance(value, bool):
        if not (0.0 <= value <= 1.0 or math.isnan(value)):
            return f"{key} = {value!r}"
    return ""


def _check_arguments(path: Path, arch: str, arguments: dict) -> None:
    reference = reference_arguments(arch)
    fail = f"{path}: cannot build {arch!r}:"
    unknown = sorted(set(arguments) - set(reference))
    if unknown:
        raise CheckpointError(f"{fail} unknown argument(s) {unknown}; valid: {sorted(reference)}")
    missing = [k for k in _REQUIRED if k not in arguments]
    if missing:
        raise CheckpointError(f"{fail} missing argument(s) {missing}")
    for key, value in arguments.items():
        if type(reference[key]) is int and not (type(value) is int and 1 <= value <= MAX_SIZE):
            raise CheckpointError(
                f"{fail} {key} must be a positive integer (at most {MAX_SIZE}), "
                f"got {str(value)[:40]!r}"
            )
        if isinstance(reference[key], str) and not isinstance(value, str):
            raise CheckpointError(f"{fail} {key} must be a string, got {str(value)[:40]!r}")


def check_config(path: Path, config) -> dict:
    """Check every field of a checkpoint's config; return it, or raise CheckpointError.

    Fields: ``format_version`` an integer in 1..FORMAT_VERSION; ``architecture`` a registry
    name; ``arguments`` the architecture's constructor arguments (no others; sizes integers in
    1..MAX_SIZE, names strings); ``task`` an object or null; ``seed`` an integer or null;
    ``metrics`` and ``training`` objects or null (accuracies in [0, 1]); ``library`` and
    ``library_version`` strings; nothing nested deeper than :data:`MAX_DEPTH`.
    """
    if not isinstance(config, dict):
        raise CheckpointError(f"{path}: the dynan config is not a JSON object")
    if _depth(config) > MAX_DEPTH:
        raise CheckpointError(f"{path}: the dynan config nests deeper than {MAX_DEPTH} levels")
    version = config.get("format_version")
    if type(version) is not int:
        raise CheckpointError(f"{path}: config has no integer format_version")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: written in checkpoint format {version} by dynan "
            f"{str(config.get('library_version', '?'))[:20]}; this dynan reads format <= "
            f"{FORMAT_VERSION}"
        )
    if version < 1:
        raise CheckpointError(f"{path}: format_version {version} is not a dynan format")
    arch = config.get("architecture")
    if not (isinstance(arch, str) and arch in ARCHITECTURES):
        raise CheckpointError(
            f"{path}: unknown architecture {str(arch)[:40]!r}; known: {', '.join(ARCHITECTURES)}"
        )
    if not isinstance(config.get("arguments"), dict):
        raise CheckpointError(f"{path}: config has no 'arguments' object")
    _check_arguments(path, arch, config["arguments"])
    expected = {
        "task": (dict, type(None)),
        "seed": (int, type(None)),
        "metrics": (dict, type(None)),
        "training": (dict, type(None)),
        "library": (str,),
        "library_version": (str,),
    }
    for key, types in expected.items():
        value = config.get(key)
        if key in config and (not isinstance(value, types) or isinstance(value, bool)):
            names = " or ".join("null" if t is type(None) else t.__name__ for t in types)
            raise CheckpointError(f"{path}: config field {key!r} must be {names}")
    bad = _accuracies_in_range(config.get("metrics") or {})
    if bad:
        raise CheckpointError(f"{path}: config metric {bad} is not in [0, 1]")
    return config
