"""Bilevel optimization: first-order penalty and minimax solvers, stochastic hypergradient
solvers and exact baselines, all running through :func:`optlib.run`."""

from optlib.bilevel import problems as problems
from optlib.bilevel._aid import ImplicitDiff as ImplicitDiff
from optlib.bilevel._aid import Unrolled as Unrolled
from optlib.bilevel._common import BilevelInfo as BilevelInfo
from optlib.bilevel._common import inverse_power_sgd as inverse_power_sgd
from optlib.bilevel._common import normalized_momentum as normalized_momentum
from optlib.bilevel._newton import Newton as Newton
from optlib.bilevel._newton import NewtonState as NewtonState
from optlib.bilevel._penalty import Penalty as Penalty
from optlib.bilevel._penalty import PenaltyState as PenaltyState
from optlib.bilevel._problem import BilevelProblem as BilevelProblem
from optlib.bilevel._scalebio import LayerSampling as LayerSampling
from optlib.bilevel._scalebio import ScaleBiO as ScaleBiO
from optlib.bilevel._scalebio import ScaleBiOState as ScaleBiOState
from optlib.bilevel._scalebio import reweighting_problem as reweighting_problem
from optlib.bilevel._stochastic import BOREP as BOREP
from optlib.bilevel._stochastic import F2SA as F2SA
from optlib.bilevel._stochastic import SOBA as SOBA
from optlib.bilevel._stochastic import F2SAState as F2SAState
from optlib.bilevel._stochastic import SOBAState as SOBAState

__all__ = [
    "BOREP",
    "BilevelInfo",
    "BilevelProblem",
    "F2SA",
    "F2SAState",
    "ImplicitDiff",
    "LayerSampling",
    "Newton",
    "NewtonState",
    "Penalty",
    "PenaltyState",
    "SOBA",
    "SOBAState",
    "ScaleBiO",
    "ScaleBiOState",
    "Unrolled",
    "inverse_power_sgd",
    "normalized_momentum",
    "problems",
    "reweighting_problem",
]
