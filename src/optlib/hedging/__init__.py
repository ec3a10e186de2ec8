"""Deep hedging: Heston/Black-Scholes markets, P&L with costs, risk measures, policies, training."""

from optlib.hedging._black_scholes import black_scholes_call as black_scholes_call
from optlib.hedging._black_scholes import black_scholes_delta as black_scholes_delta
from optlib.hedging._black_scholes import simulate_gbm as simulate_gbm
from optlib.hedging._heston import Heston as Heston
from optlib.hedging._heston import Paths as Paths
from optlib.hedging._heston import heston_call as heston_call
from optlib.hedging._heston import heston_delta as heston_delta
from optlib.hedging._heston import simulate_heston as simulate_heston
from optlib.hedging._metrics import HedgingMetrics as HedgingMetrics
from optlib.hedging._metrics import black_scholes_hedge as black_scholes_hedge
from optlib.hedging._metrics import evaluate_policy as evaluate_policy
from optlib.hedging._metrics import hedging_metrics as hedging_metrics
from optlib.hedging._metrics import heston_hedge as heston_hedge
from optlib.hedging._options import EuropeanOption as EuropeanOption
from optlib.hedging._options import PnL as PnL
from optlib.hedging._options import hedge_pnl as hedge_pnl
from optlib.hedging._policies import LSTMHedger as LSTMHedger
from optlib.hedging._policies import MLPHedger as MLPHedger
from optlib.hedging._problem import HedgingProblem as HedgingProblem
from optlib.hedging._problem import hedge_features as hedge_features
from optlib.hedging._risk import CVaR as CVaR
from optlib.hedging._risk import EntropicRisk as EntropicRisk
from optlib.hedging._risk import MeanSquaredError as MeanSquaredError
from optlib.hedging._risk import indifference_price as indifference_price
from optlib.hedging._trainer import DeepHedger as DeepHedger
from optlib.hedging._trainer import DeepHedgerInfo as DeepHedgerInfo
from optlib.hedging._trainer import DeepHedgerState as DeepHedgerState

__all__ = [
    "CVaR",
    "DeepHedger",
    "DeepHedgerInfo",
    "DeepHedgerState",
    "EntropicRisk",
    "EuropeanOption",
    "HedgingMetrics",
    "HedgingProblem",
    "Heston",
    "LSTMHedger",
    "MLPHedger",
    "MeanSquaredError",
    "Paths",
    "PnL",
    "black_scholes_call",
    "black_scholes_delta",
    "black_scholes_hedge",
    "evaluate_policy",
    "hedge_features",
    "hedge_pnl",
    "hedging_metrics",
    "heston_call",
    "heston_delta",
    "heston_hedge",
    "indifference_price",
    "simulate_gbm",
    "simulate_heston",
]
