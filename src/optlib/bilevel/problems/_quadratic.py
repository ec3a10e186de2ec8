"""The quadratic bilevel problem with closed-form hypergradient and solution."""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optlib.bilevel._problem import BilevelProblem

PyTree = Any


def _inner(x: jax.Array, y: jax.Array, d: dict) -> jax.Array:
    return 0.5 * y @ (d["A"] @ y) + x @ (d["C"] @ y) + d["a"] @ y


def _outer(x: jax.Array, y: jax.Array, d: dict) -> jax.Array:
    return (0.5 * y @ (d["F"] @ y) + x @ (d["K"] @ y) + d["f"] @ y
            + 0.5 * x @ (d["H"] @ x) + d["h"] @ x)


QUADRATIC_PROBLEM = BilevelProblem(outer=_outer, inner=_inner)


class Quadratic(NamedTuple):
    """A quadratic bilevel instance (the benchopt ``benchmark_bilevel`` form).

    ``g(x, y) = 1/2 y'Ay + x'Cy + a'y`` and
    ``f(x, y) = 1/2 y'Fy + x'Ky + f'y + 1/2 x'Hx + h'x`` with ``A`` positive definite, so
    ``y*(x) = -A^{-1}(C'x + a)`` and ``Phi(x) = f(x, y*(x))`` is a quadratic
    ``1/2 x'Qx + q'x + c`` with a unique minimizer when ``Q`` is positive definite.

    Attributes:
        problem: the :class:`BilevelProblem` (data passed as arguments, so instances vmap).
        inner_data: ``dict(A, C, a)``.
        outer_data: ``dict(F, K, f, H, h)``.
        x0: a starting outer point.
        y0: a starting inner point (zeros).
    """

    problem: BilevelProblem
    inner_data: dict
    outer_data: dict
    x0: jax.Array
    y0: jax.Array

    # The closed forms run as compiled programs (module-level jits): eagerly, each of their
    # dozen small ops would be compiled on first use for every shape and dtype.

    def inner_solution(self, x: jax.Array) -> jax.Array:
        """``y*(x) = -A^{-1}(C'x + a)``."""
        return _inner_solution(self.inner_data, x)

    def value(self, x: jax.Array) -> jax.Array:
        """``Phi(x) = f(x, y*(x))``."""
        return _value(self.inner_data, self.outer_data, x)

    def hypergradient(self, x: jax.Array) -> jax.Array:
        """``grad Phi(x) = K y* + Hx + h - C A^{-1}(F y* + K'x + f)``."""
        return _hypergradient(self.inner_data, self.outer_data, x)

    def penalty_solution(self, sigma: float) -> tuple[jax.Array, jax.Array]:
        """The minimizer ``(x_s, y_s)`` of the penalized hyper-objective ``psi_sigma``.

        ``y_s(x) = argmin_y sigma f + g`` and ``grad psi_sigma(x) = K y_s + Hx + h +
        C (y_s - y*(x)) / sigma`` are affine in ``x``, so ``x_s`` solves a linear system.
        """
        return _penalty_solution(self.inner_data, self.outer_data, sigma)

    def solution(self) -> tuple[jax.Array, jax.Array]:
        """The minimizer ``(x*, y*(x*))`` with ``x* = -Q^{-1} q``."""
        return _solution(self.inner_data, self.outer_data)


@jax.jit
def _inner_solution(di: dict, x: jax.Array) -> jax.Array:
    return -jnp.linalg.solve(di["A"], di["C"].T @ x + di["a"])


@jax.jit
def _value(di: dict, do: dict, x: jax.Array) -> jax.Array:
    return _outer(x, _inner_solution(di, x), do)


@jax.jit
def _hypergradient(di: dict, do: dict, x: jax.Array) -> jax.Array:
    y = _inner_solution(di, x)
    v = jnp.linalg.solve(di["A"], do["F"] @ y + do["K"].T @ x + do["f"])
    return do["K"] @ y + do["H"] @ x + do["h"] - di["C"] @ v


@jax.jit
def _penalty_solution(di: dict, do: dict, sigma: Any) -> tuple[jax.Array, jax.Array]:
    sigma = jnp.asarray(sigma, do["H"].dtype)
    M = sigma * do["F"] + di["A"]
    Ys = -jnp.linalg.solve(M, sigma * do["K"].T + di["C"].T)  # y_s = Ys x + ys0
    ys0 = -jnp.linalg.solve(M, sigma * do["f"] + di["a"])
    J = -jnp.linalg.solve(di["A"], di["C"].T)
    y0 = -jnp.linalg.solve(di["A"], di["a"])
    G = do["K"] @ Ys + do["H"] + di["C"] @ (Ys - J) / sigma
    c = do["K"] @ ys0 + do["h"] + di["C"] @ (ys0 - y0) / sigma
    x_s = -jnp.linalg.solve(G, c)
    return x_s, Ys @ x_s + ys0


@jax.jit
def _solution(di: dict, do: dict) -> tuple[jax.Array, jax.Array]:
    J = -jnp.linalg.solve(di["A"], di["C"].T)  # dy*/dx, as (dim_inner, dim_outer)
    y0 = -jnp.linalg.solve(di["A"], di["a"])
    Q = J.T @ do["F"] @ J + do["K"] @ J + J.T @ do["K"].T + do["H"]
    q = J.T @ do["F"] @ y0 + do["K"] @ y0 + J.T @ do["f"] + do["h"]
    x_star = -jnp.linalg.solve(Q, q)
    return x_star, _inner_solution(di, x_star)


def _spd(key: jax.Array, n: int, low: float, high: float, dtype: Any) -> jax.Array:
    q, _ = jnp.linalg.qr(jax.random.normal(key, (n, n), dtype))
    eig = jnp.linspace(low, high, n, dtype=dtype)
    return (q * eig[None, :]) @ q.T


def quadratic(key: jax.Array, dim_outer: int = 10, dim_inner: int = 20, mu: float = 0.1,
              L: float = 1.0, cross: float = 0.1, dtype: Any = None) -> Quadratic:
    """A random quadratic bilevel problem with a known solution.

    ``A`` and ``F`` have spectra in ``[mu, L]``, ``H`` in ``[mu, L]`` too (so the
    hyper-objective is strongly convex: ``Q = J'FJ + KJ + J'K' + H`` with a small
    cross coupling ``K``), and ``C``, ``K`` are Gaussian scaled by ``cross``.

    Args:
        key: PRNG key.
        dim_outer: size of ``x``.
        dim_inner: size of ``y``.
        mu: smallest eigenvalue of ``A``, ``F`` and ``H``.
        L: largest eigenvalue.
        cross: scale of the coupling matrices ``C`` and ``K``.
        dtype: floating dtype (default: JAX's default float).

    Returns:
        A :class:`Quadratic`.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from optlib.bilevel import problems
        >>> quad = problems.quadratic(jax.random.key(0), dim_outer=3, dim_inner=4)
        >>> x_star, _ = quad.solution()
        >>> bool(jnp.linalg.norm(quad.hypergradient(x_star)) < 1e-5)
        True
    """
    dtype = jnp.dtype(dtype or jnp.zeros(()).dtype)
    inner, outer = _quadratic_data(key, dim_outer, dim_inner, mu, L, cross, dtype)
    return Quadratic(QUADRATIC_PROBLEM, inner, outer, jnp.zeros(dim_outer, dtype),
                     jnp.zeros(dim_inner, dtype))


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4, 5, 6))
def _quadratic_data(key: jax.Array, dim_outer: int, dim_inner: int, mu: float, L: float,
                    cross: float, dtype: Any) -> tuple[dict, dict]:
    # One compiled program instead of dozens of eagerly dispatched small ops.
    ks = jax.random.split(key, 8)
    scale = cross / jnp.sqrt(jnp.asarray(max(dim_outer, dim_inner), dtype))
    inner = {
        "A": _spd(ks[0], dim_inner, mu, L, dtype),
        "C": scale * jax.random.normal(ks[1], (dim_outer, dim_inner), dtype),
        "a": jax.random.normal(ks[2], (dim_inner,), dtype),
    }
    outer = {
        "F": _spd(ks[3], dim_inner, mu, L, dtype),
        "K": scale * jax.random.normal(ks[4], (dim_outer, dim_inner), dtype),
        "f": jax.random.normal(ks[5], (dim_inner,), dtype),
        "H": _spd(ks[6], dim_outer, mu, L, dtype),
        "h": jax.random.normal(ks[7], (dim_outer,), dtype),
    }
    return inner, outer
