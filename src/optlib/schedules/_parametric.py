"""Closed-form learning-rate schedules as pytree callables (``count -> value``).

Every schedule is a frozen dataclass registered as a pytree: its numbers are leaves, so a
jitted training step that receives the schedule as an argument is compiled once for all
peak values and horizons, and the value at step ``count`` depends on ``count`` alone
(resuming from a checkpoint only needs the optimizer's step count).
"""

from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from optlib.core._base import solver_dataclass, static_field
from optlib.schedules._common import check_scalar, concrete_float, time_dtype


def _warmup_then(t: jax.Array, peak: jax.Array, warmup: jax.Array,
                 after: jax.Array) -> jax.Array:
    # max(warmup, 1) keeps the unused branch finite when warmup == 0
    ramp = peak * t / jnp.maximum(warmup, 1)
    return jnp.where(t < warmup, ramp, after)


def _check_horizon(peak_value: ArrayLike, total_steps: ArrayLike, warmup_steps: ArrayLike,
                   end_value: ArrayLike) -> None:
    check_scalar("peak_value", peak_value, minimum=0.0)
    check_scalar("total_steps", total_steps, minimum=0.0, strict=True)
    check_scalar("warmup_steps", warmup_steps, minimum=0.0)
    check_scalar("end_value", end_value, minimum=0.0)
    total, warm = concrete_float(total_steps), concrete_float(warmup_steps)
    if total is not None and warm is not None and warm >= total:
        raise ValueError(f"warmup_steps must be < total_steps, got warmup_steps={warm:g} "
                         f"and total_steps={total:g}")


@solver_dataclass
class LinearDecay:
    """Linear warm-up from 0, then linear decay from ``peak_value`` to ``end_value``.

    Build it with :func:`linear_decay`.

    Attributes:
        peak_value: the value reached at the end of warm-up.
        total_steps: the horizon ``T``; the value is ``end_value`` from step ``T`` on.
        warmup_steps: length of the linear warm-up (0: none).
        end_value: the value at step ``T``.
    """

    peak_value: ArrayLike
    total_steps: ArrayLike
    warmup_steps: ArrayLike = 0
    end_value: ArrayLike = 0.0

    def __call__(self, count: ArrayLike) -> jax.Array:
        dtype = time_dtype(self.peak_value, self.end_value)
        t = jnp.asarray(count).astype(dtype)
        w, T = jnp.asarray(self.warmup_steps, dtype), jnp.asarray(self.total_steps, dtype)
        p = jnp.clip((t - w) / (T - w), 0.0, 1.0)
        decay = self.end_value + (self.peak_value - self.end_value) * (1.0 - p)
        return _warmup_then(t, jnp.asarray(self.peak_value, dtype), w, decay)


@solver_dataclass
class Cosine:
    """Linear warm-up from 0, then half-cosine decay from ``peak_value`` to ``end_value``.

    Build it with :func:`cosine`. Attributes as in :class:`LinearDecay`.
    """

    peak_value: ArrayLike
    total_steps: ArrayLike
    warmup_steps: ArrayLike = 0
    end_value: ArrayLike = 0.0

    def __call__(self, count: ArrayLike) -> jax.Array:
        dtype = time_dtype(self.peak_value, self.end_value)
        t = jnp.asarray(count).astype(dtype)
        w, T = jnp.asarray(self.warmup_steps, dtype), jnp.asarray(self.total_steps, dtype)
        p = jnp.clip((t - w) / (T - w), 0.0, 1.0)
        decay = self.end_value + (self.peak_value - self.end_value) * 0.5 * (
            1.0 + jnp.cos(jnp.pi * p))
        return _warmup_then(t, jnp.asarray(self.peak_value, dtype), w, decay)


@solver_dataclass
class WarmupStableDecay:
    """Warm-up, a constant phase at ``peak_value``, then a cooldown to ``end_value``.

    Build it with :func:`wsd`.

    Attributes:
        peak_value: the plateau value.
        total_steps: the horizon ``T``.
        warmup_steps: length of the linear warm-up.
        cooldown_fraction: the cooldown lasts ``cooldown_fraction * T`` steps and ends at ``T``.
        end_value: the value at step ``T``.
        cooldown: ``"linear"`` or ``"1-sqrt"`` (static).
    """

    peak_value: ArrayLike
    total_steps: ArrayLike
    warmup_steps: ArrayLike = 0
    cooldown_fraction: ArrayLike = 0.2
    end_value: ArrayLike = 0.0
    cooldown: str = static_field(default="linear")

    def __call__(self, count: ArrayLike) -> jax.Array:
        dtype = time_dtype(self.peak_value, self.end_value, self.cooldown_fraction)
        t = jnp.asarray(count).astype(dtype)
        w, T = jnp.asarray(self.warmup_steps, dtype), jnp.asarray(self.total_steps, dtype)
        length = jnp.asarray(self.cooldown_fraction, dtype) * T
        p = jnp.clip((t - (T - length)) / length, 0.0, 1.0)
        shape = jnp.sqrt(p) if self.cooldown == "1-sqrt" else p
        decay = self.end_value + (self.peak_value - self.end_value) * (1.0 - shape)
        return _warmup_then(t, jnp.asarray(self.peak_value, dtype), w, decay)


@solver_dataclass
class InverseSqrt:
    """Linear warm-up to ``peak_value``, then ``peak_value * sqrt(warmup_steps / count)``.

    Build it with :func:`inverse_sqrt`.

    Attributes:
        peak_value: the value at the end of warm-up.
        warmup_steps: the warm-up length, which also sets the decay's time scale.
    """

    peak_value: ArrayLike
    warmup_steps: ArrayLike

    def __call__(self, count: ArrayLike) -> jax.Array:
        dtype = time_dtype(self.peak_value)
        t = jnp.asarray(count).astype(dtype)
        w = jnp.asarray(self.warmup_steps, dtype)
        decay = self.peak_value * jnp.sqrt(w / jnp.maximum(t, w))
        return _warmup_then(t, jnp.asarray(self.peak_value, dtype), w, decay)


def linear_decay(peak_value: ArrayLike, total_steps: ArrayLike, warmup_steps: ArrayLike = 0,
                 end_value: ArrayLike = 0.0) -> LinearDecay:
    """Linear decay to ``end_value`` (default 0) after an optional linear warm-up.

    The worst-case optimal last-iterate schedule of Defazio et al.: with constant gradient
    norms the bound of :func:`last_iterate_bound` is about ``2 D G / sqrt(T)``. At step
    ``count`` the value is ``peak * count / warmup`` during warm-up and
    ``end + (peak - end) * (1 - (count - warmup) / (T - warmup))`` after it.

    Args:
        peak_value: the learning rate after warm-up.
        total_steps: the horizon ``T`` (optimizer updates, not micro-batches).
        warmup_steps: warm-up length (0: start at the peak).
        end_value: the value at ``T`` and after.

    Returns:
        A :class:`LinearDecay`, an ``optax.Schedule`` whose numbers are pytree leaves.

    Raises:
        ValueError: for a non-positive horizon, negative values or ``warmup_steps >= T``.

    Example:
        >>> from optlib.schedules import linear_decay
        >>> sched = linear_decay(1.0, total_steps=10, warmup_steps=2)
        >>> [round(float(sched(k)), 3) for k in (0, 1, 2, 6, 10, 20)]
        [0.0, 0.5, 1.0, 0.5, 0.0, 0.0]

    References:
        Defazio, Cutkosky, Mehta & Mishchenko, "Optimal linear decay learning rate schedules
        and further refinements", arXiv:2310.07831.
    """
    _check_horizon(peak_value, total_steps, warmup_steps, end_value)
    return LinearDecay(peak_value, total_steps, warmup_steps, end_value)


def cosine(peak_value: ArrayLike, total_steps: ArrayLike, warmup_steps: ArrayLike = 0,
           end_value: ArrayLike = 0.0) -> Cosine:
    """Half-cosine decay to ``end_value`` after an optional linear warm-up.

    Unlike ``optax.warmup_cosine_decay_schedule`` the warm-up starts at 0 and
    ``total_steps`` is the whole horizon, warm-up included. "Cosine to 10%" is
    ``cosine(peak, T, end_value=0.1 * peak)``.

    Args:
        peak_value: the learning rate after warm-up.
        total_steps: the horizon ``T``.
        warmup_steps: warm-up length.
        end_value: the value at ``T`` and after.

    Returns:
        A :class:`Cosine` schedule.

    Raises:
        ValueError: as for :func:`linear_decay`.

    Example:
        >>> from optlib.schedules import cosine
        >>> sched = cosine(1.0, total_steps=100, end_value=0.1)
        >>> [round(float(sched(k)), 3) for k in (0, 50, 100)]
        [1.0, 0.55, 0.1]
    """
    _check_horizon(peak_value, total_steps, warmup_steps, end_value)
    return Cosine(peak_value, total_steps, warmup_steps, end_value)


def wsd(peak_value: ArrayLike, total_steps: ArrayLike, warmup_steps: ArrayLike = 0,
        cooldown_fraction: ArrayLike = 0.2, cooldown: Literal["linear", "1-sqrt"] = "linear",
        end_value: ArrayLike = 0.0) -> WarmupStableDecay:
    """Warmup-stable-decay: warm-up, constant peak, and a final cooldown.

    The cooldown covers the last ``cooldown_fraction * T`` steps; with ``"1-sqrt"`` the
    value is ``end + (peak - end) * (1 - sqrt(p))`` where ``p`` is the cooldown progress
    (Hägele et al. 2024), with ``"linear"`` it is ``1 - p``. Because the stable phase does
    not depend on ``T``, a run can be extended and cooled down later.

    Args:
        peak_value: the plateau learning rate.
        total_steps: the horizon ``T``.
        warmup_steps: warm-up length.
        cooldown_fraction: fraction of ``T`` spent in the cooldown, in ``(0, 1]``.
        cooldown: ``"linear"`` or ``"1-sqrt"``.
        end_value: the value at ``T`` and after.

    Returns:
        A :class:`WarmupStableDecay` schedule.

    Raises:
        ValueError: for an unknown ``cooldown`` or out-of-range numbers.

    Example:
        >>> from optlib.schedules import wsd
        >>> sched = wsd(1.0, total_steps=100, cooldown_fraction=0.2, cooldown="1-sqrt")
        >>> [round(float(sched(k)), 3) for k in (0, 80, 85, 100)]
        [1.0, 1.0, 0.5, 0.0]

    References:
        Hägele et al., "Scaling laws and compute-optimal training beyond fixed training
        durations", NeurIPS 2024 (arXiv:2405.18392).
    """
    if cooldown not in ("linear", "1-sqrt"):
        raise ValueError(f"cooldown must be 'linear' or '1-sqrt', got {cooldown!r}")
    _check_horizon(peak_value, total_steps, warmup_steps, end_value)
    check_scalar("cooldown_fraction", cooldown_fraction, minimum=0.0, strict=True, maximum=1.0)
    return WarmupStableDecay(peak_value, total_steps, warmup_steps, cooldown_fraction,
                             end_value, cooldown)


def inverse_sqrt(peak_value: ArrayLike, warmup_steps: ArrayLike) -> InverseSqrt:
    """Linear warm-up, then decay like ``1 / sqrt(count)`` (the Transformer schedule).

    It has no horizon, so it suits runs of unknown length; its last iterate is worse than
    linear decay's by a ``log T`` factor in the convex bound.

    Args:
        peak_value: the value at ``count == warmup_steps``.
        warmup_steps: warm-up length (at least 1).

    Returns:
        An :class:`InverseSqrt` schedule.

    Raises:
        ValueError: for ``warmup_steps < 1`` or a negative peak.

    Example:
        >>> from optlib.schedules import inverse_sqrt
        >>> sched = inverse_sqrt(1.0, warmup_steps=100)
        >>> [round(float(sched(k)), 3) for k in (50, 100, 400)]
        [0.5, 1.0, 0.5]
    """
    check_scalar("peak_value", peak_value, minimum=0.0)
    check_scalar("warmup_steps", warmup_steps, minimum=1.0)
    return InverseSqrt(peak_value, warmup_steps)
