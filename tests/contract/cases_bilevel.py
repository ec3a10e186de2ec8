"""Contract cases for the bilevel solvers (quadratic bilevel problem, closed-form answers)."""

import dataclasses

import jax
import optax

from optlib._testing import ContractCase
from optlib.bilevel import (
    BOREP,
    F2SA,
    SOBA,
    ImplicitDiff,
    Penalty,
    ScaleBiO,
    problems,
)

SIGMA = 0.05  # penalty-type solvers converge to the minimizer of psi_sigma (closed form)


def _quad(seed):
    return problems.quadratic(jax.random.key(seed), dim_outer=3, dim_inner=4)


def _exact(seed):
    q = _quad(seed)
    return (q.x0, q.y0), (q.inner_data, q.outer_data), q.solution()


def _penalized(seed):
    q = _quad(seed)
    return (q.x0, q.y0), (q.inner_data, q.outer_data), q.penalty_solution(SIGMA)


def _with_outer_lr(solver, value):
    return dataclasses.replace(
        solver, outer_hyperparams={**solver.outer_hyperparams, "learning_rate": value})


def _with_field(name):
    return lambda solver, value: dataclasses.replace(solver, **{name: value})


# Unrolled shares ImplicitDiff's outer loop (only the adjoint differs); it is checked in
# tests/bilevel (hypergradient against the closed form) and by its docstring example.
_problem = problems.quadratic(jax.random.key(0), 3, 4).problem
_constant = {"power": 0.0}

CASES = [
    ContractCase(
        name="bilevel-ImplicitDiff-quadratic",
        solver=ImplicitDiff(_problem, outer_hyperparams={"learning_rate": 1.0},
                            inner_hyperparams={"learning_rate": 1.0}, inner_steps=500,
                            inner_tol=1e-12, tol=1e-9),
        make_problem=_exact, with_hyperparameter=_with_outer_lr,
        hyperparameter_values=(1.0, 0.9), max_steps=3000, atol=1e-7),
    ContractCase(
        name="bilevel-SOBA-quadratic",
        solver=SOBA(_problem, outer_hyperparams={"learning_rate": 0.5, **_constant},
                    inner_hyperparams={"learning_rate": 0.8, **_constant}, tol=1e-9),
        make_problem=_exact, with_hyperparameter=_with_outer_lr,
        hyperparameter_values=(0.5, 0.4), max_steps=20000, atol=1e-6),
    ContractCase(
        name="bilevel-BOREP-quadratic",
        solver=BOREP(_problem, outer_optimizer=optax.sgd,
                     outer_hyperparams={"learning_rate": 0.5},
                     inner_hyperparams={"learning_rate": 0.8}, linear_system_lr=0.8, tol=1e-9),
        make_problem=_exact, with_hyperparameter=_with_outer_lr,
        hyperparameter_values=(0.5, 0.4), max_steps=20000, atol=1e-6),
    ContractCase(
        name="bilevel-Penalty-double-loop-quadratic",
        solver=Penalty(_problem, sigma=SIGMA, sigma0=SIGMA,
                       outer_hyperparams={"learning_rate": 0.5},
                       inner_hyperparams={"learning_rate": 0.8}, inner_steps=20, tol=1e-9),
        make_problem=_penalized, with_hyperparameter=_with_outer_lr,
        hyperparameter_values=(0.5, 0.4), max_steps=5000, atol=1e-6),
    ContractCase(
        name="bilevel-Penalty-single-loop-quadratic",
        solver=Penalty(_problem, sigma=SIGMA, sigma0=SIGMA, variant="single_loop",
                       outer_hyperparams={"learning_rate": 0.1},
                       inner_hyperparams={"learning_rate": 0.8}, tol=1e-9),
        make_problem=_penalized, with_hyperparameter=_with_outer_lr,
        hyperparameter_values=(0.1, 0.08), max_steps=30000, atol=1e-6),
    ContractCase(
        name="bilevel-F2SA-quadratic",
        solver=F2SA(_problem, step_size=0.8, lmbda0=1 / SIGMA, delta_lmbda=0.0, inner_steps=20,
                    exponents=(0.0, 0.0, 0.0, 0.0), tol=1e-9),
        make_problem=_penalized, with_hyperparameter=_with_field("step_size"),
        hyperparameter_values=(0.8, 0.7), max_steps=5000, atol=1e-6),
    ContractCase(
        name="bilevel-ScaleBiO-quadratic",
        solver=ScaleBiO(_problem, alpha=1 / SIGMA, outer_optimizer=optax.sgd,
                        outer_hyperparams={"learning_rate": 0.1}, inner_optimizer=optax.sgd,
                        inner_hyperparams={"learning_rate": 0.8 * SIGMA}, tol=1e-9),
        make_problem=_penalized, with_hyperparameter=_with_outer_lr,
        hyperparameter_values=(0.1, 0.08), max_steps=30000, atol=1e-6),
]

