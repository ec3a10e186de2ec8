"""Input checks shared by the schedule constructors."""

from __future__ import annotations

import math
from typing import Any

import jax
import numpy as np


def concrete_float(value: Any) -> float | None:
    """``float(value)`` for a concrete scalar, ``None`` for a tracer (checked only when known)."""
    if isinstance(value, jax.core.Tracer):
        return None
    arr = np.asarray(value)
    if arr.ndim != 0:
        raise ValueError(f"expected a scalar, got an array of shape {arr.shape}")
    return float(arr)


def check_scalar(name: str, value: Any, *, minimum: float | None = None,
                 strict: bool = False, maximum: float | None = None) -> None:
    """Raises ``ValueError`` naming ``name`` when a concrete ``value`` is out of range."""
    try:
        v = concrete_float(value)
    except ValueError as err:
        raise ValueError(f"{name} must be a scalar: {err}") from None
    if v is None:
        return
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v}")
    if minimum is not None and (v <= minimum if strict else v < minimum):
        relation = ">" if strict else ">="
        raise ValueError(f"{name} must be {relation} {minimum}, got {v}")
    if maximum is not None and v > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {v}")


def time_dtype(*values: Any) -> Any:
    """The float dtype a schedule computes in: that of its hyperparameters (weak floats follow
    JAX's default), never an integer type."""
    return jax.numpy.result_type(*values, float)
