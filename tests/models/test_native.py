"""Building and loading the compiled ARUN step (dynan_models.native): the cache, the switch, and
the fall-back to the PyTorch step when it cannot be built. Its numbers are tested against the
straightforward loop in test_sequence.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dynan_models import native

# In a fresh interpreter: whether the step is available, why, and an ARUN's output checksum
# (the same with or without the compiled step: both equal the straightforward loop).
PROBE = """
import json, torch
from dynan_models import build, native
torch.manual_seed(0)
net = build("arun", input_size=1, hidden_size=6, output_size=2, controller_size=5).double()
out = net(torch.rand(3, 20, 1, dtype=torch.float64)).logits
print(json.dumps([*native.status(), out.sum().item()]))
"""


def _probe(tmp_path: Path, **env: str) -> tuple[bool, str, float]:
    environ = {**os.environ, "DYNAN_CACHE_DIR": str(tmp_path / "cache"), **env}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, env=environ, timeout=300
    )
    assert done.returncode == 0, done.stderr
    available, reason, total = json.loads(done.stdout)
    return available, reason, total


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, tuple[bool, str, float]]:
    """A fresh cache folder in which one interpreter built the steps, and what it reported."""
    folder = tmp_path_factory.mktemp("built")
    return folder, _probe(folder)


def test_the_step_is_compiled_wherever_a_compiler_is():
    compilers = [shutil.which(c) for c in ("c++", "g++", "clang++")]
    available, reason = native.status()
    assert available == any(compilers), reason


def test_builds_once_into_the_cache_and_reuses_it(built):
    folder, (available, reason, total) = built
    assert available, reason
    libraries = list((folder / "cache" / "kernels").glob("steps-*.so"))
    assert len(libraries) == 1 and str(libraries[0]) in reason
    stamp = libraries[0].stat().st_mtime_ns
    again = _probe(folder)
    assert again == (True, reason, total)  # the same library, not rebuilt
    assert libraries[0].stat().st_mtime_ns == stamp
    assert list((folder / "cache" / "kernels").iterdir()) == libraries  # no temporary left


def test_switched_off_or_unbuildable_falls_back_to_pytorch(built, tmp_path):
    compiled = built[1]
    off = _probe(tmp_path, DYNAN_NATIVE="0")
    assert not off[0] and "DYNAN_NATIVE=0" in off[1]
    broken = _probe(tmp_path, CXX=shutil.which("false") or "/bin/false")
    assert not broken[0] and "could not build" in broken[1]
    # the PyTorch step gives the same network output (to rounding)
    for other in (off, broken):
        assert abs(other[2] - compiled[2]) <= 1e-12 * max(1.0, abs(compiled[2]))


def test_used_only_for_cpu_tensors_of_float_types_and_supported_sizes():
    cpu = torch.empty(2)
    if not native.status()[0]:  # no compiler (test_the_step_is_compiled_… says so): none at all
        assert native.arun_kernel(cpu, 4) is None and native.kernels(cpu) is None
        return
    biggest = native.arun_kernel(cpu, 1).max_controller
    assert native.arun_kernel(cpu, biggest) is not None
    assert native.arun_kernel(cpu, biggest + 1) is None  # the PyTorch step takes it
    assert native.arun_kernel(cpu.to(torch.float16), 4) is None
    assert native.arun_kernel(torch.empty(2, device="meta"), 4) is None
    assert native.arun_kernel(cpu.double(), 4).lanes == 4


def test_builds_without_march_native_where_the_compiler_refuses_it(built, tmp_path):
    compiler = shutil.which("g++") or shutil.which("c++")
    assert compiler, "no C++ compiler on this machine"
    wrapper = tmp_path / "picky-c++"
    wrapper.write_text(
        f'#!/bin/sh\ncase "$*" in *-march=native*) echo "unknown CPU" >&2; exit 1;; esac\n'
        f'exec {compiler} "$@"\n'
    )
    wrapper.chmod(0o755)
    compiled = built[1]
    picky = _probe(tmp_path, CXX=str(wrapper))
    assert picky[0], picky[1]
    assert abs(picky[2] - compiled[2]) <= 1e-12 * max(1.0, abs(compiled[2]))


def test_an_unwritable_cache_folder_falls_back_to_the_temporary_directory(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    available, reason, _ = _probe(tmp_path, DYNAN_CACHE_DIR=str(blocker))
    assert available, reason
    assert f"dynan-{os.getuid()}" in reason
