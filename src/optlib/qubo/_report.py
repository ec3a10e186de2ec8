"""A host-side summary of a dual run: bounds, gaps, feasibility and variable counts."""

from __future__ import annotations

from typing import Any

import numpy as np

from optlib.qubo._encodings import slack_variable_count
from optlib.qubo._model import ConstrainedBinaryProblem


def dual_report(problem: ConstrainedBinaryProblem, result: Any,
                optimum: float | None = None) -> dict[str, Any]:
    """Summarizes a finished dual run (minimization form throughout).

    Args:
        problem: the problem that was solved (concrete, unbatched).
        result: the :class:`optlib.RunResult` of a dual method (its state is a
            :class:`DualState`).
        optimum: the known optimum in minimization form (e.g. minus the best knapsack
            profit), for the optimality gap.

    Returns:
        A dict with ``dual_bound``, ``primal_value``, ``duality_gap``, ``feasible`` (the
        returned solution satisfies every constraint), ``feasible_rate`` (raw inner samples),
        ``optimality_gap`` (``(primal - optimum) / |optimum|``, or ``None``), ``oracle_calls``,
        ``variables`` (slack-free), ``slack_variables`` (what the slack encoding adds; ``None``
        when the inequality data is not integer) and ``status``.

    Example:
        >>> import jax.numpy as jnp, optlib
        >>> from optlib.qubo import mdkp, SeparableSolver, ProximalBundle, dual_report
        >>> prob = mdkp([5.0, 4.0, 3.0], [[2.0, 3.0, 1.0]], [4.0])
        >>> res = optlib.run(ProximalBundle(SeparableSolver()), jnp.zeros(1), prob, max_steps=50)
        >>> r = dual_report(prob, res, optimum=-8.0)
        >>> r["primal_value"], r["optimality_gap"], r["variables"], r["slack_variables"]
        (-8.0, 0.0, 3, 3)
    """
    import optlib

    state = result.state
    primal = float(state.best_primal)
    dual = float(state.best_dual)
    try:
        slack = slack_variable_count(problem)
    except ValueError:
        slack = None
    feasible = bool(np.isfinite(primal)) and bool(problem.is_feasible(state.best_x))
    gap = (primal - dual) / max(abs(primal), 1e-300) if np.isfinite(primal) and np.isfinite(
        dual) else float("inf")
    opt_gap = None
    if optimum is not None and np.isfinite(primal):
        opt_gap = (primal - optimum) / max(abs(optimum), 1e-300)
    samples = max(int(state.sample_count), 1)
    return {"dual_bound": dual, "primal_value": primal, "duality_gap": gap,
            "feasible": feasible, "feasible_rate": int(state.feasible_count) / samples,
            "optimality_gap": opt_gap, "oracle_calls": int(state.count),
            "variables": problem.num_variables, "slack_variables": slack,
            "status": optlib.Status(int(result.status)).name}
