"""The sparse final fit: per-node lasso on the predecessors of an order (float64 references)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optlib.dag as dag


def _lasso_cd(A, y, lam, tol=1e-15, max_sweeps=200_000):
    """Plain cyclic coordinate descent for 1/(2n)||y - A w||^2 + lam ||w||_1 (an independent
    reference: a different algorithm from the ADMM under test), run to a fixed point."""
    n = y.shape[0]
    G, c = A.T @ A / n, A.T @ y / n
    w = np.zeros(A.shape[1])
    for _ in range(max_sweeps):
        change = 0.0
        for k in range(w.size):
            r = c[k] - G[k] @ w + G[k, k] * w[k]
            new = np.sign(r) * max(abs(r) - lam, 0.0) / G[k, k]
            change = max(change, abs(new - w[k]))
            w[k] = new
        if change <= tol:
            return w
    raise AssertionError("the reference coordinate descent did not converge")


def _data(seed, d, n=300):
    k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
    B = dag.simulate_dag(k1, d, 2 * d)
    X = np.asarray(dag.simulate_linear_sem(k3, dag.simulate_parameter(k2, B), n))
    Xc = X - X.mean(axis=0)
    return np.asarray(B), X, Xc, Xc.T @ Xc / n


def _positions(order):
    pos = np.empty(len(order), int)
    pos[np.asarray(order)] = np.arange(len(order))
    return pos


@pytest.mark.parametrize("seed", [0, 1])
def test_matches_reference_lasso_per_node(seed):
    d, lam = 8, 0.05
    _, _, Xc, S = _data(seed, d)
    order = np.asarray(jax.random.permutation(jax.random.key(10 + seed), d))  # not the truth
    fit = dag.l1_fit_order(S, order, lam, max_iter=20000, tol=1e-12)
    assert bool(fit.converged)
    W = np.asarray(fit.W)
    pos = _positions(order)
    for j in range(d):
        pa = np.flatnonzero(pos < pos[j])
        assert np.all(W[pos >= pos[j], j] == 0)
        if pa.size == 0:
            continue
        ref = _lasso_cd(Xc[:, pa], Xc[:, j], lam)
        np.testing.assert_allclose(W[pa, j], ref, atol=1e-7)
    # the reported objective is the penalized least squares of the data
    expected = 0.5 / Xc.shape[0] * np.sum((Xc - Xc @ W) ** 2) + lam * np.abs(W).sum()
    assert float(fit.objective) == pytest.approx(expected, rel=1e-10)


def test_kkt_with_masks_and_dag():
    d, lam = 8, 0.03
    _, _, _, S = _data(2, d)
    order = np.asarray(jax.random.permutation(jax.random.key(3), d))
    pos = _positions(order)
    rng = np.random.default_rng(0)
    before = pos[:, None] < pos[None, :]
    forbidden = before & (rng.random((d, d)) < 0.2)
    required = before & ~forbidden & (rng.random((d, d)) < 0.05)
    fit = dag.l1_fit_order(S, order, lam, required=required, forbidden=forbidden,
                           max_iter=20000, tol=1e-12)
    W = np.asarray(fit.W)
    feasible = before & ~forbidden
    assert np.all(W[~feasible] == 0)
    assert dag.is_dag(W != 0)
    # KKT of each column's lasso: g = Sigma_ij - (Sigma W)_ij
    g = S - S @ W
    pen = np.where(required, 0.0, lam)
    active = W != 0
    np.testing.assert_allclose(g[feasible & active],
                               (pen * np.sign(W))[feasible & active], atol=1e-8)
    assert np.all(np.abs(g[feasible & ~active]) <= pen[feasible & ~active] + 1e-8)


def test_lambda_zero_is_the_order_least_squares_fit():
    d = 8
    _, _, Xc, S = _data(4, d)
    order = np.asarray(jax.random.permutation(jax.random.key(5), d))
    W = np.asarray(dag.l1_fit_order(S, order, 0.0, max_iter=20000, tol=1e-12).W)
    ref = np.zeros((d, d))
    for k in range(1, d):
        pa = order[:k]
        ref[pa, order[k]] = np.linalg.lstsq(Xc[:, pa], Xc[:, order[k]], rcond=None)[0]
    np.testing.assert_allclose(W, ref, atol=1e-8)


def test_vmap_over_lambda_matches_single_calls():
    d = 8
    _, _, _, S = _data(6, d)
    order = jnp.arange(d)
    lams = jnp.array([0.0, 0.02, 0.1])
    batched = jax.vmap(lambda lam: dag.l1_fit_order(S, order, lam, tol=1e-10).W)(lams)
    for b, lam in enumerate(lams):
        single = dag.l1_fit_order(S, order, lam, tol=1e-10).W
        np.testing.assert_allclose(batched[b], single, atol=1e-9)


def test_topo_final_l1_rejects_negative():
    _, X, _, _ = _data(7, 8)
    with pytest.raises(ValueError, match="final_l1"):
        dag.TopoSwap().fit(X, final_l1=-1.0)


def test_bad_input():
    S = np.eye(3)
    with pytest.raises(ValueError, match="square"):
        dag.l1_fit_order(np.ones((3, 2)), np.arange(3), 0.1)
    with pytest.raises(ValueError, match="order"):
        dag.l1_fit_order(S, np.arange(4), 0.1)
    with pytest.raises(ValueError, match="forbidden"):
        dag.l1_fit_order(S, np.arange(3), 0.1, forbidden=np.zeros((2, 2), bool))
