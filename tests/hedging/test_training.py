"""The deep-hedging trainer, policies and metrics."""

import dataclasses
import functools
import importlib.util
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optlib
import optlib.curvature as oc
import optlib.hedging as h

_spec = importlib.util.spec_from_file_location(
    "cases_hedging", pathlib.Path(__file__).parents[1] / "contract" / "cases_hedging.py")
cases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cases)
KFAC_CASE, ADAM_CASE = cases.CASES


def _err(result, solution):
    return max(float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
               for a, b in zip(jax.tree.leaves(result.params), jax.tree.leaves(solution)))


def test_adam_contract_least_squares_hedge():
    params, args, solution = ADAM_CASE.make_problem(0)
    result = optlib.run(ADAM_CASE.solver, params, *args, max_steps=ADAM_CASE.max_steps)
    assert optlib.Status(int(result.status)) is optlib.Status.SUCCESS
    assert _err(result, solution) < ADAM_CASE.atol
    kfac = optlib.run(KFAC_CASE.solver, params, *args, max_steps=KFAC_CASE.max_steps)
    assert int(kfac.num_steps) * 5 < int(result.num_steps)  # the curvature pays off here


# LSTM with the recurrent approximation and a fixed learning rate; MLP with KFAC-reduce and
# Martens & Grosse's adaptive step (learning rate, momentum and damping from the exact GGN
# model, which the trainer passes as ggn_gram). The expand mode's preconditioner is checked
# exactly on an RNN in tests/curvature (one compiled training run costs more than every
# other check of this file).
@pytest.mark.parametrize("policy,mode,adaptive", [(h.LSTMHedger(4), "recurrent", False),
                                                  (h.MLPHedger((4,)), "reduce", True)])
def test_kfac_training_reduces_quadratic_hedging_error(policy, mode, adaptive):
    # GBM, no costs, MSE: the unhedged error is far above what delta hedging achieves.
    problem = h.HedgingProblem(market=None, num_steps=8, risk=h.MeanSquaredError(),
                               premium=float(h.black_scholes_call(1.0, 1.0, 30 / 365, 0.2)))
    solver = h.DeepHedger(problem, policy,
                          functools.partial(oc.kfac, damping=1e-3, inverse_every=2,
                                            sequence=mode, adaptive_learning_rate=adaptive,
                                            adaptive_momentum=adaptive,
                                            adaptive_damping=adaptive),
                          {"learning_rate": 0.5}, num_paths=256, stats_paths=128)
    params = solver.init_params(jax.random.key(0))
    test = problem.simulate(jax.random.key(7), 4000)
    risk = jax.jit(lambda p: h.evaluate_policy(solver, p, test).risk)  # one compile, two calls
    before = risk(params)
    result = optlib.run(solver, params, key=jax.random.key(1), max_steps=25,
                        hooks=[optlib.History()])
    after = risk(result.params)
    no_hedge = h.hedging_metrics(problem, test, jnp.zeros((4000, 8))).risk
    assert np.all(np.isfinite(result.history.valid().info.risk))
    assert float(after) < 0.5 * float(min(before, no_hedge))


def test_metrics_against_numpy_and_baselines():
    problem = h.HedgingProblem(market=None, num_steps=30, cost_rate=1e-3)
    paths = problem.simulate(jax.random.key(3), 20000)
    delta = h.black_scholes_hedge(problem, paths, sigma=0.2)
    m = h.hedging_metrics(problem, paths, delta)
    res = h.hedge_pnl(paths, delta, problem.option, cost_rate=1e-3)
    x = np.asarray(res.pnl)
    assert float(m.risk) == pytest.approx(np.log(np.mean(np.exp(-x))), rel=1e-10)
    assert float(m.price) == pytest.approx(float(m.risk))  # premium 0, rho(0) = 0
    assert float(m.pnl_var) == pytest.approx(x.var(ddof=1), rel=1e-10)
    assert float(m.sharpe) == pytest.approx(x.mean() / x.std(ddof=1), rel=1e-10)
    assert float(m.cost) == pytest.approx(float(np.mean(res.costs)), rel=1e-12)
    np.testing.assert_allclose(m.pnl_quantiles, np.quantile(x, [0.01, 0.05, 0.5, 0.95, 0.99]))
    assert float(m.cvar95) == pytest.approx(np.mean(np.sort(-x)[-1000:]), rel=1e-10)
    # Delta hedging removes most of the variance of the unhedged short call.
    naked = h.hedging_metrics(problem, paths, jnp.zeros_like(delta))
    assert float(m.pnl_var) < 0.1 * float(naked.pnl_var)
    # The indifference price of the delta-hedged call is close to the BS price.
    bs = float(h.black_scholes_call(1.0, 1.0, 30 / 365, 0.2))
    assert abs(float(m.price) - bs) < 0.2 * bs


def test_heston_hedge_matches_pointwise_delta():
    problem = h.HedgingProblem(num_steps=3)
    # Two hand-made paths (a variance near zero on the first): no simulation to compile.
    times = jnp.linspace(0.0, 30 / 365, 4)
    paths = h.Paths(jnp.array([[1.0, 1.02, 0.97, 1.01], [1.0, 0.98, 1.03, 1.05]]),
                    jnp.array([[0.04, 1e-4, 0.02, 0.03], [0.04, 0.06, 0.09, 0.05]]), times)
    hedge = h.heston_hedge(problem, paths, num_nodes=128, variance_floor=0.0)
    s, v, t = float(paths.spot[1, 2]), float(paths.variance[1, 2]), float(
        paths.times[-1] - paths.times[2])
    delta = jax.jit(h.heston_delta, static_argnames="num_nodes")  # compiled, not op by op
    ref = np.clip(delta(s, 1.0, t, problem.market._replace(v0=v), num_nodes=128), 0, 1)
    assert float(hedge[1, 2]) == pytest.approx(float(ref), rel=1e-12)
    with pytest.raises(ValueError, match="Heston"):
        h.heston_hedge(h.HedgingProblem(market=None), paths)


def test_bad_input():
    with pytest.raises(ValueError, match="num_steps"):
        h.HedgingProblem(num_steps=0)
    with pytest.raises(ValueError, match="cost_rate"):
        h.HedgingProblem(cost_rate=-1e-3)
    with pytest.raises(ValueError, match="rho"):
        h.HedgingProblem(market=h.Heston(rho=2.0))
    with pytest.raises(ValueError, match="num_paths"):
        h.DeepHedger(h.HedgingProblem(), h.MLPHedger(), optax.adam, {"learning_rate": 1e-3},
                     num_paths=0)
    with pytest.raises(ValueError, match="stats_paths"):
        h.DeepHedger(h.HedgingProblem(), h.MLPHedger(), optax.adam, {"learning_rate": 1e-3},
                     num_paths=8, stats_paths=16)
    problem = h.HedgingProblem(num_steps=5)
    other = h.HedgingProblem(num_steps=7).simulate(jax.random.key(0), 4)
    with pytest.raises(ValueError, match="num_steps"):
        problem.pnl(other, jnp.zeros((4, 7)))
    solver = h.DeepHedger(problem, h.MLPHedger((2,)), optax.adam, {"learning_rate": 1e-3},
                          num_paths=4)
    params = solver.init_params(jax.random.key(0))
    with pytest.raises(ValueError, match="Paths"):
        solver.step(params, solver.init(params), jnp.zeros(3))
    with pytest.raises(ValueError, match="key"):
        solver.step(params, solver.init(params))
    assert dataclasses.replace(solver, tol=1e-3).tol == 1e-3


@pytest.mark.parametrize("policy", [h.LSTMHedger(4), h.MLPHedger((4, 3))])
def test_policy_taps_give_exact_kronecker_gradients(policy):
    # With a loss whose Hessian is the identity the statistics' cotangent is 1, so for every
    # registered kernel sum_{n,t} a_{n,t} g_{n,t}^T must be the exact gradient of the summed
    # outputs: this checks each tap's inputs and output gradients against autodiff.
    x = jax.random.normal(jax.random.key(3), (5, 6, 3))
    params = policy.init(jax.random.key(4), x)["params"]

    def apply_fn(variables, x):
        return policy.apply(variables, x, mutable=oc.TAP_COLLECTIONS)

    stats = oc.curvature_stats(apply_fn, params, x, loss=lambda o: 0.5 * jnp.sum(o**2))
    grads = jax.grad(lambda p: policy.apply({"params": p}, x).sum())(params)
    flat = {"/".join(k.key for k in path): g
            for path, g in jax.tree_util.tree_flatten_with_path(grads)[0]}
    assert set(stats) == {k for k in flat if k.endswith("kernel")}
    for name, (a, g) in stats.items():
        a, g = np.asarray(a), np.asarray(g)
        np.testing.assert_allclose(a.reshape(-1, a.shape[-1]).T @ g.reshape(-1, g.shape[-1]),
                                   flat[name], rtol=1e-12, atol=1e-14)
    if isinstance(policy, h.LSTMHedger):
        # Both kernels feed the same gate pre-activations: the same output gradients.
        np.testing.assert_array_equal(stats["input_kernel"][1], stats["recurrent_kernel"][1])
