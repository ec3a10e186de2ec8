"""Contract cases for schedules: optax solvers driven by optlib schedules (the schedule's
numbers are traced hyperparameters, so changing the peak must not recompile)."""

import dataclasses

import jax.numpy as jnp
import numpy as np
import optax

import optlib
from optlib._testing import ContractCase
from optlib.schedules import from_array, linear_decay, wsd


def _quadratic(x, A, b):
    r = x - b
    return 0.5 * r @ (A @ r)


def _make_quadratic(seed: int):
    rng = np.random.default_rng(100 + seed)
    M = rng.normal(size=(4, 4))
    A = M @ M.T / 8 + np.eye(4)
    b = rng.normal(size=4)
    return jnp.zeros(4), (jnp.asarray(A), jnp.asarray(b)), jnp.asarray(b)


def _with_peak(solver, value):
    sched = solver.hyperparams["learning_rate"]
    return dataclasses.replace(solver, hyperparams={
        **solver.hyperparams, "learning_rate": dataclasses.replace(sched, peak_value=value)})


def _solver(schedule):
    return optlib.OptaxSolver(_quadratic, optax.sgd, hyperparams={"learning_rate": schedule},
                              tol=1e-9)


CASES = [
    ContractCase(
        name="OptaxSolver-sgd-linear_decay-quadratic",
        solver=_solver(linear_decay(0.3, 3000.0, warmup_steps=20.0)),
        make_problem=_make_quadratic,
        with_hyperparameter=_with_peak,
        hyperparameter_values=(0.3, 0.2),
        max_steps=3000,
        atol=1e-7,
    ),
    ContractCase(
        name="OptaxSolver-sgd-wsd-quadratic",
        solver=_solver(wsd(0.3, 3000.0, warmup_steps=20.0, cooldown="1-sqrt")),
        make_problem=_make_quadratic,
        with_hyperparameter=_with_peak,
        hyperparameter_values=(0.3, 0.2),
        max_steps=3000,
        atol=1e-7,
    ),
    ContractCase(
        name="OptaxSolver-sgd-from_array-quadratic",
        solver=_solver(from_array(np.array([0.1, 1.0, 0.5, 0.0]), 3000.0, peak_value=0.3)),
        make_problem=_make_quadratic,
        with_hyperparameter=_with_peak,
        hyperparameter_values=(0.3, 0.2),
        max_steps=3000,
        atol=1e-7,
    ),
]
