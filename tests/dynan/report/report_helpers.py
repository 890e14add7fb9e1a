"""Checkpoints for the report tests: fresh networks saved like trained ones."""

from __future__ import annotations

from dynan_models import build, save_checkpoint

TASK = {"name": "digits", "seed": 0, "permuted": True}
ACCURACY = {"clean": 0.9, "sinusoid": 0.8, "step": 0.45, "noise": 0.7}
ARCHITECTURES = ("relu", "gamma-heterogeneous", "arun")


def make_checkpoint(directory, architecture, *, hidden=8, seed=0, metrics=None):
    """A freshly initialised network saved like a trained one (digits task, fake metrics)."""
    kwargs = {"controller_size": 4} if architecture == "arun" else {}
    net = build(architecture, input_size=1, hidden_size=hidden, output_size=10, **kwargs)
    default = {"accuracy": ACCURACY, "test_accuracy": 0.9, "val_accuracy": 0.91, "test_loss": 0.3}
    return save_checkpoint(
        net,
        directory / f"{architecture}-s{seed}.safetensors",
        task=TASK,
        seed=seed,
        metrics=default if metrics is None else metrics,
        training={"epochs": 2, "lr": 1e-3, "best_epoch": 2, "optimizer": "Adam"},
    )


def load_networks(directory, architectures, *, hidden=8):
    """{architecture: network} of fresh checkpoints, loaded in float64 as the report loads them.

    Seeds torch first: module-scoped fixtures run before the per-test seeding of conftest.
    """
    import torch

    from dynan.checkpoint import load

    torch.manual_seed(0)
    return {
        arch: load(make_checkpoint(directory, arch, hidden=hidden), dtype=torch.float64)
        for arch in architectures
    }


def context(root, overrides=None):
    """A report Context caching under ``root``: the fast preset, with ``overrides`` per analysis
    (``{"fixed-points": {"n_inits": 48}}``) merged into its parameters."""
    from dynan.report.cache import AnalysisCache
    from dynan.report.jobs import FAST, Context, Settings, _changed

    return Context(AnalysisCache(root), Settings(analyses=_changed(FAST, overrides or {})))
