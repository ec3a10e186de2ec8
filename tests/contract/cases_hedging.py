"""Contract cases for the hedging trainer (K-FAC and Adam) on a least-squares hedge."""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

import optlib.curvature as oc
import optlib.hedging as h
from optlib._testing import ContractCase

PROBLEM = h.HedgingProblem(market=h.Heston(xi=0.5), num_steps=4, maturity=0.1,
                           risk=h.MeanSquaredError(), premium=0.02)
POLICY = h.MLPHedger(hidden=())  # a linear policy: delta_k = w . f_k + b


def make_problem(seed: int):
    """Fixed paths; the MSE-optimal linear policy is a least-squares solution."""
    paths = PROBLEM.simulate(jax.random.key(seed), 64, dtype=jnp.float64)
    feats = np.asarray(PROBLEM.features(paths))
    ds = np.diff(np.asarray(paths.spot), axis=1)
    design = np.concatenate([np.einsum("nkf,nk->nf", feats, ds), ds.sum(1, keepdims=True)], 1)
    target = np.asarray(PROBLEM.option.payoff(paths.spot[:, -1])) - PROBLEM.premium
    theta = np.linalg.lstsq(design, target, rcond=None)[0]
    solution = {"head": {"kernel": jnp.asarray(theta[:3, None]), "bias": jnp.asarray(theta[3:])}}
    params = jax.tree.map(jnp.zeros_like, solution)
    return params, (paths,), solution


def _with_lr(solver, value):
    return dataclasses.replace(solver, hyperparams={"learning_rate": value})


CASES = [
    ContractCase(
        name="DeepHedger-kfac-least-squares",
        solver=h.DeepHedger(PROBLEM, POLICY,
                            functools.partial(oc.kfac, damping=1e-10, exact_damping=True),
                            {"learning_rate": 0.5}, num_paths=64, tol=1e-12),
        make_problem=make_problem,
        with_hyperparameter=_with_lr,
        hyperparameter_values=(0.5, 0.4),
        max_steps=500,
        atol=1e-6,
        float32_atol=2e-2,
    ),
    ContractCase(
        name="DeepHedger-adam-least-squares",
        solver=h.DeepHedger(PROBLEM, POLICY, optax.adam, {"learning_rate": 0.05},
                            num_paths=64, tol=1e-10),
        make_problem=make_problem,
        with_hyperparameter=_with_lr,
        hyperparameter_values=(0.05, 0.04),
        max_steps=20000,
        atol=1e-4,
        float32_atol=5e-2,
    ),
]
