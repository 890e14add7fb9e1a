"""The networks the studies run on, the per-checkpoint numbers, and the cache that holds them.

Two settings: the psMNIST tier (``models/zoo/psmnist/``, Geadah et al.'s task at reduced
size) and the digits zoo (``models/zoo/*-digits-*.safetensors``, 64 steps), each a list of
:class:`Network` records. Per-checkpoint numbers (accuracy clean and under the paper's
perturbations) come from :func:`accuracy_table`, which runs through the Dask sweep engine
(``dynan.sweep.run_sweep``) when it exists and otherwise evaluates each checkpoint here. Every
expensive number is cached by checkpoint hash, parameters and the source of dynan,
dynan_models and these studies (:class:`StudyCache`), so ``make studies`` reruns in seconds.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from dynan.checkpoint import load, read_config
from dynan.report.cache import AnalysisCache
from dynan.results import Result

__all__ = [
    "STATIC",
    "Network",
    "Numbers",
    "StudyCache",
    "accuracy_table",
    "discover",
    "group",
    "load_network",
]

#: The static neuron variants of Geadah et al. (fixed or learned, non-adapting shapes).
STATIC = ("relu", "softplus", "gamma-homogeneous", "gamma-heterogeneous")


@dataclass(frozen=True)
class Network:
    """One checkpoint: where it is, what it is (architecture, seed, task), its content hash."""

    name: str
    path: str
    sha256: str
    architecture: str
    seed: int | None
    task: str
    hidden_size: int


@dataclass(frozen=True)
class Numbers(Result):
    """A cached bundle of plain JSON numbers (lists, dicts, floats) for one analysis."""

    values: dict


def _source_hash(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(set(paths)):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


class StudyCache:
    """:class:`~dynan.report.cache.AnalysisCache` keyed also by the studies' own source: the
    module that defines ``compute`` and this one (so editing one study recomputes only it).

    ``root`` None disables caching (tests).
    """

    def __init__(self, root: str | Path | None, *, enabled: bool = True):
        self._cache = AnalysisCache(root, enabled=enabled)

    @property
    def hits(self) -> int:
        return self._cache.hits

    @property
    def misses(self) -> int:
        return self._cache.misses

    def numbers(
        self,
        analysis: str,
        networks: Network | Sequence[Network],
        params: dict,
        compute: Callable[[], dict],
    ) -> dict:
        """The cached ``compute()`` (a dict of JSON values) for these networks and parameters."""
        nets = [networks] if isinstance(networks, Network) else list(networks)
        shas = [n.sha256 for n in nets] or ["0" * 64]
        where = Path(inspect.getsourcefile(compute) or __file__).resolve()
        code = _source_hash(where, Path(__file__).resolve())
        result = self._cache.get_or_compute(
            analysis,
            shas,
            {**params, "study_code": code},
            Numbers,
            lambda: Numbers(compute()),
        )
        return result.values


def _task_name(task: dict | None) -> str:
    if not task:
        return "none"
    name = str(task.get("name", "none"))
    if name == "mnist":
        steps = 784 // int(task.get("downsample", 1)) ** 2
        return f"{'ps' if task.get('permuted', True) else 's'}mnist-{steps}"
    return name


def describe(path: str | Path) -> Network:
    """A :class:`Network` record from a checkpoint's header (no weights read)."""
    path = Path(path)
    config = read_config(path)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    args = config.get("arguments", {})
    return Network(
        name=path.stem,
        path=str(path),
        sha256=sha,
        architecture=str(config["architecture"]),
        seed=config.get("seed"),
        task=_task_name(config.get("task")),
        hidden_size=int(args.get("hidden_size", 0)),
    )


def discover(zoo: str | Path = "models/zoo") -> dict[str, list[Network]]:
    """The two settings: ``{"psmnist": [...], "digits": [...]}`` (sorted by name; may be empty).

    psMNIST checkpoints count once training finished (their metrics hold ``test_accuracy``).

    Examples
    --------
    >>> settings = discover("models/zoo")
    >>> sorted(settings)
    ['digits', 'psmnist']
    """
    zoo = Path(zoo)
    digits = [describe(p) for p in sorted(zoo.glob("*-digits-*.safetensors"))]
    # a run still training has written only validation metrics: skip it (it is rewritten)
    finished = [
        p
        for p in sorted((zoo / "psmnist").glob("*.safetensors"))
        if "test_accuracy" in read_config(p).get("metrics", {})
    ]
    psmnist = [describe(p) for p in finished]
    return {"psmnist": psmnist, "digits": [n for n in digits if n.task == "digits"]}


def group(networks: Sequence[Network], architectures: Sequence[str] | str) -> list[Network]:
    """The networks whose architecture is one of ``architectures``."""
    wanted = (architectures,) if isinstance(architectures, str) else tuple(architectures)
    return [n for n in networks if n.architecture in wanted]


def load_network(net: Network, *, dtype: torch.dtype = torch.float64) -> Any:
    """The network of a record, in eval mode (float64 for analyses by default)."""
    return load(net.path, dtype=dtype)


#: The sweep's perturbations (``dynan.sweep`` column acc_<name>): (name, kind, amplitude).
SWEEP_PERTURBATIONS = (
    ("clean", "clean", 0.0),
    ("sinusoid", "sinusoid", 0.5),
    ("step", "step", 1.0),
    ("noise", "noise", 1.0),
)
#: Stronger drives evaluated here, beyond the sweep's: (name, kind, amplitude).
EXTRA_PERTURBATIONS = (("step-2", "step", 2.0), ("noise-2", "noise", 2.0))


def _evaluate(net: Network, perturbations: Sequence[tuple], limit: int | None) -> dict:
    from dynan_models.evaluation import evaluate
    from dynan_models.perturbations import Perturbation
    from dynan_models.tasks import Split, load_task

    model = load_network(net, dtype=torch.float32)
    task = load_task(model.checkpoint.task)
    test = task.test if limit is None else Split(task.test.x[:limit], task.test.y[:limit])
    out = {}
    for name, kind, amplitude in perturbations:
        p = Perturbation(name, kind, amplitude)
        out[name] = evaluate(model, test, task.objective, perturbation=p)[1]
    out["examples"] = len(test)
    return out


def _sweep_accuracy(networks: Sequence[Network], out: Path) -> dict[str, dict[str, float]]:
    """The sweep engine's accuracy columns (its own cache in ``out``), by checkpoint name."""
    from dynan.sweep import run_sweep

    result = run_sweep(
        [n.path for n in networks],
        analyses=["accuracy"],
        out=out,
        workers=2,
        progress=False,
        figures=False,
    )
    table = result.table.set_index("name")
    rows = {}
    for n in networks:
        row = table.loc[n.name]
        if str(row.get("error", "")):
            raise RuntimeError(f"sweep failed on {n.path}: {row['error']}")
        rows[n.name] = {p: float(row[f"acc_{p}"]) for p, _, _ in SWEEP_PERTURBATIONS}
    return rows


def accuracy_table(
    networks: Sequence[Network],
    cache: StudyCache,
    *,
    limit: int | None = None,
    sweep: str | Path | None = None,
) -> dict[str, dict[str, float]]:
    """Test accuracy of each network, clean and under the paper's perturbations.

    Parameters
    ----------
    networks : sequence of Network
    cache : StudyCache
    limit : int, optional
        Use the first ``limit`` test examples (only where the sweep is not used).
    sweep : path, optional
        Run the four standard perturbations through the Dask sweep engine
        (``dynan.sweep.run_sweep``, whole test split) with its cache in this folder; the
        stronger drives of :data:`EXTRA_PERTURBATIONS` are evaluated here. None: all here.

    Returns
    -------
    dict
        name → {perturbation name → accuracy, "examples" → test examples used}.

    Notes
    -----
    One forward pass of the test split per perturbation: O(P n T (N² + N G²)) per network.
    """
    if sweep is not None and networks:
        base = _sweep_accuracy(networks, Path(sweep))
        extra, used = EXTRA_PERTURBATIONS, None
    else:
        base, extra, used = {}, SWEEP_PERTURBATIONS + EXTRA_PERTURBATIONS, limit
    params = {"limit": used, "perturbations": [list(p) for p in extra]}
    out = {}
    for n in networks:
        row = cache.numbers("accuracy", n, params, lambda n=n: _evaluate(n, extra, used))
        out[n.name] = {**base.get(n.name, {}), **row}
    return out
