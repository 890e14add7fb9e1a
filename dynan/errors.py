"""The few exceptions dynan raises at its public boundary."""

from __future__ import annotations

__all__ = ["CheckpointError", "DynanError", "SystemError_"]


class DynanError(Exception):
    """Base class: a problem with what the user gave dynan, stated in one line."""


class CheckpointError(DynanError, ValueError):
    """A checkpoint file is missing, corrupt, unsafe, unknown or inconsistent."""


class SystemError_(DynanError, ValueError):
    """A dynamical system cannot be built or stepped (bad shapes, non-finite state, ...)."""
