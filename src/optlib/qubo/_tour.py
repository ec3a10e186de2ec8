"""Tour entries for the qubo area (see ``python -m optlib``)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from scipy.optimize import linprog

from optlib._tour import TourEntry, TourOutcome
from optlib.core import ProgressBar, run
from optlib.datasets import qubo_instance_path, qubo_optimum
from optlib.qubo._builders import mdkp, mis
from optlib.qubo._dual import ProximalBundle, SubgradientDual
from optlib.qubo._parsers import read_dimacs, read_mdkp
from optlib.qubo._samplers import SeparableSolver, SimulatedAnnealing


def _knapsack_bundle() -> TourOutcome:
    inst = read_mdkp(qubo_instance_path("mdkp", "pet2"))
    prob = mdkp(inst.profits, inst.weights, inst.capacities)
    result = run(ProximalBundle(SeparableSolver()), jnp.zeros(prob.num_multipliers), prob,
                 max_steps=200, hooks=[ProgressBar(every=10, desc="pet2 (bundle)")])
    lp = -linprog(-inst.profits, A_ub=inst.weights, b_ub=inst.capacities, bounds=(0, 1),
                  method="highs").fun
    bound = -float(result.state.best_dual)
    rel = abs(bound - lp) / lp
    return TourOutcome(f"dual bound {bound:.1f}, best {-float(result.state.best_primal):.0f} "
                       f"in {int(result.num_steps)} oracle calls",
                       f"LP bound {lp:.1f}, optimum {inst.optimum:.0f}", rel < 1e-3)


def _mis_annealing() -> TourOutcome:
    prob = mis(read_dimacs(qubo_instance_path("mis", "1tc.32")))
    sampler = SimulatedAnnealing(num_reads=32, num_sweeps=100)
    result = run(SubgradientDual(sampler), jnp.zeros(prob.num_multipliers), prob,
                 key=jax.random.key(0), max_steps=40,
                 hooks=[ProgressBar(every=5, desc="1tc.32 (subgradient + SA)")])
    alpha = qubo_optimum("mis", "1tc.32")
    found = -float(result.state.best_primal)
    return TourOutcome(f"independent set of size {found:.0f}, slack-free (32 variables)",
                       f"alpha = {alpha} (HiGHS)", found == alpha)


ENTRIES = [
    TourEntry("qubo", "SAC-94 knapsack pet2, Lagrangian dual", "ProximalBundle",
              _knapsack_bundle),
    TourEntry("qubo", "Sloane MIS 1tc.32, edge multipliers", "SubgradientDual(SA)",
              _mis_annealing),
]
