"""optlib: pure-functional numerical optimization in JAX.

The core (solver protocol, :func:`run`, hooks, adjoints) is re-exported here; the
application areas live in subpackages (``optlib.bilevel``, ``optlib.schedules``,
``optlib.dag``, ``optlib.curvature``, ``optlib.hedging``, ``optlib.qubo``).
"""

from optlib import core as core
from optlib.core import CG as CG
from optlib.core import Direct as Direct
from optlib.core import GradientDescent as GradientDescent
from optlib.core import History as History
from optlib.core import ImplicitAdjoint as ImplicitAdjoint
from optlib.core import Neumann as Neumann
from optlib.core import OptaxSolver as OptaxSolver
from optlib.core import Print as Print
from optlib.core import ProgressBar as ProgressBar
from optlib.core import RunResult as RunResult
from optlib.core import Status as Status
from optlib.core import Trace as Trace
from optlib.core import UnrolledAdjoint as UnrolledAdjoint
from optlib.core import run as run
from optlib.core import run_steps as run_steps

__version__ = "0.1.0"

__all__ = [
    "CG",
    "Direct",
    "GradientDescent",
    "History",
    "ImplicitAdjoint",
    "Neumann",
    "OptaxSolver",
    "Print",
    "ProgressBar",
    "RunResult",
    "Status",
    "Trace",
    "UnrolledAdjoint",
    "core",
    "run",
    "run_steps",
]
