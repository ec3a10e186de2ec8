"""Contract cases for the core solvers."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax

import optlib
from optlib._testing import ContractCase


def _quadratic(x, A, b):
    r = x - b
    return 0.5 * r @ (A @ r)


def _make_quadratic(seed: int):
    rng = np.random.default_rng(seed)
    M = rng.normal(size=(4, 4))
    A = M @ M.T / 4 + np.eye(4)
    b = rng.normal(size=4)
    return jnp.zeros(4), (jnp.asarray(A), jnp.asarray(b)), jnp.asarray(b)


def _with_field(name):
    return lambda solver, value: dataclasses.replace(solver, **{name: value})


def _with_hyperparam(name):
    return lambda solver, value: dataclasses.replace(
        solver, hyperparams={**solver.hyperparams, name: value})


CASES = [
    ContractCase(
        name="GradientDescent-quadratic",
        solver=optlib.GradientDescent(_quadratic, learning_rate=0.2, tol=1e-9),
        make_problem=_make_quadratic,
        with_hyperparameter=_with_field("learning_rate"),
        hyperparameter_values=(0.2, 0.15),
        max_steps=5000,
        atol=1e-7,
    ),
    ContractCase(
        name="OptaxSolver-adam-quadratic",
        solver=optlib.OptaxSolver(_quadratic, optax.adam, hyperparams={"learning_rate": 0.05},
                                  tol=1e-9),
        make_problem=_make_quadratic,
        with_hyperparameter=_with_hyperparam("learning_rate"),
        hyperparameter_values=(0.05, 0.03),
        max_steps=20000,
        atol=1e-6,
    ),
    ContractCase(
        name="OptaxSolver-lbfgs-quadratic",
        solver=optlib.OptaxSolver(_quadratic, optax.lbfgs(), tol=1e-10),
        make_problem=_make_quadratic,
        with_hyperparameter=_with_field("tol"),
        hyperparameter_values=(1e-10, 1e-11),
        max_steps=200,
        atol=1e-8,
    ),
]

del jax
