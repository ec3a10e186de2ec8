"""Learning-rate schedules: linear decay, cosine, WSD, array-backed and refined schedules,
gradient-norm logging and the last-iterate bound (Defazio et al., arXiv:2310.07831)."""

from optlib.schedules._array import ArraySchedule, from_array
from optlib.schedules._bound import LastIterateBound, last_iterate_bound
from optlib.schedules._logger import GradNormLoggerState, grad_norm_logger, logged_grad_norms
from optlib.schedules._parametric import (
    Cosine,
    InverseSqrt,
    LinearDecay,
    WarmupStableDecay,
    cosine,
    inverse_sqrt,
    linear_decay,
    wsd,
)
from optlib.schedules._refine import (
    DegenerateScheduleWarning,
    RefinedSchedule,
    median_smooth,
    refine,
)

__all__ = [
    "ArraySchedule",
    "Cosine",
    "DegenerateScheduleWarning",
    "GradNormLoggerState",
    "InverseSqrt",
    "LastIterateBound",
    "LinearDecay",
    "RefinedSchedule",
    "WarmupStableDecay",
    "cosine",
    "from_array",
    "grad_norm_logger",
    "inverse_sqrt",
    "last_iterate_bound",
    "linear_decay",
    "logged_grad_norms",
    "median_smooth",
    "refine",
    "wsd",
]
