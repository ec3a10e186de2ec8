"""Jittable repair heuristics that turn any sample into a feasible solution."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from optlib.qubo._model import ConstrainedBinaryProblem

Array = jax.Array


def _mdkp_parts(problem: ConstrainedBinaryProblem, multipliers: Array) -> tuple:
    dtype = jnp.asarray(problem.objective.linear).dtype
    W = jnp.asarray(problem.ineq_matrix, dtype)
    c = jnp.asarray(problem.ineq_rhs, dtype)
    p = -jnp.asarray(problem.objective.linear)
    lam = problem.split(multipliers)[0]
    # efficiency against the multipliers (the dual prices); before any price is known,
    # against the relative weights w_ij / c_i
    scale = jnp.where(jnp.sum(lam) > 0, lam + 1e-9 * jnp.max(lam),
                      1.0 / jnp.maximum(c, 1e-12))
    ratio = p / jnp.maximum(scale @ W, 1e-12)

    def add(carry: tuple, i: Array) -> tuple:
        x, load = carry
        fits = (x[i] == 0) & jnp.all(load + W[:, i] <= c + 1e-9)
        x = x.at[i].set(jnp.where(fits, 1.0, x[i]))
        return (x, load + jnp.where(fits, W[:, i], 0.0)), None

    return dtype, W, c, p, ratio, add


def _repair_mdkp(problem: ConstrainedBinaryProblem, x: Array, multipliers: Array) -> Array:
    """Drop items of lowest dual-weighted efficiency until feasible, then add greedily."""
    dtype, W, c, p, ratio, add = _mdkp_parts(problem, multipliers)
    order = jnp.argsort(ratio)
    x = x.astype(dtype)
    load = W @ x

    def drop(carry: tuple, i: Array) -> tuple:
        x, load = carry
        out = (x[i] > 0) & jnp.any(load > c + 1e-9)
        x = x.at[i].set(jnp.where(out, 0.0, x[i]))
        return (x, load - jnp.where(out, W[:, i], 0.0)), None

    (x, load), _ = lax.scan(drop, (x, load), order)
    (x, load), _ = lax.scan(add, (x, load), order[::-1])
    return _swap_search(x, load, p, W, c, order, add)


def _kick_mdkp(problem: ConstrainedBinaryProblem, x: Array, multipliers: Array, key: Array,
               strength: Array) -> Array:
    """A ruin-and-recreate move on a feasible knapsack solution.

    Each selected item is dropped with probability ``strength``; the freed capacity is refilled
    greedily in a randomly perturbed efficiency order that skips the dropped items (so the
    move cannot simply undo itself).
    """
    dtype, W, c, p, ratio, add = _mdkp_parts(problem, multipliers)
    k1, k2 = jax.random.split(key)
    x = x.astype(dtype)
    out = (x > 0) & jax.random.bernoulli(k1, strength, x.shape)
    x = jnp.where(out, 0.0, x)
    load = W @ x
    noisy = ratio * jnp.exp(0.5 * jax.random.normal(k2, ratio.shape, dtype))
    tabu = jnp.where(out, 1.0, x)  # dropped items look taken to the refill
    (tabu, load), _ = lax.scan(add, (tabu, load), jnp.argsort(noisy)[::-1])
    return jnp.where(out, 0.0, tabu)


def _swap_search(x: Array, load: Array, p: Array, W: Array, c: Array, order: Array,
                 add: object) -> Array:
    """1-1 exchanges (drop i, take j) that raise the profit and fit, best first, each followed
    by a greedy refill, until none improves."""
    n = x.shape[0]

    def gains(x: Array, load: Array) -> Array:
        fits = jnp.all(load[:, None, None] - W[:, :, None] + W[:, None, :] <= c[:, None, None]
                       + 1e-9, axis=0)
        g = p[None, :] - p[:, None]
        ok = fits & (x[:, None] > 0) & (x[None, :] == 0) & (g > 1e-12)
        return jnp.where(ok, g, -jnp.inf)

    def cond(carry: tuple) -> Array:
        x, load, k = carry
        return (k < n) & jnp.isfinite(jnp.max(gains(x, load)))

    def body(carry: tuple) -> tuple:
        x, load, k = carry
        flat = jnp.argmax(gains(x, load))
        i, j = flat // n, flat % n
        x = x.at[i].set(0.0).at[j].set(1.0)
        load = load - W[:, i] + W[:, j]
        (x, load), _ = lax.scan(add, (x, load), order[::-1])
        return x, load, k + 1

    x, _, _ = lax.while_loop(cond, body, (x, load, jnp.zeros((), jnp.int32)))
    return x


def _repair_mis(problem: ConstrainedBinaryProblem, x: Array) -> Array:
    """Remove high-degree endpoints of violated edges, then add free low-degree vertices."""
    dtype = jnp.asarray(problem.objective.linear).dtype
    adj = jnp.asarray(problem.data["adjacency"], dtype)
    order = jnp.argsort(jnp.sum(adj, 1))
    x = x.astype(dtype)

    def drop(x: Array, v: Array) -> tuple:
        out = (x[v] > 0) & (adj[v] @ x > 0)
        return x.at[v].set(jnp.where(out, 0.0, x[v])), None

    def add(x: Array, v: Array) -> tuple:
        free = (x[v] == 0) & (adj[v] @ x == 0)
        return x.at[v].set(jnp.where(free, 1.0, x[v])), None

    x, _ = lax.scan(drop, x, order[::-1])
    x, _ = lax.scan(add, x, order)
    return x


def _kick_mis(problem: ConstrainedBinaryProblem, x: Array, key: Array, strength: Array) -> Array:
    """Ruin and recreate on an independent set: drop each vertex with probability
    ``strength``, then add free vertices in a random order, the dropped ones last."""
    dtype = jnp.asarray(problem.objective.linear).dtype
    adj = jnp.asarray(problem.data["adjacency"], dtype)
    k1, k2 = jax.random.split(key)
    x = x.astype(dtype)
    out = (x > 0) & jax.random.bernoulli(k1, strength, x.shape)
    x = jnp.where(out, 0.0, x)
    pri = jax.random.uniform(k2, x.shape, dtype) + out.astype(dtype)

    def add(x: Array, v: Array) -> tuple:
        free = (x[v] == 0) & (adj[v] @ x == 0)
        return x.at[v].set(jnp.where(free, 1.0, x[v])), None

    x, _ = lax.scan(add, x, jnp.argsort(pri))
    return x


def kick(problem: ConstrainedBinaryProblem, x: jax.typing.ArrayLike, key: jax.Array,
         strength: jax.typing.ArrayLike = 0.3,
         multipliers: jax.typing.ArrayLike | None = None) -> Array:
    """A random ruin-and-recreate move that keeps a feasible solution feasible.

    The primal heuristic of the dual methods applies it to the best solution found so far and
    passes the result through :func:`repair` (which refills and applies improving exchanges):
    an iterated local search running beside the dual ascent.

    * ``mdkp``: drop each selected item with probability ``strength``, then refill greedily in
      a randomly perturbed order of profit per dual-weighted weight that skips the dropped
      items (so the move cannot undo itself);
    * ``mis``: drop each selected vertex with probability ``strength`` and add free vertices in
      random order (the dropped ones last): again a maximal independent set;
    * other kinds: ``x`` is returned unchanged.

    Args:
        problem: the constrained problem.
        x: ``(n,)`` a feasible solution.
        key: PRNG key.
        strength: drop probability (traced).
        multipliers: the current multipliers (the MDKP efficiency order).

    Returns:
        ``(n,)`` a feasible solution in the objective's dtype.
    """
    dtype = jnp.asarray(problem.objective.linear).dtype
    x = jnp.asarray(x)
    strength = jnp.asarray(strength, dtype)
    if problem.kind == "mdkp":
        lam = (jnp.zeros(problem.num_multipliers, dtype) if multipliers is None
               else jnp.asarray(multipliers))
        return _kick_mdkp(problem, x, lam, key, strength)
    if problem.kind == "mis":
        return _kick_mis(problem, x, key, strength)
    return x.astype(dtype)


def greedy_assignment(scores: Array) -> Array:
    """A permutation maximizing ``scores`` greedily: repeatedly take the largest free entry.

    Args:
        scores: ``(k, k)`` matrix (rows: items, columns: slots).

    Returns:
        ``int32 (k,)``: ``perm[row] = column``.
    """
    k = scores.shape[0]
    neg = jnp.asarray(-jnp.inf, scores.dtype)

    def body(carry: tuple, _: None) -> tuple:
        S, perm = carry
        flat = jnp.argmax(S)
        r, col = flat // k, flat % k
        S = S.at[r, :].set(neg).at[:, col].set(neg)
        return (S, perm.at[r].set(col.astype(jnp.int32))), None

    (_, perm), _ = lax.scan(body, (scores, jnp.zeros(k, jnp.int32)), None, length=k)
    return perm


def tour_length(distances: Array, tour: Array) -> Array:
    """Length of the closed tour visiting ``tour`` in order."""
    return jnp.sum(distances[tour, jnp.roll(tour, -1)])


def two_opt(distances: Array, tour: Array, max_moves: int | None = None) -> Array:
    """Best-improvement 2-opt on a closed tour (jittable ``while_loop``).

    Each move reverses the segment that most shortens the tour; it stops at a 2-opt local
    optimum or after ``max_moves`` moves (default ``n^2``).

    Args:
        distances: ``(n, n)`` distances.
        tour: ``int32 (n,)`` permutation.
        max_moves: bound on the number of moves (static).

    Returns:
        The improved tour.
    """
    n = tour.shape[0]
    max_moves = n * n if max_moves is None else max_moves
    pos = jnp.arange(n)
    i_idx, j_idx = jnp.meshgrid(pos, pos, indexing="ij")
    valid = (j_idx > i_idx + 1) & ~((i_idx == 0) & (j_idx == n - 1))

    def reverse(t: Array, i: Array, j: Array) -> Array:
        inside = (pos > i) & (pos <= j)
        return t[jnp.where(inside, i + 1 + j - pos, pos)]

    def cond(carry: tuple) -> Array:
        return carry[1] & (carry[2] < max_moves)

    def body(carry: tuple) -> tuple:
        t, _, moves = carry
        a, b = t[i_idx], t[(i_idx + 1) % n]
        c, d = t[j_idx], t[(j_idx + 1) % n]
        delta = distances[a, c] + distances[b, d] - distances[a, b] - distances[c, d]
        delta = jnp.where(valid, delta, jnp.inf)
        flat = jnp.argmin(delta)
        i, j = flat // n, flat % n
        cand = reverse(t, i, j)
        # exact re-check keeps the move sound for asymmetric distances too
        better = tour_length(distances, cand) < tour_length(distances, t) - 1e-9
        return jnp.where(better, cand, t), better, moves + 1

    t, _, _ = lax.while_loop(cond, body, (tour, jnp.asarray(True), jnp.zeros((), jnp.int32)))
    return t


def _repair_tsp(problem: ConstrainedBinaryProblem, x: Array) -> Array:
    """Greedy assignment of the position matrix, then 2-opt, then back to position variables."""
    dtype = jnp.asarray(problem.objective.linear).dtype
    D = jnp.asarray(problem.data["distances"], dtype)
    n = D.shape[0]
    k = int(round(problem.num_variables ** 0.5))
    fixed = k == n - 1
    X = x.astype(dtype).reshape(k, k)
    # ties broken towards the diagonal so an all-zero sample still gives a permutation
    perm = greedy_assignment(X + 1e-3 * jnp.eye(k, dtype=dtype))  # perm[city] = position
    order = jnp.zeros(k, jnp.int32).at[perm].set(jnp.arange(k, dtype=jnp.int32))
    tour = jnp.concatenate([jnp.zeros(1, jnp.int32), order + 1]) if fixed else order
    tour = two_opt(D, tour)
    if fixed:
        tour = jnp.roll(tour, -jnp.argmin(tour))[1:] - 1
    out = jnp.zeros((k, k), dtype).at[tour, jnp.arange(k)].set(1.0)
    return out.reshape(-1)


def _repair_assignment(problem: ConstrainedBinaryProblem, x: Array) -> Array:
    dtype = jnp.asarray(problem.objective.linear).dtype
    k = int(round(problem.num_variables ** 0.5))
    perm = greedy_assignment(x.astype(dtype).reshape(k, k) + 1e-3 * jnp.eye(k, dtype=dtype))
    return jnp.zeros((k, k), dtype).at[jnp.arange(k), perm].set(1.0).reshape(-1)


def repair(problem: ConstrainedBinaryProblem, x: jax.typing.ArrayLike,
           multipliers: jax.typing.ArrayLike | None = None) -> Array:
    """Turns samples into feasible solutions with the problem kind's heuristic.

    * ``mdkp``: drop items by increasing profit per dual-weighted weight until every capacity
      holds, add items in decreasing order while they fit, then apply improving 1-1 item
      exchanges (each followed by a refill) until none is left.
    * ``mis``: drop selected vertices with a selected neighbour (highest degree first), then
      add free vertices (lowest degree first); the result is a maximal independent set.
    * ``tsp`` (position encoding): greedy assignment of cities to positions, then 2-opt.
    * ``qap``: greedy assignment.
    * other kinds: returned unchanged.

    Args:
        problem: the constrained problem.
        x: ``(..., n)`` samples.
        multipliers: the current multipliers (used by the MDKP ordering).

    Returns:
        ``(..., n)`` repaired samples in the objective's dtype.

    Example:
        >>> import jax.numpy as jnp
        >>> from optlib.qubo import mdkp, repair
        >>> prob = mdkp([3.0, 2.0, 2.0], [[2.0, 1.0, 1.0]], [2.0])
        >>> repair(prob, jnp.array([1, 1, 1])).tolist()
        [0.0, 1.0, 1.0]
    """
    x = jnp.asarray(x)
    lam = (jnp.zeros(problem.num_multipliers, jnp.asarray(problem.objective.linear).dtype)
           if multipliers is None else jnp.asarray(multipliers))
    kind = problem.kind
    if kind == "mdkp":
        fn = lambda s: _repair_mdkp(problem, s, lam)  # noqa: E731
    elif kind == "mis":
        fn = lambda s: _repair_mis(problem, s)  # noqa: E731
    elif kind == "tsp":
        fn = lambda s: _repair_tsp(problem, s)  # noqa: E731
    elif kind == "qap":
        fn = lambda s: _repair_assignment(problem, s)  # noqa: E731
    else:
        return x.astype(jnp.asarray(problem.objective.linear).dtype)
    flat = x.reshape(-1, x.shape[-1])
    return jax.vmap(fn)(flat).reshape(x.shape)
