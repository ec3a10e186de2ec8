"""Tour entries for the hedging area (see ``python -m optlib``)."""

from __future__ import annotations

import jax
import numpy as np

from optlib._tour import TourEntry, TourOutcome


def _heston_qe_vs_closed_form() -> TourOutcome:
    from optlib.hedging import Heston, heston_call, simulate_heston

    model = Heston(kappa=1.0, theta=0.04, xi=2.0, rho=-0.7, v0=0.04)
    exact = float(heston_call(100.0, 100.0, 30 / 365, model))
    paths = simulate_heston(jax.random.key(0), model, 100.0, 30 / 365, 30, 100_000)
    payoff = np.maximum(np.asarray(paths.spot[:, -1], np.float64) - 100.0, 0.0)
    mc, se = payoff.mean(), payoff.std() / np.sqrt(payoff.size)
    return TourOutcome(f"QE-M {mc:.4f} +- {se:.4f}, closed form {exact:.6f}",
                       "1.691834 (note 4.4)", abs(mc - exact) < 3 * se
                       and abs(exact - 1.691834) < 1e-3)


def _deep_hedge_lstm() -> TourOutcome:
    import functools

    from optlib.core._hooks import ProgressBar
    from optlib.core._loop import run
    from optlib.curvature._kfac import kfac
    from optlib.hedging import (
        DeepHedger,
        HedgingProblem,
        LSTMHedger,
        MeanSquaredError,
        black_scholes_call,
        black_scholes_hedge,
        evaluate_policy,
        hedging_metrics,
    )

    problem = HedgingProblem(market=None, num_steps=10, risk=MeanSquaredError(),
                             premium=float(black_scholes_call(1.0, 1.0, 30 / 365, 0.2)))
    solver = DeepHedger(problem, LSTMHedger(8),
                        functools.partial(kfac, damping=1e-3, inverse_every=2,
                                          sequence="recurrent"),
                        {"learning_rate": 0.5}, num_paths=512, stats_paths=256)
    result = run(solver, solver.init_params(jax.random.key(0)), key=jax.random.key(1),
                 max_steps=60, hooks=[ProgressBar(every=10, desc="LSTM deep hedge (K-FAC)")])
    test = problem.simulate(jax.random.key(2), 4096)
    learned = float(evaluate_policy(solver, result.params, test).risk)
    delta = float(hedging_metrics(problem, test, black_scholes_hedge(problem, test, 0.2)).risk)
    naked = float(hedging_metrics(problem, test, 0.0 * black_scholes_hedge(problem, test)).risk)
    return TourOutcome(f"MSE {learned:.2e} (unhedged {naked:.2e})",
                       f"BS delta {delta:.2e}", learned < 0.25 * naked)


ENTRIES = [
    TourEntry("hedging", "Heston ATM call, 30 daily steps", "simulate_heston (QE-M)",
              _heston_qe_vs_closed_form),
    TourEntry("hedging", "GBM call, MSE hedge, LSTM(8)", "DeepHedger + kfac (recurrent)",
              _deep_hedge_lstm),
]
