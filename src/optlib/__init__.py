"""optlib: pure-functional numerical optimization in JAX.

The core (solver protocol, :func:`run`, hooks, adjoints) is re-exported here; the
application areas live in subpackages (``optlib.bilevel``, ``optlib.schedules``,
``optlib.dag``, ``optlib.curvature``, ``optlib.hedging``, ``optlib.qubo``).
"""

from optlib import core as core
from optlib.core import CG as CG
from optlib.core import GMRES as GMRES
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

# Application areas load on first use (``optlib.dag.TopoSwap``), so ``import optlib`` stays
# fast and a user of one area never pays for another's imports (Flax, SciPy's HiGHS, ...).
_AREAS = ("bilevel", "curvature", "dag", "datasets", "hedging", "qubo", "schedules")


def __getattr__(name: str):
    if name in _AREAS:
        import importlib

        module = importlib.import_module(f"optlib.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'optlib' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_AREAS))

__all__ = [
    "CG",
    "GMRES",
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
