"""QUBOs, constrained binary problems, samplers and slack-free Lagrangian dual methods."""

from optlib.qubo._builders import mdkp, mis, qap, tsp
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
    "QUBO",
    "ConstrainedBinaryProblem",
    "ExactSolver",
    "KnapsackInstance",
    "ParallelTempering",
    "SampleSet",
    "SeparableSolver",
    "SimulatedAnnealing",
    "SlackEncoding",
    "TSPLIBInstance",
    "augmented_lagrangian_qubo",
    "beta_schedule",
    "default_beta_range",
    "enumerate_energies",
    "held_karp",
    "lagrangian_qubo",
    "mdkp",
    "mis",
    "qap",
    "read_dimacs",
    "read_mdkp",
    "read_tsplib",
    "slack_penalty_qubo",
    "slack_variable_count",
    "tsp",
    "tsplib_distances",
]
