"""Geometric Brownian motion paths and the Black-Scholes call price and delta."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.scipy.special import ndtr

from optlib.hedging._heston import Paths, _time_grid
from optlib.hedging._validation import check, check_positive_int


def simulate_gbm(key: jax.Array, s0: jax.typing.ArrayLike, sigma: jax.typing.ArrayLike,
                 maturity: float, num_steps: int, num_paths: int, *,
                 rate: jax.typing.ArrayLike = 0.0, dtype: jnp.dtype | None = None) -> Paths:
    """Simulates geometric Brownian motion exactly on the time grid.

    Args:
        key: PRNG key.
        s0: initial spot (> 0).
        sigma: volatility (>= 0).
        maturity: horizon in years (> 0).
        num_steps: number of time steps (> 0).
        num_paths: number of paths (> 0).
        rate: drift (the risk-free rate under the pricing measure).
        dtype: floating dtype (default: JAX's default float).

    Returns:
        :class:`Paths` with ``variance = sigma**2`` on every node.

    Example:
        >>> import jax, optlib.hedging as h
        >>> h.simulate_gbm(jax.random.key(0), 1.0, 0.2, 1.0, 10, 4).spot.shape
        (4, 11)
    """
    check("s0", s0, lambda x: x > 0, "positive")
    check("sigma", sigma, lambda x: x >= 0, "non-negative")
    check("maturity", maturity, lambda x: x > 0, "positive")
    num_steps = check_positive_int("num_steps", num_steps)
    num_paths = check_positive_int("num_paths", num_paths)
    dtype = dtype or jnp.result_type(float)
    sigma = jnp.asarray(sigma, dtype)
    dt = jnp.asarray(maturity, dtype) / num_steps
    z = jax.random.normal(key, (num_paths, num_steps), dtype)
    increments = (jnp.asarray(rate, dtype) - 0.5 * sigma**2) * dt + sigma * jnp.sqrt(dt) * z
    log_s = jnp.log(jnp.asarray(s0, dtype)) + jnp.concatenate(
        [jnp.zeros((num_paths, 1), dtype), jnp.cumsum(increments, axis=1)], axis=1)
    variance = jnp.full(log_s.shape, sigma**2, dtype)
    return Paths(jnp.exp(log_s), variance, _time_grid(maturity, num_steps, dtype))


def _prepare(spot, strike, tau, sigma, rate):
    """Validates, broadcasts to one float dtype, and masks expired options (``tau = 0``)."""
    check("sigma", sigma, lambda x: x > 0, "positive")
    check("tau", tau, lambda x: x >= 0, "non-negative")
    spot, strike, tau, sigma, rate = jnp.broadcast_arrays(
        *(jnp.asarray(x, jnp.result_type(spot, strike, tau, sigma, rate, float))
          for x in (spot, strike, tau, sigma, rate)))
    live = tau > 0
    return spot, strike, jnp.where(live, tau, 1.0), sigma, rate, live


def _d1(spot, strike, tau, sigma, rate):
    vol = sigma * jnp.sqrt(tau)
    return (jnp.log(spot / strike) + (rate + 0.5 * sigma**2) * tau) / vol


def black_scholes_call(spot: jax.typing.ArrayLike, strike: jax.typing.ArrayLike,
                       tau: jax.typing.ArrayLike, sigma: jax.typing.ArrayLike, *,
                       rate: jax.typing.ArrayLike = 0.0) -> jax.Array:
    """Black-Scholes price of a European call (broadcasting; ``tau = 0`` gives the payoff).

    Args:
        spot: current price (> 0).
        strike: strike (> 0).
        tau: time to maturity (>= 0).
        sigma: volatility (> 0).
        rate: risk-free rate.

    Returns:
        The call price.

    Example:
        >>> import optlib.hedging as h
        >>> round(float(h.black_scholes_call(100.0, 100.0, 1.0, 0.2, rate=0.02)), 3)
        8.916
    """
    spot, strike, tau_safe, sigma, rate, live = _prepare(spot, strike, tau, sigma, rate)
    d1 = _d1(spot, strike, tau_safe, sigma, rate)
    d2 = d1 - sigma * jnp.sqrt(tau_safe)
    price = spot * ndtr(d1) - strike * jnp.exp(-rate * tau_safe) * ndtr(d2)
    return jnp.where(live, price, jnp.maximum(spot - strike, 0.0))


def black_scholes_delta(spot: jax.typing.ArrayLike, strike: jax.typing.ArrayLike,
                        tau: jax.typing.ArrayLike, sigma: jax.typing.ArrayLike, *,
                        rate: jax.typing.ArrayLike = 0.0) -> jax.Array:
    """Black-Scholes delta ``N(d1)`` of a European call (``tau = 0``: the payoff's step).

    Args:
        spot: current price (> 0).
        strike: strike (> 0).
        tau: time to maturity (>= 0).
        sigma: volatility (> 0).
        rate: risk-free rate.

    Returns:
        The delta.

    Example:
        >>> import optlib.hedging as h
        >>> round(float(h.black_scholes_delta(100.0, 100.0, 1.0, 0.2)), 4)
        0.5398
    """
    spot, strike, tau_safe, sigma, rate, live = _prepare(spot, strike, tau, sigma, rate)
    return jnp.where(live, ndtr(_d1(spot, strike, tau_safe, sigma, rate)),
                     (spot > strike).astype(spot.dtype))
