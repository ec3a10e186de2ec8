"""Tour entry for schedules (see ``python -m optlib``)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import optax

from optlib._tour import TourEntry, TourOutcome
from optlib.core._hooks import ProgressBar
from optlib.core._loop import run
from optlib.core._optax_solver import OptaxSolver
from optlib.schedules._array import from_array
from optlib.schedules._bound import last_iterate_bound
from optlib.schedules._parametric import linear_decay
from optlib.schedules._refine import refine


def _refined_vs_optimal() -> TourOutcome:
    # gradient norms that are high early, then flat: refinement should find the warm-up
    T = 200
    g = jnp.asarray(np.interp(np.arange(T) / T, [0, 0.1, 0.3, 1], [8, 3, 1, 1]))
    k = jnp.arange(T)
    linear = linear_decay(1.0, T)(k)
    refined = from_array(refine(np.asarray(g), tau=0.0, num_points=T + 1).values, T)(k)
    b_lin = float(last_iterate_bound(linear, g).tuned_value)
    b_ref = float(last_iterate_bound(refined, g).tuned_value)
    # numerical minimum of the bound over all schedules (log-parametrized), by L-BFGS
    solver = OptaxSolver(lambda z: last_iterate_bound(jnp.exp(z), g).tuned_value,
                         optax.lbfgs(), tol=1e-7)
    result = run(solver, jnp.log(refined + 1e-3), max_steps=500,
                 hooks=[ProgressBar(every=25, desc="bound minimization (L-BFGS)")])
    b_opt = min(float(last_iterate_bound(jnp.exp(result.params), g).tuned_value), b_ref)
    gap = b_ref / b_opt - 1
    return TourOutcome(
        f"refined bound {b_ref:.4f} vs linear {b_lin:.4f} ({100 * (1 - b_ref / b_lin):.0f}% "
        f"lower), {100 * gap:.2f}% above the optimum",
        f"numerical optimum {b_opt:.4f} (within 1.5%)", gap <= 0.015 and b_ref < 0.8 * b_lin)


ENTRIES = [
    TourEntry("schedules", "last-iterate bound, high-early gradient norms (T=200)",
              "refine (closed form)", _refined_vs_optimal),
]
