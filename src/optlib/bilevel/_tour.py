"""Tour entries for optlib.bilevel (see ``python -m optlib --area bilevel``)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from optlib._tour import TourEntry, TourOutcome
from optlib.bilevel import problems
from optlib.bilevel._aid import ImplicitDiff
from optlib.bilevel._penalty import Penalty
from optlib.core._hooks import ProgressBar
from optlib.core._loop import run


def _implicit_diff_quadratic() -> TourOutcome:
    quad = problems.quadratic(jax.random.key(0), dim_outer=5, dim_inner=10)
    solver = ImplicitDiff(quad.problem, outer_hyperparams={"learning_rate": 1.0},
                          inner_hyperparams={"learning_rate": 1.0}, inner_steps=500,
                          inner_tol=1e-8, tol=1e-6)
    result = run(solver, (quad.x0, quad.y0), quad.inner_data, quad.outer_data, max_steps=2000,
                 hooks=[ProgressBar(every=20, desc="quadratic bilevel (AID)")])
    x_star, _ = quad.solution()
    err = float(jnp.max(jnp.abs(result.params[0] - x_star)))
    return TourOutcome(f"max |x - x*| = {err:.1e} in {int(result.num_steps)} steps",
                       "closed form", err < 1e-4)


def _penalty_non_unique() -> TourOutcome:
    toy = problems.non_unique_lower_level()
    solver = Penalty(toy.problem, sigma=0.5, sigma0=0.5, outer_hyperparams={"learning_rate": 0.5},
                     inner_hyperparams={"learning_rate": 0.5}, inner_steps=20, tol=1e-8)
    result = run(solver, (toy.x0, toy.y0), max_steps=1000,
                 hooks=[ProgressBar(every=20, desc="non-unique lower level (Penalty)")])
    got = np.concatenate([np.asarray(result.params[0]), np.asarray(result.params[1])])
    err = float(np.max(np.abs(got - 1.0)))
    return TourOutcome(f"(x, y1, y2) = {np.round(got, 4).tolist()}", "(1, 1, 1)", err < 1e-4)


ENTRIES = [
    TourEntry("bilevel", "quadratic bilevel, 5 x 10", "ImplicitDiff", _implicit_diff_quadratic),
    TourEntry("bilevel", "BDA toy, non-unique lower level", "Penalty", _penalty_non_unique),
]
