"""The deep-hedging problem: market, claim, costs, risk measure and policy features."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from optlib.hedging._black_scholes import simulate_gbm
from optlib.hedging._heston import Heston, Paths, simulate_heston
from optlib.hedging._options import EuropeanOption, PnL, hedge_pnl
from optlib.hedging._risk import EntropicRisk
from optlib.hedging._validation import check, check_positive_int


def hedge_features(paths: Paths, strike: jax.typing.ArrayLike) -> jax.Array:
    """Policy inputs at each rebalancing date: ``(log(S_k/K), sqrt(v_k), T - t_k)``.

    Args:
        paths: simulated :class:`Paths` (``(N, n + 1)``).
        strike: the claim's strike.

    Returns:
        ``(N, n, 3)`` features for dates ``t_0 .. t_{n-1}``.

    Example:
        >>> import jax, optlib.hedging as h
        >>> paths = h.simulate_heston(jax.random.key(0), h.Heston(), 1.0, 0.1, 5, 2)
        >>> h.hedge_features(paths, 1.0).shape
        (2, 5, 3)
    """
    spot, var = paths.spot[:, :-1], paths.variance[:, :-1]
    k = jnp.asarray(strike, spot.dtype)
    tau = paths.times[-1] - paths.times[:-1]
    return jnp.stack([jnp.log(spot / k), jnp.sqrt(jnp.maximum(var, 0.0)),
                      jnp.broadcast_to(tau[None, :], spot.shape)], axis=-1)


@dataclasses.dataclass(frozen=True)
class HedgingProblem:
    """Hedging a short European option with the underlying, under proportional costs.

    The defaults are the fixed benchmark of the research notes ("DH-Heston-v1"):
    Heston with ``kappa = 1, theta = v0 = 0.04, xi = 2, rho = -0.7``, ``S0 = K = 1``,
    30 daily steps to ``T = 30/365``, entropic risk with ``lam = 1``.

    Attributes:
        market: a :class:`Heston` model, or ``None`` for geometric Brownian motion with
            volatility ``sigma``.
        option: the claim sold.
        s0: initial spot.
        maturity: horizon in years.
        num_steps: rebalancing dates.
        cost_rate: proportional transaction cost.
        risk: the risk measure minimised (callable on the P&L vector).
        premium: cash received for the claim.
        sigma: GBM volatility (``market=None`` only).
        scheme: Heston scheme, ``"qe"`` or ``"euler"``.
    """

    market: Heston | None = Heston()
    option: EuropeanOption = EuropeanOption(1.0)
    s0: float = 1.0
    maturity: float = 30 / 365
    num_steps: int = 30
    cost_rate: float = 0.0
    risk: Any = EntropicRisk(1.0)
    premium: float = 0.0
    sigma: float = 0.2
    scheme: str = "qe"

    def __post_init__(self) -> None:
        check_positive_int("num_steps", self.num_steps)
        check("maturity", self.maturity, lambda x: x > 0, "positive")
        check("cost_rate", self.cost_rate, lambda x: x >= 0, "non-negative")
        check("s0", self.s0, lambda x: x > 0, "positive")
        if self.market is not None:
            self.market.validate()

    def simulate(self, key: jax.Array, num_paths: int, dtype: jnp.dtype | None = None) -> Paths:
        """Fresh paths of the market."""
        if self.market is None:
            return simulate_gbm(key, self.s0, self.sigma, self.maturity, self.num_steps,
                                num_paths, dtype=dtype)
        return simulate_heston(key, self.market, self.s0, self.maturity, self.num_steps,
                               num_paths, scheme=self.scheme, dtype=dtype)

    def features(self, paths: Paths) -> jax.Array:
        """:func:`hedge_features` for this claim."""
        return hedge_features(paths, self.option.strike)

    def pnl(self, paths: Paths, hedge: jax.Array) -> PnL:
        """:func:`hedge_pnl` with this problem's claim, costs and premium."""
        if paths.spot.shape[1] != self.num_steps + 1:
            raise ValueError(f"paths must have num_steps + 1 = {self.num_steps + 1} dates, got "
                             f"{paths.spot.shape[1]}")
        return hedge_pnl(paths, hedge, self.option, cost_rate=self.cost_rate,
                         premium=self.premium)
