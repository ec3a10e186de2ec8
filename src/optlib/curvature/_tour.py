"""Tour entry for K-FAC (see ``python -m optlib``)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from optlib._tour import TourEntry, TourOutcome
from optlib.core._hooks import ProgressBar
from optlib.core._loop import run


def _kfac_least_squares_hedge() -> TourOutcome:
    # A linear hedging policy fitted by K-FAC on fixed Heston paths: a least-squares problem
    # whose exact answer numpy gives.
    from optlib.curvature._kfac import kfac
    from optlib.hedging import DeepHedger, HedgingProblem, Heston, MeanSquaredError, MLPHedger

    problem = HedgingProblem(market=Heston(xi=0.5), num_steps=4, maturity=0.1,
                             risk=MeanSquaredError(), premium=0.02)
    paths = problem.simulate(jax.random.key(0), 64)
    feats = np.asarray(problem.features(paths), np.float64)
    ds = np.diff(np.asarray(paths.spot, np.float64), axis=1)
    design = np.concatenate([np.einsum("nkf,nk->nf", feats, ds), ds.sum(1, keepdims=True)], 1)
    target = np.asarray(problem.option.payoff(paths.spot[:, -1])) - problem.premium
    theta = np.linalg.lstsq(design, target, rcond=None)[0]
    solver = DeepHedger(problem, MLPHedger(hidden=()),
                        functools.partial(kfac, damping=1e-10, exact_damping=True),
                        {"learning_rate": 0.5}, num_paths=64, tol=1e-7)
    params = jax.tree.map(jnp.zeros_like, solver.init_params(jax.random.key(1)))
    result = run(solver, params, paths, max_steps=500,
                 hooks=[ProgressBar(every=10, desc="least-squares hedge (K-FAC)")])
    got = np.concatenate([np.asarray(result.params["head"]["kernel"])[:, 0],
                          np.asarray(result.params["head"]["bias"])])
    err = float(np.max(np.abs(got - theta)) / np.max(np.abs(theta)))
    return TourOutcome(f"rel. err {err:.1e} in {int(result.num_steps)} steps",
                       "numpy lstsq", err < 1e-3)


ENTRIES = [
    TourEntry("curvature", "least-squares hedge, linear policy", "kfac (expand)",
              _kfac_least_squares_hedge),
]
