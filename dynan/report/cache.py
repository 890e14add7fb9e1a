"""Analysis results cached by checkpoint content, analysis and parameters.

A cached result is the analysis' own ``Result`` JSON, stored at

    <out>/.cache/<analysis>/<sha256[:16] of each checkpoint, joined by "+">-<key[:16]>.json

where ``key`` is the SHA-256 of the canonical JSON of (analysis, full checkpoint hashes,
parameters, dynan version, hash of the source of the dynan and dynan_models packages). A second run
with the same checkpoints and settings therefore only reads JSON and redraws; changing a
parameter, a checkpoint's bytes, or the analysis code computes afresh. Files are written
atomically (``Result.to_json``); an unreadable cache file is recomputed and overwritten.

Cost: one SHA-256 of a small JSON string per lookup plus one read of the result file.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import dynan_models
from dynan.results import Result
from dynan_models import __version__

__all__ = ["AnalysisCache"]

R = TypeVar("R", bound=Result)


@cache
def _source_hash() -> str:
    """SHA-256 of every source file of the ``dynan`` and ``dynan_models`` packages: the Python
    modules and the C++ of the compiled steps (``dynan_models.native``).

    An analysis result depends on code far from the module defining its class (a fit's search,
    the network's step), so any change to either package invalidates every cached result.
    Cost: one read of ~150 small files per process.
    """
    digest = hashlib.sha256()
    dynan_root = Path(__file__).resolve().parents[1]  # not `import dynan`: no import circle
    for root in (dynan_root, Path(inspect.getfile(dynan_models)).parent):
        sources = (p for p in root.rglob("*") if p.suffix in (".py", ".cpp"))
        for path in sorted(sources):
            digest.update(path.relative_to(root.parent).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


class AnalysisCache:
    """A directory of cached analysis results (``root/.cache``), or a pass-through if disabled.

    Parameters
    ----------
    root : path or None
        The report's output directory; ``None`` disables caching (everything is computed).
    enabled : bool
        ``False`` recomputes everything but still writes fresh results (``--no-cache``).

    Attributes
    ----------
    hits, misses : int
        How many lookups were served from disk and how many were computed.

    Examples
    --------
    >>> import tempfile
    >>> from dataclasses import dataclass
    >>> from dynan.results import Result
    >>> @dataclass(frozen=True)
    ... class Answer(Result):
    ...     value: float
    >>> store = AnalysisCache(tempfile.mkdtemp())
    >>> first = store.get_or_compute("demo", "ab" * 32, {"x": 1}, Answer, lambda: Answer(42.0))
    >>> again = store.get_or_compute("demo", "ab" * 32, {"x": 1}, Answer, lambda: Answer(0.0))
    >>> again.value, store.hits, store.misses
    (42.0, 1, 1)
    """

    def __init__(self, root: str | os.PathLike | None, *, enabled: bool = True):
        self.directory = None if root is None else Path(root) / ".cache"
        self.enabled = enabled and root is not None
        self.hits = 0
        self.misses = 0

    def key(
        self,
        analysis: str,
        checkpoints: str | Sequence[str],
        params: Mapping[str, Any],
        result_type: type[Result],
    ) -> str:
        """The full SHA-256 key of one cached result."""
        shas = [checkpoints] if isinstance(checkpoints, str) else list(checkpoints)
        if not shas or not all(isinstance(s, str) and s for s in shas):
            raise ValueError(f"checkpoints must be non-empty sha256 strings, got {checkpoints!r}")
        try:
            canonical = json.dumps(
                {
                    "analysis": analysis,
                    "checkpoints": shas,
                    "params": dict(params),
                    "version": __version__,
                    "result": result_type.__qualname__,
                    "code": _source_hash(),
                },
                sort_keys=True,
                allow_nan=False,
            )
        except (TypeError, ValueError) as err:
            raise ValueError(
                f"cache parameters of {analysis!r} must be finite JSON values: {err}"
            ) from err
        return hashlib.sha256(canonical.encode()).hexdigest()

    def path(
        self,
        analysis: str,
        checkpoints: str | Sequence[str],
        params: Mapping[str, Any],
        result_type: type[Result],
    ) -> Path | None:
        """Where the result would be stored (None when caching is off)."""
        if self.directory is None:
            return None
        shas = [checkpoints] if isinstance(checkpoints, str) else list(checkpoints)
        key = self.key(analysis, shas, params, result_type)
        stem = "+".join(s[:16] for s in shas)
        return self.directory / analysis / f"{stem}-{key[:16]}.json"

    def get_or_compute(
        self,
        analysis: str,
        checkpoints: str | Sequence[str],
        params: Mapping[str, Any],
        result_type: type[R],
        compute: Callable[[], R],
    ) -> R:
        """The cached result if there is one, else ``compute()`` (stored for next time).

        Parameters
        ----------
        analysis : str
            Name of the analysis (a folder of the cache).
        checkpoints : str or sequence of str
            SHA-256 of the checkpoint(s) the result depends on (``net.checkpoint.sha256``).
        params : mapping
            Every parameter that changes the result (JSON values).
        result_type : type
            The ``Result`` subclass to decode the file with.
        compute : callable
            Produces the result when it is not cached; must return a ``result_type``.

        Raises
        ------
        TypeError
            If ``compute`` returns something other than a ``result_type``.
        """
        path = self.path(analysis, checkpoints, params, result_type)
        if path is not None and self.enabled and path.is_file():
            try:
                result = result_type.from_json(path)
            except (ValueError, TypeError, KeyError, OSError) as err:
                warnings.warn(f"ignoring unreadable cache file {path}: {err}", stacklevel=2)
            else:
                self.hits += 1
                return result
        result = compute()
        if not isinstance(result, result_type):
            raise TypeError(
                f"analysis {analysis!r} returned {type(result).__name__}, "
                f"expected {result_type.__name__}"
            )
        self.misses += 1
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            result.to_json(path)
        return result
