"""Compiled steps (``models/kernels/steps.cpp``), built on first use, loaded by ctypes.

An ARUN step is ~10 small tensor operations on the (G, B·N) controller state plus three tiny
matrix products; at the paper's sizes their dispatch and the BLAS library's handling of
16×16-by-16×6400 shapes cost more than the arithmetic. The C++ file fuses one step's
controller work — forward, and the backward with the parameter-gradient accumulation — into one
pass over the neurons (see its header for the equations); likewise the γ activation of the
Elman γ networks (σ and softplus from one exponential, 5 PyTorch operations a step in one).
``dynan_models.sequence`` calls them between PyTorch's own products W h, and falls back to its
PyTorch steps where they are not available.

Threads: with ``torch.get_num_threads()`` > 1, an ARUN step's neurons are split into that many
vector-aligned parts (:func:`parts`, at least MIN_VECTORS vectors each) that a pool of threads
runs at once (ctypes releases the GIL), while PyTorch's own operations of the loop run on one
thread (:func:`torch_on_one_thread`: its idle OpenMP threads spin-wait and would take the
pool's cores). ``analyses/benchmarks/training.py`` times this against torch.nn.RNN on as many
threads (``arun_scale`` in ``reports/benchmarks/training.json``). The γ step runs on the calling
thread: there W h, PyTorch's threaded product, is most of the work.

Building: the first process that needs it runs the system's C++ compiler (``$CXX``, else
``c++``/``g++``/``clang++``; ~1 s) with ``-O3 -march=native`` into a cache folder,
``$DYNAN_CACHE_DIR`` or ``$XDG_CACHE_HOME/dynan`` or ``~/.cache/dynan`` (a per-user folder of
the temporary directory when none can be written), under a name that hashes
the source, the flags, the compiler and this CPU's feature flags (so a shared home on a cluster
of different CPUs never loads a library built for another); written to a temporary name and
renamed, so concurrent processes never load a half-written file. Nothing is downloaded, and a
failure (no compiler, a compile error) is not an error: the PyTorch step runs, and
:func:`status` says why. ``DYNAN_NATIVE=0`` turns the kernel off.

Examples
--------
>>> from dynan_models import native
>>> available, reason = native.status()
>>> isinstance(available, bool) and isinstance(reason, str)
True
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import itertools
import os
import platform
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

__all__ = [
    "Kernels",
    "addresses",
    "arun_kernel",
    "kernels",
    "parts",
    "pytorch_step",
    "run_parts",
    "status",
]

SOURCE = Path(__file__).with_name("kernels") / "steps.cpp"
FLAGS = ("-O3", "-march=native", "-std=gnu++17", "-fPIC", "-shared", "-fno-math-errno")
FLAGS += ("-fno-exceptions", "-fno-rtti")
_SUFFIX = {torch.float32: ("f32", ctypes.c_float), torch.float64: ("f64", ctypes.c_double)}


def cache_dir() -> Path:
    """Where built kernels live: $DYNAN_CACHE_DIR, else $XDG_CACHE_HOME/dynan, ~/.cache/dynan."""
    if os.environ.get("DYNAN_CACHE_DIR"):
        return Path(os.environ["DYNAN_CACHE_DIR"]) / "kernels"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "dynan" / "kernels"


def _writable_folder() -> Path:
    """cache_dir(), or a per-user folder under the temporary directory when that cannot be made
    (a read-only or missing home)."""
    user = os.getuid() if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")
    for folder in (cache_dir(), Path(tempfile.gettempdir()) / f"dynan-{user}" / "kernels"):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if os.access(folder, os.W_OK):
                return folder
        except OSError:
            continue
    raise OSError(f"no writable folder for the compiled steps ({cache_dir()} or the temp dir)")


def _compiler() -> str | None:
    for name in (os.environ.get("CXX"), "c++", "g++", "clang++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _cpu_features() -> str:
    """The CPU's feature flags (Linux), else the platform's name for the processor."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return platform.machine() + platform.processor()


def _build(compiler: str) -> Path:
    """Compile SOURCE unless a library for this source, compiler and CPU is cached. Tries
    ``-march=native`` first, then without it (a compiler that does not know this CPU)."""
    digest = hashlib.sha256(SOURCE.read_bytes())
    stat = Path(compiler).stat()
    for part in (*FLAGS, compiler, str(stat.st_size), str(stat.st_mtime_ns), _cpu_features()):
        digest.update(part.encode())
    folder = _writable_folder()
    target = folder / f"steps-{digest.hexdigest()[:16]}.so"
    if target.exists():
        return target
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=folder)
    os.close(fd)
    try:
        for flags in (FLAGS, tuple(f for f in FLAGS if f != "-march=native")):
            done = subprocess.run(
                [compiler, *flags, "-o", tmp, str(SOURCE)],
                capture_output=True,
                text=True,
                timeout=300,
            )
            if done.returncode == 0:
                os.replace(tmp, target)
                return target
        raise OSError(f"{Path(compiler).name} failed: {done.stderr.strip()[-500:]}")
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@functools.cache
def _library() -> tuple[ctypes.CDLL | None, str]:
    if os.environ.get("DYNAN_NATIVE", "1") == "0":
        return None, "turned off (DYNAN_NATIVE=0)"
    compiler = _compiler()
    if compiler is None:
        return None, "no C++ compiler found ($CXX, c++, g++, clang++)"
    try:
        path = _build(compiler)
        lib = ctypes.CDLL(str(path))
    except (OSError, subprocess.SubprocessError) as err:
        return None, f"could not build {SOURCE.name}: {err}"
    return lib, f"compiled steps {path}"


def status() -> tuple[bool, str]:
    """(whether the compiled steps are available, the library's path or why not)."""
    lib, reason = _library()
    return lib is not None, reason


class Kernels:
    """The entry points of the library for one dtype, with their C signatures.

    Every pointer is the address of a contiguous buffer (see ``steps.cpp``); ``None`` is a
    null pointer (an optional output or input). The ARUN steps take the part r0 … r1 − 1 of
    the R = B·N neurons (r0 a multiple of ``lanes``; threads share a step by parts). The
    functions return 0, or 1 for a G or a part out of range (the caller checks
    ``max_controller`` first), 2 if memory runs out.
    """

    def __init__(self, lib: ctypes.CDLL, dtype: torch.dtype):
        suffix, real = _SUFFIX[dtype]
        ptr, size = ctypes.c_void_p, ctypes.c_long
        self.forward = getattr(lib, f"arun_forward_step_{suffix}")
        self.forward.argtypes = [size] * 4 + [ptr] * 8 + [real, real] + [ptr] * 4
        self.backward = getattr(lib, f"arun_backward_step_{suffix}")
        self.backward.argtypes = [size] * 4 + [ptr] * 12 + [real] + [ptr] * 2
        self.gamma = getattr(lib, f"gamma_step_{suffix}")
        self.gamma.argtypes = [size] + [ptr] * 3 + [real] + [ptr] * 3
        self.forward.restype = self.backward.restype = self.gamma.restype = ctypes.c_int
        self.max_controller = lib.arun_max_controller()
        self.lanes = 32 // torch.empty((), dtype=dtype).element_size()


@functools.cache
def _kernel(dtype: torch.dtype) -> Kernels | None:
    lib, _ = _library()
    return None if lib is None else Kernels(lib, dtype)


def addresses(t: torch.Tensor | None) -> Callable[[int], int | None]:
    """``i ↦`` the address of t[i] (contiguous within each i), without building a view per step;
    None (a null pointer) for every i when t is None. The function holds a reference to t, so
    the memory stays valid as long as the function lives."""
    if t is None:
        return lambda i: None
    base, step = t.data_ptr(), t.stride(0) * t.element_size()
    return lambda i, _keep=t: base + i * step


#: the fewest vectors of neurons worth a thread of their own (a part of a step)
MIN_VECTORS = 64
_POOL: dict[str, object] = {}  # {"pid": the process that made it, "pool": ThreadPoolExecutor}


def parts(rows: int, lanes: int) -> list[tuple[int, int]]:
    """The neurons 0 … rows − 1 in vector-aligned parts (r0, r1), one per torch thread
    (``torch.get_num_threads()``), each at least MIN_VECTORS vectors; one part on one thread."""
    vectors = -(-rows // lanes)
    count = max(1, min(torch.get_num_threads(), vectors // MIN_VECTORS))
    bounds = [min(rows, round(i * vectors / count) * lanes) for i in range(count + 1)]
    return list(itertools.pairwise(bounds))


def run_parts(call: Callable[[int, int, int], int], pieces: list[tuple[int, int]]) -> None:
    """``call(i, r0, r1)`` for every part i: the first on this thread, the others at the same
    time on a pool of threads (a ctypes call releases the GIL). Raises on a non-zero return.

    The pool is made once per process (a forked child makes its own: a parent's threads do not
    survive a fork) and grows to the largest number of parts asked for.
    """
    if len(pieces) == 1:
        codes = [call(0, *pieces[0])]
    else:
        pool = _POOL.get("pool")
        if _POOL.get("pid") != os.getpid() or pool._max_workers < len(pieces) - 1:
            pool = ThreadPoolExecutor(len(pieces) - 1, thread_name_prefix="dynan-step")
            _POOL.update(pid=os.getpid(), pool=pool)
        futures = [pool.submit(call, i, *piece) for i, piece in enumerate(pieces) if i]
        codes = [call(0, *pieces[0]), *(f.result() for f in futures)]
    for code in codes:
        if code:
            reason = "a controller size or part out of range" if code == 1 else "no memory"
            raise RuntimeError(f"the compiled step failed: {reason}")


@contextlib.contextmanager
def torch_on_one_thread(pieces: list[tuple[int, int]]) -> Iterator[None]:
    """While the parts of a step run on the pool, PyTorch's own operations (W h) on one thread:
    its idle OpenMP threads spin-wait for work and would take the cores from the pool's."""
    threads = torch.get_num_threads()
    if len(pieces) == 1 or threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


_OFF: list[bool] = []  # a stack: inside pytorch_step() blocks


@contextlib.contextmanager
def pytorch_step() -> Iterator[None]:
    """Run the PyTorch steps inside the block, compiled or not (to compare the two)."""
    _OFF.append(True)
    try:
        yield
    finally:
        _OFF.pop()


def kernels(t: torch.Tensor) -> Kernels | None:
    """The compiled steps for tensors like ``t`` (CPU, float32/float64), or None."""
    if _OFF or t.device.type != "cpu" or t.dtype not in _SUFFIX:
        return None
    return _kernel(t.dtype)


def arun_kernel(t: torch.Tensor, controller_size: int) -> Kernels | None:
    """The compiled steps for an ARUN with tensors like ``t`` and G = ``controller_size``."""
    kernel = kernels(t)
    if kernel is None or controller_size > kernel.max_controller:
        return None
    return kernel
