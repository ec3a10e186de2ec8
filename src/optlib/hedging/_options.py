"""European options and the hedging P&L with proportional transaction costs."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from optlib.hedging._heston import Paths
from optlib.hedging._validation import check


class EuropeanOption(NamedTuple):
    """A European call or put on the simulated asset.

    Attributes:
        strike: strike price (> 0).
        call: ``True`` for a call, ``False`` for a put.

    Example:
        >>> import jax.numpy as jnp, optlib.hedging as h
        >>> h.EuropeanOption(1.0).payoff(jnp.array([0.9, 1.2])).round(2).tolist()
        [0.0, 0.2]
    """

    strike: jax.typing.ArrayLike = 1.0
    call: bool = True

    def payoff(self, spot_at_maturity: jax.Array) -> jax.Array:
        """The payoff ``max(S_T - K, 0)`` (call) or ``max(K - S_T, 0)`` (put)."""
        check("strike", self.strike, lambda x: x > 0, "positive")
        k = jnp.asarray(self.strike, jnp.result_type(spot_at_maturity))
        diff = spot_at_maturity - k if self.call else k - spot_at_maturity
        return jnp.maximum(diff, 0.0)


class PnL(NamedTuple):
    """Per-path components of a hedged short position.

    Attributes:
        pnl: ``premium - payoff + gains - costs``, shape ``(num_paths,)``.
        gains: trading gains ``sum_k delta_k (S_{k+1} - S_k)``.
        costs: transaction costs ``sum_k c S_k |delta_k - delta_{k-1}|`` (``delta_{-1} = 0``).
        turnover: ``sum_k |delta_k - delta_{k-1}|``.
        payoff: the claim's payoff.
    """

    pnl: jax.Array
    gains: jax.Array
    costs: jax.Array
    turnover: jax.Array
    payoff: jax.Array


def hedge_pnl(paths: Paths, hedge: jax.Array, option: EuropeanOption, *,
              cost_rate: jax.typing.ArrayLike = 0.0, premium: jax.typing.ArrayLike = 0.0,
              liquidate: bool = False) -> PnL:
    """P&L of selling ``option`` for ``premium`` and trading ``hedge`` shares.

    ``hedge[:, k]`` is the position held over ``[t_k, t_{k+1})``. Proportional costs
    ``c S_k |delta_k - delta_{k-1}|`` are charged on every rebalance, the first trade
    included (pfhedge's convention); ``liquidate=True`` also charges closing the final
    position at ``S_T``. Rates are zero (undiscounted P&L).

    Args:
        paths: simulated :class:`Paths` with ``spot`` of shape ``(N, n + 1)``.
        hedge: positions, shape ``(N, n)``.
        option: the claim sold.
        cost_rate: proportional cost ``c`` (>= 0).
        premium: cash received for the option.
        liquidate: charge the cost of closing the position at maturity.

    Returns:
        :class:`PnL`.

    Example:
        >>> import jax, jax.numpy as jnp, optlib.hedging as h
        >>> paths = h.simulate_gbm(jax.random.key(0), 1.0, 0.2, 0.1, 5, 3)
        >>> h.hedge_pnl(paths, jnp.zeros((3, 5)), h.EuropeanOption(1.0)).costs.tolist()
        [0.0, 0.0, 0.0]
    """
    spot = paths.spot
    if hedge.ndim != 2 or spot.ndim != 2 or hedge.shape != (spot.shape[0], spot.shape[1] - 1):
        raise ValueError(f"hedge must have shape (num_paths, num_steps) = "
                         f"{(spot.shape[0], spot.shape[1] - 1)} to match the paths, "
                         f"got {hedge.shape}")
    check("cost_rate", cost_rate, lambda x: x >= 0, "non-negative")
    dtype = jnp.result_type(spot)
    c = jnp.asarray(cost_rate, dtype)
    gains = jnp.sum(hedge * jnp.diff(spot, axis=1), axis=1)
    prev = jnp.concatenate([jnp.zeros_like(hedge[:, :1]), hedge[:, :-1]], axis=1)
    trades = jnp.abs(hedge - prev)
    costs = c * jnp.sum(spot[:, :-1] * trades, axis=1)
    turnover = jnp.sum(trades, axis=1)
    if liquidate:
        costs = costs + c * spot[:, -1] * jnp.abs(hedge[:, -1])
        turnover = turnover + jnp.abs(hedge[:, -1])
    payoff = option.payoff(spot[:, -1])
    pnl = jnp.asarray(premium, dtype) - payoff + gains - costs
    return PnL(pnl, gains, costs, turnover, payoff)
