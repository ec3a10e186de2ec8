"""Differentiation through a solve: implicit (custom VJP + linear solvers) and unrolled."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optlib
from optlib._testing import finite_difference_grad


def ridge(w, X, y, lam):
    n = X.shape[0]
    return 0.5 * jnp.sum((X @ w - y) ** 2) / n + 0.5 * jnp.sum(jnp.exp(lam) * w**2)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 5))
    y = X @ rng.normal(size=5) + 0.1 * rng.normal(size=60)
    Xv = rng.normal(size=(30, 5))
    yv = Xv @ rng.normal(size=5)
    return X, y, Xv, yv


def closed_form(X, y, Xv, yv, lam):
    """Validation loss and its gradient w.r.t. per-feature log-penalties, exactly."""
    n, d = X.shape
    A = X.T @ X / n + np.diag(np.exp(lam))
    w = np.linalg.solve(A, X.T @ y / n)
    residual = Xv @ w - yv
    g_w = Xv.T @ residual / len(yv)
    # dw/dlam_j = -A^{-1} e_j exp(lam_j) w_j
    v = np.linalg.solve(A, g_w)
    return 0.5 * residual @ residual / len(yv), -v * np.exp(lam) * w


def validation(lam, data, adjoint, max_steps=20000):
    X, y, Xv, yv = map(jnp.asarray, data)
    solver = optlib.GradientDescent(ridge, learning_rate=0.5, tol=1e-13)
    w = optlib.run(solver, jnp.zeros(5), X, y, lam, max_steps=max_steps, adjoint=adjoint).params
    r = Xv @ w - yv
    return 0.5 * r @ r / Xv.shape[0]


LAM = np.log(np.array([0.1, 0.5, 1.0, 0.05, 0.2]))


@pytest.mark.parametrize("linear_solver", [
    optlib.CG(rtol=1e-14), optlib.Direct(), optlib.Neumann(num_terms=3000, step_size=0.5)])
def test_implicit_hypergradient_matches_closed_form(data, linear_solver):
    _, exact = closed_form(*data, LAM)
    grad = jax.grad(validation)(jnp.asarray(LAM), data, optlib.ImplicitAdjoint(linear_solver))
    rel = np.linalg.norm(np.asarray(grad) - exact) / np.linalg.norm(exact)
    assert rel <= 1e-8, rel


def test_implicit_hypergradient_matches_finite_differences(data):
    # Central differences of the exact validation loss: differencing the iterative solve
    # itself would amplify its ~1e-13 residual past the tolerance.
    grad = jax.grad(validation)(jnp.asarray(LAM), data, optlib.ImplicitAdjoint())
    fd = finite_difference_grad(lambda lam: closed_form(*data, np.asarray(lam))[0], LAM,
                                eps=1e-6)
    rel = np.linalg.norm(np.asarray(grad) - fd) / np.linalg.norm(fd)
    assert rel <= 1e-8, rel


def test_value_matches_closed_form(data):
    value = validation(jnp.asarray(LAM), data, optlib.ImplicitAdjoint())
    np.testing.assert_allclose(value, closed_form(*data, LAM)[0], rtol=1e-10)


def test_unrolled_converges_to_implicit(data):
    implicit = jax.grad(validation)(jnp.asarray(LAM), data, optlib.ImplicitAdjoint())
    unrolled = jax.grad(validation)(jnp.asarray(LAM), data,
                                    optlib.UnrolledAdjoint(checkpoint=True), 3000)
    np.testing.assert_allclose(unrolled, implicit, rtol=1e-6)


def test_implicit_under_vmap(data):
    lams = jnp.asarray(np.stack([LAM, LAM + 0.3, LAM - 0.4]))  # all converge at lr = 0.5
    grads = jax.vmap(jax.grad(validation), in_axes=(0, None, None))(
        lams, data, optlib.ImplicitAdjoint())
    for lam, grad in zip(np.asarray(lams), np.asarray(grads)):
        np.testing.assert_allclose(grad, closed_form(*data, lam)[1], rtol=1e-8)


def test_implicit_with_pytree_params():
    def inner(p, target, lam):
        return jnp.sum((p["a"] - target) ** 2) + lam * jnp.sum(p["a"] ** 2) + (p["b"] - lam) ** 2

    def outer(lam):
        solver = optlib.GradientDescent(inner, learning_rate=0.2, tol=1e-12)
        p = optlib.run(solver, {"a": jnp.zeros(2), "b": jnp.asarray(0.0)}, jnp.array([1.0, 2.0]),
                       lam, max_steps=5000, adjoint=optlib.ImplicitAdjoint()).params
        return jnp.sum(p["a"]) + p["b"]

    # a* = target / (1 + lam), b* = lam: d/dlam = -3 / (1 + lam)^2 + 1.
    np.testing.assert_allclose(jax.grad(outer)(0.5), -3 / 1.5**2 + 1, rtol=1e-9)


def test_implicit_needs_an_optimality_fn():
    @optlib.core.solver_dataclass
    class NoOptimality:
        def init(self, params, *args, key=None):
            return ()

        def step(self, params, state, *args, key=None):
            return params, state, ()

        def terminate(self, params, state, info):
            return jnp.asarray(True)

    with pytest.raises(ValueError, match="optimality_fn"):
        optlib.run(NoOptimality(), jnp.zeros(1), adjoint=optlib.ImplicitAdjoint())


def test_linear_solvers_on_pytrees():
    A = jnp.array([[3.0, 1.0, 0.0], [1.0, 2.0, 0.5], [0.0, 0.5, 1.5]])

    def matvec(v):
        flat = jnp.concatenate([v["x"], v["y"][None]])
        out = A @ flat
        return {"x": out[:2], "y": out[2]}

    b = {"x": jnp.array([1.0, 2.0]), "y": jnp.asarray(3.0)}
    exact = np.linalg.solve(np.asarray(A), np.array([1.0, 2.0, 3.0]))
    for solver in (optlib.CG(rtol=1e-14), optlib.Direct(),
                   optlib.Neumann(num_terms=2000, step_size=0.25)):
        x = solver(matvec, b)
        np.testing.assert_allclose(np.concatenate([x["x"], x["y"][None]]), exact, rtol=1e-10)


def test_cg_ridge():
    A = jnp.diag(jnp.array([1.0, 2.0]))
    x = optlib.CG(rtol=1e-14, ridge=1.0)(lambda v: A @ v, jnp.array([2.0, 3.0]))
    np.testing.assert_allclose(x, [1.0, 1.0], rtol=1e-12)
