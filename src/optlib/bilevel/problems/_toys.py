"""Small bilevel problems with known answers (research note, section 4, T3-T5 and T7)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import scipy.special

from optlib.bilevel._problem import BilevelProblem

PyTree = Any


class Toy(NamedTuple):
    """A toy instance: the problem, a start, its data and the known solution.

    Attributes:
        problem: the :class:`BilevelProblem`.
        x0: starting outer point.
        y0: starting inner point.
        inner_data: data for ``g`` (``None`` when the objective closes over constants).
        outer_data: data for ``f``.
        x_star: the known outer solution.
        y_star: the known inner solution at ``x_star`` (the optimistic one if not unique).
    """

    problem: BilevelProblem
    x0: jax.Array
    y0: jax.Array
    inner_data: PyTree
    outer_data: PyTree
    x_star: jax.Array
    y_star: jax.Array


def _dtype(dtype: Any) -> Any:
    return dtype or jnp.zeros(()).dtype


def non_unique_lower_level(dtype: Any = None) -> Toy:
    """The BDA toy whose lower level has a line of minimizers (Liu et al., ICML 2020).

    ``f = 1/2 (x - y2)^2 + 1/2 (y1 - 1)^2`` and ``g = 1/2 y1^2 - x y1`` (``y2`` free), so
    ``argmin_y g = {(x, t)}``; the optimistic solution is ``x* = 1``, ``y* = (1, 1)``
    and the penalty problem has the same solution for every ``sigma``.

    Example:
        >>> from optlib.bilevel import problems
        >>> problems.non_unique_lower_level().x_star.tolist()
        [1.0]
    """
    dt = _dtype(dtype)

    def outer(x: jax.Array, y: jax.Array, batch: Any) -> jax.Array:
        return 0.5 * (x[0] - y[1]) ** 2 + 0.5 * (y[0] - 1.0) ** 2

    def inner(x: jax.Array, y: jax.Array, batch: Any) -> jax.Array:
        return 0.5 * y[0] ** 2 - x[0] * y[0]

    return Toy(BilevelProblem(outer, inner), jnp.zeros(1, dt), jnp.zeros(2, dt), None, None,
               jnp.ones(1, dt), jnp.ones(2, dt))


def box_constrained(target: float = 0.7, rho: float = 0.5, dtype: Any = None) -> Toy:
    """A lower level constrained to ``[0, 1]``: ``y*(x) = clip(x, 0, 1)``.

    ``f = 1/2 (y - target)^2 + rho/2 x^2`` and ``g = 1/2 (y - x)^2`` with ``y in [0, 1]``,
    so ``x* = target / (1 + rho)`` for ``target`` in ``[0, 1]``.

    Args:
        target: the outer target ``t``.
        rho: outer regularization.
        dtype: floating dtype.

    Example:
        >>> from optlib.bilevel import problems
        >>> round(float(problems.box_constrained().x_star[0]), 5)
        0.46667
    """
    dt = _dtype(dtype)

    def outer(x: jax.Array, y: jax.Array, batch: Any) -> jax.Array:
        return 0.5 * jnp.sum((y - target) ** 2) + 0.5 * rho * jnp.sum(x**2)

    def inner(x: jax.Array, y: jax.Array, batch: Any) -> jax.Array:
        return 0.5 * jnp.sum((y - x) ** 2)

    x_star = jnp.full(1, target / (1.0 + rho), dt)
    problem = BilevelProblem(outer, inner, project_inner=lambda y: jnp.clip(y, 0.0, 1.0))
    return Toy(problem, jnp.full(1, 2.0, dt), jnp.zeros(1, dt), None, None, x_star,
               jnp.clip(x_star, 0.0, 1.0))


def _min_norm_outer(x: jax.Array, y: jax.Array, batch: Any) -> jax.Array:
    return 0.5 * jnp.sum(y**2) + 0.0 * jnp.sum(x**2)


def _min_norm_inner(x: jax.Array, y: jax.Array, data: tuple) -> jax.Array:
    A, b = data
    return 0.5 * jnp.sum((A @ y - b) ** 2)


def min_norm_least_squares(key: jax.Array, rows: int = 10, cols: int = 20, rank: int = 5,
                           dtype: Any = None) -> Toy:
    """Simple bilevel: the minimum-norm solution of a rank-deficient least squares.

    ``f = 1/2 ||y||^2`` over ``argmin_y 1/2 ||Ay - b||^2`` (``x`` is a dummy of size 1),
    so ``y* = A^+ b``; the penalty solution ``(sigma I + A'A)^{-1} A'b`` is ``O(sigma)``
    away from it. ``A`` is scaled to spectral norm 1.

    Args:
        key: PRNG key.
        rows, cols: shape of ``A``.
        rank: rank of ``A`` (``< cols`` for a non-unique lower level).
        dtype: floating dtype.

    Example:
        >>> import jax
        >>> from optlib.bilevel import problems
        >>> toy = problems.min_norm_least_squares(jax.random.key(0))
        >>> toy.y_star.shape
        (20,)
    """
    dt = _dtype(dtype)
    k1, k2, k3 = jax.random.split(key, 3)
    A = jax.random.normal(k1, (rows, rank), dt) @ jax.random.normal(k2, (rank, cols), dt)
    A = A / jnp.linalg.norm(A, ord=2)  # ||A|| = 1, so a unit inner step is stable
    b = jax.random.normal(k3, (rows,), dt)
    y_star = jnp.linalg.pinv(A) @ b
    return Toy(BilevelProblem(_min_norm_outer, _min_norm_inner), jnp.zeros(1, dt),
               jnp.zeros(cols, dt), (A, b), None, jnp.zeros(1, dt), y_star)


def unbounded_smoothness(a: float = 1.0, b: float = 2.0, c: float = 1.5, x0: float = 5.0,
                         dtype: Any = None) -> Toy:
    """An upper level with unbounded smoothness (for BO-REP's normalized momentum).

    ``f = exp(a x) + 1/2 (y - b)^2`` and ``g = 1/2 (y - c x)^2``, so ``y* = c x`` and
    ``Phi(x) = exp(a x) + 1/2 (c x - b)^2``, whose curvature grows like ``exp(a x)``;
    ``x* = b/c - W(a^2 exp(ab/c) / c^2) / a`` (Lambert W).

    Example:
        >>> from optlib.bilevel import problems
        >>> round(float(problems.unbounded_smoothness().x_star[0]), 9)
        0.557330766
    """
    dt = _dtype(dtype)

    def outer(x: jax.Array, y: jax.Array, batch: Any) -> jax.Array:
        return jnp.sum(jnp.exp(a * x)) + 0.5 * jnp.sum((y - b) ** 2)

    def inner(x: jax.Array, y: jax.Array, batch: Any) -> jax.Array:
        return 0.5 * jnp.sum((y - c * x) ** 2)

    w = float(np.real(scipy.special.lambertw(a * a * np.exp(a * b / c) / (c * c))))
    x_star = b / c - w / a
    return Toy(BilevelProblem(outer, inner), jnp.full(1, x0, dt), jnp.full(1, c * x0, dt),
               None, None, jnp.full(1, x_star, dt), jnp.full(1, c * x_star, dt))
