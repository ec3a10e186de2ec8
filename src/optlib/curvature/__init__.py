"""Curvature-based preconditioning: K-FAC for dense and recurrent (weight-shared) layers."""

from optlib.curvature._factors import factor_stats as factor_stats
from optlib.curvature._factors import pi_correction as pi_correction
from optlib.curvature._factors import preconditioner as preconditioner
from optlib.curvature._factors import zeta_inverse as zeta_inverse
from optlib.curvature._kfac import KFACBlockState as KFACBlockState
from optlib.curvature._kfac import KFACState as KFACState
from optlib.curvature._kfac import KFACTransformation as KFACTransformation
from optlib.curvature._kfac import kfac as kfac
from optlib.curvature._quadratic import ggn_gram as ggn_gram
from optlib.curvature._taps import KFAC_INPUTS as KFAC_INPUTS
from optlib.curvature._taps import PERTURBATIONS as PERTURBATIONS
from optlib.curvature._taps import TAP_COLLECTIONS as TAP_COLLECTIONS
from optlib.curvature._taps import Dense as Dense
from optlib.curvature._taps import curvature_stats as curvature_stats
from optlib.curvature._taps import tap_inputs as tap_inputs
from optlib.curvature._taps import tap_outputs as tap_outputs

__all__ = [
    "KFAC_INPUTS",
    "PERTURBATIONS",
    "TAP_COLLECTIONS",
    "Dense",
    "KFACBlockState",
    "KFACState",
    "KFACTransformation",
    "curvature_stats",
    "factor_stats",
    "ggn_gram",
    "kfac",
    "pi_correction",
    "preconditioner",
    "tap_inputs",
    "tap_outputs",
    "zeta_inverse",
]
