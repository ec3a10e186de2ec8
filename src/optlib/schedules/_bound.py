"""The last-iterate convergence bound of Defazio et al. for an arbitrary schedule."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike


class LastIterateBound(NamedTuple):
    """What :func:`last_iterate_bound` returns (scalars).

    Attributes:
        value: the bound for the schedule exactly as given.
        tuned_value: the bound after the best rescaling ``c * schedule`` (the bound of the
            schedule's shape, with its peak learning rate tuned).
        best_scale: the factor ``c`` that achieves ``tuned_value``.
    """

    value: jax.Array
    tuned_value: jax.Array
    best_scale: jax.Array


def last_iterate_bound(schedule_values: ArrayLike, grad_norms: ArrayLike,
                       distance: ArrayLike = 1.0) -> LastIterateBound:
    """The convex last-iterate bound of SGD with step sizes ``eta`` and gradient norms ``G``.

    For convex ``f`` and ``x_{t+1} = x_t - eta_t g_t`` (``t = 1..T``), with
    ``D = ||x_1 - x*||``, Defazio et al. bound ``E[f(x_T) - f*]`` by

        ``(D^2 + sum_t eta_t^2 G_t^2) / (2 sum_t eta_t)
        + 1/2 sum_{k<T} eta_k / (sum_{t>k} eta_t) * (sum_{t>=k} eta_t^2 G_t^2) / (sum_{t>=k} eta_t)``.

    Writing it as ``t1 / c + c * t23`` for the rescaled schedule ``c * eta``, the best scale
    is ``sqrt(t1 / t23)`` and the tuned bound ``2 sqrt(t1 t23)``, which compares schedule
    *shapes* independently of the peak learning rate. With constant ``G`` linear decay gives
    ``~2 D G / sqrt(T)`` (cosine ~2.06, WSD with a 20% cooldown ~2.16, a constant step
    ``~log T``). Written with ``jax.numpy`` and cumulative sums (O(T)), so it can be jitted
    and differentiated with respect to the schedule.

    Args:
        schedule_values: ``(T,)`` non-negative step sizes, the values the optimizer used at
            counts ``0..T-1`` (e.g. ``jax.vmap(schedule)(jnp.arange(T))``); the last must be
            positive, otherwise the bound is infinite.
        grad_norms: the gradient norms ``G_t``, a scalar or a ``(T,)`` array.
        distance: ``D``, the distance from the start to a minimizer.

    Returns:
        A :class:`LastIterateBound`.

    Raises:
        ValueError: for a schedule that is not 1-D with at least 2 entries, negative or
            non-finite values, a zero last value, or norms of the wrong shape or sign.

    Example:
        >>> import jax.numpy as jnp
        >>> from optlib.schedules import last_iterate_bound, linear_decay
        >>> T = 1000
        >>> eta = linear_decay(1.0, T)(jnp.arange(T))
        >>> b = last_iterate_bound(eta, 1.0)
        >>> round(float(b.tuned_value * jnp.sqrt(T)), 3)
        2.006

    References:
        Defazio, Cutkosky, Mehta & Mishchenko, arXiv:2310.07831 (the last-iterate bound for
        arbitrary schedules, Theorem 10 of the arXiv version as cited by Schaipp et al.,
        arXiv:2501.18965).
    """
    eta = jnp.asarray(schedule_values)
    if eta.ndim != 1 or eta.shape[0] < 2:
        raise ValueError(f"schedule_values must be a 1-D array with at least 2 entries, got "
                         f"shape {eta.shape}")
    G = jnp.asarray(grad_norms)
    if G.ndim not in (0, 1) or (G.ndim == 1 and G.shape != eta.shape):
        raise ValueError(f"grad_norms must be a scalar or have the schedule's shape "
                         f"{eta.shape}, got shape {G.shape}")
    if not isinstance(eta, jax.core.Tracer):
        e = np.asarray(eta)
        if not np.all(np.isfinite(e)) or np.any(e < 0):
            raise ValueError("schedule_values must be finite and non-negative")
        if e[-1] <= 0:
            raise ValueError("the last entry of schedule_values must be positive (the bound "
                             "weights the last iterate by its step size); evaluate the schedule "
                             "at counts 0..T-1, not at T")
    if not isinstance(G, jax.core.Tracer):
        gn = np.asarray(G)
        if not np.all(np.isfinite(gn)) or np.any(gn < 0):
            raise ValueError("grad_norms must be finite and non-negative")
    G = jnp.broadcast_to(G, eta.shape).astype(eta.dtype)
    a = eta**2 * G**2
    total = jnp.sum(eta)
    beta = jnp.cumsum(eta[::-1])[::-1]           # sum_{t >= k} eta_t
    gamma = jnp.cumsum(a[::-1])[::-1]            # sum_{t >= k} eta_t^2 G_t^2
    alpha = beta[1:]                             # sum_{t > k} eta_t, k < T
    t3 = 0.5 * jnp.sum(eta[:-1] / alpha * gamma[:-1] / beta[:-1])
    t1 = jnp.asarray(distance, eta.dtype) ** 2 / (2 * total)
    t23 = jnp.sum(a) / (2 * total) + t3
    return LastIterateBound(t1 + t23, 2 * jnp.sqrt(t1 * t23), jnp.sqrt(t1 / t23))
