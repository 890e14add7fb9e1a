"""A mutation fuzzer for ``dynan.load``: small valid checkpoints, mutated in every layer.

Layers: raw bytes (flips, overwrites, cuts, inserts), the 8-byte header length, every JSON value
of the dynan config (nested arguments included), the tensor entries of the safetensors header
(dtype, shape, offsets), and "consistent" lies — constructor sizes scaled up with the header's
shapes and offsets rewritten to match, so only the file size can tell that the data is missing
(the case that made the old loader allocate before checking). The contract checked: ``load``
either returns a network whose record has the documented types, or raises ``CheckpointError``.

Used by ``test_checkpoint_fuzz.py``; run as a script for the counts in the reliability notes::

    python tests/dynan/checkpoint_fuzz.py 6000
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import re
import resource
import struct
import sys
import tracemalloc
from collections import Counter
from pathlib import Path

import torch
from safetensors.torch import save

from dynan._checkpoint_config import expected_shapes
from dynan_models import build
from dynan_models.checkpoint import METADATA_KEY, checkpoint_config

__all__ = ["FuzzOutcome", "address_space_limit", "fuzz", "seed_blobs"]

#: Small networks of every family (a few KB each): the seeds of the mutations.
_SEEDS = (
    ("arun", {"controller_size": 3}),
    ("relu", {}),
    ("gamma-heterogeneous", {}),
    ("gru", {}),
    ("lstm", {"output_mode": "all"}),
    ("stacked-lstm", {"num_layers": 3}),
    ("stacked-rnn", {"nonlinearity": "relu"}),
)

#: Replacement values for JSON fields: wrong types, edge and absurd sizes, deep nesting.
_VALUES = (
    None, True, False, 0, -1, 1, 2, 3, 7, 2**31, 2**40, 2**63, 2**64 + 1, 10**30, -(2**63),
    0.5, 1.0, -0.0, 1e308, float("nan"), float("inf"), "", "x", "arun", "relu", "gru", "lstm",
    "last", "all", "F32", "x" * 300, [], [1], [1, 2], [[1]], ["a"], {}, {"a": 1}, {"arun": 1},
)  # fmt: skip
_DTYPES = ("F32", "F64", "F16", "BF16", "I64", "I32", "U8", "BOOL", "F8_E4M3", "X", "", 3)


def _blob(tensors: dict, header_meta: dict) -> bytes:
    return save(tensors, metadata={METADATA_KEY: json.dumps(header_meta)})


def seed_blobs() -> list[bytes]:
    """One small valid checkpoint per family, as bytes."""
    torch.manual_seed(0)
    blobs = []
    for arch, extra in _SEEDS:
        net = build(arch, input_size=2, hidden_size=4, output_size=3, **extra)
        config = checkpoint_config(net, task={"name": "digits"}, seed=1, metrics={"acc": 0.5})
        tensors = {k: v.detach().contiguous() for k, v in net.state_dict().items()}
        blobs.append(_blob(tensors, config))
    return blobs


def _split(blob: bytes) -> tuple[dict, bytes]:
    (n,) = struct.unpack("<Q", blob[:8])
    return json.loads(blob[8 : 8 + n]), blob[8 + n :]


def _join(header: dict, data: bytes) -> bytes:
    text = _dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


class _Raw(str):
    """JSON text spliced in verbatim: nests too deep to build, integers too long to parse."""


def _value(rng: random.Random):
    roll = rng.random()
    if roll < 0.03:
        depth = rng.choice((50, 900, 5000, 100_000))
        return _Raw("[" * depth + "]" * depth)
    if roll < 0.05:
        return _Raw("9" * rng.choice((20, 5000)))  # JSON allows any digits; Python caps at 4300
    return rng.choice(_VALUES)


def _dumps(obj) -> str:
    """json.dumps that writes each _Raw value as its text."""
    raws: list[str] = []

    def swap(o):
        if isinstance(o, _Raw):
            raws.append(o)
            return f"@@RAW{len(raws) - 1}@@"
        if isinstance(o, dict):
            return {k: swap(v) for k, v in o.items()}
        if isinstance(o, list):
            return [swap(v) for v in o]
        return o

    text = json.dumps(swap(obj))
    return re.sub(r'"@@RAW(\\d+)@@"', lambda m: raws[int(m.group(1))], text)


def _paths(obj, prefix=()):
    """Every (path, value) inside a JSON object, containers included."""
    yield prefix, obj
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            yield from _paths(value, (*prefix, i))


def _mutate_json(obj, rng: random.Random):
    """Replace, delete or add one value somewhere in ``obj`` (in place when possible)."""
    path, _ = rng.choice(list(_paths(obj)))
    if not path:
        return _value(rng)
    parent = obj
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    action = rng.random()
    if action < 0.15 and isinstance(parent, dict):
        del parent[key]
    elif action < 0.25 and isinstance(parent, dict):
        parent[rng.choice(("extra", "seed", "dtype", "architecture", "variant"))] = _value(rng)
    else:
        raw = _value(rng)
        parent[key] = raw
    return obj


def _mutate_config(blob: bytes, rng: random.Random) -> bytes:
    header, data = _split(blob)
    config = json.loads(header["__metadata__"][METADATA_KEY])
    text = _dumps(_mutate_json(config, rng))
    header["__metadata__"][METADATA_KEY] = text if rng.random() < 0.95 else _value(rng)
    return _join(header, data)


def _mutate_tensor(blob: bytes, rng: random.Random) -> bytes:
    header, data = _split(blob)
    names = [k for k in header if k != "__metadata__"]
    info = header[rng.choice(names)]
    what = rng.choice(("dtype", "shape", "shape", "offsets", "offsets", "entry", "meta"))
    if what == "dtype":
        info["dtype"] = rng.choice(_DTYPES)
    elif what == "shape":
        shape = list(info["shape"])
        op = rng.choice(("scale", "add", "drop", "value", "huge"))
        if op == "scale" and shape:
            i = rng.randrange(len(shape))
            shape[i] = shape[i] * rng.choice((2, 1000, 2**20)) + rng.choice((0, 1))
        elif op == "add":
            shape.insert(rng.randrange(len(shape) + 1), rng.choice((1, 2, 0)))
        elif op == "drop" and shape:
            shape.pop()
        elif op == "huge":
            shape = [2**31] * rng.choice((1, 2, 3))
        else:
            shape = _value(rng)
        info["shape"] = shape
    elif what == "offsets":
        start, end = info["data_offsets"]
        info["data_offsets"] = rng.choice(
            (
                [end, start],
                [start, end + rng.choice((1, 4, 2**20, 2**40))],
                [start - 4, end - 4],
                [-8, end],
                [0, len(data)],
                [start, start],
                [start, 2**64 - 1],
                _value(rng),
            )
        )
    elif what == "entry":
        header[rng.choice(names)] = _value(rng)
    else:
        header["__metadata__"] = _value(rng)
    return _join(header, data)


def _consistent_lie(blob: bytes, rng: random.Random) -> bytes:
    """Scale the sizes in the config and rewrite every shape and offset to match them.

    The header is then self-consistent and only the file size shows that the data is missing:
    a loader that builds the network (or reads the tensors) before comparing the header with
    the file allocates ``factor**2`` times more memory than the file holds.
    """
    header, data = _split(blob)
    config = json.loads(header["__metadata__"][METADATA_KEY])
    arguments = dict(config["arguments"])
    factor = rng.choice((2, 64, 2**10, 2**14, 2**17))
    for key in rng.sample(("hidden_size", "input_size", "output_size", "controller_size"), 2):
        if key in arguments:
            arguments[key] = arguments[key] * factor
    config["arguments"] = arguments
    try:  # the loader's shape rules (checked against real builds in test_checkpoint.py)
        shapes = expected_shapes(config["architecture"], arguments)
    except KeyError:
        return blob
    offset = 0
    for name, shape in shapes.items():
        nbytes = math.prod(shape) * 4
        header[name] = {
            "dtype": "F32",
            "shape": list(shape),
            "data_offsets": [offset, offset + nbytes],
        }
        offset += nbytes
    header["__metadata__"][METADATA_KEY] = json.dumps(config)
    keep = rng.choice((len(data), offset // 2, offset)) if offset < 2**22 else len(data)
    return _join(header, (data + bytes(max(0, keep - len(data))))[:keep])


def _mutate_bytes(blob: bytes, rng: random.Random) -> bytes:
    out = bytearray(blob)
    op = rng.choice(("flip", "flip", "set", "cut", "insert", "append", "length", "length"))
    if op == "flip":
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(len(out))
            out[i] ^= 1 << rng.randrange(8)
    elif op == "set":
        start = rng.randrange(len(out))
        out[start : start + rng.randint(1, 16)] = rng.randbytes(rng.randint(1, 16))
    elif op == "cut":
        out = out[: rng.randrange(len(out))]
    elif op == "insert":
        i = rng.randrange(len(out))
        out[i:i] = rng.randbytes(rng.randint(1, 64))
    elif op == "append":
        out += rng.randbytes(rng.randint(1, 4096))
    else:
        (n,) = struct.unpack("<Q", blob[:8])
        new = rng.choice(
            (0, 1, 2, n - 1, n + 1, n + 8, len(blob), len(blob) - 8, 2**30, 2**63, 2**64 - 1)
        )
        out[:8] = struct.pack("<Q", max(0, new) % 2**64)
    return bytes(out)


_MUTATORS = (
    (_mutate_bytes, 0.30),
    (_mutate_config, 0.35),
    (_mutate_tensor, 0.25),
    (_consistent_lie, 0.10),
)


def mutate(blob: bytes, rng: random.Random) -> tuple[str, bytes]:
    """One mutation of ``blob``: (mutator name, new bytes); sometimes two stacked."""
    funcs, weights = zip(*_MUTATORS, strict=True)
    func = rng.choices(funcs, weights)[0]
    out = func(blob, rng)
    if rng.random() < 0.1:
        try:
            out = rng.choices(funcs, weights)[0](out, rng)
        except (ValueError, KeyError, TypeError, IndexError, struct.error, RecursionError):
            pass  # the second mutator needs a parsable file; keep the first mutation
    return func.__name__.lstrip("_"), out


@contextlib.contextmanager
def address_space_limit(extra: int):
    """Cap this process's address space at its current size plus ``extra`` bytes (Linux).

    An allocation past the cap fails (``MemoryError``/``RuntimeError``), so a loader that
    trusts a size in the header is caught instead of taking the machine's memory. The soft limit
    is restored on exit (the hard limit is never touched).
    """
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[0])
    current = pages * resource.getpagesize()
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = current + extra if hard == resource.RLIM_INFINITY else min(hard, current + extra)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


class FuzzOutcome:
    """Counts of outcomes, the escapes' first examples and the memory peaks."""

    def __init__(self) -> None:
        self.counts: Counter = Counter()
        self.escapes: list[tuple[str, str]] = []
        self.peak_traced = 0  # largest tracemalloc peak of one load, bytes
        self.peak_file = 0  # the size of the file that load read
        self.largest_file = 0

    def record_peak(self, peak: int, size: int) -> None:
        """Keep the largest traced peak of one load and the size of its file."""
        if peak > self.peak_traced:
            self.peak_traced, self.peak_file = peak, size

    def note(self, mutator: str, err) -> None:
        """Keep the first example of each kind of escape."""
        text = err if isinstance(err, str) else f"{type(err).__name__}: {err}"
        kind = text.split(":")[0]
        if len(self.escapes) < 40 and all(not e[1].startswith(kind) for e in self.escapes):
            self.escapes.append((mutator, text[:240]))
        elif len(self.escapes) < 12:
            self.escapes.append((mutator, text[:240]))

    @property
    def escaped(self) -> int:
        return sum(v for k, v in self.counts.items() if k.startswith("escape"))

    def __repr__(self) -> str:
        return (
            f"FuzzOutcome({dict(self.counts)}, peak_traced={self.peak_traced} "
            f"for a file of {self.peak_file} B)"
        )


def _record_problem(net) -> str:
    """What is wrong with a loaded network's record ('' when it has the documented types)."""
    info = net.checkpoint
    checks = {
        "architecture": isinstance(info.architecture, str),
        "arguments": isinstance(info.arguments, dict),
        "seed": info.seed is None or (type(info.seed) is int),
        "task": info.task is None or isinstance(info.task, dict),
        "metrics": isinstance(info.metrics, dict),
        "training": isinstance(info.training, dict),
        "library_version": isinstance(info.library_version, str),
        "format_version": type(info.format_version) is int,
        "weights": all(bool(torch.isfinite(p).all()) for p in net.parameters()),
    }
    bad = [name for name, ok in checks.items() if not ok]
    return f"accepted a record with bad {', '.join(bad)}" if bad else ""


def fuzz(
    n: int, folder: Path, *, seed: int = 0, memory_cap: int | None = 2**30, trace: bool = True
) -> FuzzOutcome:
    """Load ``n`` mutated checkpoints from ``folder``; count what comes out.

    Outcomes: ``ok`` (loaded, record types checked), ``CheckpointError``, or
    ``escape:<type>`` for anything else (the contract broken).
    """
    import dynan
    from dynan.errors import CheckpointError

    rng = random.Random(seed)
    seeds = seed_blobs()
    outcome = FuzzOutcome()
    path = Path(folder) / "fuzz.safetensors"
    for blob in seeds:  # warm up: imports and the loader's per-architecture caches
        path.write_bytes(blob)
        dynan.load(path)
    guard = address_space_limit(memory_cap) if memory_cap else contextlib.nullcontext()
    if trace:
        tracemalloc.start()
    try:
        with guard:
            for _ in range(n):
                name, blob = mutate(rng.choice(seeds), rng)
                path.write_bytes(blob)
                outcome.largest_file = max(outcome.largest_file, len(blob))
                if trace:
                    tracemalloc.reset_peak()
                    before = tracemalloc.get_traced_memory()[0]
                try:
                    net = dynan.load(path)
                except CheckpointError:
                    outcome.counts["CheckpointError"] += 1
                except Exception as err:  # counting what escapes is the point
                    outcome.counts[f"escape:{type(err).__name__}"] += 1
                    outcome.note(name, err)
                else:
                    problem = _record_problem(net)
                    outcome.counts["escape:bad-record" if problem else "ok"] += 1
                    if problem:
                        outcome.note(name, problem)
                    del net
                if trace:
                    peak = tracemalloc.get_traced_memory()[1] - before
                    outcome.record_peak(peak, len(blob))
    finally:
        if trace:
            tracemalloc.stop()
    return outcome


if __name__ == "__main__":
    import tempfile
    import time

    torch.set_num_threads(1)
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 6000
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        result = fuzz(count, Path(tmp), seed=int(sys.argv[2]) if len(sys.argv) > 2 else 0)
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"{count} mutations in {time.perf_counter() - t0:.1f} s: {dict(result.counts)}")
    print(f"largest file {result.largest_file} B; largest traced peak of one load "
          f"{result.peak_traced} B (file {result.peak_file} B); "
          f"max RSS {rss0 / 1024:.0f} -> {rss1 / 1024:.0f} MiB")  # fmt: skip
    for name, message in result.escapes:
        print(f"  {name}: {message}")
