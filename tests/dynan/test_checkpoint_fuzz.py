"""Fuzzing ``dynan.load``: thousands of mutated checkpoints, only ``CheckpointError`` escapes,
and no header makes the loader allocate more than a small multiple of the file.

The mutations (``checkpoint_fuzz.py``) cover raw bytes, the header length, every JSON value of
the config, the tensor entries, and self-consistent headers whose sizes only the file size
contradicts. Memory is bounded two ways: the address space is capped at +1 GiB while fuzzing
(an allocation from a lying size then fails and counts as an escape), and the Python heap of
each load is traced (tracemalloc) against the size of its file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from checkpoint_fuzz import fuzz

#: Per load: its file's bytes are read once and the JSON header is a fraction of them; the
#: constant covers the error message, the traceback and the small objects of a config.
_HEAP_PER_FILE_BYTE = 4
_HEAP_CONSTANT = 512 * 2**10


@pytest.fixture
def folder(tmp_path):
    """A folder in memory (tmpfs) when there is one: the fuzzer writes a file per mutation."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        with tempfile.TemporaryDirectory(dir=shm) as name:
            yield Path(name)
    else:
        yield tmp_path


def _assert_contract(outcome) -> None:
    assert outcome.escaped == 0, f"{outcome}: {outcome.escapes}"
    # the fuzzer reaches both sides of the contract
    assert outcome.counts["CheckpointError"] > 0.5 * sum(outcome.counts.values())
    assert outcome.counts["ok"] > 0


def test_fuzz_only_checkpoint_errors_escape(folder):
    outcome = fuzz(2000, folder, seed=1, trace=False)
    _assert_contract(outcome)


def test_fuzz_heap_of_one_load_bounded_by_its_file(folder):
    outcome = fuzz(300, folder, seed=2, trace=True)
    _assert_contract(outcome)
    bound = _HEAP_PER_FILE_BYTE * outcome.peak_file + _HEAP_CONSTANT
    assert 0 < outcome.peak_traced <= bound, outcome


@pytest.mark.slow
def test_fuzz_ten_thousand_mutations(folder):
    outcome = fuzz(10_000, folder, seed=3, trace=True)
    _assert_contract(outcome)
    assert outcome.peak_traced <= _HEAP_PER_FILE_BYTE * outcome.peak_file + _HEAP_CONSTANT
