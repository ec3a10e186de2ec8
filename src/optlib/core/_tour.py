"""Tour entries for the core solvers (see ``python -m optlib``)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from optlib._tour import TourEntry, TourOutcome
from optlib.core._adjoint import ImplicitAdjoint
from optlib.core._gradient_descent import GradientDescent
from optlib.core._hooks import ProgressBar
from optlib.core._loop import run
from optlib.core._optax_solver import OptaxSolver


def _ridge_data() -> tuple[jax.Array, jax.Array]:
    kx, kw = jax.random.split(jax.random.key(0))
    X = jax.random.normal(kx, (200, 10))
    y = X @ jax.random.normal(kw, (10,)) + 0.1 * jax.random.normal(kx, (200,))
    return X, y


def _ridge(w: jax.Array, X: jax.Array, y: jax.Array, lam: jax.Array) -> jax.Array:
    return 0.5 * jnp.mean((X @ w - y) ** 2) + 0.5 * lam * jnp.sum(w**2)


def _ridge_closed_form(X: np.ndarray, y: np.ndarray, lam: float) -> np.ndarray:
    n, d = X.shape
    return np.linalg.solve(X.T @ X / n + lam * np.eye(d), X.T @ y / n)


def _gradient_descent_ridge() -> TourOutcome:
    X, y = _ridge_data()
    solver = GradientDescent(_ridge, learning_rate=0.5, tol=1e-6)
    result = run(solver, jnp.zeros(10), X, y, 0.1, max_steps=5000,
                 hooks=[ProgressBar(every=50, desc="ridge (GD)")])
    exact = _ridge_closed_form(np.asarray(X), np.asarray(y), 0.1)
    err = float(np.max(np.abs(np.asarray(result.params) - exact)))
    return TourOutcome(f"max |w - w*| = {err:.1e} in {int(result.num_steps)} steps",
                       "closed form", err < 1e-4)


def _rosenbrock(x: jax.Array) -> jax.Array:
    return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def _lbfgs_rosenbrock() -> TourOutcome:
    solver = OptaxSolver(_rosenbrock, optax.lbfgs(), tol=1e-6)
    result = run(solver, jnp.full(5, -1.0), max_steps=2000,
                 hooks=[ProgressBar(every=20, desc="rosenbrock (L-BFGS)")])
    err = float(jnp.max(jnp.abs(result.params - 1.0)))
    return TourOutcome(f"max |x - 1| = {err:.1e} in {int(result.num_steps)} steps",
                       "x* = (1, ..., 1)", err < 1e-3)


def _implicit_hypergradient() -> TourOutcome:
    X, y = _ridge_data()
    solver = GradientDescent(_ridge, learning_rate=0.5, tol=1e-7)

    def validation_loss(lam: jax.Array) -> jax.Array:
        w = run(solver, jnp.zeros(10), X, y, lam, max_steps=5000,
                adjoint=ImplicitAdjoint()).params
        return 0.5 * jnp.mean((X[:50] @ w - y[:50]) ** 2)

    hypergrad = float(jax.grad(validation_loss)(jnp.asarray(0.1)))
    Xn, yn = np.asarray(X), np.asarray(y)
    n, d = Xn.shape
    A = Xn.T @ Xn / n + 0.1 * np.eye(d)
    w = np.linalg.solve(A, Xn.T @ yn / n)
    dw = -np.linalg.solve(A, w)
    exact = float((Xn[:50] @ w - yn[:50]) @ (Xn[:50] @ dw) / 50)
    rel = abs(hypergrad - exact) / abs(exact)
    return TourOutcome(f"d val/d lam = {hypergrad:.6f} (rel. err {rel:.1e})",
                       f"{exact:.6f} (closed form)", rel < 1e-3)


ENTRIES = [
    TourEntry("core", "ridge regression, d=10", "GradientDescent", _gradient_descent_ridge),
    TourEntry("core", "Rosenbrock, d=5", "OptaxSolver(optax.lbfgs)", _lbfgs_rosenbrock),
    TourEntry("core", "ridge hypergradient", "ImplicitAdjoint(CG)", _implicit_hypergradient),
]
