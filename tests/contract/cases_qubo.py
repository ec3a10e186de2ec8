"""Contract cases for the qubo dual methods."""

import dataclasses

import jax.numpy as jnp
import networkx as nx
import numpy as np
from scipy.optimize import linprog

from optlib._testing import ContractCase
from optlib.qubo import ExactSolver, ProximalBundle, SeparableSolver, SubgradientDual, mdkp, mis


def _make_knapsack(seed: int):
    rng = np.random.default_rng(seed)
    p = rng.integers(5, 30, 8).astype(float)
    W = rng.integers(1, 20, (2, 8)).astype(float)
    c = np.array([30.0, 30.0])
    lp = -linprog(-p, A_ub=W, b_ub=c, bounds=(0, 1), method="highs").fun
    return jnp.zeros(2), (mdkp(p, W, c),), jnp.asarray(-lp)


def _check_lp_bound(result, lp_min):
    got = float(result.state.best_dual)
    assert abs(got - float(lp_min)) <= 1e-4 * abs(float(lp_min)), (got, float(lp_min))


def _make_mis(seed: int):
    graph = nx.gnm_random_graph(9, 12, seed=seed)
    prob = mis(graph)
    alpha = len(nx.max_weight_clique(nx.complement(graph), weight=None)[0])
    return jnp.zeros(prob.num_multipliers), (prob,), jnp.asarray(-float(alpha))


def _check_zero_gap(result, value):
    assert float(result.state.best_primal) == float(value)
    assert abs(float(result.state.best_dual) - float(value)) <= 1e-4


def _with_field(name):
    return lambda solver, value: dataclasses.replace(solver, **{name: value})


CASES = [
    ContractCase(
        name="ProximalBundle-mdkp-lp-bound",
        solver=ProximalBundle(SeparableSolver(), tol=1e-5, use_repair=False),
        make_problem=_make_knapsack,
        with_hyperparameter=_with_field("serious_fraction"),
        hyperparameter_values=(0.1, 0.2),
        max_steps=200,
        check=_check_lp_bound,
    ),
    ContractCase(
        name="SubgradientDual-mis-zero-gap",
        solver=SubgradientDual(ExactSolver(), use_repair=False),
        make_problem=_make_mis,
        with_hyperparameter=_with_field("step_size"),
        hyperparameter_values=(1.0, 0.7),
        max_steps=300,
        check=_check_zero_gap,
    ),
]
