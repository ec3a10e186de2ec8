"""The core of optlib: the solver protocol, the run loop, hooks, adjoints and linear solvers."""

from optlib.core._adjoint import ImplicitAdjoint as ImplicitAdjoint
from optlib.core._adjoint import UnrolledAdjoint as UnrolledAdjoint
from optlib.core._base import Solver as Solver
from optlib.core._base import canonicalize_hyperparameters as canonicalize_hyperparameters
from optlib.core._base import solver_dataclass as solver_dataclass
from optlib.core._base import static_field as static_field
from optlib.core._gradient_descent import GradientDescent as GradientDescent
from optlib.core._gradient_descent import GradientDescentInfo as GradientDescentInfo
from optlib.core._gradient_descent import GradientDescentState as GradientDescentState
from optlib.core._hooks import History as History
from optlib.core._hooks import Hook as Hook
from optlib.core._hooks import Print as Print
from optlib.core._hooks import ProgressBar as ProgressBar
from optlib.core._hooks import Trace as Trace
from optlib.core._linear import CG as CG
from optlib.core._linear import GMRES as GMRES
from optlib.core._linear import Direct as Direct
from optlib.core._linear import Neumann as Neumann
from optlib.core._loop import RunResult as RunResult
from optlib.core._loop import run as run
from optlib.core._loop import run_steps as run_steps
from optlib.core._optax_solver import OptaxSolver as OptaxSolver
from optlib.core._optax_solver import OptaxSolverState as OptaxSolverState
from optlib.core._sharding import pmean_if as pmean_if
from optlib.core._sharding import psum_if as psum_if
from optlib.core._status import Status as Status
from optlib.core._tree import tree_allfinite as tree_allfinite
from optlib.core._tree import tree_norm as tree_norm
from optlib.core._tree import tree_vdot as tree_vdot
from optlib.core._tree import tree_where as tree_where

__all__ = [
    "CG",
    "GMRES",
    "Direct",
    "GradientDescent",
    "GradientDescentInfo",
    "GradientDescentState",
    "History",
    "Hook",
    "ImplicitAdjoint",
    "Neumann",
    "OptaxSolver",
    "OptaxSolverState",
    "Print",
    "ProgressBar",
    "RunResult",
    "Solver",
    "Status",
    "Trace",
    "UnrolledAdjoint",
    "canonicalize_hyperparameters",
    "pmean_if",
    "psum_if",
    "run",
    "run_steps",
    "solver_dataclass",
    "static_field",
    "tree_allfinite",
    "tree_norm",
    "tree_vdot",
    "tree_where",
]
