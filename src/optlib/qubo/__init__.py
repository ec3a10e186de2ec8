"""QUBOs, constrained binary problems, samplers and slack-free Lagrangian dual methods."""

from optlib.qubo._builders import mdkp, mis, qap, tsp
from optlib.qubo._dimod import from_dimod, to_dimod
from optlib.qubo._dual import (
    AugmentedLagrangian,
    CuttingPlane,
    DualAveraging,
    DualInfo,
    DualState,
    ProximalBundle,
    SubgradientDual,
    multiplier_scale,
)
from optlib.qubo._encodings import (
    SlackEncoding,
    augmented_lagrangian_qubo,
    lagrangian_qubo,
    slack_penalty_qubo,
    slack_variable_count,
)
from optlib.qubo._model import QUBO, ConstrainedBinaryProblem
from optlib.qubo._parsers import (
    KnapsackInstance,
    TSPLIBInstance,
    held_karp,
    read_dimacs,
    read_mdkp,
    read_tsplib,
    tsplib_distances,
)
from optlib.qubo._qaoa import QAOASampler, cvar, qaoa_state, vqe_state
from optlib.qubo._repair import greedy_assignment, kick, repair, tour_length, two_opt
from optlib.qubo._report import dual_report
from optlib.qubo._samplers import (
    ExactSolver,
    ParallelTempering,
    SampleSet,
    SeparableSolver,
    SimulatedAnnealing,
    beta_schedule,
    default_beta_range,
    enumerate_energies,
)

__all__ = [
    "AugmentedLagrangian",
    "ConstrainedBinaryProblem",
    "CuttingPlane",
    "DualAveraging",
    "DualInfo",
    "DualState",
    "ExactSolver",
    "KnapsackInstance",
    "ParallelTempering",
    "ProximalBundle",
    "QAOASampler",
    "QUBO",
    "SampleSet",
    "SeparableSolver",
    "SimulatedAnnealing",
    "SlackEncoding",
    "SubgradientDual",
    "TSPLIBInstance",
    "augmented_lagrangian_qubo",
    "beta_schedule",
    "cvar",
    "default_beta_range",
    "dual_report",
    "enumerate_energies",
    "from_dimod",
    "greedy_assignment",
    "held_karp",
    "kick",
    "lagrangian_qubo",
    "mdkp",
    "mis",
    "multiplier_scale",
    "qaoa_state",
    "qap",
    "read_dimacs",
    "read_mdkp",
    "read_tsplib",
    "repair",
    "slack_penalty_qubo",
    "slack_variable_count",
    "to_dimod",
    "tour_length",
    "tsp",
    "tsplib_distances",
    "two_opt",
    "vqe_state",
]
