"""The two problem types: an unconstrained :class:`QUBO` and a :class:`ConstrainedBinaryProblem`."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import sparse as jsparse

Array = jax.Array


def _is_concrete(x: Any) -> bool:
    if isinstance(x, jax.core.Tracer):
        return False
    return isinstance(x, (np.ndarray, jax.Array, jsparse.BCOO, np.generic, float, int))


def _host(x: Any) -> np.ndarray:
    if isinstance(x, jsparse.BCOO):
        return np.asarray(x.todense())
    return np.asarray(x)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class QUBO:
    """A quadratic unconstrained binary optimization problem.

    ``E(x) = x^T Q x + l^T x + c`` for ``x`` in ``{0, 1}^n``, with ``Q`` symmetric (its
    diagonal acts as a linear term because ``x_i^2 = x_i``). ``Q`` may be a dense array or a
    :class:`jax.experimental.sparse.BCOO` matrix. A ``QUBO`` is a pytree: it can be passed
    through ``jit``, stacked and ``vmap``-ed over (a batch of problems), and only its values,
    never its structure, change between dual iterations.

    Args:
        quadratic: ``Q``, shape ``(n, n)``, symmetric (dense or BCOO).
        linear: ``l``, shape ``(n,)``.
        offset: ``c``, a scalar.

    Raises:
        ValueError: when ``quadratic`` is not square or not symmetric, when ``linear`` has the
            wrong length, or when a value is not finite (checked for concrete arrays only).

    Example:
        >>> import jax.numpy as jnp
        >>> from optlib.qubo import QUBO
        >>> q = QUBO(jnp.array([[0.0, 1.0], [1.0, 0.0]]), jnp.array([-1.0, -1.0]), 0.0)
        >>> q.energy(jnp.array([[0, 0], [1, 0], [1, 1]])).tolist()
        [0.0, -1.0, 0.0]
    """

    quadratic: Any
    linear: Any
    offset: Any = 0.0

    def __post_init__(self) -> None:
        Q, lin = self.quadratic, self.linear
        if not (hasattr(Q, "shape") and hasattr(lin, "shape")):
            return  # pytree plumbing (vmap axis specs, ShapeDtypeStructs): nothing to check
        if len(Q.shape) < 2 or Q.shape[-1] != Q.shape[-2]:
            raise ValueError(f"quadratic must be a square (n, n) matrix, got shape {Q.shape}")
        if len(lin.shape) < 1 or lin.shape[-1] != Q.shape[-1]:
            raise ValueError(
                f"linear must have shape (n,) = ({Q.shape[-1]},), got shape {lin.shape}")
        if _is_concrete(Q) and _is_concrete(lin) and _is_concrete(self.offset):
            Qh = _host(Q)
            if not (np.all(np.isfinite(Qh)) and np.all(np.isfinite(np.asarray(lin)))
                    and np.all(np.isfinite(np.asarray(self.offset)))):
                raise ValueError("quadratic, linear and offset must be finite")
            if not np.allclose(Qh, np.swapaxes(Qh, -1, -2), rtol=1e-10, atol=1e-12):
                raise ValueError("quadratic must be symmetric (use QUBO.from_upper for an "
                                 "upper-triangular matrix)")

    @classmethod
    def from_upper(cls, upper: jax.typing.ArrayLike, offset: jax.typing.ArrayLike = 0.0) -> QUBO:
        """The QUBO ``x^T U x + c`` of an upper-triangular (or any square) matrix ``U``.

        The diagonal of ``U`` becomes the linear term and the off-diagonal part is symmetrised,
        which is the convention of dimod and most QUBO files.

        Args:
            upper: a square matrix ``U``.
            offset: the constant ``c``.

        Returns:
            The equivalent symmetric :class:`QUBO`.
        """
        U = jnp.asarray(upper)
        if U.ndim != 2 or U.shape[0] != U.shape[1]:
            raise ValueError(f"upper must be a square (n, n) matrix, got shape {U.shape}")
        off = U - jnp.diag(jnp.diag(U))
        return cls((off + off.T) / 2, jnp.diag(U), jnp.asarray(offset, U.dtype))

    @property
    def num_variables(self) -> int:
        """``n``, the number of binary variables."""
        return int(self.quadratic.shape[-1])

    @property
    def is_sparse(self) -> bool:
        """Whether ``quadratic`` is a BCOO sparse matrix."""
        return isinstance(self.quadratic, jsparse.BCOO)

    def dense_quadratic(self) -> Array:
        """``Q`` as a dense array."""
        return self.quadratic.todense() if self.is_sparse else jnp.asarray(self.quadratic)

    def todense(self) -> QUBO:
        """The same QUBO with a dense ``quadratic``."""
        return QUBO(self.dense_quadratic(), self.linear, self.offset)

    def tosparse(self) -> QUBO:
        """The same QUBO with a BCOO ``quadratic`` (concrete arrays only)."""
        if self.is_sparse:
            return self
        return QUBO(jsparse.BCOO.fromdense(jnp.asarray(self.quadratic)), self.linear, self.offset)

    def ising_fields(self) -> tuple[Array, Array]:
        """The sampler form ``E(x) = h^T x + x^T J x / 2 + c`` with zero-diagonal ``J``.

        Returns:
            ``(h, J)``: ``h = l + diag(Q)`` and ``J = 2 offdiag(Q)`` (dense).
        """
        Q = self.dense_quadratic()
        d = jnp.diagonal(Q, axis1=-2, axis2=-1)
        J = 2.0 * (Q - d[..., :, None] * jnp.eye(Q.shape[-1], dtype=Q.dtype))
        return jnp.asarray(self.linear) + d, J

    def energy(self, x: jax.typing.ArrayLike) -> Array:
        """Energies of one or a batch of assignments.

        Args:
            x: ``(..., n)`` array of 0/1 values (any dtype).

        Returns:
            ``(...)`` energies in the dtype of ``linear``.
        """
        lin = jnp.asarray(self.linear)
        x = jnp.asarray(x).astype(lin.dtype)
        batch = x.shape[:-1]
        X = x.reshape(-1, x.shape[-1])
        QX = (self.quadratic @ X.T).T
        e = jnp.sum(X * QX, axis=-1) + X @ lin + jnp.asarray(self.offset, lin.dtype)
        return e.reshape(batch)

    def with_linear(self, linear: jax.typing.ArrayLike, offset: jax.typing.ArrayLike) -> QUBO:
        """A copy with a new linear term and offset (the quadratic term is shared)."""
        return QUBO(self.quadratic, linear, offset)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class ConstrainedBinaryProblem:
    """``min f(x)`` over ``x`` in ``{0,1}^n`` subject to linear and pairwise constraints.

    The constraints are ``A x <= b`` (``ineq_matrix``, ``ineq_rhs``), ``C x = d``
    (``eq_matrix``, ``eq_rhs``) and ``x_u x_v = 0`` for every row ``(u, v)`` of ``pairs``.
    Multipliers of a problem are one flat vector ordered ``[inequalities, equalities,
    pairs]``; inequality and pair multipliers are non-negative, equality multipliers free.

    Args:
        objective: the quadratic objective :class:`QUBO` ``f``.
        ineq_matrix: ``A``, shape ``(m_ineq, n)``.
        ineq_rhs: ``b``, shape ``(m_ineq,)``.
        eq_matrix: ``C``, shape ``(m_eq, n)``.
        eq_rhs: ``d``, shape ``(m_eq,)``.
        pairs: ``int32 (m_pair, 2)`` variable pairs that may not both be 1.
        data: problem-specific arrays used by the repair heuristics (for example the TSP
            distance matrix); a dict of arrays.
        kind: ``"mdkp"``, ``"mis"``, ``"tsp"``, ``"tsp_arc"``, ``"qap"`` or ``"generic"``
            (static; selects the repair heuristic).

    Raises:
        ValueError: for inconsistent shapes, out-of-range pairs, self-pairs, or a constraint
            row that no binary vector can satisfy (checked for concrete arrays).
    """

    objective: QUBO
    ineq_matrix: Any
    ineq_rhs: Any
    eq_matrix: Any
    eq_rhs: Any
    pairs: Any
    data: dict = dataclasses.field(default_factory=dict)
    kind: str = dataclasses.field(default="generic", metadata={"static": True})

    def __post_init__(self) -> None:
        arrays = (self.ineq_matrix, self.ineq_rhs, self.eq_matrix, self.eq_rhs, self.pairs)
        if not all(hasattr(a, "shape") for a in arrays) or not hasattr(self.objective.linear,
                                                                      "shape"):
            return
        n = self.objective.linear.shape[-1]
        for name, M, r in (("ineq", self.ineq_matrix, self.ineq_rhs),
                           ("eq", self.eq_matrix, self.eq_rhs)):
            if len(M.shape) < 2 or M.shape[-1] != n:
                raise ValueError(f"{name}_matrix must have shape (m, {n}), got {M.shape}")
            if r.shape[-1:] != M.shape[-2:-1]:
                raise ValueError(f"{name}_rhs must have shape ({M.shape[-2]},), got {r.shape}")
        if len(self.pairs.shape) < 2 or self.pairs.shape[-1] != 2:
            raise ValueError(f"pairs must have shape (m, 2), got {self.pairs.shape}")
        if all(_is_concrete(a) for a in arrays):
            P = np.asarray(self.pairs)
            if P.size and (P.min() < 0 or P.max() >= n):
                raise ValueError(f"pairs must index variables 0..{n - 1}")
            if P.size and np.any(P[..., 0] == P[..., 1]):
                raise ValueError("pairs contains a self-pair (u, u): x_u * x_u = 0 forces x_u = 0;"
                                 " fix the variable instead")
            A, b = np.asarray(self.ineq_matrix), np.asarray(self.ineq_rhs)
            C, d = np.asarray(self.eq_matrix), np.asarray(self.eq_rhs)
            if not all(np.all(np.isfinite(a)) for a in (A, b, C, d)):
                raise ValueError("constraint matrices and right-hand sides must be finite")
            low = np.minimum(A, 0).sum(-1)
            bad = np.nonzero(low > b + 1e-9)[-1]
            if bad.size:
                raise ValueError(f"infeasible constraint set: inequality row {int(bad[0])} needs "
                                 f"A x <= {b[..., bad[0]]} but its smallest value is "
                                 f"{low[..., bad[0]]}")
            lo, hi = np.minimum(C, 0).sum(-1), np.maximum(C, 0).sum(-1)
            bad = np.nonzero((d < lo - 1e-9) | (d > hi + 1e-9))[-1]
            if bad.size:
                raise ValueError(f"infeasible constraint set: equality row {int(bad[0])} asks for "
                                 f"{d[..., bad[0]]}, outside the reachable range")

    @property
    def num_variables(self) -> int:
        """``n``."""
        return int(self.objective.linear.shape[-1])

    @property
    def num_multipliers(self) -> int:
        """Number of relaxed constraints (the length of a multiplier vector)."""
        return (int(self.ineq_matrix.shape[-2]) + int(self.eq_matrix.shape[-2])
                + int(self.pairs.shape[-2]))

    @property
    def multiplier_sizes(self) -> tuple[int, int, int]:
        """``(m_ineq, m_eq, m_pair)``."""
        return (int(self.ineq_matrix.shape[-2]), int(self.eq_matrix.shape[-2]),
                int(self.pairs.shape[-2]))

    def nonnegative_mask(self) -> np.ndarray:
        """Boolean mask of the multipliers constrained to be ``>= 0`` (static)."""
        m1, m2, m3 = self.multiplier_sizes
        return np.concatenate([np.ones(m1, bool), np.zeros(m2, bool), np.ones(m3, bool)])

    def split(self, multipliers: Array) -> tuple[Array, Array, Array]:
        """Splits a flat multiplier vector into ``(ineq, eq, pair)`` parts."""
        m1, m2, _ = self.multiplier_sizes
        return multipliers[..., :m1], multipliers[..., m1:m1 + m2], multipliers[..., m1 + m2:]

    def project(self, multipliers: Array) -> Array:
        """Projects multipliers onto their domain (``>= 0`` for inequalities and pairs)."""
        mask = jnp.asarray(self.nonnegative_mask())
        return jnp.where(mask, jnp.maximum(multipliers, 0), multipliers)

    def residuals(self, x: jax.typing.ArrayLike) -> Array:
        """Constraint residuals ``[A x - b, C x - d, x_u x_v]``, shape ``(..., m)``.

        Feasible means: the inequality part ``<= 0``, the rest ``== 0``. It is also a
        subgradient of the dual function at any multiplier for which ``x`` minimizes the
        Lagrangian.
        """
        dtype = jnp.asarray(self.objective.linear).dtype
        x = jnp.asarray(x).astype(dtype)
        P = jnp.asarray(self.pairs)
        lead = (1,) * (x.ndim - 1)
        b = jnp.asarray(self.ineq_rhs, dtype)
        d = jnp.asarray(self.eq_rhs, dtype)
        r1 = x @ jnp.asarray(self.ineq_matrix, dtype).T - b.reshape(lead + b.shape)
        r2 = x @ jnp.asarray(self.eq_matrix, dtype).T - d.reshape(lead + d.shape)
        r3 = x[..., P[:, 0]] * x[..., P[:, 1]]
        return jnp.concatenate([r1, r2, r3], axis=-1)

    def violation(self, x: jax.typing.ArrayLike) -> Array:
        """Total constraint violation ``sum max(Ax-b, 0) + sum |Cx-d| + sum x_u x_v``."""
        r = self.residuals(x)
        m1 = self.multiplier_sizes[0]
        return jnp.sum(jnp.maximum(r[..., :m1], 0), -1) + jnp.sum(jnp.abs(r[..., m1:]), -1)

    def is_feasible(self, x: jax.typing.ArrayLike, tol: float = 1e-6) -> Array:
        """Whether each assignment satisfies every constraint (``(...)`` booleans)."""
        return self.violation(x) <= tol

    def value(self, x: jax.typing.ArrayLike) -> Array:
        """The objective ``f(x)`` (minimization form)."""
        return self.objective.energy(x)

    def check_feasible(self) -> None:
        """Raises ``ValueError`` if no binary ``x`` satisfies the constraints (HiGHS MILP).

        Pairs are checked through their linear form ``x_u + x_v <= 1``.
        """
        from scipy.optimize import Bounds, LinearConstraint, milp

        n = self.num_variables
        A, b = np.asarray(self.ineq_matrix, float), np.asarray(self.ineq_rhs, float)
        C, d = np.asarray(self.eq_matrix, float), np.asarray(self.eq_rhs, float)
        P = np.asarray(self.pairs)
        rows = [LinearConstraint(A, -np.inf, b)] if A.shape[0] else []
        if C.shape[0]:
            rows.append(LinearConstraint(C, d, d))
        if P.shape[0]:
            E = np.zeros((P.shape[0], n))
            E[np.arange(P.shape[0]), P[:, 0]] = 1
            E[np.arange(P.shape[0]), P[:, 1]] = 1
            rows.append(LinearConstraint(E, -np.inf, 1))
        if not rows:
            return
        res = milp(np.zeros(n), constraints=rows, integrality=np.ones(n), bounds=Bounds(0, 1))
        if res.status == 2:
            raise ValueError("infeasible constraint set: no binary vector satisfies the "
                             "constraints")
