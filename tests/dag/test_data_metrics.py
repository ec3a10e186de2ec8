"""Generators, metrics, acyclicity functions and scores (NOTEARS semantics)."""

import importlib.util
from pathlib import Path

import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np
import pytest

import optlib.dag as dag


def _dagma_utils():
    spec = importlib.util.find_spec("dagma")
    if spec is None:
        pytest.skip("dagma not installed")
    path = Path(spec.origin).parent / "utils.py"
    module_spec = importlib.util.spec_from_file_location("_dagma_utils", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


# ----------------------------------------------------------------------------- metrics
def test_count_accuracy_hand_computed_chain():
    # true: 0 -> 1 -> 2 -> 3; estimate: 0 -> 1 (correct), 2 -> 1 (reversed), 0 -> 3 (extra)
    T = np.zeros((4, 4), int)
    T[0, 1] = T[1, 2] = T[2, 3] = 1
    E = np.zeros((4, 4), int)
    E[0, 1] = E[2, 1] = E[0, 3] = 1
    acc = dag.count_accuracy(T, E)
    # pred = 3, cond = 3; true pos 1; reversed 1; false pos 1 (0-3 not in skeleton)
    # fdr = 2/3, tpr = 1/3, fpr = 2 / (6 - 3); shd = extra 1 + missing (2-3) 1 + reversed 1
    assert acc == {"fdr": 2 / 3, "tpr": 1 / 3, "fpr": 2 / 3, "shd": 3, "nnz": 3}


def test_count_accuracy_perfect_and_empty():
    T = np.array([[0, 1, 1], [0, 0, 1], [0, 0, 0]])
    assert dag.count_accuracy(T, T) == {"fdr": 0.0, "tpr": 1.0, "fpr": 0.0, "shd": 0, "nnz": 3}
    empty = dag.count_accuracy(T, np.zeros_like(T))
    assert empty == {"fdr": 0.0, "tpr": 0.0, "fpr": 0.0, "shd": 3, "nnz": 0}


def test_count_accuracy_cpdag():
    T = np.array([[0, 1, 0], [0, 0, 1], [0, 0, 0]])
    E = np.array([[0, -1, 0], [0, 0, 0], [1, 0, 0]])  # 0 - 1 undirected (true), 2 -> 0 extra
    acc = dag.count_accuracy(T, E)
    # true pos: undirected 0-1 in skeleton (1); false pos: 2->0 (1); reversed 0
    # missing skeleton edge 1-2, extra 0-2: shd 2
    assert acc == {"fdr": 0.5, "tpr": 0.5, "fpr": 1.0, "shd": 2, "nnz": 2}


def test_count_accuracy_matches_dagma_on_random_graphs():
    utils = _dagma_utils()
    rng = np.random.default_rng(0)
    for seed in range(20):
        d = 8
        T = np.asarray(dag.simulate_dag(jax.random.key(seed), d, 10))
        E = np.tril((rng.random((d, d)) < 0.3).astype(int), k=-1)
        perm = rng.permutation(d)
        E = E[perm][:, perm]
        ours = dag.count_accuracy(T, E)
        theirs = utils.count_accuracy(T, E)
        for k in ("fdr", "tpr", "fpr", "shd", "nnz"):
            assert ours[k] == pytest.approx(theirs[k], abs=1e-12), (seed, k)


def test_count_accuracy_rejects_bad_input():
    T = np.array([[0, 1], [0, 0]])
    with pytest.raises(ValueError, match="DAG"):
        dag.count_accuracy(T, np.array([[0, 1], [1, 0]]))
    with pytest.raises(ValueError, match="binary"):
        dag.count_accuracy(T, np.array([[0, 0.7], [0, 0]]))
    with pytest.raises(ValueError, match="same shape"):
        dag.count_accuracy(T, np.zeros((3, 3)))


def test_graph_utilities():
    B = np.array([[0, 0, 0], [1, 0, 1], [1, 0, 0]])
    assert dag.is_dag(B)
    order = dag.topological_order(B)
    pos = np.argsort(order)
    assert all(pos[i] < pos[j] for i, j in zip(*np.nonzero(B)))
    assert dag.topological_order(np.array([[0, 1], [1, 0]])) is None
    W = np.array([[0.0, 0.9, 0.0], [0.1, 0.0, 0.8], [0.3, 0.0, 0.0]])  # cycles 0-1 and 0-1-2
    Wd, t = dag.threshold_till_dag(W)
    assert dag.is_dag(Wd) and t == 0.8  # at 0.3 the cycle 0 -> 1 -> 2 -> 0 remains
    G = dag.to_networkx(Wd, labels=["a", "b", "c"])
    assert isinstance(G, nx.DiGraph) and nx.is_directed_acyclic_graph(G)
    assert sorted(G.edges()) == [("a", "b"), ("b", "c")]


# ----------------------------------------------------------------------------- generators
@pytest.mark.parametrize("d,k", [(10, 2), (20, 4), (30, 1)])
def test_simulate_dag_er_exact_edge_count(d, k):
    for seed in range(3):
        B = np.asarray(dag.simulate_dag(jax.random.key(seed), d, k * d, "ER"))
        assert B.sum() == k * d and dag.is_dag(B) and np.all(np.diag(B) == 0)


@pytest.mark.parametrize("d,m", [(20, 4), (30, 2), (10, 1)])
def test_simulate_dag_sf_edge_count(d, m):
    B = np.asarray(dag.simulate_dag(jax.random.key(1), d, m * d, "SF"))
    assert B.sum() == m * d - m * (m + 1) // 2 and dag.is_dag(B)


def test_simulate_dag_sf_is_preferential():
    # hubs: the largest in-degree should far exceed the mean in a BA graph
    B = np.asarray(dag.simulate_dag(jax.random.key(3), 100, 200, "SF"))
    deg = B.sum(axis=0) + B.sum(axis=1)
    assert deg.max() > 5 * deg.mean()


def test_simulate_parameter_ranges():
    B = dag.simulate_dag(jax.random.key(0), 30, 60)
    W = np.asarray(dag.simulate_parameter(jax.random.key(1), B))
    assert np.array_equal(W != 0, np.asarray(B) != 0)
    w = np.abs(W[W != 0])
    assert w.min() >= 0.5 and w.max() <= 2.0
    assert 0.3 < np.mean(W[W != 0] > 0) < 0.7


@pytest.mark.parametrize("sem,mean,var", [("gauss", 0.0, 1.0), ("exp", 1.0, 1.0),
                                          ("gumbel", np.euler_gamma, np.pi**2 / 6),
                                          ("uniform", 0.0, 1 / 3)])
def test_linear_sem_noise_moments(sem, mean, var):
    B = dag.simulate_dag(jax.random.key(0), 6, 8)
    W = dag.simulate_parameter(jax.random.key(1), B)
    X = dag.simulate_linear_sem(jax.random.key(2), W, 20000, sem)
    Z = np.asarray(X - X @ W)  # the exogenous noise, recovered exactly
    assert np.allclose(Z.mean(axis=0), mean, atol=0.05)
    assert np.allclose(Z.var(axis=0), var, rtol=0.08)


def test_linear_sem_noise_scale_per_node():
    W = jnp.zeros((3, 3))
    X = dag.simulate_linear_sem(jax.random.key(0), W, 20000, "gauss", noise_scale=[1.0, 2.0, 0.5])
    assert np.allclose(np.asarray(X).std(axis=0), [1.0, 2.0, 0.5], rtol=0.03)


def test_logistic_sem_is_ancestral():
    # 0 -> 1 with a large weight: x1 is almost always equal to x0 ... via sigmoid(5 x0)
    W = jnp.array([[0.0, 5.0], [0.0, 0.0]])
    X = np.asarray(dag.simulate_linear_sem(jax.random.key(0), W, 20000, "logistic"))
    assert set(np.unique(X)) <= {0.0, 1.0}
    assert abs(X[:, 0].mean() - 0.5) < 0.02
    assert abs(X[X[:, 0] == 1, 1].mean() - 1 / (1 + np.exp(-5))) < 0.02
    assert abs(X[X[:, 0] == 0, 1].mean() - 0.5) < 0.02


def test_nonlinear_sem_roots_are_noise():
    B = np.zeros((3, 3), int)
    B[0, 2] = B[1, 2] = 1
    X = np.asarray(dag.simulate_nonlinear_sem(jax.random.key(0), B, 20000, "mlp"))
    assert np.allclose(X[:, :2].std(axis=0), 1.0, rtol=0.03)
    # the child is a deterministic function of its parents plus N(0, 1)
    assert X[:, 2].var() > 1.05


def test_generators_reject_bad_input():
    with pytest.raises(ValueError, match="s0"):
        dag.simulate_dag(jax.random.key(0), 4, 7)
    with pytest.raises(ValueError, match="graph_type"):
        dag.simulate_dag(jax.random.key(0), 4, 2, "BA")
    with pytest.raises(ValueError, match="DAG"):
        dag.simulate_linear_sem(jax.random.key(0), jnp.array([[0.0, 1.0], [1.0, 0.0]]), 10)
    with pytest.raises(ValueError, match="sem_type"):
        dag.simulate_linear_sem(jax.random.key(0), jnp.zeros((2, 2)), 10, "poisson")


# ----------------------------------------------------------------------------- acyclicity
def _cycle():
    return jnp.array([[0.0, 0.5, 0.0], [0.0, 0.0, 0.7], [0.4, 0.0, 0.0]])


def _chain():
    return jnp.array([[0.0, 0.5, 0.0], [0.0, 0.0, 0.7], [0.0, 0.0, 0.0]])


@pytest.mark.parametrize("h", [dag.h_expm, dag.h_poly, dag.h_logdet])
def test_acyclicity_zero_exactly_on_dags(h):
    assert abs(float(h(_chain()))) < 1e-12
    assert float(h(_cycle())) > 1e-4


def test_acyclicity_closed_forms():
    W = _cycle()
    A = np.asarray(W * W)
    d = 3
    from scipy.linalg import expm

    assert float(dag.h_expm(W)) == pytest.approx(np.trace(expm(A)) - d, rel=1e-12)
    assert float(dag.h_poly(W)) == pytest.approx(
        np.trace(np.linalg.matrix_power(np.eye(d) + A / d, d)) - d, rel=1e-12)
    assert float(dag.h_logdet(W)) == pytest.approx(-np.log(np.linalg.det(np.eye(d) - A)),
                                                   rel=1e-12)
    # NOTEARS gradient: (e^{W*W})^T * 2W
    g = np.asarray(jax.grad(dag.h_expm)(W))
    assert np.allclose(g, expm(A).T * 2 * np.asarray(W), atol=1e-12)


def test_topo_gradient_marks_paths():
    W = _chain()  # paths 0->1, 1->2, 0->2
    for kind in ("logdet", "expm", "poly"):
        G = np.asarray(dag.topo_gradient(W, kind))
        off = ~np.eye(3, dtype=bool)
        has_path = np.zeros((3, 3), bool)
        has_path[1, 0] = has_path[2, 1] = has_path[2, 0] = True  # G[i, j] > 0 iff path j -> i
        assert np.all(G[off & has_path] > 0) and np.allclose(G[off & ~has_path], 0.0)
    G = np.asarray(dag.topo_gradient(W, "logdet"))
    assert G[2, 0] == pytest.approx(0.5 * 0.7)


# ----------------------------------------------------------------------------- scores
def test_scores_match_numpy():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 4))
    W = np.triu(rng.normal(size=(4, 4)), k=1)
    R = X - X @ W
    assert float(dag.least_squares(W, X)) == pytest.approx(0.5 / 50 * np.sum(R**2), rel=1e-12)
    assert float(dag.l1_least_squares(W, X, 0.1)) == pytest.approx(
        0.5 / 50 * np.sum(R**2) + 0.1 * np.abs(W).sum(), rel=1e-12)
    assert float(dag.gaussian_nv_likelihood(W, X)) == pytest.approx(
        0.5 * np.sum(np.log(np.sum(R**2, axis=0) / 50)), rel=1e-12)
    Xb = (X > 0).astype(float)
    M = Xb @ W
    assert float(dag.logistic_loss(W, Xb, 0.2)) == pytest.approx(
        np.sum(np.logaddexp(0, M) - Xb * M) / 50 + 0.2 * np.abs(W).sum(), rel=1e-12)


def test_node_models_fit_their_objectives():
    rng = np.random.default_rng(1)
    X = jnp.asarray(rng.normal(size=(400, 5)))
    mask = jnp.array([1.0, 1.0, 0.0, 1.0, 0.0])
    j = jnp.asarray(4)
    # exact least squares equals lstsq on the allowed columns (centred data)
    model = dag.LeastSquaresNode()
    data = model.prepare(X)
    w = model.fit(jnp.zeros(5), mask, j, data)
    Xc = np.asarray(data.X)
    ref = np.linalg.lstsq(Xc[:, [0, 1, 3]], Xc[:, 4], rcond=None)[0]
    assert np.allclose(np.asarray(w)[[0, 1, 3]], ref, atol=1e-10)
    assert np.all(np.asarray(w)[[2, 4]] == 0)
    # lasso: the fixed point of the proximal step (optimality) within tolerance
    lasso = dag.L1LeastSquaresNode(lambda1=0.05, steps=2000)
    w = np.asarray(lasso.fit(jnp.zeros(5), mask, j, data))
    G = np.asarray(data.gram)
    grad = G @ w - G[:, 4]
    act = (np.asarray(mask) > 0) & (w != 0)
    assert np.allclose(grad[act], -0.05 * np.sign(w[act]), atol=1e-8)
    assert np.all(np.abs(grad[(np.asarray(mask) > 0) & (w == 0)]) <= 0.05 + 1e-8)
