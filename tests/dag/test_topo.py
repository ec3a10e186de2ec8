"""TopoSwap: Cholesky identity, exact recovery, reference-mode parity, masks and errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optlib
import optlib.dag as dag


def _problem(seed, d, k=2, n=1000, sem="gauss", graph="ER"):
    k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
    B = dag.simulate_dag(k1, d, k * d, graph)
    W = dag.simulate_parameter(k2, B)
    return np.asarray(B), np.asarray(W), np.asarray(dag.simulate_linear_sem(k3, W, n, sem))


# ------------------------------------------------------------------ a plain reference
def _ols_fit(X, order):
    d = X.shape[1]
    W = np.zeros((d, d))
    for k in range(1, d):
        parents = list(order[:k])
        W[parents, order[k]] = np.linalg.lstsq(X[:, parents], X[:, order[k]], rcond=None)[0]
    return W


def _ls(X, W):
    return 0.5 / X.shape[0] * np.sum((X - X @ W) ** 2)


def _plain_topo(X, order, size_small, size_large, no_large_search, max_rounds=500):
    """The released rules, written directly: refit every candidate from scratch."""
    d = X.shape[1]
    order = list(order)
    used = 0
    history = []

    def candidate_sets(W, order):
        G = np.linalg.inv(np.eye(d) - np.abs(W)).T
        pos = {v: p for p, v in enumerate(order)}
        pairs = [(i, j) for i in range(d) for j in range(d) if i != j and pos[i] > pos[j]]
        values = np.sort([G[i, j] for i, j in pairs])
        small = [(i, j) for i, j in pairs if G[i, j] <= values[size_small - 1]]
        large = [(i, j) for i, j in pairs if G[i, j] <= values[size_large - 1]]
        return small, [c for c in large if c not in small]

    def swapped(order, i, j):
        new = list(order)
        pi, pj = order.index(i), order.index(j)
        new[pi], new[pj] = j, i
        return new

    def greedy(order, cands, losses, loss):
        good = sorted((lc, c) for c, lc in zip(cands, losses) if lc < loss)
        taken, new = set(), list(order)
        for _, (i, j) in good:
            interval = set(range(order.index(j), order.index(i) + 1))
            if interval & taken:
                continue
            taken |= interval
            new[order.index(i)], new[order.index(j)] = j, i
        return new

    for _ in range(max_rounds):
        W = _ols_fit(X, order)
        loss = _ls(X, W)
        small, large = candidate_sets(W, order)
        losses = [_ls(X, _ols_fit(X, swapped(order, i, j))) for i, j in small]
        if min(losses) < loss:
            order = greedy(order, small, losses, loss)
        elif used < no_large_search and large:
            losses = [_ls(X, _ols_fit(X, swapped(order, i, j))) for i, j in large]
            if min(losses) < loss:
                used += 1
                order = greedy(order, large, losses, loss)
            else:
                break
        else:
            break
        history.append(_ls(X, _ols_fit(X, order)))
    return np.asarray(order), _ls(X, _ols_fit(X, order)), history


# ------------------------------------------------------------------ Cholesky identity
@pytest.mark.parametrize("score", ["least_squares", "gaussian_nv"])
def test_cholesky_swap_delta_equals_explicit_refit(score):
    d = 10
    _, _, X = _problem(0, d, k=3, sem="exp")
    solver = dag.TopoSwap(score=score)
    data = solver.prepare(X)
    rng = np.random.default_rng(0)
    order = rng.permutation(d)
    state = jax.jit(solver.init)(solver.init_params(order), data)
    P = rng.integers(0, d - 1, size=40)
    Q = np.array([rng.integers(p + 1, d) for p in P])
    evaluate = jax.jit(lambda o, st, dt, p, q: solver._eval_bucket(o, st, dt, p, q, d))
    delta = np.asarray(evaluate(jnp.asarray(order, jnp.int32), state, data, jnp.asarray(P),
                                jnp.asarray(Q)))
    Xc = X - X.mean(axis=0)
    full = (lambda W: _ls(Xc, W)) if score == "least_squares" else (
        lambda W: float(dag.gaussian_nv_likelihood(W, Xc)))
    base = full(_ols_fit(Xc, order))
    assert float(state.score) == pytest.approx(base, abs=1e-10)
    for c, (p, q) in enumerate(zip(P, Q)):
        new = order.copy()
        new[p], new[q] = order[q], order[p]
        assert delta[c] == pytest.approx(full(_ols_fit(Xc, new)) - base, abs=1e-10)


def test_swap_variances_padded_blocks_match_refits():
    """The O(m) closed form on blocks padded to s < d, every block length from 2 to s."""
    d, s = 24, 9
    _, _, X = _problem(3, d, k=3, sem="gumbel")
    solver = dag.TopoSwap()
    data = solver.prepare(X)
    rng = np.random.default_rng(1)
    order = rng.permutation(d)
    state = jax.jit(solver.init)(solver.init_params(order), data)
    P = rng.integers(0, d - s, size=30)
    Q = P + 1 + np.arange(30) % (s - 1)
    delta = np.asarray(jax.jit(lambda p, q: solver._eval_bucket(
        jnp.asarray(order, jnp.int32), state, data, p, q, s))(jnp.asarray(P), jnp.asarray(Q)))
    Xc = X - X.mean(axis=0)
    base = _ls(Xc, _ols_fit(Xc, order))
    for c, (p, q) in enumerate(zip(P, Q)):
        new = order.copy()
        new[p], new[q] = order[q], order[p]
        assert delta[c] == pytest.approx(_ls(Xc, _ols_fit(Xc, new)) - base, abs=1e-10)


# ------------------------------------------------------------------ recovery
@pytest.mark.parametrize("d", [10, 20])
def test_exact_recovery_er2_gaussian(d):
    for seed in range(4):
        B, _, X = _problem(seed, d)
        result = dag.TopoSwap().fit(X, key=jax.random.key(seed))
        assert dag.is_dag(result.W)
        assert dag.count_accuracy(B, (result.W != 0).astype(int))["shd"] == 0, seed
        # the score decreases every round but the last (which finds nothing) and ends
        # below the true graph's refit
        assert np.all(np.diff(result.history["value"])[:-1] < 0)
        Xc = X - X.mean(axis=0)
        truth = _ols_fit(Xc, list(dag.topological_order(B))) * (B != 0)
        assert result.score <= _ls(Xc, truth) + 1e-12
    if d == 10:  # the sparse final fit (same compiled search): the same order, refitted
        sparse = dag.TopoSwap().fit(X, key=jax.random.key(seed), final_l1=0.02)
        assert bool(sparse.final_fit.converged)
        np.testing.assert_array_equal(sparse.order, result.order)
        assert sparse.score == result.score
        ref = dag.l1_fit_order(dag.TopoSwap().prepare(X).stats, result.order, 0.02)
        np.testing.assert_allclose(sparse.W_raw, np.asarray(ref.W), atol=1e-12)
        pos = np.empty(d, int)
        pos[result.order] = np.arange(d)
        assert np.all(sparse.W_raw[pos[:, None] >= pos[None, :]] == 0)
        assert dag.count_accuracy(B, (sparse.W != 0).astype(int))["shd"] == 0


def test_restarts_and_postprocessing():
    B, W_true, X = _problem(5, 10, k=3)
    solver = dag.TopoSwap()
    result = solver.fit(X, key=jax.random.key(0), restarts=3)
    assert result.restart_scores.shape == (3,)
    assert result.score == pytest.approx(result.restart_scores.min())
    # post-processing a corrupted estimate: start from its order, never end worse than it
    noisy = W_true + 0.8 * np.random.default_rng(0).normal(size=W_true.shape)
    start = dag.topological_order(dag.threshold_till_dag(noisy)[0])
    Xc = X - X.mean(axis=0)
    post = solver.fit(X, init=noisy)
    assert post.score <= _ls(Xc, _ols_fit(Xc, list(start))) + 1e-12
    assert dag.is_dag(post.W)


# ------------------------------------------------------------------ reference parity
def test_reference_mode_matches_plain_implementation():
    # one test over three seeds: the compiled search is shared (no per-seed recompilation)
    d = 10
    small, large, nls = dag.reference_set_sizes(d)
    solver = dag.TopoSwap.reference_mode(d)
    for seed in range(3):
        _, _, X = _problem(seed, d, k=2, sem="gumbel")
        order0 = np.random.default_rng(seed).permutation(d)
        plain_order, plain_score, plain_hist = _plain_topo(X, order0, small, large, nls)
        result = solver.fit(X, init=order0)
        assert result.order.tolist() == plain_order.tolist(), seed
        assert result.score == pytest.approx(plain_score, rel=1e-9)
        # our history also records the final round, which finds nothing
        np.testing.assert_allclose(result.history["value"][:-1], plain_hist, rtol=1e-9)
        assert len(result.history["value"]) == len(plain_hist) + 1
        # the weights are the OLS fits of the final order (uncentred data, as released)
        np.testing.assert_allclose(result.W_raw, _ols_fit(X, list(plain_order)), atol=1e-9)


def test_reference_set_sizes():
    assert dag.reference_set_sizes(10) == (15, 28, 1)
    assert dag.reference_set_sizes(20) == (30, 110, 1)
    assert dag.reference_set_sizes(50) == (75, 588, 1)
    assert dag.reference_set_sizes(100) == (150, 1980, 1)
    assert dag.reference_set_sizes(5)[2] == 0


# ------------------------------------------------------------------ masks
def test_required_and_forbidden_edges():
    d = 10
    B, _, X = _problem(3, d)
    true_edges = np.argwhere(B)
    forbidden = np.zeros((d, d), bool)
    i, j = true_edges[0]
    forbidden[i, j] = True  # forbid a true edge
    required = np.zeros((d, d), bool)
    absent = [(a, b) for a in range(d) for b in range(d)
              if a != b and not B[a, b] and not B[b, a]]
    required[absent[0]] = True  # require an edge the truth does not have
    result = dag.TopoSwap(score=dag.LeastSquaresNode()).fit(
        X, key=jax.random.key(0), required=required, forbidden=forbidden)
    assert dag.is_dag(result.W)
    assert result.W[i, j] == 0
    assert result.W[absent[0]] != 0
    pos = np.argsort(result.order)
    assert pos[absent[0][0]] < pos[absent[0][1]]
    # required edges only (Cholesky engine): the order always respects them
    res2 = dag.TopoSwap().fit(X, key=jax.random.key(1), required=required)
    assert res2.W[absent[0]] != 0 and dag.is_dag(res2.W)


# ------------------------------------------------------------------ node engines
def test_lasso_engine_returns_dags():
    B, _, X = _problem(4, 10)
    # one candidate set (size_large == size_small) keeps the compiled program small
    lasso = dag.TopoSwap(score=dag.L1LeastSquaresNode(lambda1=0.02, steps=100), size_small=45,
                         size_large=45)
    res = lasso.fit(X, key=jax.random.key(0))
    assert dag.is_dag(res.W)
    assert dag.count_accuracy(B, (res.W != 0).astype(int))["shd"] <= 2


def test_nonlinear_engine_returns_dags():
    Bn = np.zeros((4, 4), int)
    Bn[0, 1] = Bn[1, 2] = Bn[0, 3] = 1
    Xn = np.asarray(dag.simulate_nonlinear_sem(jax.random.key(2), Bn, 300, hidden=10))
    mlp = dag.TopoSwap(score=dag.MLPNode(hidden=8, steps=60), size_small=6, size_large=6)
    res = mlp.fit(Xn, key=jax.random.key(0), w_threshold=0.3)
    assert dag.is_dag(res.W) and np.isfinite(res.score)
    assert np.all(np.diff(res.history["value"]) < 1e-9)


def test_runs_as_an_ordinary_solver():
    B, _, X = _problem(0, 10)
    solver = dag.TopoSwap()
    data = solver.prepare(X)
    result = optlib.run(solver, solver.init_params(jnp.arange(10)), data, max_steps=200)
    assert optlib.Status(int(result.status)) is optlib.Status.SUCCESS
    W = np.asarray(result.params.W)
    assert dag.count_accuracy(B, np.where(np.abs(W) >= 0.3, 1, 0))["shd"] == 0
    Xc = X - X.mean(axis=0)
    np.testing.assert_allclose(W, _ols_fit(Xc, list(np.asarray(result.params.order))),
                               atol=1e-10)
    nan = optlib.run(solver, solver.init_params(jnp.arange(10)),
                     data._replace(stats=data.stats * jnp.nan), max_steps=200)
    assert optlib.Status(int(nan.status)) is optlib.Status.NONFINITE


# ------------------------------------------------------------------ errors
def test_clear_errors():
    _, _, X = _problem(0, 10)
    solver = dag.TopoSwap()
    with pytest.raises(ValueError, match="2-D"):
        solver.fit(X[:, 0])
    with pytest.raises(ValueError, match="n > d"):
        solver.fit(X[:10])
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        solver.fit(bad)
    const = X.copy()
    const[:, 1] = 3.0
    with pytest.raises(ValueError, match="constant"):
        solver.fit(const)
    with pytest.raises(ValueError, match="shape"):
        solver.fit(X, required=np.zeros((4, 4)))
    both = np.zeros((10, 10), bool)
    both[0, 1] = True
    with pytest.raises(ValueError, match="contradict"):
        solver.fit(X, required=both, forbidden=both)
    cyc = np.zeros((10, 10), bool)
    cyc[0, 1] = cyc[1, 0] = True
    with pytest.raises(ValueError, match="cycle"):
        solver.fit(X, required=cyc)
    with pytest.raises(ValueError, match="node model"):
        solver.fit(X, forbidden=both)
    with pytest.raises(ValueError, match="permutation"):
        solver.fit(X, init=np.array([0, 0, 1, 2, 3, 4, 5, 6, 7, 8]))
