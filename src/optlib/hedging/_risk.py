"""Risk measures of a P&L sample, with the loss curvature K-FAC needs."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from jax.scipy.special import logsumexp

from optlib.hedging._validation import check


@dataclasses.dataclass(frozen=True)
class EntropicRisk:
    """Entropic risk ``rho(X) = (1/lam) log E[exp(-lam X)]`` (exponential utility).

    Computed with ``logsumexp`` so large losses do not overflow. It is
    cash-invariant: ``rho(X + c) = rho(X) - c``, so the indifference price of a claim
    is ``rho(-Z + gains - costs) - rho(0)``.

    Attributes:
        risk_aversion: ``lam`` (> 0).

    Example:
        >>> import jax.numpy as jnp, optlib.hedging as h
        >>> round(float(h.EntropicRisk(1.0)(jnp.array([0.0, 0.0]))), 6)
        0.0
    """

    risk_aversion: float = 1.0

    def __post_init__(self) -> None:
        check("risk_aversion", self.risk_aversion, lambda x: x > 0, "positive")

    def __call__(self, pnl: jax.Array) -> jax.Array:
        lam = jnp.asarray(self.risk_aversion, pnl.dtype)
        return (logsumexp(-lam * pnl) - jnp.log(pnl.shape[0])) / lam

    def hessian_diag(self, pnl: jax.Array) -> jax.Array:
        """Diagonal of the Hessian in ``pnl``: ``lam (w - w**2)``, ``w = softmax(-lam X)``."""
        lam = jnp.asarray(self.risk_aversion, pnl.dtype)
        w = jax.nn.softmax(-lam * pnl)
        return lam * w * (1.0 - w)


@dataclasses.dataclass(frozen=True)
class MeanSquaredError:
    """Quadratic hedging loss ``E[(X - target)**2]`` (``target = 0``: replicate the claim).

    Attributes:
        target: the P&L aimed at.

    Example:
        >>> import jax.numpy as jnp, optlib.hedging as h
        >>> float(h.MeanSquaredError()(jnp.array([1.0, -1.0])))
        1.0
    """

    target: float = 0.0

    def __call__(self, pnl: jax.Array) -> jax.Array:
        return jnp.mean((pnl - jnp.asarray(self.target, pnl.dtype)) ** 2)

    def hessian_diag(self, pnl: jax.Array) -> jax.Array:
        """``2 / N`` on every path."""
        return jnp.full_like(pnl, 2.0 / pnl.shape[0])


@dataclasses.dataclass(frozen=True)
class CVaR:
    """Conditional value at risk of the loss ``-X`` at level ``alpha``.

    ``CVaR_alpha(X) = min_w w + E[max(-X - w, 0)] / (1 - alpha)`` (Rockafellar &
    Uryasev 2000). The threshold ``w`` is minimised exactly here by sorting (it is the
    ``alpha``-quantile of the loss); in training it can also be a learned parameter
    passed as ``threshold``.

    Attributes:
        alpha: confidence level in (0, 1).

    Example:
        >>> import jax.numpy as jnp, optlib.hedging as h
        >>> float(h.CVaR(0.5)(jnp.array([-4.0, -2.0, 0.0, 2.0])))
        3.0
    """

    alpha: float = 0.5

    def __post_init__(self) -> None:
        check("alpha", self.alpha, lambda x: (x > 0) & (x < 1), "in (0, 1)")

    def objective(self, pnl: jax.Array, threshold: jax.Array) -> jax.Array:
        """The Rockafellar-Uryasev function ``w + E[max(-X - w, 0)] / (1 - alpha)``."""
        a = jnp.asarray(self.alpha, pnl.dtype)
        return threshold + jnp.mean(jnp.maximum(-pnl - threshold, 0.0)) / (1.0 - a)

    def __call__(self, pnl: jax.Array, threshold: jax.Array | None = None) -> jax.Array:
        if threshold is None:
            # The objective is piecewise linear in w with a kink at every loss, so its
            # minimum is attained at one of them: evaluate them all in O(N log N).
            losses = jnp.sort(-pnl)
            n = pnl.shape[0]
            a = jnp.asarray(self.alpha, pnl.dtype)
            tail = jnp.cumsum(losses[::-1])[::-1]  # sum of losses >= losses[i]
            idx = jnp.arange(n)
            counts = (n - idx).astype(pnl.dtype)
            values = losses + (tail - counts * losses) / (n * (1.0 - a))
            return jnp.min(values)
        return self.objective(pnl, threshold)

    def hessian_diag(self, pnl: jax.Array) -> jax.Array:
        """Zero almost everywhere (piecewise linear): K-FAC needs a smoothed loss here."""
        return jnp.zeros_like(pnl)


def indifference_price(risk: EntropicRisk | CVaR | MeanSquaredError, hedged_pnl: jax.Array,
                       unhedged_reference: jax.Array | None = None) -> jax.Array:
    """Indifference price of a short claim: ``rho(premium-free hedged P&L) - rho(0)``.

    For a cash-invariant risk measure the price ``p`` solves ``rho(p + X) = rho(0)``,
    i.e. ``p = rho(X) - rho(0)``, where ``X`` is the P&L without premium.

    Args:
        risk: the risk measure.
        hedged_pnl: per-path P&L with zero premium.
        unhedged_reference: a P&L sample whose risk is ``rho(0)`` (default: zeros).

    Returns:
        The price.

    Example:
        >>> import jax.numpy as jnp, optlib.hedging as h
        >>> float(h.indifference_price(h.EntropicRisk(), jnp.array([-1.0, -1.0])))
        1.0
    """
    ref = jnp.zeros_like(hedged_pnl) if unhedged_reference is None else unhedged_reference
    return risk(hedged_pnl) - risk(ref)
