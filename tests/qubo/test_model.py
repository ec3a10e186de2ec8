"""QUBO and constrained-problem model, builders, parsers and encodings."""

import itertools

import jax.numpy as jnp
import networkx as nx
import numpy as np
import pytest
from scipy.optimize import Bounds, LinearConstraint, milp

from optlib.datasets import qubo_instance_names, qubo_instance_path, qubo_optimum
from optlib.qubo import (
    QUBO,
    ConstrainedBinaryProblem,
    augmented_lagrangian_qubo,
    held_karp,
    lagrangian_qubo,
    mdkp,
    mis,
    qap,
    read_dimacs,
    read_mdkp,
    read_tsplib,
    slack_penalty_qubo,
    slack_variable_count,
    tsp,
)


def _all_x(n):
    return np.array(list(itertools.product([0, 1], repeat=n)), float)


def test_energy_matches_brute_force_dense_sparse_upper():
    rng = np.random.default_rng(0)
    n = 6
    U = np.triu(rng.normal(size=(n, n)))
    q = QUBO.from_upper(jnp.asarray(U), 0.5)
    X = _all_x(n)
    ref = np.array([x @ U @ x + 0.5 for x in X])
    np.testing.assert_allclose(q.energy(X), ref, rtol=1e-12)
    np.testing.assert_allclose(q.tosparse().energy(X), ref, rtol=1e-12)
    np.testing.assert_allclose(q.energy(X.reshape(4, 16, n)), ref.reshape(4, 16), rtol=1e-12)
    h, J = q.ising_fields()
    np.testing.assert_allclose(X @ h + 0.5 * np.sum(X * (X @ J), 1) + 0.5, ref, rtol=1e-12)


def test_qubo_validation():
    with pytest.raises(ValueError, match="square"):
        QUBO(jnp.zeros((2, 3)), jnp.zeros(2))
    with pytest.raises(ValueError, match="symmetric"):
        QUBO(jnp.array([[0.0, 1.0], [0.0, 0.0]]), jnp.zeros(2))
    with pytest.raises(ValueError, match="linear"):
        QUBO(jnp.zeros((2, 2)), jnp.zeros(3))
    with pytest.raises(ValueError, match="finite"):
        QUBO(jnp.zeros((2, 2)), jnp.array([0.0, jnp.nan]))


def test_builder_validation():
    with pytest.raises(ValueError, match="capacities"):
        mdkp([1.0, 2.0], [[1.0, 1.0]], [-1.0])
    with pytest.raises(ValueError, match="weights"):
        mdkp([1.0, 2.0], [[1.0, 1.0, 1.0]], [1.0])
    g = nx.path_graph(3)
    g.add_edge(1, 1)
    with pytest.raises(ValueError, match="self-loop"):
        mis(g)
    with pytest.raises(ValueError, match="square"):
        tsp(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="encoding"):
        tsp(np.ones((4, 4)), encoding="nope")
    base = mdkp([1.0, 1.0], [[1.0, 1.0]], [1.0])
    with pytest.raises(ValueError, match="infeasible"):
        ConstrainedBinaryProblem(base.objective, jnp.array([[1.0, 1.0]]), jnp.array([-1.0]),
                                 jnp.zeros((0, 2)), jnp.zeros(0), jnp.zeros((0, 2), jnp.int32))
    parity = ConstrainedBinaryProblem(base.objective, jnp.zeros((0, 2)), jnp.zeros(0),
                                      jnp.array([[2.0, 2.0]]), jnp.array([3.0]),
                                      jnp.zeros((0, 2), jnp.int32))
    with pytest.raises(ValueError, match="infeasible"):
        parity.check_feasible()


def test_parser_errors():
    with pytest.raises(ValueError, match="malformed knapsack"):
        read_mdkp("2 1 5\n3 2\n1 1\n")
    with pytest.raises(ValueError, match="malformed knapsack"):
        read_mdkp("2 1 5\n3 x\n1 1\n1\n")
    with pytest.raises(ValueError, match="no 'p' line"):
        read_dimacs("c only a comment\n")
    with pytest.raises(ValueError, match="outside nodes"):
        read_dimacs("p edge 2 1\ne 1 3\n")
    with pytest.raises(ValueError, match="self-loop"):
        read_dimacs("p edge 2 1\ne 2 2\n")
    with pytest.raises(ValueError, match="DIMENSION"):
        read_tsplib("NAME: x\nTYPE: TSP\nEDGE_WEIGHT_TYPE: EUC_2D\nNODE_COORD_SECTION\n"
                    "1 0 0\nEOF\n")
    with pytest.raises(ValueError, match="coordinates"):
        read_tsplib("NAME: x\nDIMENSION: 3\nEDGE_WEIGHT_TYPE: EUC_2D\nNODE_COORD_SECTION\n"
                    "1 0 0\nEOF\n")


def test_explicit_tsplib_formats_agree():
    D = np.array([[0, 3, 4, 2], [3, 0, 5, 6], [4, 5, 0, 7], [2, 6, 7, 0]])
    head = "NAME: e\nTYPE: TSP\nDIMENSION: 4\nEDGE_WEIGHT_TYPE: EXPLICIT\n"
    low = "EDGE_WEIGHT_FORMAT: LOWER_DIAG_ROW\nEDGE_WEIGHT_SECTION\n0\n3 0\n4 5 0\n2 6 7 0\nEOF\n"
    up = "EDGE_WEIGHT_FORMAT: UPPER_ROW\nEDGE_WEIGHT_SECTION\n3 4 2\n5 6\n7\nEOF\n"
    full = "EDGE_WEIGHT_FORMAT: FULL_MATRIX\nEDGE_WEIGHT_SECTION\n" + "\n".join(
        " ".join(map(str, r)) for r in D) + "\nEOF\n"
    for body in (low, up, full):
        np.testing.assert_array_equal(read_tsplib(head + body).distances, D)


def test_burma14_held_karp_reproduces_optimum():
    inst = read_tsplib(qubo_instance_path("tsp", "burma14"))
    assert inst.distances.shape == (14, 14)
    assert np.array_equal(inst.distances, inst.distances.T)
    length, tour = held_karp(inst.distances)
    assert length == qubo_optimum("tsp", "burma14") == 3323
    assert sorted(tour) == list(range(14))
    prob = tsp(inst.distances)
    x = np.zeros((13, 13))
    for p, city in enumerate(tour[1:]):
        x[city - 1, p] = 1
    assert float(prob.value(x.ravel())) == 3323
    assert bool(prob.is_feasible(x.ravel()))


@pytest.mark.parametrize("name", ["pet2", "pb4", "pet3"])
def test_mdkp_files_reproduce_optimum(name):
    inst = read_mdkp(qubo_instance_path("mdkp", name))
    assert inst.optimum == qubo_optimum("mdkp", name)
    res = milp(-inst.profits, constraints=LinearConstraint(inst.weights, -np.inf,
                                                           inst.capacities),
               integrality=np.ones(inst.profits.size), bounds=Bounds(0, 1))
    assert round(-res.fun) == inst.optimum


@pytest.mark.parametrize("name", ["1tc.8", "1tc.16", "1tc.32"])
def test_dimacs_files_reproduce_optimum(name):
    g = read_dimacs(qubo_instance_path("mis", name))
    n = g.number_of_nodes()
    E = np.zeros((g.number_of_edges(), n))
    for k, (u, v) in enumerate(g.edges):
        E[k, u] = E[k, v] = 1
    res = milp(-np.ones(n), constraints=LinearConstraint(E, -np.inf, 1),
               integrality=np.ones(n), bounds=Bounds(0, 1))
    assert round(-res.fun) == qubo_optimum("mis", name)


def test_orlibrary_multi_instance_layout():
    text = "2\n2 1 3\n3 2\n1 1\n1\n3 1 0\n1 1 1\n1 1 1\n2\n"
    a, b = read_mdkp(text, 0), read_mdkp(text, 1)
    assert a.optimum == 3 and b.optimum is None and b.profits.size == 3
    with pytest.raises(ValueError, match="out of range"):
        read_mdkp(text, 2)


def test_slack_variable_counts_match_dimod_and_reduction_targets():
    expected = {"pet2": 99, "pet3": 102, "pet4": 107, "pb5": 116, "pb1": 59, "hp1": 60,
                "pet5": 114, "pb4": 45, "pb2": 66, "hp2": 67, "pb7": 425, "pet6": 86}
    reductions = []
    for name in qubo_instance_names("mdkp"):
        inst = read_mdkp(qubo_instance_path("mdkp", name))
        prob = mdkp(inst.profits, inst.weights, inst.capacities)
        total = prob.num_variables + slack_variable_count(prob)
        assert total == expected[name], name
        reductions.append(1 - prob.num_variables / total)
    assert min(reductions) >= 0.355 and np.median(reductions) >= 0.65
    for n, (free, slack) in {4: (18, 36), 5: (28, 64), 6: (45, 125), 8: (77, 245)}.items():
        prob = tsp(np.ones((n, n)) - np.eye(n), encoding="arc_mtz")
        assert prob.num_variables == free
        assert prob.num_variables + slack_variable_count(prob) == slack


def test_lagrangian_and_augmented_energies_brute_force():
    rng = np.random.default_rng(1)
    g = nx.gnm_random_graph(5, 6, seed=1)
    probs = [mdkp(rng.integers(1, 9, 5), rng.integers(0, 6, (2, 5)), [7.0, 8.0]), mis(g),
             tsp(rng.integers(1, 9, (4, 4)) * (1 - np.eye(4))),
             qap(rng.integers(0, 3, (3, 3)), rng.integers(0, 3, (3, 3)))]
    for prob in probs:
        n, m = prob.num_variables, prob.num_multipliers
        X = _all_x(n)
        lam = np.asarray(prob.project(jnp.asarray(rng.normal(size=m))))
        r = np.asarray(prob.residuals(X))
        f = np.asarray(prob.value(X))
        np.testing.assert_allclose(lagrangian_qubo(prob, lam).energy(X), f + r @ lam,
                                   rtol=1e-10, atol=1e-9)
        np.testing.assert_allclose(augmented_lagrangian_qubo(prob, lam, 0.7).energy(X),
                                   f + r @ lam + 0.35 * np.sum(r * r, 1), rtol=1e-10, atol=1e-9)


def test_slack_penalty_qubo_is_exact_for_feasible_points():
    prob = mdkp([4.0, 3.0, 5.0], [[2.0, 3.0, 4.0], [1.0, 1.0, 2.0]], [5.0, 3.0])
    enc = slack_penalty_qubo(prob, penalty=20.0)
    n, N = prob.num_variables, enc.qubo.num_variables
    assert N == n + enc.num_slack == 3 + 3 + 2
    X = _all_x(N)
    E = np.asarray(enc.qubo.energy(X))
    for x in _all_x(n):
        rows = np.all(X[:, :n] == x, 1)
        best = E[rows].min()
        if bool(prob.is_feasible(x)):
            assert best == pytest.approx(float(prob.value(x)))
        else:
            assert best >= float(prob.value(x)) + 20.0 - 1e-9


def test_dimod_round_trip():
    dimod = pytest.importorskip("dimod")
    rng = np.random.default_rng(4)
    q = QUBO.from_upper(jnp.asarray(np.triu(rng.normal(size=(5, 5)))), 1.25)
    from optlib.qubo import from_dimod, to_dimod

    bqm = to_dimod(q)
    X = _all_x(5)
    np.testing.assert_allclose([bqm.energy(dict(enumerate(x))) for x in X], q.energy(X),
                               rtol=1e-12)
    back, labels = from_dimod(bqm)
    assert labels == list(range(5))
    np.testing.assert_allclose(back.energy(X), q.energy(X), rtol=1e-12)
    spin = dimod.BQM({"a": 1.0}, {("a", "b"): -1.0}, 0.0, "SPIN")
    qs, lab = from_dimod(spin)
    for x in _all_x(2):
        s = {v: 2 * int(b) - 1 for v, b in zip(lab, x)}
        assert float(qs.energy(x)) == pytest.approx(spin.energy(s))
