"""Builders of constrained binary problems: MDKP, MIS, TSP (position and arc + MTZ), QAP."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from optlib.qubo._model import QUBO, ConstrainedBinaryProblem


def _empty(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((0, n)), np.zeros((0,))


def _problem(Q: np.ndarray, lin: np.ndarray, offset: float, A: np.ndarray, b: np.ndarray,
             C: np.ndarray, d: np.ndarray, pairs: np.ndarray, data: dict[str, Any],
             kind: str, dtype: Any) -> ConstrainedBinaryProblem:
    dtype = jnp.dtype(dtype) if dtype is not None else jnp.asarray(0.0).dtype
    cast = lambda a: jnp.asarray(a, dtype)  # noqa: E731
    return ConstrainedBinaryProblem(
        objective=QUBO(cast(Q), cast(lin), cast(offset)),
        ineq_matrix=cast(A), ineq_rhs=cast(b), eq_matrix=cast(C), eq_rhs=cast(d),
        pairs=jnp.asarray(np.asarray(pairs, np.int32).reshape(-1, 2)),
        data={k: cast(v) for k, v in data.items()}, kind=kind)


def mdkp(profits: Any, weights: Any, capacities: Any, dtype: Any = None
         ) -> ConstrainedBinaryProblem:
    """The multidimensional knapsack problem: maximize ``p^T x`` subject to ``W x <= c``.

    It is returned in minimization form (objective ``-p^T x``) with ``m`` inequality rows.

    Args:
        profits: ``p``, shape ``(n,)``.
        weights: ``W``, shape ``(m, n)``, non-negative.
        capacities: ``c``, shape ``(m,)``, non-negative.
        dtype: floating dtype of the arrays (default: JAX's default float).

    Returns:
        A :class:`ConstrainedBinaryProblem` of kind ``"mdkp"``.

    Raises:
        ValueError: for mismatched shapes, negative weights or negative capacities.

    Example:
        >>> from optlib.qubo import mdkp
        >>> prob = mdkp([3.0, 2.0], [[2.0, 1.0]], [2.0])
        >>> float(prob.value([1, 0])), bool(prob.is_feasible([1, 1]))
        (-3.0, False)
    """
    p = np.asarray(profits, float)
    W = np.atleast_2d(np.asarray(weights, float))
    c = np.atleast_1d(np.asarray(capacities, float))
    if p.ndim != 1:
        raise ValueError(f"profits must be a vector, got shape {p.shape}")
    if W.shape != (c.shape[0], p.shape[0]):
        raise ValueError(f"weights must have shape (m, n) = ({c.shape[0]}, {p.shape[0]}), "
                         f"got {W.shape}")
    if np.any(c < 0):
        raise ValueError(f"capacities must be non-negative, got min {c.min()}")
    if np.any(W < 0):
        raise ValueError("weights must be non-negative")
    n = p.shape[0]
    C, d = _empty(n)
    return _problem(np.zeros((n, n)), -p, 0.0, W, c, C, d, np.zeros((0, 2)),
                    {"profits": p}, "mdkp", dtype)


def mis(graph: Any, weights: Any = None, dtype: Any = None) -> ConstrainedBinaryProblem:
    """Maximum (weighted) independent set of a networkx graph.

    ``max sum_v w_v x_v`` subject to ``x_u x_v = 0`` for every edge (the exact quadratic
    form, whose Lagrangian has zero duality gap once every edge multiplier is ``>= w``).
    Nodes are numbered in ``graph.nodes`` order.

    Args:
        graph: an undirected ``networkx.Graph``.
        weights: optional node weights ``(n,)`` (default: all ones).
        dtype: floating dtype of the arrays.

    Returns:
        A :class:`ConstrainedBinaryProblem` of kind ``"mis"`` with the adjacency matrix in
        ``data["adjacency"]``.

    Raises:
        ValueError: for a graph with self-loops, a directed graph, or bad weights.

    Example:
        >>> import networkx as nx
        >>> from optlib.qubo import mis
        >>> prob = mis(nx.path_graph(3))
        >>> float(prob.value([1, 0, 1])), bool(prob.is_feasible([1, 1, 0]))
        (-2.0, False)
    """
    import networkx as nx

    if graph.is_directed():
        raise ValueError("graph must be undirected")
    loops = list(nx.selfloop_edges(graph))
    if loops:
        raise ValueError(f"graph has self-loops (e.g. at node {loops[0][0]!r}); an independent "
                         "set cannot be defined with them")
    nodes = list(graph.nodes)
    index = {v: i for i, v in enumerate(nodes)}
    n = len(nodes)
    w = np.ones(n) if weights is None else np.asarray(weights, float)
    if w.shape != (n,) or np.any(w <= 0):
        raise ValueError(f"weights must be a positive vector of length {n}")
    edges = np.array([(index[u], index[v]) for u, v in graph.edges], np.int32).reshape(-1, 2)
    adj = np.zeros((n, n))
    adj[edges[:, 0], edges[:, 1]] = 1
    adj[edges[:, 1], edges[:, 0]] = 1
    A, b = _empty(n)
    return _problem(np.zeros((n, n)), -w, 0.0, A, b, A, b, edges, {"adjacency": adj}, "mis",
                    dtype)


def _check_distances(distances: Any) -> np.ndarray:
    D = np.asarray(distances, float)
    if D.ndim != 2 or D.shape[0] != D.shape[1]:
        raise ValueError(f"distances must be a square (n, n) matrix, got shape {D.shape}")
    if D.shape[0] < 3:
        raise ValueError("a tour needs at least 3 cities")
    if not np.all(np.isfinite(D)) or np.any(D < 0):
        raise ValueError("distances must be finite and non-negative")
    return D


def tsp(distances: Any, encoding: str = "position", fix_start: bool = True,
        dtype: Any = None) -> ConstrainedBinaryProblem:
    """The travelling salesman problem as a constrained binary problem.

    ``encoding="position"``: ``x[v, p] = 1`` when city ``v`` is visited at position ``p``;
    objective ``sum_p sum_{u,v} d_uv x[u,p] x[v,p+1]``; the two families of assignment
    constraints are equalities, so no slack is needed. With ``fix_start`` city 0 sits at
    position 0 and only ``(n-1)^2`` variables remain (variable ``(v-1)(n-1) + (p-1)``).

    ``encoding="arc_mtz"``: arc variables ``x_ij`` (``i != j``, row-major) plus binary-encoded
    Miller-Tucker-Zemlin orders ``u_i = 1 + sum_k 2^k b_ik`` for cities ``1..n-1``, with
    degree equalities and MTZ inequalities ``u_i - u_j + (n-1) x_ij <= n-2``. The slack-free
    Lagrangian keeps ``n(n-1) + (n-1) * bitlen(n-2)`` variables.

    Args:
        distances: ``(n, n)`` non-negative distance matrix (may be asymmetric).
        encoding: ``"position"`` or ``"arc_mtz"``.
        fix_start: fix city 0 at position 0 (position encoding only).
        dtype: floating dtype.

    Returns:
        A :class:`ConstrainedBinaryProblem` of kind ``"tsp"`` (position) or ``"tsp_arc"``
        with the distances in ``data["distances"]``; for a feasible ``x`` the objective
        equals the tour length.

    Raises:
        ValueError: for a non-square, negative or non-finite matrix, fewer than 3 cities or an
            unknown encoding.

    Example:
        >>> import numpy as np
        >>> from optlib.qubo import tsp
        >>> D = np.array([[0, 1, 2], [1, 0, 3], [2, 3, 0]])
        >>> tsp(D).num_variables, tsp(D, fix_start=False).num_variables
        (4, 9)
    """
    D = _check_distances(distances)
    n = D.shape[0]
    if encoding == "position":
        cities = np.arange(1, n) if fix_start else np.arange(n)
        k = len(cities)
        N = k * k
        Q = np.zeros((N, N))
        lin = np.zeros(N)
        idx = lambda v, p: v * k + p  # noqa: E731  (v, p index into cities/positions)
        steps = range(k - 1) if fix_start else range(k)
        for p in steps:
            q = (p + 1) % k
            for a in range(k):
                for b in range(k):
                    if a != b:
                        i, j = idx(a, p), idx(b, q)
                        w = D[cities[a], cities[b]] / 2
                        Q[i, j] += w
                        Q[j, i] += w
        if fix_start:
            for a in range(k):
                lin[idx(a, 0)] += D[0, cities[a]]
                lin[idx(a, k - 1)] += D[cities[a], 0]
        C = np.zeros((2 * k, N))
        for a in range(k):
            for p in range(k):
                C[a, idx(a, p)] = 1
                C[k + p, idx(a, p)] = 1
        A, b = _empty(N)
        return _problem(Q, lin, 0.0, A, b, C, np.ones(2 * k), np.zeros((0, 2)),
                        {"distances": D}, "tsp", dtype)
    if encoding == "arc_mtz":
        arcs = [(i, j) for i in range(n) for j in range(n) if i != j]
        na = len(arcs)
        K = max(int(n - 2).bit_length(), 1)
        N = na + (n - 1) * K
        lin = np.zeros(N)
        C = np.zeros((2 * n, N))
        for a, (i, j) in enumerate(arcs):
            lin[a] = D[i, j]
            C[i, a] = 1
            C[n + j, a] = 1
        ubit = lambda i, k: na + (i - 1) * K + k  # noqa: E731
        rows = []
        for a, (i, j) in enumerate(arcs):
            if i == 0 or j == 0:
                continue
            row = np.zeros(N)
            for k in range(K):
                row[ubit(i, k)] += 2 ** k
                row[ubit(j, k)] -= 2 ** k
            row[a] = n - 1
            rows.append(row)
        A = np.array(rows)
        b = np.full(len(rows), n - 2.0)
        return _problem(np.zeros((N, N)), lin, 0.0, A, b, C, np.ones(2 * n), np.zeros((0, 2)),
                        {"distances": D}, "tsp_arc", dtype)
    raise ValueError(f"encoding must be 'position' or 'arc_mtz', got {encoding!r}")


def qap(flows: Any, distances: Any, dtype: Any = None) -> ConstrainedBinaryProblem:
    """The quadratic assignment problem (Koopmans-Beckmann).

    ``min sum_{i,j,k,l} F_ij D_kl x_ik x_jl`` with ``x_ik = 1`` when facility ``i`` is at
    location ``k`` (variable ``i n + k``), under assignment equalities.

    Args:
        flows: ``F``, ``(n, n)``.
        distances: ``D``, ``(n, n)``.
        dtype: floating dtype.

    Returns:
        A :class:`ConstrainedBinaryProblem` of kind ``"qap"``.

    Example:
        >>> import numpy as np
        >>> from optlib.qubo import qap
        >>> prob = qap(np.array([[0, 2], [2, 0]]), np.array([[0, 3], [3, 0]]))
        >>> float(prob.value([1, 0, 0, 1]))
        12.0
    """
    F = np.asarray(flows, float)
    D = np.asarray(distances, float)
    if F.ndim != 2 or F.shape[0] != F.shape[1] or F.shape != D.shape:
        raise ValueError(f"flows and distances must be square and of equal shape, got "
                         f"{F.shape} and {D.shape}")
    n = F.shape[0]
    Q = np.kron(F, D)
    Q = (Q + Q.T) / 2
    C = np.zeros((2 * n, n * n))
    for i in range(n):
        for k in range(n):
            C[i, i * n + k] = 1
            C[n + k, i * n + k] = 1
    A, b = _empty(n * n)
    return _problem(Q, np.zeros(n * n), 0.0, A, b, C, np.ones(2 * n), np.zeros((0, 2)),
                    {"flows": F, "distances": D}, "qap", dtype)
