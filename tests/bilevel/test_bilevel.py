"""Exactness, known answers and input checks for optlib.bilevel (float64 unless marked)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optlib
from optlib._testing import count_compilations
from optlib.bilevel import (
    BOREP,
    F2SA,
    SOBA,
    BilevelProblem,
    ImplicitDiff,
    LayerSampling,
    Newton,
    Penalty,
    ScaleBiO,
    Unrolled,
    normalized_momentum,
    problems,
    reweighting_problem,
)


@pytest.fixture(scope="module")
def quad():
    return problems.quadratic(jax.random.key(3), dim_outer=5, dim_inner=10)


# ---------------------------------------------------------------- hypergradients


@pytest.mark.parametrize("inner, linear_solver", [
    ("sgd", optlib.CG(rtol=1e-13, max_iter=500)), ("newton", optlib.Direct())])
def test_implicit_diff_hypergradient_matches_closed_form(quad, inner, linear_solver):
    if inner == "newton":
        solver = ImplicitDiff(quad.problem, inner_optimizer="newton", inner_hyperparams=None,
                              inner_steps=20, inner_tol=1e-13, linear_solver=linear_solver)
    else:
        solver = ImplicitDiff(quad.problem, inner_hyperparams={"learning_rate": 1.0},
                              inner_steps=5000, inner_tol=1e-13, linear_solver=linear_solver)
    x = jax.random.normal(jax.random.key(1), (5,))
    _, grad, y_star = jax.jit(solver.hypergradient)(x, quad.y0, quad.inner_data,
                                                     quad.outer_data)
    exact = quad.hypergradient(x)
    rel = float(jnp.linalg.norm(grad - exact) / jnp.linalg.norm(exact))
    assert rel < 1e-8
    np.testing.assert_allclose(y_star, quad.inner_solution(x), atol=1e-10)


def test_newton_falls_back_on_negative_curvature_then_converges_fast():
    # x^4/4 - x^2/2 + y^2 from (0.1, 1): the Hessian is indefinite there, so the Cholesky
    # fails and the step falls back to -grad with backtracking; near (1, 0) the full
    # Newton step is accepted and convergence is quadratic.
    saddle = lambda z: 0.25 * z[0] ** 4 - 0.5 * z[0] ** 2 + z[1] ** 2  # noqa: E731
    result = optlib.run(Newton(saddle, tol=1e-12), jnp.array([0.1, 1.0]), max_steps=100)
    assert int(result.status) == optlib.Status.SUCCESS and int(result.num_steps) <= 15
    np.testing.assert_allclose(result.params, [1.0, 0.0], atol=1e-12)


def test_quadratic_closed_form_matches_finite_differences(quad):
    x = jax.random.normal(jax.random.key(2), (5,))
    fd = optlib._testing.finite_difference_grad(quad.value, x, eps=1e-5)
    np.testing.assert_allclose(quad.hypergradient(x), fd, atol=1e-8)
    x_star, _ = quad.solution()
    assert float(jnp.linalg.norm(quad.hypergradient(x_star))) < 1e-10


def test_unrolled_hypergradient_approaches_the_implicit_one(quad):
    x = jax.random.normal(jax.random.key(1), (5,))
    exact = quad.hypergradient(x)
    solver = Unrolled(quad.problem, inner_hyperparams={"learning_rate": 1.0}, inner_steps=80)
    _, grad, _ = solver.hypergradient(x, quad.y0, quad.inner_data, quad.outer_data)
    # 80 steps of GD (contraction 1 - mu = 0.9 per step) from y0 = 0: error ~ 0.9^80 ~ 2e-4.
    assert float(jnp.linalg.norm(grad - exact) / jnp.linalg.norm(exact)) < 1e-3


# ---------------------------------------------------------------- convergence


def _run(solver, toy_or_quad, params=None, max_steps=3000, key=None):
    params = params or (toy_or_quad.x0, toy_or_quad.y0)
    return optlib.run(solver, params, toy_or_quad.inner_data, toy_or_quad.outer_data,
                      max_steps=max_steps, key=key)


def test_penalty_type_solvers_reach_penalized_solution(quad):
    """Penalty reaches argmin psi_sigma to 1e-9 (F2SA too: see the contract case); the
    penalized solution is O(sigma) from x*."""
    sigma = 1e-3
    x_sigma, _ = quad.penalty_solution(sigma)
    x_star, _ = quad.solution()
    solvers = {
        "penalty": Penalty(quad.problem, sigma=sigma, sigma0=sigma,
                           outer_hyperparams={"learning_rate": 0.5},
                           inner_hyperparams={"learning_rate": 0.8}, inner_steps=20),
    }
    for name, solver in solvers.items():
        result = _run(solver, quad, max_steps=2000)
        np.testing.assert_allclose(result.params[0], x_sigma, atol=1e-9, err_msg=name)
    gaps = [float(jnp.abs(quad.penalty_solution(s)[0] - x_star).max()) for s in (1e-3, 1e-4)]
    assert 8 < gaps[0] / gaps[1] < 12


def test_penalty_min_norm_least_squares_bias_is_order_sigma():
    toy = problems.min_norm_least_squares(jax.random.key(0))
    sigmas = np.array([1e-3, 1e-4, 1e-5])
    errors = []
    for sigma in sigmas:
        solver = Penalty(toy.problem, sigma=sigma, sigma0=sigma,
                         outer_hyperparams={"learning_rate": 0.0},
                         inner_hyperparams={"learning_rate": 0.9}, inner_steps=500)
        result = _run(solver, toy, max_steps=20)
        A, b = toy.inner_data
        exact_sigma = np.linalg.solve(sigma * np.eye(A.shape[1]) + A.T @ A, A.T @ b)
        np.testing.assert_allclose(result.params[1], exact_sigma, atol=1e-10)
        errors.append(float(jnp.linalg.norm(result.params[1] - toy.y_star)))
    slope = np.polyfit(np.log(sigmas), np.log(errors), 1)[0]
    assert 0.9 <= slope <= 1.1


@pytest.mark.parametrize("variant", ["double_loop", "single_loop"])
def test_penalty_non_unique_lower_level(variant):
    toy = problems.non_unique_lower_level()
    solver = Penalty(toy.problem, sigma=0.5, sigma0=0.5, variant=variant,
                     outer_hyperparams={"learning_rate": 0.5},
                     inner_hyperparams={"learning_rate": 0.5}, inner_steps=20)
    result = _run(solver, toy, max_steps=300 if variant == "double_loop" else 3000)
    np.testing.assert_allclose(result.params[0], toy.x_star, atol=1e-4)
    np.testing.assert_allclose(result.params[1], toy.y_star, atol=1e-4)


def test_aid_assumes_unique_lower_level_and_stalls_on_bda_toy():
    """The lower-level Hessian is singular: AID's answer stays away from the optimistic one."""
    toy = problems.non_unique_lower_level()
    solver = ImplicitDiff(toy.problem, outer_hyperparams={"learning_rate": 0.5},
                          inner_hyperparams={"learning_rate": 0.5},
                          linear_solver=optlib.CG(max_iter=50, ridge=1e-6))
    result = _run(solver, toy, max_steps=300)
    assert float(jnp.abs(result.params[0] - toy.x_star)[0]) > 1e-2


def test_penalty_box_constrained_lower_level_with_decreasing_sigma():
    toy = problems.box_constrained()
    solver = Penalty(toy.problem, sigma=1e-5, sigma0=1.0, sigma_decay=1.0,
                     outer_hyperparams={"learning_rate": 0.5},
                     inner_hyperparams={"learning_rate": 0.5}, inner_steps=20)
    result = _run(solver, toy, max_steps=4000)
    np.testing.assert_allclose(result.params[0], toy.x_star, atol=1e-4)
    assert 0.0 <= float(result.params[1][0]) <= 1.0
    assert float(solver.sigma_at(jnp.asarray(3999), toy.x0)) == pytest.approx(1 / 4000)


def test_scalebio_and_f2sa_on_non_unique_toy():
    toy = problems.non_unique_lower_level()
    scalebio = ScaleBiO(toy.problem, alpha=2.0, outer_optimizer=optax.sgd,
                        outer_hyperparams={"learning_rate": 0.2}, inner_optimizer=optax.sgd,
                        inner_hyperparams={"learning_rate": 0.2})
    f2sa = F2SA(toy.problem, step_size=0.5, lmbda0=2.0, delta_lmbda=0.0)
    for solver in (scalebio, f2sa):
        result = _run(solver, toy, max_steps=3000)
        np.testing.assert_allclose(result.params[0], toy.x_star, atol=1e-4)
        np.testing.assert_allclose(result.params[1], toy.y_star, atol=1e-4)


def test_borep_unbounded_smoothness_where_fixed_step_diverges():
    toy = problems.unbounded_smoothness()
    borep = BOREP(toy.problem,
                  outer_optimizer=normalized_momentum(optax.exponential_decay(1.0, 100, 0.7),
                                                      beta=0.5),
                  inner_hyperparams={"learning_rate": 0.5}, linear_system_lr=0.5)
    result = _run(borep, toy, max_steps=2000)
    np.testing.assert_allclose(result.params[0], toy.x_star, atol=1e-3)
    # SOBA with the same initial step 1.0 (curvature e^5 ~ 148 at x0 = 5) overflows.
    soba = SOBA(toy.problem, outer_hyperparams={"learning_rate": 1.0, "power": 0.0},
                inner_hyperparams={"learning_rate": 0.5, "power": 0.0})
    assert int(_run(soba, toy, max_steps=2000).status) == optlib.Status.NONFINITE


# ---------------------------------------------------------------- stochastic use


def _regression_problem(batch):
    def inner(x, w, data):
        X, t = data
        return 0.5 * jnp.mean((X @ w - t) ** 2) + 0.5 * jnp.sum(jnp.exp(x) * w**2)

    def outer(x, w, data):
        X, t = data
        return 0.5 * jnp.mean((X @ w - t) ** 2)

    return BilevelProblem(outer, inner, inner_batch_size=batch, outer_batch_size=batch)


def _regression_data():
    k1, k2, k3, k4 = jax.random.split(jax.random.key(5), 4)
    w_true = jax.random.normal(k1, (4,))
    X = jax.random.normal(k2, (400, 4))
    Xv = jax.random.normal(k3, (200, 4))
    return ((X, X @ w_true + 0.5 * jax.random.normal(k4, (400,))), (Xv, Xv @ w_true))


def _regression_value(x, inner_data, outer_data):
    """Closed-form Phi(x) of the ridge problem above, in NumPy (float64)."""
    (X, t), (Xv, tv) = (tuple(np.asarray(a, np.float64) for a in d)
                        for d in (inner_data, outer_data))
    n = X.shape[0]
    w = np.linalg.solve(X.T @ X / n + np.diag(np.exp(x)), X.T @ t / n)
    return 0.5 * np.mean((Xv @ w - tv) ** 2)


def test_stochastic_minibatches_are_keyed_and_approach_full_batch_solution():
    import scipy.optimize

    inner_data, outer_data = _regression_data()
    params0 = (jnp.zeros(4), jnp.zeros(4))
    phi = lambda x: _regression_value(x, inner_data, outer_data)  # noqa: E731
    phi_min = scipy.optimize.minimize(phi, np.zeros(4), method="Nelder-Mead",
                                      options={"xatol": 1e-8, "fatol": 1e-12,
                                               "maxiter": 5000}).fun
    stoch = SOBA(_regression_problem(32), outer_hyperparams={"learning_rate": 3.0, "power": 0.5},
                 inner_hyperparams={"learning_rate": 0.5, "power": 0.5})
    run = jax.jit(jax.vmap(lambda key: optlib.run(stoch, params0, inner_data, outer_data,
                                                  key=key, max_steps=1500).params[0]))
    a, b, c = run(jnp.stack([jax.random.key(0), jax.random.key(0), jax.random.key(1)]))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    gap = (phi(np.asarray(a)) - phi_min) / (phi(np.zeros(4)) - phi_min)
    assert gap < 0.05
    with pytest.raises(ValueError, match="key"):
        optlib.run(stoch, params0, inner_data, outer_data, max_steps=2)


# ---------------------------------------------------------------- vmap / compile


def test_vmap_over_16_hyperparameter_settings_is_one_compiled_call(quad):
    solver = Penalty(quad.problem, sigma=1e-2, sigma0=1e-2,
                     outer_hyperparams={"learning_rate": 0.5},
                     inner_hyperparams={"learning_rate": 0.8}, inner_steps=10)
    lrs = jnp.linspace(0.1, 0.6, 4)
    sigmas = jnp.array([1e-1, 3e-2, 1e-2, 3e-3])
    grid_lr, grid_sigma = (a.reshape(-1) for a in jnp.meshgrid(lrs, sigmas))

    def one(lr, sigma):
        s = dataclasses.replace(solver, sigma=sigma, sigma0=sigma,
                                outer_hyperparams={"learning_rate": lr})
        return optlib.run(s, (quad.x0, quad.y0), quad.inner_data, quad.outer_data,
                          max_steps=1500).params[0]

    sweep = jax.jit(jax.vmap(one))
    out = sweep(grid_lr, grid_sigma)
    new_lr = grid_lr * 1.01
    jax.block_until_ready(new_lr)
    with count_compilations() as n:
        out2 = sweep(new_lr, grid_sigma)
        jax.block_until_ready(out2)
    assert n() == 0
    assert out.shape == (16, 5)
    for i in (0, 15):
        expected = quad.penalty_solution(float(grid_sigma[i]))[0]
        np.testing.assert_allclose(out[i], expected, atol=1e-6)


# ---------------------------------------------------------------- ScaleBiO reweighting


def _two_source_data():
    """Source 0 is clean, source 1 has labels replaced by noise; validation is clean."""
    k1, k2, k3, k4 = jax.random.split(jax.random.key(7), 4)
    w_true = jnp.array([1.0, -2.0, 0.5])
    X = jax.random.normal(k1, (200, 3))
    t = X @ w_true
    t = t.at[100:].set(3.0 * jax.random.normal(k2, (100,)))
    source = jnp.concatenate([jnp.zeros(100, jnp.int32), jnp.ones(100, jnp.int32)])
    Xv = jax.random.normal(k3, (50, 3))
    del k4
    return {"x": X, "t": t, "source": source}, {"x": Xv, "t": Xv @ w_true}


def _reweighting(batch=None):
    return reweighting_problem(
        lambda w, b: 0.5 * (b["x"] @ w["dense"] - b["t"]) ** 2,
        lambda w, b: 0.5 * jnp.mean((b["x"] @ w["dense"] - b["t"]) ** 2), num_sources=2,
        inner_batch_size=batch, outer_batch_size=batch)


def test_scalebio_reweighting_moves_weight_to_clean_source():
    train, val = _two_source_data()
    solver = ScaleBiO(_reweighting(), alpha=10.0, outer_optimizer=optax.sgd,
                      outer_hyperparams={"learning_rate": 0.5},
                      inner_hyperparams={"learning_rate": 1e-2, "weight_decay": 0.0})
    params = (jnp.zeros(2), {"dense": jnp.zeros(3)})
    result = optlib.run(solver, params, train, val, max_steps=1500)
    weights = solver.data_weights(result.params)
    assert float(weights[0]) > 0.9
    np.testing.assert_allclose(jnp.sum(weights), 1.0, rtol=1e-12)


def test_reweighting_problem_matches_per_source_means():
    train, _ = _two_source_data()
    problem = _reweighting()
    theta = jnp.array([0.3, -0.2])
    w = {"dense": jnp.array([0.1, 0.2, 0.3])}
    p = jax.nn.softmax(theta)
    losses = 0.5 * (train["x"] @ w["dense"] - train["t"]) ** 2
    expected = p[0] * jnp.mean(losses[:100]) + p[1] * jnp.mean(losses[100:])
    np.testing.assert_allclose(problem.inner(theta, w, train), expected, rtol=1e-12)


def test_layer_sampling_freezes_inactive_layers():
    train, val = _two_source_data()
    sampling = LayerSampling(LayerSampling.by_prefix("block_"), num_layers=3, num_active=1,
                             interval=5)
    problem = reweighting_problem(
        lambda w, b: 0.5 * (b["x"] @ (w["block_0"] + w["block_1"] + w["block_2"]) + w["bias"]
                            - b["t"]) ** 2,
        lambda w, b: jnp.mean(b["x"] @ w["block_0"]) ** 2, num_sources=2)
    w0 = {"block_0": jnp.zeros(3), "block_1": jnp.zeros(3), "block_2": jnp.zeros(3),
          "bias": jnp.zeros(())}
    solver = ScaleBiO(problem, alpha=10.0, layer_sampling=sampling, outer_optimizer=optax.sgd,
                      outer_hyperparams={"learning_rate": 0.1}, inner_optimizer=optax.sgd,
                      inner_hyperparams={"learning_rate": 1e-2})
    result = optlib.run_steps(solver, (jnp.zeros(2), w0), train, val, num_steps=5,
                              key=jax.random.key(0))
    w = result.params[1]
    moved = [bool(jnp.any(w[f"block_{i}"] != 0)) for i in range(3)]
    assert sum(moved) == 1  # one block active during the first interval
    assert bool(w["bias"] != 0)  # leaves outside any block always train
    with pytest.raises(ValueError, match="key"):
        optlib.run(solver, (jnp.zeros(2), w0), train, val, max_steps=2)


# ---------------------------------------------------------------- errors and statuses


def test_bad_input_raises_clear_value_errors(quad):
    with pytest.raises(ValueError, match="sigma"):
        Penalty(quad.problem, sigma=0.0)
    with pytest.raises(ValueError, match="sigma0"):
        Penalty(quad.problem, sigma0=-1.0)
    with pytest.raises(ValueError, match="alpha"):
        ScaleBiO(quad.problem, alpha=-1.0)
    with pytest.raises(ValueError, match="variant"):
        Penalty(quad.problem, variant="triple_loop")
    with pytest.raises(ValueError, match="inner_batch_size"):
        BilevelProblem(quad.problem.outer, quad.problem.inner, inner_batch_size=0)
    with pytest.raises(ValueError, match="callable"):
        BilevelProblem("f", quad.problem.inner)
    solver = SOBA(quad.problem)
    with pytest.raises(ValueError, match="pair"):
        optlib.run(solver, quad.x0, quad.inner_data, quad.outer_data, max_steps=2)
    with pytest.raises(ValueError, match="scalar"):
        bad = BilevelProblem(lambda x, y, b: x * 1.0, quad.problem.inner)
        optlib.run(SOBA(bad), (quad.x0, quad.y0), quad.inner_data, quad.outer_data,
                   max_steps=2)
    nan_data = {**quad.inner_data, "a": jnp.full_like(quad.inner_data["a"], jnp.nan)}
    with pytest.raises(ValueError, match="non-finite"):
        quad.problem.check((quad.x0, quad.y0), nan_data, quad.outer_data)
    with pytest.raises(ValueError, match="project_inner"):
        ImplicitDiff(problems.box_constrained().problem, inner_optimizer="newton")
    with pytest.raises(ValueError, match="newton"):
        ImplicitDiff(quad.problem, inner_optimizer="bfgs")
    with pytest.raises(ValueError, match="inner_optimizer"):
        Unrolled(quad.problem, inner_optimizer="newton")


def test_nan_data_and_divergence_give_statuses(quad):
    solver = Penalty(quad.problem, sigma=0.1, sigma0=0.1)
    nan_data = {**quad.inner_data, "a": jnp.full_like(quad.inner_data["a"], jnp.nan)}
    # Concrete NaN data is rejected before tracing ...
    with pytest.raises(ValueError, match="non-finite"):
        _run(solver, quad._replace(inner_data=nan_data), max_steps=10)

    # ... and inside a user's jit, where the data are tracers, it gives a status; so does
    # divergence (a huge outer step), which also keeps the last finite iterate.
    @jax.jit
    def run(data, lr):
        s = dataclasses.replace(solver, outer_hyperparams={"learning_rate": lr})
        return _run(s, quad._replace(inner_data=data), max_steps=500)

    assert int(run(nan_data, 0.1).status) == optlib.Status.NONFINITE
    result = run(quad.inner_data, 1e3)
    assert int(result.status) == optlib.Status.NONFINITE
    assert bool(jnp.all(jnp.isfinite(result.params[0])))


def test_normalized_momentum_moves_by_learning_rate():
    tx = normalized_momentum(0.3, beta=0.9)
    params = {"a": jnp.ones(2), "b": jnp.ones(3)}
    state = tx.init(params)
    for _ in range(3):
        updates, state = tx.update({"a": jnp.array([3.0, 1.0]), "b": jnp.ones(3)}, state)
        assert float(optlib.core.tree_norm(updates)) == pytest.approx(0.3)


# ---------------------------------------------------------------- constrained lower level


def _box_qp():
    """g = 1/2 y'Ay - y'Bx over y in [0, 1]^6, f = 1/2 ||y - t||^2 + rho/2 ||x||^2."""
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    A = q @ np.diag(np.linspace(1.0, 2.0, 6)) @ q.T
    B = rng.normal(size=(6, 3))
    t = rng.uniform(0.2, 0.8, size=6)
    rho = 0.3

    def inner(x, y, d):
        return 0.5 * y @ d["A"] @ y - y @ d["B"] @ x

    def outer(x, y, d):
        return 0.5 * jnp.sum((y - d["t"]) ** 2) + 0.5 * rho * jnp.sum(x**2)

    problem = BilevelProblem(outer, inner, project_inner=lambda y: jnp.clip(y, 0.0, 1.0))

    def y_star(x):  # projected gradient in NumPy, to machine precision
        y = np.full(6, 0.5)
        for _ in range(3000):
            y = np.clip(y - 0.5 * (A @ y - B @ x), 0.0, 1.0)
        return y

    def closed_form(x):  # free block: A_FF dy_F = B_F dx; bound coordinates do not move
        y = y_star(x)
        grad = A @ y - B @ x
        free = (y > 1e-9) & (y < 1 - 1e-9)
        # strict complementarity at every bound coordinate (else y* is not differentiable)
        assert np.all(np.abs(grad[~free]) > 1e-3)
        J = np.zeros((6, 3))
        J[free] = np.linalg.solve(A[np.ix_(free, free)], B[free])
        return rho * x + J.T @ (y - t), free

    def phi(x):
        y = y_star(x)
        return 0.5 * np.sum((y - t) ** 2) + 0.5 * rho * np.sum(x**2)

    data = {"A": jnp.asarray(A), "B": jnp.asarray(B), "t": jnp.asarray(t)}
    return problem, data, closed_form, phi


@pytest.mark.parametrize("linear_solver", [None, optlib.Direct()])
def test_implicit_diff_box_constrained_hypergradient_closed_form_and_fd(linear_solver):
    """Projected lower level: the implicit derivative of y = P(y - eta grad g) (float64)."""
    problem, data, closed_form, phi = _box_qp()
    x = np.array([0.9, -0.6, 0.4])
    exact, free = closed_form(x)
    assert 0 < free.sum() < 6  # some coordinates at a bound, some free
    h = 1e-5
    fd = np.array([(phi(x + h * e) - phi(x - h * e)) / (2 * h) for e in np.eye(3)])
    np.testing.assert_allclose(fd, exact, rtol=1e-6, atol=1e-9)
    hypergradient = jax.jit(lambda s, x: s.hypergradient(x, jnp.full(6, 0.5), data, data))
    for step in (0.5, 1.0):  # the answer does not depend on the fixed-point step
        solver = ImplicitDiff(problem, inner_hyperparams={"learning_rate": 0.5},
                              inner_steps=2000, inner_tol=1e-13, linear_solver=linear_solver,
                              fixed_point_step=step)
        _, grad, y = hypergradient(solver, jnp.asarray(x))
        assert float(jnp.min(y)) >= 0.0 and float(jnp.max(y)) <= 1.0
        np.testing.assert_allclose(grad, exact, rtol=1e-8, atol=1e-12)
    unrolled = Unrolled(problem, inner_hyperparams={"learning_rate": 0.5}, inner_steps=200)
    _, grad, _ = jax.jit(unrolled.hypergradient)(jnp.asarray(x), jnp.full(6, 0.5), data, data)
    np.testing.assert_allclose(grad, exact, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("cls", [ImplicitDiff, Unrolled])
def test_hypergradient_solvers_reach_box_constrained_solution(cls):
    """x0 = 2 starts with y* = 1 at its bound (hypergradient rho x only), then crosses."""
    toy = problems.box_constrained()
    solver = cls(toy.problem, outer_hyperparams={"learning_rate": 0.5},
                 inner_hyperparams={"learning_rate": 0.5}, inner_steps=60)
    _, grad, _ = solver.hypergradient(toy.x0, toy.y0)
    np.testing.assert_allclose(grad, 0.5 * toy.x0, rtol=1e-10)  # rho x at the bound
    result = _run(solver, toy, max_steps=200)
    np.testing.assert_allclose(result.params[0], toy.x_star, atol=1e-8)
    np.testing.assert_allclose(result.params[1], toy.y_star, atol=1e-8)


def test_soba_linear_system_uses_the_constrained_optimality_condition():
    """At a fixed x, SOBA's (y, v) converge and its estimate equals the exact hypergradient."""
    problem, data, closed_form, _ = _box_qp()
    x = np.array([0.9, -0.6, 0.4])
    solver = SOBA(problem, outer_hyperparams={"learning_rate": 0.0, "power": 0.0},
                  inner_hyperparams={"learning_rate": 0.5, "power": 0.0})
    result = optlib.run(solver, (jnp.asarray(x), jnp.full(6, 0.5)), data, data, max_steps=300)
    _, _, d_x, _ = solver._estimate(*result.params, result.state.v, data, data, None)
    np.testing.assert_allclose(d_x, closed_form(x)[0], rtol=1e-10)


def test_stochastic_solvers_reach_box_constrained_solution():
    """Full-batch SOBA and BOREP (projected y, constrained v) reach x* exactly; F2SA with
    lambda growing to 3e3 reaches it within its O(1/lambda) bias."""
    toy = problems.box_constrained()
    exact = [
        SOBA(toy.problem, outer_hyperparams={"learning_rate": 0.5, "power": 0.0},
             inner_hyperparams={"learning_rate": 0.5, "power": 0.0}),
        BOREP(toy.problem, outer_optimizer=optax.sgd, outer_hyperparams={"learning_rate": 0.5},
              inner_hyperparams={"learning_rate": 0.5}, linear_system_lr=0.5)]
    for solver in exact:
        result = _run(solver, toy, max_steps=3000)
        np.testing.assert_allclose(result.params[0], toy.x_star, atol=1e-10)
    f2sa = F2SA(toy.problem, step_size=0.5, lmbda0=1.0, delta_lmbda=1.0,
                exponents=(0.0, 0.0, 0.0, 0.0))
    result = _run(f2sa, toy, max_steps=3000)
    np.testing.assert_allclose(result.params[0], toy.x_star, atol=1e-4)
    assert 0.0 <= float(result.params[1][0]) <= 1.0
