"""Acyclicity functions h(W) (zero exactly on DAGs) and TOPO's ranking gradient."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _square(W: jax.typing.ArrayLike) -> jax.Array:
    W = jnp.asarray(W)
    if W.ndim != 2 or W.shape[0] != W.shape[1]:
        raise ValueError(f"W must be a square [d, d] matrix, got shape {W.shape}")
    return W


def h_expm(W: jax.typing.ArrayLike) -> jax.Array:
    """NOTEARS trace exponential: ``h(W) = tr(exp(W * W)) - d``.

    Example:
        >>> import jax.numpy as jnp, optlib.dag as dag
        >>> float(dag.h_expm(jnp.array([[0.0, 1.0], [0.0, 0.0]])))
        0.0

    References:
        Zheng et al., "DAGs with NO TEARS", NeurIPS 2018.
    """
    W = _square(W)
    return jnp.trace(jax.scipy.linalg.expm(W * W)) - W.shape[0]


def h_poly(W: jax.typing.ArrayLike) -> jax.Array:
    """Polynomial acyclicity: ``h(W) = tr((I + W * W / d)^d) - d``.

    Example:
        >>> import jax.numpy as jnp, optlib.dag as dag
        >>> round(float(dag.h_poly(jnp.array([[0.0, 1.0], [1.0, 0.0]]))), 6)
        0.5

    References:
        Yu, Chen, Gao & Yu, "DAG-GNN", ICML 2019.
    """
    W = _square(W)
    d = W.shape[0]
    M = jnp.eye(d, dtype=W.dtype) + W * W / d
    return jnp.trace(jnp.linalg.matrix_power(M, d)) - d


def h_logdet(W: jax.typing.ArrayLike, s: float = 1.0) -> jax.Array:
    """DAGMA log-determinant: ``h(W) = -log det(s I - W * W) + d log s``.

    Valid on the domain where ``s I - W * W`` is an M-matrix (spectral radius of ``W * W``
    below ``s``); returns ``nan`` where the determinant is not positive.

    Example:
        >>> import jax.numpy as jnp, optlib.dag as dag
        >>> float(dag.h_logdet(jnp.array([[0.0, 0.5], [0.0, 0.0]])))
        0.0

    References:
        Bello, Aragam & Ravikumar, "DAGMA", NeurIPS 2022.
    """
    W = _square(W)
    d = W.shape[0]
    s = jnp.asarray(s, W.dtype)
    sign, logdet = jnp.linalg.slogdet(s * jnp.eye(d, dtype=W.dtype) - W * W)
    return jnp.where(sign > 0, -logdet + d * jnp.log(s), jnp.nan)


def topo_gradient(W: jax.typing.ArrayLike, kind: str = "logdet") -> jax.Array:
    """Gradient of an acyclicity function with respect to ``A = |W|``, as TOPO ranks swaps.

    ``[grad]_{ij} > 0`` exactly when there is a directed path ``j -> ... -> i`` (adding
    ``i -> j`` would close a cycle); small values mark cheap swaps.

    Args:
        W: ``[d, d]`` weights of a DAG.
        kind: ``"logdet"`` (``(I - A)^{-T}``, TOPO's default), ``"expm"`` (``exp(A)^T``) or
            ``"poly"`` (``((I + A/d)^{d-1})^T``).

    Returns:
        The ``[d, d]`` gradient.

    Example:
        >>> import jax.numpy as jnp, optlib.dag as dag
        >>> dag.topo_gradient(jnp.array([[0.0, 0.5], [0.0, 0.0]])).tolist()
        [[1.0, 0.0], [0.5, 1.0]]
    """
    A = jnp.abs(_square(W))
    d = A.shape[0]
    eye = jnp.eye(d, dtype=A.dtype)
    if kind == "logdet":
        return jnp.linalg.inv(eye - A).T
    if kind == "expm":
        return jax.scipy.linalg.expm(A).T
    if kind == "poly":
        return jnp.linalg.matrix_power(eye + A / d, d - 1).T
    raise ValueError(f"kind must be 'logdet', 'expm' or 'poly', got {kind!r}")
