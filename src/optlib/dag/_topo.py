"""TopoSwap: TOPO's search over topological orders by swaps, with a batched Cholesky engine.

Deng, Bello, Aragam & Ravikumar, "Optimizing NOTEARS Objectives via Topological Swaps",
ICML 2023. The released code refits every node a swap touches with scikit-learn; here the
least-squares inner problem of an order is one Cholesky factor of the permuted Gram matrix
and a swap's score change has a closed form in that factor and its inverse (``O(m)`` per
candidate for a block of ``m`` positions), evaluated for all candidates in one batched call
inside a compiled loop.
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import threadpoolctl

from optlib.core._base import solver_dataclass, static_field
from optlib.core._hooks import History, ProgressBar
from optlib.core._loop import run
from optlib.dag._graph import is_dag, threshold_till_dag, topological_order
from optlib.dag._sparse import L1OrderFit, l1_fit_order

PyTree = Any
_CHOLESKY_SCORES = ("least_squares", "gaussian_nv")


def reference_set_sizes(d: int) -> tuple[int, int, int]:
    """The candidate-set sizes of the released TOPO code (``set_sizes_linear``).

    Returns:
        ``(size_small, size_large, no_large_search)`` with
        ``size_small = min(1.5 d, sqrt(d) (d-1) log10 d, d(d-1)/2)``,
        ``size_large = max(1.5 d, min(sqrt(d) (d-1) log10 d, d(d-1)/2))`` (integer parts;
        both at least 1 and at most ``d(d-1)/2``) and ``no_large_search = min(d // 10, 1)``.

    Example:
        >>> import optlib.dag as dag
        >>> dag.reference_set_sizes(20)
        (30, 110, 1)
    """
    pairs = d * (d - 1) // 2
    a = int(1.5 * d)
    b = int(math.sqrt(d) * (d - 1) * math.log10(d)) if d > 1 else 0
    small = min(a, b, pairs)
    large = max(a, min(b, pairs))
    return max(1, min(small, pairs)), max(1, min(large, pairs)), min(d // 10, 1)


def _default_buckets(d: int, k: int) -> tuple[tuple[int, int], ...]:
    # Node models: a candidate refits every node of its block padded to s positions. Up to
    # d = 64 one bucket of size d; beyond, blocks up to 32 positions are all evaluated and
    # longer ones in buckets of growing size whose capacity shrinks like 1/s (best-ranked
    # first), so every bucket costs about the same. (The Cholesky engine evaluates every
    # candidate: its cost is O(s) per candidate.)
    if d <= 64:
        return ((d, k),)
    sizes = [s for s in (32, 128, 512, 2048) if s < d] + [d]
    return tuple((s, min(k, k if s <= 32 else max(8, int(k * 32.0 / s)))) for s in sizes)


class TopoData(NamedTuple):
    """What TopoSwap's loop reads: sufficient statistics and edge constraints.

    Attributes:
        stats: the Gram matrix ``X^T X / n`` (Cholesky engine) or a
            :class:`~optlib.dag.NodeData` (per-node engine).
        required: ``bool[d, d]``, ``required[i, j]`` means edge ``i -> j`` must be allowed
            (``i`` stays before ``j``).
        forbidden: ``bool[d, d]``, edges that may not appear.
    """

    stats: Any
    required: jax.Array
    forbidden: jax.Array


class TopoParams(NamedTuple):
    """The iterate of :class:`TopoSwap`: an order and the weights fitted to it.

    Attributes:
        order: ``int32[d]``, the nodes parents-first.
        W: ``[d, d]`` weights fitted for that order (a DAG; ``W[i, j]`` for edge ``i -> j``).
    """

    order: jax.Array
    W: jax.Array


class TopoSwapState(NamedTuple):
    """Carried state of :class:`TopoSwap`.

    Attributes:
        weights_perm: the fitted weights in order coordinates (strictly upper triangular).
        factor: Cholesky factor of the permuted Gram (Cholesky engine), else ``[1, 1]``.
        node_params: stacked per-node parameters, indexed by node (per-node engine).
        node_loss: per-node score terms, indexed by node.
        score: the score of the current order.
        large_used: how many large-set searches have succeeded.
        done: no candidate improved the score.
    """

    weights_perm: jax.Array
    factor: jax.Array
    node_params: PyTree
    node_loss: jax.Array
    score: jax.Array
    large_used: jax.Array
    done: jax.Array


class TopoSwapInfo(NamedTuple):
    """Per-round diagnostics.

    Attributes:
        value: score after the round.
        accepted: number of swaps applied.
        improving: number of evaluated candidates that improved the score.
        used_large: whether the large candidate set was searched.
        best_delta: the best candidate's score change.
    """

    value: jax.Array
    accepted: jax.Array
    improving: jax.Array
    used_large: jax.Array
    best_delta: jax.Array


class TopoResult(NamedTuple):
    """What :meth:`TopoSwap.fit` returns (NumPy arrays; the graph is always a DAG).

    Attributes:
        W: thresholded weights (``|w| < w_threshold`` set to zero, required edges kept).
        W_raw: the fitted weights of the final order before thresholding: the search's fit,
            or, with ``final_l1``, the L1-penalized fit of :func:`~optlib.dag.l1_fit_order`.
        order: the topological order found (parents first).
        score: the search score of the final order (its unpenalized fit).
        num_rounds: number of search rounds of the best restart.
        history: per-round ``value``, ``accepted``, ``improving``, ``used_large`` of the best
            restart (dict of arrays).
        restart_scores: the final score of every restart.
        final_fit: the :class:`~optlib.dag.L1OrderFit` of the sparse final fit (``final_l1`` given),
            else ``None``.
    """

    W: np.ndarray
    W_raw: np.ndarray
    order: np.ndarray
    score: float
    num_rounds: int
    history: dict[str, np.ndarray]
    restart_scores: np.ndarray
    final_fit: L1OrderFit | None = None


def _tril_pairs(d: int) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.tril_indices(d, k=-1)
    return rows.astype(np.int32), cols.astype(np.int32)


@solver_dataclass
class TopoSwap:
    """TOPO's bi-level search: the outer level swaps pairs in a topological order.

    Each round ranks the node pairs that the current order forbids (``i`` after ``j``) by the
    log-det acyclicity gradient at ``|W|``, ``[(I - |W|)^{-T}]_{ij}`` (smallest first), evaluates
    the ``size_small`` best-ranked swaps (exchange the positions of ``i`` and ``j`` and refit
    the nodes between them), and applies greedily, best first, every improving swap whose
    position interval is disjoint from those already taken. If none improves, the next
    ``size_large - size_small`` ranked swaps are tried, at most ``no_large_search`` successful
    times; the search stops when a round finds no improving swap. Every iterate is a DAG.

    Two engines:

    * ``score="least_squares"`` or ``"gaussian_nv"``: the Cholesky engine. With
      ``Sigma = X^T X / n`` and ``L`` the Cholesky factor of ``Sigma`` permuted to the order,
      node ``k``'s residual variance is ``L_kk^2``, so least squares is ``1/2 sum_k L_kk^2``
      and the non-equal-variance likelihood ``1/2 sum_k log L_kk^2``. A swap of positions
      ``p < q`` changes only ``L_kk`` for ``k`` in ``p..q``, and each new value has a closed
      form in ``L`` and ``L^{-1}`` from prefix sums (``O(m)`` for ``m = q - p + 1``, see
      ``_swap_variances``). Every ranked candidate is evaluated, in one batched call per chunk
      of ``size_small`` candidates.
    * a node model (:class:`LeastSquaresNode`, :class:`L1LeastSquaresNode`,
      :class:`LogisticNode`, :class:`MLPNode`): every touched node is refitted by the
      model's iterative solver, ``vmap``-ed over candidates and nodes, warm-started.

    Run it with :meth:`fit` (validation, restarts as a batch, an optional sparse final fit
    of the order, ``final_l1``, and thresholding), or as an ordinary solver:
    ``optlib.run(solver, order0, solver.prepare(X))``.

    Args:
        score: ``"least_squares"``, ``"gaussian_nv"`` or a node model instance.
        size_small: small candidate set size (default: ``2 d``, capped at ``d(d-1)/2``).
        size_large: small + large set size (default: ``min(d(d-1)/2, 20 d)``).
        no_large_search: how many successful large-set searches are allowed (traced).
        buckets: ``((block_size, capacity), ...)``: candidates whose block (``q - p + 1``
            positions) fits a bucket are evaluated there, the best-ranked ``capacity`` of them
            per round; others wait for a later round. ``None``: the Cholesky engine evaluates
            every candidate; node models use one bucket up to ``d = 64``,
            else sizes 32, 128, 512, ..., ``d`` with full capacity at 32 and capacity
            shrinking like ``1 / size`` beyond; ``"exact"`` evaluates every candidate.
        center: centre the data (least-squares engines); the released code does not.
        tol: a swap improves when its score change is below ``-tol * max(1, |score|)``.
        reference: follow the released code exactly: its set sizes
            (:func:`reference_set_sizes`), no centring, every candidate evaluated,
            ``tol = 0``, least squares.

    Example:
        >>> import jax, optlib.dag as dag
        >>> k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
        >>> B = dag.simulate_dag(k1, 10, 20)
        >>> X = dag.simulate_linear_sem(k2, dag.simulate_parameter(k3, B), 1000)
        >>> result = dag.TopoSwap().fit(X, key=jax.random.key(1))
        >>> dag.count_accuracy(B, result.W != 0)["shd"]
        0

    References:
        Deng, Bello, Aragam & Ravikumar, "Optimizing NOTEARS Objectives via Topological
        Swaps", ICML 2023 (code: ``github.com/Duntrain/TOPO``).
    """

    score: Any = static_field(default="least_squares")
    size_small: int | None = static_field(default=None)
    size_large: int | None = static_field(default=None)
    buckets: Any = static_field(default=None)
    center: bool = static_field(default=True)
    reference: bool = static_field(default=False)
    no_large_search: Any = 1_000_000
    tol: Any = 1e-12

    @classmethod
    def reference_mode(cls, d: int) -> TopoSwap:
        """The released code's rules: its set sizes, uncentred least squares, exact search."""
        small, large, nls = reference_set_sizes(d)
        return cls(score="least_squares", size_small=small, size_large=large, buckets="exact",
                   center=False, reference=True, no_large_search=nls, tol=0.0)

    # ------------------------------------------------------------------ configuration
    def _cholesky(self) -> bool:
        return isinstance(self.score, str)

    def _sizes(self, d: int) -> tuple[int, int]:
        pairs = d * (d - 1) // 2
        small = self.size_small if self.size_small is not None else 2 * d
        large = self.size_large if self.size_large is not None else 20 * d
        small = max(1, min(int(small), pairs))
        large = max(small, min(int(large), pairs))
        return small, large

    def _buckets(self, d: int, k: int) -> tuple[tuple[int, int], ...]:
        if self.buckets == "exact":
            return ((d, k),)
        if self.buckets is None:
            return ((d, k),) if self._cholesky() else _default_buckets(d, k)
        out = sorted((min(int(s), d), min(int(c), k)) for s, c in self.buckets)
        if out[-1][0] < d:
            out.append((d, min(8, k)))
        return tuple(out)

    def _node_model(self) -> Any:
        return self.score

    # ------------------------------------------------------------------ data
    def prepare(self, X: jax.typing.ArrayLike, required: jax.typing.ArrayLike | None = None,
                forbidden: jax.typing.ArrayLike | None = None) -> TopoData:
        """Validates ``X`` and the masks and computes the statistics the loop reads.

        Raises:
            ValueError: for a non-2-D ``X``, too few samples, NaN/inf or constant columns,
                masks of the wrong shape, a cyclic ``required`` mask, or masks that
                contradict each other.
        """
        X = _check_data(X, need_full_rank=self._cholesky())
        d = X.shape[1]
        req, forb = _check_masks(required, forbidden, d)
        if self._cholesky():
            if self.score not in _CHOLESKY_SCORES:
                raise ValueError(f"score must be one of {_CHOLESKY_SCORES} or a node model, "
                                 f"got {self.score!r}")
            if forb.any():
                raise ValueError("forbidden edges need a node model: use "
                                 "score=LeastSquaresNode() (exact least squares per node)")
            center = self.center and not self.reference
            Xc = X - jnp.mean(X, axis=0, keepdims=True) if center else X
            stats = Xc.T @ Xc / X.shape[0]
        else:
            stats = self._node_model().prepare(X)
        return TopoData(stats, jnp.asarray(req), jnp.asarray(forb))

    # ------------------------------------------------------------------ engines
    def _node_term(self, v: jax.Array) -> jax.Array:
        if self.score == "gaussian_nv":
            return 0.5 * jnp.log(v)
        return 0.5 * v

    def _fit_order(self, order: jax.Array, data: TopoData,
                   node_params: PyTree) -> tuple[jax.Array, PyTree, jax.Array]:
        d = order.shape[0]
        if self._cholesky():
            S = data.stats[order][:, order]
            L = jnp.linalg.cholesky(S)
            terms = self._node_term(jnp.diag(L) ** 2)
            node_loss = jnp.zeros((d,), L.dtype).at[order].set(terms)
            return L, node_params, node_loss
        model = self._node_model()
        masks = _parent_masks(order, data.forbidden, data.stats.gram.dtype)
        nodes = jnp.arange(d)
        params = jax.vmap(model.fit, in_axes=(0, 0, 0, None))(node_params, masks, nodes,
                                                              data.stats)
        losses = jax.vmap(model.loss, in_axes=(0, 0, 0, None))(params, masks, nodes, data.stats)
        return jnp.ones((1, 1), losses.dtype), params, losses

    def _weights_perm(self, order: jax.Array, factor: jax.Array, node_params: PyTree,
                      data: TopoData) -> jax.Array:
        """The fitted weights in order coordinates (upper triangular)."""
        d = order.shape[0]
        if self._cholesky():
            L = factor
            unit = L / jnp.diag(L)[None, :]
            inv = jax.scipy.linalg.solve_triangular(unit, jnp.eye(d, dtype=L.dtype), lower=True,
                                                    unit_diagonal=True)
            return jnp.triu(jnp.eye(d, dtype=L.dtype) - inv.T, k=1)
        W = self._weights_nodes(order, node_params, data)
        return W[order][:, order]

    def _weights_nodes(self, order: jax.Array, node_params: PyTree, data: TopoData) -> jax.Array:
        model = self._node_model()
        masks = _parent_masks(order, data.forbidden, data.stats.gram.dtype)
        cols = jax.vmap(model.weights)(node_params, masks)  # [node j, parent i]
        return cols.T

    def _eval_bucket(self, order: jax.Array, state: TopoSwapState, data: TopoData,
                     P: jax.Array, Q: jax.Array, s: int) -> jax.Array:
        d = order.shape[0]
        if self._cholesky():
            L = state.factor
            diag = jnp.diagonal(L)
            # L^{-1} from the stored weights: diag(L) L^{-1} = I - W_perm^T (unit lower).
            Linv = (jnp.eye(d, dtype=L.dtype) - state.weights_perm.T) / diag[:, None]
            old, new, inb = _swap_variances(L, Linv, P, Q, s)
            old_t = jnp.where(inb, self._node_term(old), 0.0)
            new_t = jnp.where(inb, self._node_term(new), 0.0)
            return jnp.sum(new_t, axis=1) - jnp.sum(old_t, axis=1)

        model = self._node_model()
        stats = data.stats
        dtype = stats.gram.dtype

        def one_node(params: PyTree, new_order: jax.Array, node: jax.Array) -> jax.Array:
            pos = jnp.zeros((d,), jnp.int32).at[new_order].set(jnp.arange(d, dtype=jnp.int32))
            mask = ((pos < pos[node]) & ~data.forbidden[:, node]).astype(dtype)
            return model.loss(model.fit(params, mask, node, stats), mask, node, stats)

        def one(p: jax.Array, q: jax.Array) -> jax.Array:
            new_order = order.at[p].set(order[q]).at[q].set(order[p])
            r = p + jnp.arange(s)
            valid = r <= q
            nodes = new_order[jnp.minimum(r, d - 1)]
            params = jax.tree.map(lambda a: a[nodes], state.node_params)
            new = jax.vmap(one_node, in_axes=(0, None, 0))(params, new_order, nodes)
            old = state.node_loss[nodes]
            return jnp.sum(jnp.where(valid, new - old, 0.0))

        return jax.vmap(one)(P, Q)

    def _eval(self, order: jax.Array, state: TopoSwapState, data: TopoData, P: jax.Array,
              Q: jax.Array, valid: jax.Array, buckets: tuple) -> jax.Array:
        k = P.shape[0]
        m = Q - P + 1
        rank = jnp.arange(k)
        delta = jnp.full((k,), jnp.inf, state.score.dtype)
        lower = 1
        for s, cap in buckets:
            inb = valid & (m > lower) & (m <= s)
            sel = jnp.argsort(jnp.where(inb, rank, k + rank))[:cap]
            vals = self._eval_bucket(order, state, data, P[sel], Q[sel], s)
            ok = inb[sel] & jnp.isfinite(vals)
            delta = delta.at[sel].min(jnp.where(ok, vals, jnp.inf))
            lower = s
        return delta

    # ------------------------------------------------------------------ protocol
    def init_params(self, order: jax.typing.ArrayLike, dtype: Any = None) -> TopoParams:
        """Initial ``params`` for :func:`optlib.run` from an order (the weights are refitted)."""
        order = jnp.asarray(order, jnp.int32)
        d = order.shape[0]
        return TopoParams(order, jnp.zeros((d, d), dtype or jnp.result_type(float)))

    def init(self, params: TopoParams, data: TopoData, key: jax.Array | None = None
             ) -> TopoSwapState:
        order = jnp.asarray(params.order, jnp.int32)
        d = order.shape[0]
        if self._cholesky():
            node_params = None
        else:
            dtype = data.stats.gram.dtype
            key = jax.random.key(0) if key is None else key
            model = self._node_model()
            node_params = jax.vmap(lambda k: model.init_params(k, d, dtype))(
                jax.random.split(key, d))
        factor, node_params, node_loss = self._fit_order(order, data, node_params)
        score = jnp.sum(node_loss)
        Wp = self._weights_perm(order, factor, node_params, data)
        return TopoSwapState(Wp, factor, node_params, node_loss, score,
                             jnp.zeros((), jnp.int32), jnp.asarray(False))

    def step(self, params: TopoParams, state: TopoSwapState, data: TopoData,
             key: jax.Array | None = None) -> tuple[TopoParams, TopoSwapState, TopoSwapInfo]:
        order = jnp.asarray(params.order, jnp.int32)
        d = order.shape[0]
        small, large = self._sizes(d)
        dtype = state.score.dtype
        thr = -jnp.asarray(self.tol, dtype) * jnp.maximum(1.0, jnp.abs(state.score))
        if self.reference:
            thr = jnp.zeros((), dtype)

        # Rank the forbidden pairs (position a after position b) by TOPO's gradient.
        Wp = state.weights_perm
        eye = jnp.eye(d, dtype=dtype)
        upper_inv = jax.scipy.linalg.solve_triangular(eye - jnp.abs(Wp), eye, lower=False,
                                                      unit_diagonal=True)
        rows, cols = _tril_pairs(d)
        ranking = upper_inv.T[rows, cols]
        _, idx = jax.lax.top_k(-ranking, large)
        Qall, Pall = jnp.asarray(rows)[idx], jnp.asarray(cols)[idx]
        allowed = _swap_allowed(order, data.required, Pall, Qall)

        # Evaluate the small set (ranks < small); when none improves and the budget allows,
        # the large set (ranks small..large) in further chunks of the same size, so that one
        # compiled evaluation serves both.
        chunks = -(-large // small)
        pad = chunks * small - large
        Pall = jnp.pad(Pall, (0, pad))
        Qall = jnp.pad(Qall, (0, pad), constant_values=1)
        allowed = jnp.pad(allowed, (0, pad))
        buckets = self._buckets(d, small)
        budget = jnp.asarray(self.no_large_search, jnp.int32)

        def eval_chunk(carry: tuple) -> tuple:
            c, delta, go_large = carry
            sl = lambda a: jax.lax.dynamic_slice_in_dim(a, c * small, small)  # noqa: E731
            vals = self._eval(order, state, data, sl(Pall), sl(Qall), sl(allowed), buckets)
            delta = jax.lax.dynamic_update_slice_in_dim(delta, vals, c * small, 0)
            first = (~jnp.any(vals < thr)) & (state.large_used < budget) & (chunks > 1)
            return c + 1, delta, jnp.where(c == 0, first, go_large)

        def more(carry: tuple) -> jax.Array:
            c, _, go_large = carry
            return (c == 0) | (go_large & (c < chunks))

        init = (jnp.zeros((), jnp.int32), jnp.full((chunks * small,), jnp.inf, dtype),
                jnp.asarray(False))
        _, delta, use_large = jax.lax.while_loop(more, eval_chunk, init)
        improve_s = jnp.any(delta[:small] < thr)
        improve_l = use_large & jnp.any(delta < thr)
        new_order, accepted = _greedy_apply(order, Pall, Qall, delta, thr)

        improved = improve_s | improve_l
        def refit() -> tuple:
            factor, node_params, node_loss = self._fit_order(new_order, data, state.node_params)
            Wp = self._weights_perm(new_order, factor, node_params, data)
            return Wp, factor, node_params, node_loss

        Wp, factor, node_params, node_loss = jax.lax.cond(
            improved, refit,
            lambda: (state.weights_perm, state.factor, state.node_params, state.node_loss))
        new_score = jnp.sum(node_loss)
        new_state = TopoSwapState(
            Wp, factor, node_params, node_loss, new_score,
            state.large_used + (use_large & improve_l).astype(jnp.int32), ~improved)
        evaluated = delta
        info = TopoSwapInfo(
            value=new_score, accepted=accepted,
            improving=jnp.sum(evaluated < thr).astype(jnp.int32),
            used_large=use_large,
            best_delta=jnp.min(jnp.where(jnp.isfinite(evaluated), evaluated, 0.0)))
        W = jnp.zeros_like(Wp).at[new_order[:, None], new_order[None, :]].set(Wp)
        return TopoParams(new_order, W), new_state, info

    def terminate(self, params: TopoParams, state: TopoSwapState, info: TopoSwapInfo
                  ) -> jax.Array:
        return state.done

    # ------------------------------------------------------------------ driver
    def fit(self, X: jax.typing.ArrayLike, key: jax.Array | None = None,
            init: jax.typing.ArrayLike | None = None, restarts: int = 1,
            required: jax.typing.ArrayLike | None = None,
            forbidden: jax.typing.ArrayLike | None = None, w_threshold: float = 0.3,
            max_rounds: int | None = None, progress: bool = False,
            blas_threads: int | None = 1, final_l1: float | None = None) -> TopoResult:
        """Learns a DAG from data ``X`` (``[n, d]``).

        Args:
            X: data matrix, one column per node.
            key: PRNG key for the random initial orders (and node-model initialization).
            init: start from this instead of a random order: a permutation of ``range(d)``
                (parents first) or a ``[d, d]`` weight matrix from another method, which is
                thresholded until it is a DAG and topologically sorted (post-processing).
            restarts: number of random initial orders, run as one batch; the best score wins.
                With ``init`` given, the first restart starts there and the others are random.
            required: ``bool[d, d]`` edges that must be present in the result.
            forbidden: ``bool[d, d]`` edges that must be absent (needs a node model).
            w_threshold: weights with ``|w| < w_threshold`` are removed from ``W``
                (required edges are kept).
            max_rounds: cap on search rounds (default ``10 d + 100``).
            progress: show a progress bar.
            blas_threads: BLAS/LAPACK threads during the search (through ``threadpoolctl``;
                ``None`` leaves them alone). The per-round Cholesky and
                triangular solves are small (``d x d``); OpenBLAS's worker threads wait
                actively, and on a busy machine two of them made a 100 x 100 triangular solve
                ~30x slower than one.
            final_l1: if given, refit the final order with L1-penalized least squares,
                ``1/(2n) ||X - X W||^2 + final_l1 ||W||_1`` on each node's predecessors
                (:func:`~optlib.dag.l1_fit_order`, on the engine's Gram matrix; required edges
                unpenalized, forbidden ones excluded) and threshold that fit instead of the
                search's unpenalized one. The search itself is unchanged. DAGMA's default
                is ``0.02``: at large ``d`` it removes most of the spurious small weights
                that unpenalized least squares spreads over up to ``d - 1`` parents.

        Returns:
            A :class:`TopoResult`; ``W != 0`` is a DAG consistent with ``order``.

        Raises:
            ValueError: bad ``X``, masks, ``init``, ``restarts`` or ``final_l1``.
        """
        data = self.prepare(X, required, forbidden)
        d = int(np.shape(X)[1])
        if restarts < 1:
            raise ValueError(f"restarts must be >= 1, got {restarts}")
        if final_l1 is not None and not final_l1 >= 0:
            raise ValueError(f"final_l1 must be >= 0, got {final_l1}")
        key = jax.random.key(0) if key is None else key
        k_orders, k_run = jax.random.split(key)
        orders = jax.vmap(lambda k: jax.random.permutation(k, d))(
            jax.random.split(k_orders, restarts)).astype(jnp.int32)
        if init is not None:
            orders = orders.at[0].set(jnp.asarray(_order_from_init(init, d), jnp.int32))
        req = np.asarray(data.required)
        if req.any():
            orders = jnp.asarray(np.stack([_respect_required(np.asarray(o), req)
                                           for o in np.asarray(orders)]), jnp.int32)
        max_rounds = int(max_rounds) if max_rounds is not None else 10 * d + 100
        hooks = [History()]
        if progress:
            hooks.append(ProgressBar(every=1, desc=f"TopoSwap d={d}", fields=("value",)))
        keys = jax.random.split(k_run, restarts)
        # Restarts run one after another inside one compiled program (lax.map): under vmap the
        # large-set cond becomes a select, so every round would pay for both candidate sets.
        with _blas_threads(blas_threads):
            results = _fit_batch(self, orders, keys, data, tuple(hooks), max_rounds=max_rounds)
            results = jax.block_until_ready(results)
        scores = np.asarray(results.state.score)
        best = int(np.nanargmin(np.where(np.isfinite(scores), scores, np.inf)))
        pick = jax.tree.map(lambda a: a[best], results)
        order = np.asarray(pick.params.order)
        W_raw = np.asarray(pick.params.W, dtype=float)
        final_fit = None
        if final_l1 is not None:
            gram = data.stats if self._cholesky() else data.stats.gram
            with _blas_threads(blas_threads):
                final_fit = jax.tree.map(np.asarray, l1_fit_order(
                    gram, order, final_l1, required=data.required,
                    forbidden=data.forbidden))
            W_raw = np.asarray(final_fit.W, dtype=float)
        W = np.where(np.abs(W_raw) >= w_threshold, W_raw, 0.0)
        W = np.where(req & (W == 0), W_raw, W)
        trace = pick.history
        length = int(trace.length)
        hist = {name: np.asarray(getattr(trace.info, name))[:length]
                for name in ("value", "accepted", "improving", "used_large")}
        return TopoResult(W=W, W_raw=W_raw, order=order, score=float(scores[best]),
                          num_rounds=int(pick.num_steps), history=hist,
                          restart_scores=scores, final_fit=final_fit)


# ---------------------------------------------------------------------- helpers
def _blas_threads(limit: int | None) -> Any:
    """A context limiting BLAS threads (a no-op for ``None``)."""
    if limit is None:
        return contextlib.nullcontext()
    return threadpoolctl.threadpool_limits(limits=int(limit), user_api="blas")


@functools.partial(jax.jit, static_argnames=("max_rounds",))
def _fit_batch(solver: TopoSwap, orders: jax.Array, keys: jax.Array, data: TopoData,
               hooks: tuple, max_rounds: int) -> Any:
    dtype = _stats_dtype(data)
    return jax.lax.map(
        lambda ok: run(solver, solver.init_params(ok[0], dtype), data, key=ok[1],
                       max_steps=max_rounds, hooks=hooks), (orders, keys))


def _swap_variances(L: jax.Array, Linv: jax.Array, P: jax.Array, Q: jax.Array, s: int
                    ) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Residual variances of the nodes at positions ``p..q`` before and after swapping ``p, q``.

    ``L`` is the Cholesky factor of the Gram matrix in the current order and ``Linv = L^{-1}``.
    Write ``m = q - p + 1`` and use block coordinates ``0..m-1`` for positions ``p..q``; with
    ``x = L z`` (``z`` white), ``r = L[q, p:q+1]`` is the last block node's row, ``c =
    Linv[p:q+1, p]`` the first column of the block's inverse factor (a diagonal block of
    ``L^{-1}`` is the inverse of the same block of ``L``) and ``l_i = L[p+i, p+i]``. After the
    swap the new residual variances are, for the node moved to the front,
    ``var(x_{m-1} | prefix) = sum_j r_j^2``; for the node moved to the back,
    ``var(x_0 | x_1..x_{m-1}, prefix) = 1 / sum_j c_j^2``; and for a node ``i`` in between,
    ``var(x_i | x_1..x_{i-1}, x_{m-1}, prefix)``. Dropping ``x_0`` from the conditioning set of
    the first ``i`` nodes frees exactly one white direction, ``c[:i] / |c[:i]|``, so with
    ``N_i = sum_{j<i} c_j^2`` and ``g_i = sum_{j<i} r_j c_j`` the 2x2 conditional covariance of
    ``(x_i, x_{m-1})`` given ``x_1..x_{i-1}`` is
    ``[[l_i^2 (1 + c_i^2 / N_i), l_i (r_i - c_i g_i / N_i)], [., sum_{j>=i} r_j^2 + g_i^2 / N_i]]``
    and the new variance is its Schur complement. That is ``O(m)`` per candidate from prefix
    sums, with plain batched array operations (no LAPACK call, no sequential loop).

    Args:
        L: ``[d, d]`` lower-triangular factor.
        Linv: ``[d, d]`` its inverse.
        P, Q: ``int[k]`` swap positions, ``P < Q``, ``Q - P + 1 <= s``.
        s: static block length (candidates are padded to it).

    Returns:
        ``(old, new, inside)``: ``[k, s]`` variances before and after (``1`` outside the
        block) and the mask of positions inside the block.
    """
    d = L.shape[0]
    i = jnp.arange(s)
    m = (Q - P + 1)[:, None]
    inb = i[None, :] < m
    pos = jnp.minimum(P[:, None] + i[None, :], d - 1)
    zero = jnp.zeros((), L.dtype)
    r = jnp.where(inb, L[Q[:, None], pos], zero)
    c = jnp.where(inb, Linv[pos, P[:, None]], zero)
    l2 = jnp.where(inb, jnp.diagonal(L)[pos] ** 2, 1.0)
    c2, r2, rc = c * c, r * r, r * c
    N = jnp.cumsum(c2, axis=1) - c2  # exclusive prefix sums
    g = jnp.cumsum(rc, axis=1) - rc
    r2_total = jnp.sum(r2, axis=1, keepdims=True)
    suffix = r2_total - (jnp.cumsum(r2, axis=1) - r2)
    mid = (i[None, :] > 0) & (i[None, :] < m - 1)
    Ns = jnp.where(mid, N, 1.0)
    v_i = l2 * (1.0 + c2 / Ns)
    v_im = jnp.sqrt(l2) * (r - c * g / Ns)
    v_m = jnp.where(mid, suffix + g * g / Ns, 1.0)
    middle = v_i - v_im * v_im / v_m
    last = 1.0 / jnp.sum(c2, axis=1, keepdims=True)
    new = jnp.where(i[None, :] == 0, r2_total,
                    jnp.where(i[None, :] == m - 1, last, jnp.where(mid, middle, 1.0)))
    return l2, new, inb


def _stats_dtype(data: TopoData) -> Any:
    stats = data.stats
    return stats.dtype if isinstance(stats, jax.Array) else stats.gram.dtype


def _parent_masks(order: jax.Array, forbidden: jax.Array, dtype: jnp.dtype) -> jax.Array:
    """``masks[j, i] = 1`` when ``i`` may be a parent of ``j`` (before it, not forbidden)."""
    d = order.shape[0]
    pos = jnp.zeros((d,), jnp.int32).at[order].set(jnp.arange(d, dtype=jnp.int32))
    allowed = (pos[:, None] < pos[None, :]) & ~forbidden
    return allowed.T.astype(dtype)


def _swap_allowed(order: jax.Array, required: jax.Array, P: jax.Array, Q: jax.Array
                  ) -> jax.Array:
    """A swap of positions p < q breaks a required edge when the node at p must precede a
    node in (p, q], or a node in [p, q) must precede the node at q."""
    R = required[order][:, order].astype(jnp.int32)
    row_cum = jnp.pad(jnp.cumsum(R, axis=1), ((0, 0), (1, 0)))  # row_cum[a, b] = sum R[a, :b]
    col_cum = jnp.pad(jnp.cumsum(R, axis=0), ((1, 0), (0, 0)))  # col_cum[a, b] = sum R[:a, b]
    from_p = row_cum[P, Q + 1] - row_cum[P, P + 1]
    to_q = col_cum[Q, Q] - col_cum[P, Q]
    return (from_p == 0) & (to_q == 0)


def _greedy_apply(order: jax.Array, P: jax.Array, Q: jax.Array, delta: jax.Array,
                  thr: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Applies improving swaps best first, skipping any whose interval meets a taken one.

    Only the improving candidates are visited (a loop that stops at the first candidate, in
    ascending ``delta``, that does not improve).
    """
    d = order.shape[0]
    k = delta.shape[0]
    pos = jnp.arange(d)
    ranked = jnp.argsort(delta, stable=True)

    def more(carry: tuple) -> jax.Array:
        i = carry[0]
        return (i < k) & (delta[ranked[jnp.minimum(i, k - 1)]] < thr)

    def body(carry: tuple) -> tuple:
        i, occupied, perm, count = carry
        c = ranked[i]
        p, q = P[c], Q[c]
        interval = (pos >= p) & (pos <= q)
        ok = ~jnp.any(occupied & interval)
        occupied = occupied | (ok & interval)
        swapped = perm.at[p].set(perm[q]).at[q].set(perm[p])
        perm = jnp.where(ok, swapped, perm)
        return i + 1, occupied, perm, count + ok.astype(jnp.int32)

    init = (jnp.zeros((), jnp.int32), jnp.zeros((d,), bool), jnp.arange(d),
            jnp.zeros((), jnp.int32))
    _, _, perm, count = jax.lax.while_loop(more, body, init)
    return order[perm], count


def _check_data(X: jax.typing.ArrayLike, need_full_rank: bool) -> jax.Array:
    arr = np.asarray(X)
    if arr.ndim != 2:
        raise ValueError(f"X must be a 2-D [n, d] data matrix, got shape {arr.shape}")
    n, d = arr.shape
    if d < 2:
        raise ValueError(f"X must have at least 2 columns (nodes), got {d}")
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.result_type(float, jnp.result_type(float)))
    if not np.all(np.isfinite(arr)):
        bad = np.flatnonzero(~np.all(np.isfinite(arr), axis=0)).tolist()
        raise ValueError(f"X has NaN or infinite values in columns {bad}")
    if need_full_rank and n <= d:
        raise ValueError(f"X has n={n} samples for d={d} nodes: least-squares scores need "
                         f"n > d (the Gram matrix must be positive definite)")
    if n < 2:
        raise ValueError(f"X needs at least 2 samples, got {n}")
    const = np.flatnonzero(np.ptp(arr, axis=0) == 0).tolist()
    if const:
        raise ValueError(f"X has constant columns {const}; they carry no information")
    return jnp.asarray(arr)


def _check_masks(required: Any, forbidden: Any, d: int) -> tuple[np.ndarray, np.ndarray]:
    def as_mask(name: str, M: Any) -> np.ndarray:
        if M is None:
            return np.zeros((d, d), bool)
        A = np.asarray(M)
        if A.shape != (d, d):
            raise ValueError(f"{name} must have shape ({d}, {d}), got {A.shape}")
        return A != 0

    req = as_mask("required", required)
    forb = as_mask("forbidden", forbidden)
    if np.any(np.diag(req)):
        raise ValueError("required has self-loops on the diagonal")
    if (req & forb).any():
        i, j = np.argwhere(req & forb)[0]
        raise ValueError(f"required and forbidden contradict each other (edge {i} -> {j})")
    if req.any() and not is_dag(req):
        raise ValueError("required edges contain a cycle")
    return req, forb


def _order_from_init(init: Any, d: int) -> np.ndarray:
    A = np.asarray(init)
    if A.ndim == 1:
        if sorted(A.tolist()) != list(range(d)):
            raise ValueError(f"init must be a permutation of range({d}) or a [d, d] matrix")
        return A.astype(int)
    if A.shape != (d, d):
        raise ValueError(f"init must be a permutation of range({d}) or a [{d}, {d}] matrix, "
                         f"got shape {A.shape}")
    W, _ = threshold_till_dag(A)
    return topological_order(W)


def _respect_required(order: np.ndarray, required: np.ndarray) -> np.ndarray:
    """The closest order to ``order`` (a stable topological sort) where required edges point
    forward."""
    d = len(order)
    rank = np.empty(d, int)
    rank[order] = np.arange(d)
    indeg = required.sum(axis=0)
    ready = [(rank[v], v) for v in range(d) if indeg[v] == 0]
    heapq.heapify(ready)
    out = []
    while ready:
        _, v = heapq.heappop(ready)
        out.append(v)
        for c in np.flatnonzero(required[v]):
            indeg[c] -= 1
            if indeg[c] == 0:
                heapq.heappush(ready, (rank[c], c))
    return np.asarray(out, int)
