"""Matrix-free linear solvers on pytrees, for implicit differentiation.

Each solver is a frozen pytree dataclass called as ``solver(matvec, b) -> x`` and
returns an approximate solution of ``A x = b`` where ``matvec(v) = A v`` maps a
pytree to a pytree of the same structure. None of them forms ``A`` except
:class:`Direct`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.flatten_util
import jax.numpy as jnp
import jax.scipy.sparse.linalg
from jax import lax

from optlib.core._base import solver_dataclass, static_field
from optlib.core._tree import tree_axpy, tree_vdot, tree_zeros_like

PyTree = Any
MatVec = Callable[[PyTree], PyTree]


@solver_dataclass
class CG:
    """Conjugate gradient for symmetric positive-definite ``A`` (for example a Hessian).

    Stops when ``||r|| <= max(rtol * ||b||, atol)`` or after ``max_iter`` iterations.

    Args:
        rtol: relative tolerance on the residual norm.
        atol: absolute tolerance on the residual norm.
        max_iter: iteration bound (static).
        ridge: solves ``(A + ridge I) x = b``; a small ridge regularizes a singular Hessian.

    Example:
        >>> import jax.numpy as jnp
        >>> from optlib.core import CG
        >>> A = jnp.array([[4.0, 1.0], [1.0, 3.0]])
        >>> CG(rtol=1e-6)(lambda v: A @ v, jnp.array([1.0, 2.0])).round(4).tolist()
        [0.0909, 0.6364]
    """

    rtol: float = 1e-10
    atol: float = 0.0
    max_iter: int = static_field(default=1000)
    ridge: float = 0.0

    def __call__(self, matvec: MatVec, b: PyTree) -> PyTree:
        def A(v: PyTree) -> PyTree:
            return tree_axpy(self.ridge, v, matvec(v))

        x0 = tree_zeros_like(b)
        r0 = b
        rs0 = tree_vdot(r0, r0)
        threshold = jnp.maximum(jnp.asarray(self.rtol, rs0.dtype) ** 2 * rs0,
                                jnp.asarray(self.atol, rs0.dtype) ** 2)

        def cond(carry: tuple) -> jax.Array:
            _, _, _, rs, k = carry
            return (rs > threshold) & (k < self.max_iter)

        def body(carry: tuple) -> tuple:
            x, r, p, rs, k = carry
            Ap = A(p)
            alpha = rs / tree_vdot(p, Ap)
            x = tree_axpy(alpha, p, x)
            r = tree_axpy(-alpha, Ap, r)
            rs_new = tree_vdot(r, r)
            p = tree_axpy(rs_new / rs, p, r)
            return x, r, p, rs_new, k + 1

        x, *_ = lax.while_loop(cond, body, (x0, r0, r0, rs0, jnp.zeros((), jnp.int32)))
        return x


@solver_dataclass
class Neumann:
    """Truncated Neumann series ``x = eta * sum_{k<K} (I - eta A)^k b``.

    Converges when the spectrum of ``eta A`` lies in ``(0, 2)``; with ``K`` terms it is the
    hypergradient of ``K`` unrolled gradient steps of size ``eta`` (Lorraine et al., 2020).

    Args:
        num_terms: ``K``, the number of terms (static).
        step_size: ``eta``.

    Example:
        >>> import jax.numpy as jnp
        >>> from optlib.core import Neumann
        >>> A = jnp.array([[1.0, 0.0], [0.0, 0.5]])
        >>> Neumann(num_terms=200, step_size=1.0)(lambda v: A @ v, jnp.ones(2)).round(4).tolist()
        [1.0, 2.0]
    """

    num_terms: int = static_field(default=100)
    step_size: float = 1.0

    def __call__(self, matvec: MatVec, b: PyTree) -> PyTree:
        def body(_: int, carry: tuple) -> tuple:
            term, total = carry
            term = tree_axpy(-self.step_size, matvec(term), term)
            return term, jax.tree.map(jnp.add, total, term)

        _, total = lax.fori_loop(1, self.num_terms, body, (b, b))
        return jax.tree.map(lambda t: jnp.asarray(self.step_size, t.dtype) * t, total)


@solver_dataclass
class Direct:
    """Dense solve: materializes ``A`` with ``jax.jacfwd`` and factorizes it (small problems).

    Example:
        >>> import jax.numpy as jnp
        >>> from optlib.core import Direct
        >>> A = jnp.array([[2.0, 1.0], [0.0, 1.0]])
        >>> Direct()(lambda v: A @ v, jnp.array([3.0, 1.0])).tolist()
        [1.0, 1.0]
    """

    def __call__(self, matvec: MatVec, b: PyTree) -> PyTree:
        flat_b, unravel = jax.flatten_util.ravel_pytree(b)
        flat_matvec = lambda v: jax.flatten_util.ravel_pytree(matvec(unravel(v)))[0]  # noqa: E731
        A = jax.jacfwd(flat_matvec)(jnp.zeros_like(flat_b))
        return unravel(jnp.linalg.solve(A, flat_b))


@solver_dataclass
class GMRES:
    """Restarted GMRES (``jax.scipy.sparse.linalg.gmres``) for a non-symmetric ``A``.

    For adjoint systems that are not symmetric, where CG does not apply: for example the
    implicit derivative of a projected fixed point, ``(I - D (I - eta H))^T u = b`` with ``D``
    the projection's Jacobian (:class:`optlib.bilevel.ImplicitDiff` with a constrained
    lower level).

    Args:
        rtol: relative residual tolerance.
        restart: Krylov subspace size before a restart (static).
        max_restarts: bound on restarts (static).

    Example:
        >>> import jax.numpy as jnp
        >>> from optlib.core import GMRES
        >>> A = jnp.array([[2.0, 1.0], [0.0, 1.0]])
        >>> GMRES()(lambda v: A @ v, jnp.array([3.0, 1.0])).round(6).tolist()
        [1.0, 1.0]
    """

    rtol: float = 1e-10
    restart: int = static_field(default=30)
    max_restarts: int = static_field(default=20)

    def __call__(self, matvec: MatVec, b: PyTree) -> PyTree:
        x, _ = jax.scipy.sparse.linalg.gmres(matvec, b, tol=self.rtol, atol=0.0,
                                             restart=self.restart, maxiter=self.max_restarts,
                                             solve_method="batched")
        return x
