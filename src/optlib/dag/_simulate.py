"""Synthetic DAGs, weights and structural equation models with the NOTEARS conventions.

Every generator takes an explicit PRNG key. The distributions are those of the NOTEARS
``utils.py`` (also used by TOPO and DAGMA); the random streams are JAX's, so the draws are
not bit-identical to the NumPy/igraph reference.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

_LINEAR_SEMS = ("gauss", "exp", "gumbel", "uniform", "logistic")
_NONLINEAR_SEMS = ("mlp",)


@jax.jit
def _random_relabel(key: jax.Array, B: jax.Array) -> jax.Array:
    perm = jax.random.permutation(key, B.shape[0])
    return B[perm][:, perm]


@functools.partial(jax.jit, static_argnames=("d", "s0"))
def _erdos_renyi(key: jax.Array, d: int, s0: int) -> jax.Array:
    rows, cols = np.tril_indices(d, k=-1)
    chosen = jax.random.choice(key, rows.size, (s0,), replace=False)
    B = jnp.zeros((d, d), jnp.int32)
    return B.at[jnp.asarray(rows)[chosen], jnp.asarray(cols)[chosen]].set(1)


@functools.partial(jax.jit, static_argnames=("d", "m"))
def _barabasi_albert(key: jax.Array, d: int, m: int) -> jax.Array:
    # Node k points to min(k, m) distinct earlier nodes, chosen with probability
    # proportional to (in-degree + 1) (igraph's Barabasi with outpref=False, zero_appeal=1).
    idx = jnp.arange(d)

    def body(indeg: jax.Array, inp: tuple) -> tuple:
        k, sub = inp
        logits = jnp.where(idx < k, jnp.log(indeg + 1.0), -jnp.inf)
        gumbel = jax.random.gumbel(sub, (d,))
        _, picks = jax.lax.top_k(logits + gumbel, m)
        valid = jnp.arange(m) < jnp.minimum(k, m)
        row = jnp.zeros((d,), jnp.int32).at[picks].max(valid.astype(jnp.int32))
        return indeg + row, row

    keys = jax.random.split(key, d - 1)
    _, rows = jax.lax.scan(body, jnp.zeros((d,)), (jnp.arange(1, d), keys))
    return jnp.concatenate([jnp.zeros((1, d), jnp.int32), rows], axis=0)


def simulate_dag(key: jax.Array, d: int, s0: int, graph_type: str = "ER") -> jax.Array:
    """A random DAG as a binary adjacency matrix (``B[i, j] = 1`` means edge ``i -> j``).

    Args:
        key: a PRNG key.
        d: number of nodes.
        s0: expected number of edges; "ERk"/"SFk" in the literature means ``s0 = k * d``.
        graph_type: ``"ER"``: exactly ``s0`` edges chosen uniformly among the ``d(d-1)/2``
            node pairs, randomly oriented acyclically; ``"SF"``: Barabasi-Albert preferential
            attachment with ``m = round(s0 / d)`` edges per new node
            (``m * d - m (m + 1) / 2`` edges in total).

    Returns:
        An ``int32[d, d]`` adjacency matrix of a DAG, nodes relabelled by a random permutation.

    Example:
        >>> import jax, optlib.dag as dag
        >>> B = dag.simulate_dag(jax.random.key(0), d=10, s0=20, graph_type="ER")
        >>> int(B.sum()), dag.is_dag(B)
        (20, True)

    References:
        Zheng, Aragam, Ravikumar & Xing, "DAGs with NO TEARS", NeurIPS 2018 (``utils.py``).
    """
    d, s0 = int(d), int(s0)
    if d < 1:
        raise ValueError(f"simulate_dag: d must be >= 1, got {d}")
    k_graph, k_relabel = jax.random.split(key)
    if graph_type == "ER":
        if not 0 <= s0 <= d * (d - 1) // 2:
            raise ValueError(f"simulate_dag: s0 must be in [0, d(d-1)/2 = {d * (d - 1) // 2}], "
                             f"got {s0}")
        # Pairs (i > j) oriented i -> j form a DAG; the relabelling below hides the order.
        B = _erdos_renyi(k_graph, d, s0)
    elif graph_type == "SF":
        m = int(round(s0 / d))
        if m < 1 or m >= d:
            raise ValueError(f"simulate_dag: SF needs 1 <= round(s0 / d) < d, got s0={s0}, d={d}")
        B = _barabasi_albert(k_graph, d, m)
    else:
        raise ValueError(f"simulate_dag: graph_type must be 'ER' or 'SF', got {graph_type!r}")
    return _random_relabel(k_relabel, B)


def simulate_parameter(key: jax.Array, B: jax.typing.ArrayLike,
                       w_ranges: Sequence[tuple[float, float]] = ((-2.0, -0.5), (0.5, 2.0)),
                       dtype: jnp.dtype | None = None) -> jax.Array:
    """Edge weights on the support of ``B``, uniform on a randomly chosen range per edge.

    Args:
        key: a PRNG key.
        B: ``[d, d]`` binary adjacency matrix.
        w_ranges: disjoint ``(low, high)`` ranges; each edge picks one uniformly.
        dtype: floating dtype of the result (default: JAX's default float).

    Returns:
        ``W`` with ``W[i, j] != 0`` exactly where ``B[i, j] != 0``.

    Example:
        >>> import jax, jax.numpy as jnp, optlib.dag as dag
        >>> W = dag.simulate_parameter(jax.random.key(0), jnp.array([[0, 1], [0, 0]]))
        >>> bool(0.5 <= abs(float(W[0, 1])) <= 2.0), float(W[1, 0])
        (True, 0.0)
    """
    B = jnp.asarray(B)
    dtype = jnp.dtype(dtype or jnp.result_type(float))
    ranges = tuple((float(lo), float(hi)) for lo, hi in w_ranges)
    return _parameter(key, B, ranges, dtype)


@functools.partial(jax.jit, static_argnames=("ranges", "dtype"))
def _parameter(key: jax.Array, B: jax.Array, ranges: tuple, dtype: jnp.dtype) -> jax.Array:
    k_sel, k_u = jax.random.split(key)
    sel = jax.random.randint(k_sel, B.shape, 0, len(ranges))
    W = jnp.zeros(B.shape, dtype)
    subkeys = jax.random.split(k_u, len(ranges))
    for i, ((low, high), sub) in enumerate(zip(ranges, subkeys, strict=True)):
        U = jax.random.uniform(sub, B.shape, dtype, minval=low, maxval=high)
        W = W + jnp.where((B != 0) & (sel == i), U, 0.0)
    return W


def _noise_scale(noise_scale: jax.typing.ArrayLike | None, d: int, dtype: jnp.dtype) -> jax.Array:
    if noise_scale is None:
        return jnp.ones((d,), dtype)
    scale = jnp.asarray(noise_scale, dtype)
    if scale.ndim == 0:
        return jnp.full((d,), scale)
    if scale.shape != (d,):
        raise ValueError(f"noise_scale must be a scalar or have shape ({d},), got {scale.shape}")
    return scale


def _check_square(name: str, M: jax.Array) -> int:
    if M.ndim != 2 or M.shape[0] != M.shape[1]:
        raise ValueError(f"{name} must be a square [d, d] matrix, got shape {M.shape}")
    if not isinstance(M, jax.core.Tracer):
        from optlib.dag._graph import is_dag

        if not is_dag(np.asarray(M)):
            raise ValueError(f"{name} must be the adjacency/weight matrix of a DAG")
    return M.shape[0]


def simulate_linear_sem(key: jax.Array, W: jax.typing.ArrayLike, n: int, sem_type: str = "gauss",
                        noise_scale: jax.typing.ArrayLike | None = None) -> jax.Array:
    """Samples ``X`` from the linear SEM ``X = X W + Z`` (or a logistic GLM).

    Args:
        key: a PRNG key.
        W: ``[d, d]`` weighted adjacency matrix of a DAG.
        n: number of samples.
        sem_type: noise ``Z`` per node: ``"gauss"`` ``N(0, s^2)``, ``"exp"`` exponential with
            mean ``s``, ``"gumbel"`` Gumbel(0, ``s``), ``"uniform"`` ``U(-s, s)``; or
            ``"logistic"``: ``X_j ~ Bernoulli(sigmoid(X W_j))``.
        noise_scale: ``s``, a scalar or one value per node (default 1). As in NOTEARS the
            data are not centred (exponential and Gumbel noise have non-zero mean).

    Returns:
        ``X`` of shape ``[n, d]`` in ``W``'s dtype.

    Example:
        >>> import jax, optlib.dag as dag
        >>> k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
        >>> W = dag.simulate_parameter(k2, dag.simulate_dag(k1, 5, 5))
        >>> dag.simulate_linear_sem(k3, W, 100, "gauss").shape
        (100, 5)
    """
    W = jnp.asarray(W)
    if not jnp.issubdtype(W.dtype, jnp.floating):
        W = W.astype(jnp.result_type(float))
    d = _check_square("W", W)
    if sem_type not in _LINEAR_SEMS:
        raise ValueError(f"sem_type must be one of {_LINEAR_SEMS}, got {sem_type!r}")
    n = int(n)
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    scale = _noise_scale(noise_scale, d, W.dtype)
    return _linear_sem(key, W, scale, n, sem_type)


@functools.partial(jax.jit, static_argnames=("n", "sem_type"))
def _linear_sem(key: jax.Array, W: jax.Array, scale: jax.Array, n: int, sem_type: str
                ) -> jax.Array:
    d = W.shape[0]
    shape = (n, d)
    if sem_type == "logistic":
        U = jax.random.uniform(key, shape, W.dtype)

        # X_j depends only on its ancestors, so d sweeps with the same uniforms reach
        # the ancestral sample exactly.
        def sweep(_: int, X: jax.Array) -> jax.Array:
            return (U < jax.nn.sigmoid(X @ W)).astype(W.dtype)

        return jax.lax.fori_loop(0, d, sweep, jnp.zeros(shape, W.dtype))
    if sem_type == "gauss":
        Z = scale[None, :] * jax.random.normal(key, shape, W.dtype)
    elif sem_type == "exp":
        Z = scale[None, :] * jax.random.exponential(key, shape, W.dtype)
    elif sem_type == "gumbel":
        Z = scale[None, :] * jax.random.gumbel(key, shape, W.dtype)
    else:
        Z = scale[None, :] * jax.random.uniform(key, shape, W.dtype, minval=-1.0, maxval=1.0)
    # X (I - W) = Z; I - W is invertible with unit determinant for a DAG.
    eye = jnp.eye(d, dtype=W.dtype)
    return jnp.linalg.solve((eye - W).T, Z.T).T


def _topological_positions(B: jax.Array) -> jax.Array:
    d = B.shape[0]
    Bf = (B != 0).astype(jnp.int32)

    def relax(_: int, depth: jax.Array) -> jax.Array:
        return jnp.max(Bf * (depth[:, None] + 1), axis=0)

    depth = jax.lax.fori_loop(0, d, relax, jnp.zeros((d,), jnp.int32))
    return jnp.argsort(depth, stable=True)


def simulate_nonlinear_sem(key: jax.Array, B: jax.typing.ArrayLike, n: int,
                           sem_type: str = "mlp",
                           noise_scale: jax.typing.ArrayLike | None = None,
                           hidden: int = 100, dtype: jnp.dtype | None = None) -> jax.Array:
    """Samples ``X`` from a nonlinear additive-noise SEM on the DAG ``B``.

    ``"mlp"`` (NOTEARS): ``x_j = sigmoid(X_pa W1_j) W2_j + z_j`` with ``W1_j`` of shape
    ``[|pa|, hidden]`` and ``W2_j`` of shape ``[hidden]``, all entries uniform on
    ``±[0.5, 2]``; root nodes are pure noise; ``z_j ~ N(0, s_j^2)``.

    Args:
        key: a PRNG key.
        B: ``[d, d]`` binary adjacency matrix of a DAG.
        n: number of samples.
        sem_type: ``"mlp"``.
        noise_scale: ``s``, a scalar or one value per node (default 1).
        hidden: hidden width of each node's network.
        dtype: floating dtype (default: JAX's default float).

    Returns:
        ``X`` of shape ``[n, d]``.

    Example:
        >>> import jax, optlib.dag as dag
        >>> B = dag.simulate_dag(jax.random.key(0), 4, 4)
        >>> dag.simulate_nonlinear_sem(jax.random.key(1), B, 50).shape
        (50, 4)
    """
    B = jnp.asarray(B)
    d = _check_square("B", B)
    if sem_type not in _NONLINEAR_SEMS:
        raise ValueError(f"sem_type must be one of {_NONLINEAR_SEMS}, got {sem_type!r}")
    dtype = dtype or jnp.result_type(float)
    n = int(n)
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    scale = _noise_scale(noise_scale, d, dtype)
    return _nonlinear_sem(key, B, scale, n, int(hidden), jnp.dtype(dtype))


@functools.partial(jax.jit, static_argnames=("n", "hidden", "dtype"))
def _nonlinear_sem(key: jax.Array, B: jax.Array, scale: jax.Array, n: int, hidden: int,
                   dtype: jnp.dtype) -> jax.Array:
    d = B.shape[0]
    k_z, k_1, k_2, k_s1, k_s2 = jax.random.split(key, 5)

    def signed_uniform(k_mag: jax.Array, k_sign: jax.Array, shape: tuple) -> jax.Array:
        mag = jax.random.uniform(k_mag, shape, dtype, minval=0.5, maxval=2.0)
        return jnp.where(jax.random.bernoulli(k_sign, 0.5, shape), mag, -mag)

    W1 = signed_uniform(k_1, k_s1, (d, d, hidden))  # [node j, input i, hidden]
    W2 = signed_uniform(k_2, k_s2, (d, hidden))
    Z = scale[None, :] * jax.random.normal(k_z, (n, d), dtype)
    Bf = (B != 0).astype(dtype)
    order = _topological_positions(B)

    def visit(X: jax.Array, j: jax.Array) -> tuple:
        mask = Bf[:, j]
        f = jax.nn.sigmoid((X * mask[None, :]) @ W1[j]) @ W2[j]
        x_j = jnp.where(jnp.any(mask > 0), f, 0.0) + Z[:, j]
        return X.at[:, j].set(x_j), None

    X, _ = jax.lax.scan(visit, jnp.zeros((n, d), dtype), order)
    return X
