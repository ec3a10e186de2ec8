"""Argument checks shared by the hedging modules (run before tracing)."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np


def concrete(value: Any) -> np.ndarray | None:
    """The value as a NumPy array, or ``None`` when it is traced (checks are then skipped)."""
    if any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(value)):
        return None
    return np.asarray(value)


def check(name: str, value: Any, ok: Any, expected: str) -> None:
    """Raises ``ValueError`` naming ``name`` when a concrete ``value`` fails ``ok``."""
    arr = concrete(value)
    if arr is None:
        return
    if not np.all(ok(arr)):
        raise ValueError(f"{name} must be {expected}, got {value!r}")


def check_positive_int(name: str, value: Any) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)
