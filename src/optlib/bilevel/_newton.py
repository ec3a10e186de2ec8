"""A dense Newton solver for small, smooth lower levels (the inner solve of ImplicitDiff)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from jax.flatten_util import ravel_pytree

from optlib.core._base import solver_dataclass, static_field
from optlib.core._gradient_descent import GradientDescentInfo
from optlib.core._tree import cast_like, tree_norm

PyTree = Any


class NewtonState(NamedTuple):
    """State of :class:`Newton`.

    Attributes:
        count: ``int32[]`` steps taken.
        value: the objective at the current iterate.
        grad: its gradient there (carried, so each step evaluates it once).
    """

    count: jax.Array
    value: jax.Array
    grad: PyTree


@solver_dataclass
class Newton:
    """Damped Newton's method with a dense Hessian and Armijo backtracking.

    Each step forms the Hessian of ``fun`` at the raveled iterate (``jax.hessian``:
    the directional derivatives are batched, so a data-fitting objective turns into
    matrix-matrix products), solves ``(H + damping I) d = -grad`` by Cholesky, falls
    back to ``d = -grad`` when that fails or is not a descent direction, and halves the
    step until ``fun(x + t d) <= fun(x) + 1e-4 t grad.d``. Near a strongly convex
    minimizer the full step is accepted and convergence is quadratic, so a warm-started
    lower level (the inner solve of :class:`optlib.bilevel.ImplicitDiff`) needs one or
    two steps. The Hessian costs ``n`` gradient-like products: use it for small ``n``.

    Args:
        fun: ``fun(params, *args) -> scalar``, twice differentiable (static).
        tol: stop when the gradient norm at the new iterate falls below ``tol``.
        damping: added to the Hessian's diagonal (``0``: pure Newton).
        max_backtracks: bound on step halvings per step (static).

    Example:
        >>> import jax.numpy as jnp, optlib
        >>> from optlib.bilevel import Newton
        >>> fun = lambda w: jnp.sum(jnp.logaddexp(0.0, -w)) + 0.5 * jnp.sum(w**2)
        >>> result = optlib.run(Newton(fun, tol=1e-5), jnp.zeros(2), max_steps=20)
        >>> int(result.num_steps) <= 5, [round(v, 4) for v in result.params.tolist()]
        (True, [0.4011, 0.4011])
    """

    fun: Callable[..., jax.Array] = static_field()
    tol: float = 1e-10
    damping: float = 0.0
    max_backtracks: int = static_field(default=30)

    def init(self, params: PyTree, *args: Any, key: jax.Array | None = None) -> NewtonState:
        del key
        value, grad = jax.value_and_grad(self.fun)(params, *args)
        return NewtonState(jnp.zeros((), jnp.int32), value, grad)

    def step(self, params: PyTree, state: NewtonState, *args: Any,
             key: jax.Array | None = None) -> tuple[PyTree, NewtonState, GradientDescentInfo]:
        del key
        flat, unravel = ravel_pytree(params)
        g, _ = ravel_pytree(state.grad)

        def f(v: jax.Array) -> jax.Array:
            return self.fun(unravel(v), *args)

        hess = jax.hessian(f)(flat)
        hess = 0.5 * (hess + hess.T) + cast_like(self.damping, flat) * jnp.eye(flat.size,
                                                                               dtype=flat.dtype)
        chol = jnp.linalg.cholesky(hess)
        d = -jax.scipy.linalg.cho_solve((chol, True), g)
        slope = jnp.vdot(g, d)
        ok = jnp.all(jnp.isfinite(d)) & (slope < 0)
        d = jnp.where(ok, d, -g)
        slope = jnp.where(ok, slope, -jnp.vdot(g, g))
        value_and_grad = jax.value_and_grad(f)

        def trial(t: jax.Array) -> tuple:
            return value_and_grad(flat + t * d)

        def cond(carry: tuple) -> jax.Array:
            t, value, _, k = carry
            armijo = value <= state.value + 1e-4 * t * slope
            return ~armijo & (k < self.max_backtracks)

        def body(carry: tuple) -> tuple:
            t, _, _, k = carry
            t = 0.5 * t
            return (t, *trial(t), k + 1)

        one = jnp.ones((), flat.dtype)
        t, value, grad, _ = lax.while_loop(cond, body, (one, *trial(one), jnp.zeros((),
                                                                                   jnp.int32)))
        new = unravel(flat + t * d)
        grad = unravel(grad)
        return new, NewtonState(state.count + 1, value, grad), GradientDescentInfo(
            value, tree_norm(grad))

    def terminate(self, params: PyTree, state: NewtonState,
                  info: GradientDescentInfo) -> jax.Array:
        del params, state
        return info.grad_norm < cast_like(self.tol, info.grad_norm)

    def optimality_fn(self, params: PyTree, *args: Any) -> PyTree:
        """The gradient of ``fun``, zero at the solution (for implicit differentiation)."""
        return jax.grad(self.fun)(params, *args)
