"""QUBO encodings of a constrained problem: slack penalty, Lagrangian, augmented Lagrangian."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import sparse as jsparse

from optlib.qubo._model import QUBO, ConstrainedBinaryProblem

Array = jax.Array


def _add_pairs(Q: Any, pairs: Array, weights: Array) -> Any:
    """``Q`` plus ``weights[k] x_u x_v`` for every pair ``(u, v)`` (symmetric split)."""
    if pairs.shape[0] == 0:
        return Q
    half = weights / 2
    if isinstance(Q, jsparse.BCOO):
        idx = jnp.concatenate([pairs, pairs[:, ::-1]], 0).astype(Q.indices.dtype)
        data = jnp.concatenate([Q.data, half, half]).astype(Q.data.dtype)
        return jsparse.BCOO((data, jnp.concatenate([Q.indices, idx], 0)), shape=Q.shape)
    Q = jnp.asarray(Q)
    return Q.at[pairs[:, 0], pairs[:, 1]].add(half).at[pairs[:, 1], pairs[:, 0]].add(half)


def lagrangian_qubo(problem: ConstrainedBinaryProblem, multipliers: jax.typing.ArrayLike) -> QUBO:
    """The slack-free Lagrangian ``L(x, lam) = f(x) + lam^T r(x)`` as a QUBO.

    ``r(x) = [A x - b, C x - d, x_u x_v]`` (see :meth:`ConstrainedBinaryProblem.residuals`).
    Linear constraints only change the linear term and the offset; pair constraints add
    ``lam_uv x_u x_v`` to the quadratic term. No variables are added. This is a pure function
    of traced values, so a jitted sampler that receives it never recompiles when the
    multipliers change.

    Args:
        problem: the constrained problem.
        multipliers: ``(m,)`` multipliers ordered ``[ineq, eq, pairs]``.

    Returns:
        A :class:`QUBO` with ``n`` variables.

    Example:
        >>> import jax.numpy as jnp
        >>> from optlib.qubo import mdkp, lagrangian_qubo
        >>> prob = mdkp([3.0, 2.0], [[2.0, 1.0]], [2.0])
        >>> q = lagrangian_qubo(prob, jnp.array([1.0]))
        >>> q.linear.tolist(), float(q.offset)
        ([-1.0, -1.0], -2.0)
    """
    obj = problem.objective
    lin0 = jnp.asarray(obj.linear)
    lam = jnp.asarray(multipliers, lin0.dtype)
    l1, l2, l3 = problem.split(lam)
    A, b = jnp.asarray(problem.ineq_matrix, lin0.dtype), jnp.asarray(problem.ineq_rhs, lin0.dtype)
    C, d = jnp.asarray(problem.eq_matrix, lin0.dtype), jnp.asarray(problem.eq_rhs, lin0.dtype)
    linear = lin0 + l1 @ A + l2 @ C
    offset = jnp.asarray(obj.offset, lin0.dtype) - l1 @ b - l2 @ d
    Q = _add_pairs(obj.quadratic, jnp.asarray(problem.pairs), l3)
    return QUBO(Q, linear, offset)


def augmented_lagrangian_qubo(problem: ConstrainedBinaryProblem, multipliers: jax.typing.ArrayLike,
                              rho: jax.typing.ArrayLike) -> QUBO:
    """The augmented Lagrangian ``f + lam^T r + (rho/2) ||r||^2`` as a QUBO, without slack.

    For equalities this is the method-of-multipliers function. For inequalities
    ``A x <= b`` the exact (Rockafellar) term is not quadratic in ``x`` without slack, so the
    *unbalanced* form ``lam^T (Ax - b) + (rho/2) ||Ax - b||^2`` is used (Montanez-Barrera et
    al. 2022): it also rewards slack being small, which is why its minimum is not a dual bound
    when inequalities are present. Pair constraints ``x_u x_v`` contribute
    ``(lam_uv + rho/2) x_u x_v``.

    Args:
        problem: the constrained problem.
        multipliers: ``(m,)`` multipliers ordered ``[ineq, eq, pairs]``.
        rho: the penalty parameter (a traced scalar).

    Returns:
        A dense :class:`QUBO` with ``n`` variables.

    Example:
        >>> import jax.numpy as jnp
        >>> from optlib.qubo import mdkp, augmented_lagrangian_qubo
        >>> prob = mdkp([3.0, 2.0], [[2.0, 1.0]], [2.0])
        >>> q = augmented_lagrangian_qubo(prob, jnp.zeros(1), 2.0)
        >>> [float(q.energy(x)) for x in ([0, 0], [1, 0], [1, 1])]
        [4.0, -3.0, -4.0]
    """
    base = lagrangian_qubo(problem, multipliers)
    dtype = jnp.asarray(base.linear).dtype
    rho = jnp.asarray(rho, dtype)
    A, b = jnp.asarray(problem.ineq_matrix, dtype), jnp.asarray(problem.ineq_rhs, dtype)
    C, d = jnp.asarray(problem.eq_matrix, dtype), jnp.asarray(problem.eq_rhs, dtype)
    M = jnp.concatenate([A, C], 0)
    r = jnp.concatenate([b, d])
    Q = base.dense_quadratic() + (rho / 2) * (M.T @ M)
    linear = jnp.asarray(base.linear) - rho * (r @ M)
    offset = base.offset + (rho / 2) * jnp.sum(r * r)
    P = jnp.asarray(problem.pairs)
    Q = _add_pairs(Q, P, jnp.full((P.shape[0],), rho / 2, dtype))
    return QUBO(Q, linear, offset)


class SlackEncoding(NamedTuple):
    """The slack-penalty QUBO of a constrained problem.

    Attributes:
        qubo: the penalty QUBO over ``n + num_slack`` variables (problem variables first).
        num_slack: number of binary slack variables.
        slack_coefficients: ``(m_ineq, max_bits)`` coefficients of each row's slack bits
            (zero-padded).
    """

    qubo: QUBO
    num_slack: int
    slack_coefficients: np.ndarray


def _slack_bits(problem: ConstrainedBinaryProblem) -> tuple[list[np.ndarray], np.ndarray]:
    A = np.asarray(problem.ineq_matrix, float)
    b = np.asarray(problem.ineq_rhs, float)
    if not (np.allclose(A, np.round(A)) and np.allclose(b, np.round(b))):
        raise ValueError("slack encoding needs integer inequality coefficients; scale the rows")
    span = np.round(b - np.minimum(A, 0).sum(1)).astype(np.int64)
    # a row that every x satisfies needs no slack and no penalty (dimod drops it too)
    span[np.maximum(A, 0).sum(1) <= b] = 0
    coefs = []
    for u in span:
        K = int(u).bit_length()
        c = [2 ** k for k in range(K - 1)]
        if K:
            c.append(int(u) - (2 ** (K - 1) - 1))  # capped so the slack ranges over exactly [0, u]
        coefs.append(np.array(c, float))
    return coefs, span


def slack_variable_count(problem: ConstrainedBinaryProblem) -> int:
    """Binary slack variables the slack-penalty encoding adds (``bitlen(b - min A x)`` per row).

    Equalities and pair constraints need none. For SAC-94 knapsacks this is
    ``sum_j (floor(log2 c_j) + 1)``, the count of dimod's ``cqm_to_bqm``.

    Args:
        problem: the constrained problem (integer inequality data).

    Returns:
        The number of slack bits.

    Example:
        >>> from optlib.qubo import mdkp, slack_variable_count
        >>> slack_variable_count(mdkp([1.0, 1.0], [[3.0, 4.0]], [5.0]))
        3
    """
    return int(sum(len(c) for c in _slack_bits(problem)[0]))


def slack_penalty_qubo(problem: ConstrainedBinaryProblem, penalty: float) -> SlackEncoding:
    """The classical penalty QUBO with binary slack variables (the baseline encoding).

    ``f(x) + P [ sum_j (A_j x + s_j - b_j)^2 + ||C x - d||^2 + sum_{uv} x_u x_v ]`` where each
    slack ``s_j = sum_k c_jk z_jk`` ranges over exactly ``[0, b_j - min A_j x]`` (the last
    coefficient is capped, as in qiskit's ``IntegerToBinary``). Rows that every ``x``
    satisfies are dropped, as dimod's ``cqm_to_bqm`` does.

    Args:
        problem: the constrained problem (concrete, integer inequality data).
        penalty: the penalty weight ``P``.

    Returns:
        A :class:`SlackEncoding`.

    Example:
        >>> from optlib.qubo import mdkp, slack_penalty_qubo
        >>> enc = slack_penalty_qubo(mdkp([1.0, 1.0], [[3.0, 4.0]], [5.0]), penalty=10.0)
        >>> enc.qubo.num_variables, enc.num_slack
        (5, 3)
    """
    coefs, span = _slack_bits(problem)
    n = problem.num_variables
    ns = int(sum(len(c) for c in coefs))
    N = n + ns
    dtype = jnp.asarray(problem.objective.linear).dtype
    A = np.asarray(problem.ineq_matrix, float)
    b = np.asarray(problem.ineq_rhs, float)
    C = np.asarray(problem.eq_matrix, float)
    d = np.asarray(problem.eq_rhs, float)
    rows = np.zeros((A.shape[0] + C.shape[0], N))
    rhs = np.concatenate([np.where(span > 0, b, 0.0), d])
    rows[:A.shape[0], :n] = A * (span > 0)[:, None]
    rows[A.shape[0]:, :n] = C
    pos = n
    width = max((len(c) for c in coefs), default=0)
    table = np.zeros((A.shape[0], width))
    for j, c in enumerate(coefs):
        rows[j, pos:pos + len(c)] = c
        table[j, :len(c)] = c
        pos += len(c)
    P = float(penalty)
    Q = np.zeros((N, N))
    Q[:n, :n] = np.asarray(problem.objective.dense_quadratic(), float)
    lin = np.zeros(N)
    lin[:n] = np.asarray(problem.objective.linear, float)
    Q += P * rows.T @ rows
    lin += -2 * P * rhs @ rows
    offset = float(problem.objective.offset) + P * float(rhs @ rhs)
    for u, v in np.asarray(problem.pairs):
        Q[u, v] += P / 2
        Q[v, u] += P / 2
    return SlackEncoding(QUBO(jnp.asarray(Q, dtype), jnp.asarray(lin, dtype),
                              jnp.asarray(offset, dtype)), ns, table)
