"""Contract cases for optlib.dag: TopoSwap on a small linear SEM with a known graph."""

import dataclasses

import jax
import numpy as np

import optlib.dag as dag
from optlib._testing import ContractCase

_D = 8


def _make_problem(seed: int):
    k1, k2, k3 = jax.random.split(jax.random.key(100 + seed), 3)
    B = dag.simulate_dag(k1, _D, 2 * _D, "ER")
    X = dag.simulate_linear_sem(k3, dag.simulate_parameter(k2, B), 1000, "gauss")
    solver = dag.TopoSwap()
    order0 = np.random.default_rng(seed).permutation(_D)
    return solver.init_params(order0), (solver.prepare(X),), np.asarray(B)


def _check(result, B_true):
    W = np.asarray(result.params.W, dtype=float)
    est = (np.abs(W) >= 0.3).astype(int)
    assert dag.is_dag(est)
    assert dag.count_accuracy(np.asarray(B_true).astype(int), est)["shd"] == 0


CASES = [
    ContractCase(
        name="dag.TopoSwap",
        solver=dag.TopoSwap(),
        make_problem=_make_problem,
        with_hyperparameter=lambda s, v: dataclasses.replace(s, tol=v),
        hyperparameter_values=(1e-12, 1e-10),
        max_steps=100,
        check=_check,
    ),
]
