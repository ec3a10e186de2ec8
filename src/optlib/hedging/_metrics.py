"""Evaluation of hedging strategies and the delta-hedge baselines."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optlib.hedging._black_scholes import black_scholes_delta
from optlib.hedging._heston import Heston, Paths, heston_delta
from optlib.hedging._problem import HedgingProblem


class HedgingMetrics(NamedTuple):
    """Summary of a hedging strategy on a set of paths.

    Attributes:
        risk: the problem's risk measure of the P&L.
        price: indifference price ``risk(P&L) - risk(0)`` (with ``premium = 0``, the
            cash that makes the hedged short position as good as doing nothing).
        pnl_mean: mean P&L.
        pnl_var: variance of the P&L.
        pnl_quantiles: the 1%, 5%, 50%, 95% and 99% quantiles.
        cvar95: expected loss in the worst 5% of paths.
        cost: mean transaction cost.
        turnover: mean total traded quantity.
        sharpe: ``mean / std`` of the P&L, not annualised (the metric of arXiv:2411.15002).
        risk_se: Monte Carlo standard error of ``risk`` (entropic: delta method; MSE;
            ``nan`` for other risk measures).
    """

    risk: jax.Array
    price: jax.Array
    pnl_mean: jax.Array
    pnl_var: jax.Array
    pnl_quantiles: jax.Array
    cvar95: jax.Array
    cost: jax.Array
    turnover: jax.Array
    sharpe: jax.Array
    risk_se: jax.Array


def hedging_metrics(problem: HedgingProblem, paths: Paths, hedge: jax.Array) -> HedgingMetrics:
    """Evaluates positions ``hedge`` (``(N, n)``) on ``paths``.

    Args:
        problem: the hedging problem (claim, costs, risk measure, premium).
        paths: evaluation paths.
        hedge: positions, shape ``(N, n)``.

    Returns:
        :class:`HedgingMetrics`.

    Example:
        >>> import jax, jax.numpy as jnp, optlib.hedging as h
        >>> problem = h.HedgingProblem()
        >>> paths = problem.simulate(jax.random.key(0), 1000)
        >>> m = h.hedging_metrics(problem, paths, jnp.zeros((1000, 30)))
        >>> float(m.cost)
        0.0
    """
    res = problem.pnl(paths, hedge)
    x = res.pnl
    risk = problem.risk(x)
    no_premium = x - jnp.asarray(problem.premium, x.dtype)
    price = problem.risk(no_premium) - problem.risk(jnp.zeros_like(x))
    qs = jnp.quantile(x, jnp.asarray([0.01, 0.05, 0.5, 0.95, 0.99], x.dtype))
    losses = jnp.sort(-x)[::-1]
    tail = max(1, int(round(0.05 * x.shape[0])))
    std = jnp.std(x, ddof=1)
    risk_se = jnp.asarray(jnp.nan, x.dtype)
    if hasattr(problem.risk, "risk_aversion"):
        # Delta method on log-mean-exp; shifting by min(x) avoids overflow.
        lam = jnp.asarray(problem.risk.risk_aversion, x.dtype)
        e = jnp.exp(-lam * (x - jnp.min(x)))
        risk_se = jnp.std(e, ddof=1) / (jnp.sqrt(x.shape[0]) * lam * jnp.mean(e))
    elif hasattr(problem.risk, "target"):
        sq = (x - jnp.asarray(problem.risk.target, x.dtype)) ** 2
        risk_se = jnp.std(sq, ddof=1) / jnp.sqrt(x.shape[0])
    return HedgingMetrics(risk, price, jnp.mean(x), jnp.var(x, ddof=1), qs,
                          jnp.mean(losses[:tail]), jnp.mean(res.costs), jnp.mean(res.turnover),
                          jnp.mean(x) / std, risk_se)


def black_scholes_hedge(problem: HedgingProblem, paths: Paths,
                        sigma: jax.typing.ArrayLike | None = None) -> jax.Array:
    """Black-Scholes delta positions ``N(d1)`` at every date.

    Args:
        problem: the hedging problem (strike, maturity).
        paths: the paths.
        sigma: volatility used in the delta; ``None`` uses ``sqrt(v_t)`` along the path
            (under GBM this is the true volatility).

    Returns:
        ``(N, n)`` positions.

    Example:
        >>> import jax, optlib.hedging as h
        >>> problem = h.HedgingProblem(market=None)
        >>> paths = problem.simulate(jax.random.key(0), 4)
        >>> h.black_scholes_hedge(problem, paths).shape
        (4, 30)
    """
    spot = paths.spot[:, :-1]
    tau = (paths.times[-1] - paths.times[:-1])[None, :]
    vol = (jnp.sqrt(jnp.maximum(paths.variance[:, :-1], 1e-12)) if sigma is None
           else jnp.asarray(sigma, spot.dtype))
    return black_scholes_delta(spot, problem.option.strike, tau, vol)


def heston_hedge(problem: HedgingProblem, paths: Paths, *, minimum_variance: bool = False,
                 num_nodes: int = 512, variance_floor: float = 0.01) -> jax.Array:
    """Heston delta positions ``dC/dS`` (or the minimum-variance delta) at every date.

    Uses the current variance ``v_t`` of each path, floored at ``variance_floor``, and
    the problem's Heston model. The floor is needed because the Fourier integral is
    ill-conditioned when ``v_t`` is near zero with days to expiry (the law of
    ``log S_T`` is then nearly degenerate and its characteristic function barely
    decays), which happens often under QE when the Feller condition fails; the
    plain delta is also clipped to its range ``[0, e^{-qT}]``. At the floor, 512
    nodes give about 1e-2 absolute accuracy away from the money (exact ATM).

    Args:
        problem: the hedging problem with a :class:`Heston` market.
        paths: the paths.
        minimum_variance: add the ``rho xi / S dC/dv`` correction.
        num_nodes: quadrature nodes of the pricer.
        variance_floor: lower bound on the variance fed to the pricer.

    Returns:
        ``(N, n)`` positions.
    """
    if not isinstance(problem.market, Heston):
        raise ValueError("heston_hedge needs a problem with a Heston market")
    spot = paths.spot[:, :-1]
    var = jnp.maximum(paths.variance[:, :-1], jnp.asarray(variance_floor, spot.dtype))
    tau = jnp.broadcast_to((paths.times[-1] - paths.times[:-1])[None, :], spot.shape)
    model = problem.market

    def one(s, v, t):
        return heston_delta(s, problem.option.strike, t, model._replace(v0=v),
                            num_nodes=num_nodes, minimum_variance=minimum_variance)

    flat = jax.lax.map(lambda a: one(*a), (spot.reshape(-1), var.reshape(-1), tau.reshape(-1)),
                       batch_size=1024)
    hedge = flat.reshape(spot.shape)
    if not minimum_variance:
        upper = jnp.exp(-jnp.asarray(model.dividend, spot.dtype) * tau)
        hedge = jnp.clip(hedge, 0.0, upper)
    return hedge


def evaluate_policy(solver: Any, params: Any, paths: Paths) -> HedgingMetrics:
    """:func:`hedging_metrics` of a trained :class:`DeepHedger` policy on ``paths``."""
    return hedging_metrics(solver.problem, paths, solver.hedge(params, paths))
