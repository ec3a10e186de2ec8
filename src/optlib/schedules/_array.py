"""An interpolated, array-backed schedule (for refined or measured schedules)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from optlib.core._base import solver_dataclass
from optlib.schedules._common import check_scalar, time_dtype

DEFAULT_MAX_KNOTS = 4096


@solver_dataclass
class ArraySchedule:
    """``count -> peak_value * interp(count / total_steps, knots)`` on a uniform grid.

    Build it with :func:`from_array`. ``values[k]`` is the value at normalized time
    ``k / (K - 1)``; after ``total_steps`` the last value holds. Evaluating it costs one
    gather of two knots (no search), and the knots are a traced leaf, so replacing them
    with another array of the same length does not recompile.

    Attributes:
        values: ``(K,)`` knot values.
        total_steps: the horizon ``T`` that normalized time 1 maps to.
        peak_value: a multiplier (the peak learning rate for a schedule with maximum 1).
    """

    values: jax.Array
    total_steps: ArrayLike
    peak_value: ArrayLike = 1.0

    def __call__(self, count: ArrayLike) -> jax.Array:
        dtype = time_dtype(self.values, self.peak_value)
        values = jnp.asarray(self.values, dtype)
        last = values.shape[0] - 1
        t = jnp.asarray(count).astype(dtype)
        x = jnp.clip(t / jnp.asarray(self.total_steps, dtype), 0.0, 1.0) * last
        i = jnp.clip(jnp.floor(x).astype(jnp.int32), 0, last - 1)
        frac = x - i.astype(dtype)
        value = values[i] * (1.0 - frac) + values[i + 1] * frac
        return self.peak_value * value


def from_array(values: ArrayLike, total_steps: ArrayLike, peak_value: ArrayLike = 1.0, *,
               max_knots: int = DEFAULT_MAX_KNOTS) -> ArraySchedule:
    """A schedule that linearly interpolates ``values`` over ``[0, total_steps]``.

    ``values`` is read in normalized time (``values[0]`` at step 0, ``values[-1]`` at step
    ``total_steps``), so an array from :func:`refine` computed on any grid, or the schedule
    of a run of another length, can drive a run of ``total_steps`` updates. Arrays longer
    than ``max_knots`` are resampled on the host to ``max_knots`` points, so the compiled
    step never holds more than a few thousand floats.

    Args:
        values: a 1-D array of at least 2 finite values.
        total_steps: the horizon ``T`` (a positive number; may be traced).
        peak_value: multiplies every value (for a refined schedule with maximum 1 this is the
            peak learning rate to re-tune).
        max_knots: the largest number of knots kept (static).

    Returns:
        An :class:`ArraySchedule`.

    Raises:
        ValueError: for a ``values`` array that is not 1-D, has fewer than 2 entries or
            non-finite entries, or a non-positive ``total_steps``.

    Example:
        >>> import numpy as np
        >>> from optlib.schedules import from_array
        >>> sched = from_array(np.array([0.0, 1.0, 0.0]), total_steps=100, peak_value=0.5)
        >>> [round(float(sched(k)), 3) for k in (0, 25, 50, 100, 200)]
        [0.0, 0.25, 0.5, 0.0, 0.0]
    """
    if isinstance(max_knots, bool) or not isinstance(max_knots, (int, np.integer)) \
            or max_knots < 2:
        raise ValueError(f"max_knots must be an int >= 2, got {max_knots!r}")
    check_scalar("total_steps", total_steps, minimum=0.0, strict=True)
    check_scalar("peak_value", peak_value)
    if isinstance(values, jax.core.Tracer):
        if values.ndim != 1 or values.shape[0] < 2:
            raise ValueError(f"values must be a 1-D array of length >= 2, got shape "
                             f"{values.shape}")
        if values.shape[0] > max_knots:
            raise ValueError(f"a traced values array must have at most max_knots={max_knots} "
                             f"entries, got {values.shape[0]}")
        return ArraySchedule(values, total_steps, peak_value)
    arr = np.asarray(values)
    if arr.ndim != 1 or arr.shape[0] < 2:
        raise ValueError(f"values must be a 1-D array of length >= 2, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) or not np.all(np.isfinite(arr)):
        raise ValueError("values must be finite numbers")
    if arr.shape[0] > max_knots:
        arr = np.interp(np.linspace(0.0, 1.0, max_knots), np.linspace(0.0, 1.0, arr.shape[0]),
                        arr.astype(np.float64))
    return ArraySchedule(jnp.asarray(arr), total_steps, peak_value)
