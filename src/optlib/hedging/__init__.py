"""Deep hedging: Heston and Black-Scholes markets, P&L with costs, risk measures, policies, training."""

from optlib.hedging._black_scholes import black_scholes_call as black_scholes_call
from optlib.hedging._black_scholes import black_scholes_delta as black_scholes_delta
from optlib.hedging._black_scholes import simulate_gbm as simulate_gbm
from optlib.hedging._heston import Heston as Heston
from optlib.hedging._heston import Paths as Paths
from optlib.hedging._heston import heston_call as heston_call
from optlib.hedging._heston import heston_delta as heston_delta
from optlib.hedging._heston import simulate_heston as simulate_heston
from optlib.hedging._options import EuropeanOption as EuropeanOption
from optlib.hedging._options import PnL as PnL
from optlib.hedging._options import hedge_pnl as hedge_pnl
from optlib.hedging._risk import CVaR as CVaR
from optlib.hedging._risk import EntropicRisk as EntropicRisk
from optlib.hedging._risk import MeanSquaredError as MeanSquaredError
from optlib.hedging._risk import indifference_price as indifference_price

__all__ = [
    "CVaR",
    "EntropicRisk",
    "EuropeanOption",
    "Heston",
    "MeanSquaredError",
    "Paths",
    "PnL",
    "black_scholes_call",
    "black_scholes_delta",
    "heston_call",
    "heston_delta",
    "hedge_pnl",
    "indifference_price",
    "simulate_gbm",
    "simulate_heston",
]
