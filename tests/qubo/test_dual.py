"""Dual methods: weak duality, LP bound, zero gap for MIS, recompilation, vmap."""

import dataclasses
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

import optlib
from optlib._testing import count_compilations
from optlib.datasets import qubo_instance_names, qubo_instance_path, qubo_optimum
from optlib.qubo import (
    AugmentedLagrangian,
    CuttingPlane,
    DualAveraging,
    ExactSolver,
    ProximalBundle,
    SeparableSolver,
    SubgradientDual,
    held_karp,
    kick,
    lagrangian_qubo,
    mdkp,
    mis,
    read_dimacs,
    read_mdkp,
    repair,
    tsp,
)


def _brute_optimum(prob):
    n = prob.num_variables
    X = np.array(list(itertools.product([0, 1], repeat=n)), float)
    vals = np.where(np.asarray(prob.is_feasible(X)), np.asarray(prob.value(X)), np.inf)
    return vals.min()


def _small_problems():
    rng = np.random.default_rng(0)
    knap = mdkp(rng.integers(5, 30, 10), rng.integers(1, 20, (3, 10)), [40.0, 35.0, 50.0])
    graph = mis(read_dimacs(qubo_instance_path("mis", "1tc.16")))
    D = rng.integers(1, 20, (5, 5))
    D = np.triu(D, 1) + np.triu(D, 1).T
    tour = tsp(D)
    return [(knap, _brute_optimum(knap)), (graph, -qubo_optimum("mis", "1tc.16")),
            (tour, held_karp(D)[0])]


def test_weak_duality_random_multipliers_all_problems():
    rng = np.random.default_rng(1)
    for prob, opt in _small_problems():
        assert np.isfinite(opt)
        lam = prob.project(jnp.asarray(rng.exponential(size=(20, prob.num_multipliers))
                                       * rng.choice([-3, 3], size=(20, prob.num_multipliers))))

        def dual(lam, prob=prob):
            return ExactSolver().sample(lagrangian_qubo(prob, lam)).energies[0]

        q = jax.jit(jax.vmap(dual))(lam)
        assert np.all(np.asarray(q) <= opt + 1e-9), (prob.kind, float(q.max()), opt)


def _lp_bound(inst):
    res = linprog(-inst.profits, A_ub=inst.weights, b_ub=inst.capacities, bounds=(0, 1),
                  method="highs")
    return -res.fun


def test_bundle_reaches_lp_bound_on_mdkp():
    inst = read_mdkp(qubo_instance_path("mdkp", "pet2"))
    prob = mdkp(inst.profits, inst.weights, inst.capacities)
    result = optlib.run(ProximalBundle(SeparableSolver(), polish=0),
                        jnp.zeros(prob.num_multipliers), prob, max_steps=200)
    lp = _lp_bound(inst)
    assert int(result.num_steps) <= 200
    assert abs(-float(result.state.best_dual) - lp) <= 1e-3 * lp
    # the bound is a bound, and the kept (repaired) primal solution is feasible
    assert -float(result.state.best_dual) >= inst.optimum - 1e-6
    assert bool(prob.is_feasible(result.state.best_x))
    assert -float(result.state.best_primal) <= inst.optimum
    assert float(result.info.duality_gap) >= 0


def test_kelley_subgradient_and_averaging_on_mdkp():
    from optlib.qubo import dual_report

    inst = read_mdkp(qubo_instance_path("mdkp", "pb4"))
    prob = mdkp(inst.profits, inst.weights, inst.capacities)
    lp = _lp_bound(inst)
    # bounds only: the primal heuristic is exercised by the dual-averaging run below
    kelley = optlib.run(CuttingPlane(SeparableSolver(), use_repair=False), jnp.zeros(2), prob,
                        max_steps=100)
    assert optlib.Status(int(kelley.status)) is optlib.Status.SUCCESS
    assert abs(-float(kelley.state.best_dual) - lp) <= 1e-6 * lp
    sub = optlib.run(SubgradientDual(SeparableSolver(), use_repair=False), jnp.zeros(2), prob,
                     max_steps=300)
    assert abs(-float(sub.state.best_dual) - lp) <= 1e-2 * lp
    # pb4 is where greedy repair of the Lagrangian minimizers alone stalled 4.5% below the
    # optimum; with the ruin-and-recreate polish of the best solution it is within 3%
    avg = optlib.run(DualAveraging(SeparableSolver()), jnp.zeros(2), prob, max_steps=50)
    assert -float(avg.state.best_dual) >= inst.optimum
    assert bool(prob.is_feasible(avg.state.best_x))
    assert float(avg.state.best_primal) == float(prob.value(avg.state.best_x))
    assert inst.optimum * 0.97 <= -float(avg.state.best_primal) <= inst.optimum
    rep = dual_report(prob, avg, optimum=-inst.optimum)
    assert rep["feasible"] and rep["primal_value"] == float(avg.state.best_primal)
    assert rep["optimality_gap"] == pytest.approx(
        (inst.optimum + float(avg.state.best_primal)) / inst.optimum)
    assert rep["dual_bound"] <= -inst.optimum and rep["duality_gap"] >= 0
    assert rep["variables"] == 29 and rep["slack_variables"] == 45 - 29


def _qubo_min_milp(prob, lam):
    """min -sum x + sum lam_uv x_u x_v exactly (HiGHS, products linearized; lam >= 0)."""
    n = prob.num_variables
    P = np.asarray(prob.pairs)
    m = P.shape[0]
    A = np.zeros((m, n + m))
    A[np.arange(m), P[:, 0]] = 1
    A[np.arange(m), P[:, 1]] = 1
    A[np.arange(m), n + np.arange(m)] = -1
    c = np.concatenate([-np.ones(n), lam])
    res = milp(c, constraints=LinearConstraint(A, -np.inf, 1), integrality=np.ones(n + m),
               bounds=Bounds(0, 1))
    return res.fun


@pytest.mark.parametrize("name", ["1tc.8", "1tc.16", "1tc.32", "1tc.64", "1dc.64", "1dc.128"])
def test_mis_zero_duality_gap_for_multipliers_at_least_one(name):
    prob = mis(read_dimacs(qubo_instance_path("mis", name)))
    rng = np.random.default_rng(0)
    for lam in (np.ones(prob.num_multipliers), 1 + 2 * rng.random(prob.num_multipliers)):
        assert round(_qubo_min_milp(prob, lam)) == -qubo_optimum("mis", name)
    if prob.num_variables <= 32:
        # below 1 the gap opens: lam = 0.4 rewards taking both ends of an edge
        low = _qubo_min_milp(prob, np.full(prob.num_multipliers, 0.4))
        assert low < -qubo_optimum("mis", name)


def test_mis_dual_methods_close_the_gap():
    prob = mis(read_dimacs(qubo_instance_path("mis", "1tc.16")))
    lam0 = jnp.zeros(prob.num_multipliers)
    for solver in (SubgradientDual(ExactSolver(), polish=0),
                   AugmentedLagrangian(ExactSolver(), polish=0)):
        r = optlib.run(solver, lam0, prob, max_steps=100)
        assert optlib.Status(int(r.status)) is optlib.Status.SUCCESS
        assert float(r.state.best_dual) == pytest.approx(-8.0)
        assert float(r.state.best_primal) == -8.0
        assert float(r.info.duality_gap) == pytest.approx(0.0, abs=1e-9)


def test_no_recompilation_and_vmap_over_problems():
    rng = np.random.default_rng(3)
    probs = [mdkp(rng.integers(5, 30, 8), rng.integers(1, 20, (2, 8)), [30.0, 30.0])
             for _ in range(3)]
    solver = ProximalBundle(SeparableSolver(), tol=1e-9, use_repair=False)
    lam0 = jnp.zeros(2)
    singles = [optlib.run(solver, lam0, p, max_steps=60) for p in probs]
    other = dataclasses.replace(solver, serious_fraction=0.3, prox=2.0)
    with count_compilations() as n:
        jax.block_until_ready(optlib.run(other, lam0, probs[1], max_steps=60).params)
    assert n() == 0
    stacked = jax.tree.map(lambda *a: jnp.stack(a), *probs)
    out = jax.vmap(lambda p: optlib.run(solver, lam0, p, max_steps=60))(stacked)
    for i, single in enumerate(singles):
        np.testing.assert_allclose(out.state.best_dual[i], single.state.best_dual, rtol=1e-9)


def test_repair_and_kick_outputs_are_feasible():
    """Repair makes any sample feasible; ruin-and-recreate moves keep it feasible (and, for
    MIS, maximal), and they do move."""
    rng = np.random.default_rng(5)
    keys = jax.random.split(jax.random.key(0), 16)
    for prob, _ in _small_problems():
        X = rng.integers(0, 2, (16, prob.num_variables))

        def both(X, keys, prob=prob):
            xr = repair(prob, X)
            return xr, jax.vmap(lambda x, k: kick(prob, x, k, 0.4))(xr, keys)

        xr, kicked = jax.jit(both)(X, keys)
        assert np.all(np.asarray(prob.is_feasible(xr)))
        assert np.all(np.asarray(prob.is_feasible(kicked)))
        if prob.kind in ("mdkp", "mis"):
            assert not np.array_equal(np.asarray(kicked), np.asarray(xr))
        if prob.kind == "mis":
            adj = np.asarray(prob.data["adjacency"])
            k = np.asarray(kicked)
            assert not ((k == 0) & ((k @ adj) == 0)).any()  # no free vertex left out


def test_tsp_repair_gives_two_opt_tours():
    D = np.random.default_rng(0).random((7, 7))
    D = D + D.T
    prob = tsp(D, fix_start=False)
    x = jax.jit(repair)(prob, jnp.zeros(prob.num_variables))
    assert bool(prob.is_feasible(x))
    assert float(prob.value(x)) >= held_karp(D)[0] - 1e-9


def test_shipped_instance_names():
    assert len(qubo_instance_names("mdkp")) == 12
    assert len(qubo_instance_names("mis")) == 6
    assert sorted(qubo_instance_names("tsp")) == ["burma14", "ulysses16"]
    with pytest.raises(ValueError, match="unknown"):
        qubo_instance_path("mis", "nope")
    with pytest.raises(ValueError, match="multipliers"):
        optlib.run(SubgradientDual(SeparableSolver()), jnp.zeros(3),
                   mdkp([1.0], [[1.0]], [1.0]), max_steps=2)
