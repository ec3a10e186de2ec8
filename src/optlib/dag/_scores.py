"""Scores of a weighted adjacency matrix, and per-node models for TopoSwap's iterative engine.

Every score here is separable over the columns of ``W`` (one term per node), which is what
lets TopoSwap refit only the nodes a swap touches.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from optlib.core._linalg import unbatched_on_cpu

PyTree = Any


def _residual(W: jax.Array, X: jax.Array) -> jax.Array:
    return X - X @ W


def least_squares(W: jax.typing.ArrayLike, X: jax.typing.ArrayLike) -> jax.Array:
    """Least-squares score ``1/(2n) ||X - X W||_F^2`` (NOTEARS ``loss_type='l2'``).

    Example:
        >>> import jax.numpy as jnp, optlib.dag as dag
        >>> float(dag.least_squares(jnp.zeros((2, 2)), jnp.array([[1.0, 2.0], [3.0, 4.0]])))
        7.5
    """
    W, X = jnp.asarray(W), jnp.asarray(X)
    return 0.5 / X.shape[0] * jnp.sum(_residual(W, X) ** 2)


def l1_least_squares(W: jax.typing.ArrayLike, X: jax.typing.ArrayLike,
                     lambda1: jax.typing.ArrayLike) -> jax.Array:
    """L1-penalized least squares ``1/(2n) ||X - X W||_F^2 + lambda1 ||W||_1``.

    Example:
        >>> import jax.numpy as jnp, optlib.dag as dag
        >>> X = jnp.array([[1.0, 2.0], [3.0, 4.0]])
        >>> float(dag.l1_least_squares(jnp.zeros((2, 2)), X, 0.1))
        7.5
    """
    W = jnp.asarray(W)
    return least_squares(W, X) + jnp.asarray(lambda1, W.dtype) * jnp.sum(jnp.abs(W))


def gaussian_nv_likelihood(W: jax.typing.ArrayLike, X: jax.typing.ArrayLike) -> jax.Array:
    """Gaussian negative log-likelihood with one noise variance per node, profiled out.

    ``1/2 sum_j log(||X_j - X W_j||^2 / n) - log|det(I - W)|`` (per sample, constants
    dropped; the determinant term is zero for a DAG). This is GOLEM-NV's likelihood without
    its penalties; it is scale invariant per node, unlike least squares.

    Example:
        >>> import jax.numpy as jnp, optlib.dag as dag
        >>> X = jnp.array([[1.0, 2.0], [-1.0, -2.0]])
        >>> round(float(dag.gaussian_nv_likelihood(jnp.zeros((2, 2)), X)), 6)
        0.693147

    References:
        Ng, Ghassami & Zhang, "On the role of sparsity and DAG constraints for learning
        linear DAGs" (GOLEM), NeurIPS 2020.
    """
    W, X = jnp.asarray(W), jnp.asarray(X)
    d = W.shape[0]
    rss = jnp.sum(_residual(W, X) ** 2, axis=0) / X.shape[0]
    _, logdet = jnp.linalg.slogdet(jnp.eye(d, dtype=W.dtype) - W)
    return 0.5 * jnp.sum(jnp.log(rss)) - logdet


def logistic_loss(W: jax.typing.ArrayLike, X: jax.typing.ArrayLike,
                  lambda1: jax.typing.ArrayLike = 0.0) -> jax.Array:
    """Logistic score for binary data ``1/n sum(log(1 + e^{XW}) - X * XW) + lambda1 ||W||_1``.

    Example:
        >>> import jax.numpy as jnp, optlib.dag as dag
        >>> round(float(dag.logistic_loss(jnp.zeros((2, 2)), jnp.ones((3, 2)))), 6)
        1.386294
    """
    W, X = jnp.asarray(W), jnp.asarray(X)
    M = X @ W
    value = jnp.sum(jax.nn.softplus(M) - X * M) / X.shape[0]
    return value + jnp.asarray(lambda1, W.dtype) * jnp.sum(jnp.abs(W))


# --------------------------------------------------------------------------------------
# Per-node models: one regression per node, restricted to a mask of allowed parents.
# --------------------------------------------------------------------------------------


# per-node fits are vmapped over nodes: keep the LAPACK solve unbatched on CPU (deadlock)
_solve = unbatched_on_cpu(jnp.linalg.solve)

class NodeData(NamedTuple):
    """Data statistics shared by all per-node fits.

    Attributes:
        X: ``[n, d]`` data (centred when the model centres).
        gram: ``X^T X / n``.
        lipschitz: an upper bound on the largest eigenvalue of ``gram``.
    """

    X: jax.Array
    gram: jax.Array
    lipschitz: jax.Array


def _prepare(X: jax.Array, center: bool) -> NodeData:
    if center:
        X = X - jnp.mean(X, axis=0, keepdims=True)
    gram = X.T @ X / X.shape[0]
    return NodeData(X, gram, jnp.linalg.eigvalsh(gram)[-1])


def _soft_threshold(w: jax.Array, t: jax.Array) -> jax.Array:
    return jnp.sign(w) * jnp.maximum(jnp.abs(w) - t, 0.0)


def _fista(grad_fn: Any, w0: jax.Array, mask: jax.Array, step: jax.Array, l1: jax.Array,
           steps: int) -> jax.Array:
    # Accelerated proximal gradient with a fixed step 1/L; masked entries stay zero.
    def body(_: int, carry: tuple) -> tuple:
        w, z, t = carry
        w_new = mask * _soft_threshold(z - step * grad_fn(z), step * l1)
        t_new = 0.5 * (1.0 + jnp.sqrt(1.0 + 4.0 * t * t))
        z_new = w_new + ((t - 1.0) / t_new) * (w_new - w)
        return w_new, z_new, t_new

    w0 = mask * w0
    one = jnp.ones((), w0.dtype)
    w, _, _ = jax.lax.fori_loop(0, steps, body, (w0, w0, one))
    return w


@dataclasses.dataclass(frozen=True)
class LeastSquaresNode:
    """Ordinary least squares per node, solved exactly (a masked linear solve of the Gram).

    Node ``j``'s term is ``1/(2n) ||X_j - X w||^2``. Used by :class:`TopoSwap` when edge
    masks rule out the Cholesky engine.

    Args:
        center: centre the columns of ``X`` first.
    """

    center: bool = True

    def prepare(self, X: jax.Array) -> NodeData:
        return _prepare(X, self.center)

    def init_params(self, key: jax.Array, d: int, dtype: jnp.dtype) -> jax.Array:
        return jnp.zeros((d,), dtype)

    def loss(self, w: jax.Array, mask: jax.Array, j: jax.Array, data: NodeData) -> jax.Array:
        w = mask * w
        G = data.gram
        return 0.5 * (G[j, j] - 2.0 * w @ G[:, j] + w @ G @ w)

    def fit(self, w: jax.Array, mask: jax.Array, j: jax.Array, data: NodeData) -> jax.Array:
        del w
        G = data.gram
        A = G * mask[:, None] * mask[None, :] + jnp.diag(1.0 - mask)
        return mask * _solve(A, mask * G[:, j])

    def weights(self, w: jax.Array, mask: jax.Array) -> jax.Array:
        return mask * w


@dataclasses.dataclass(frozen=True)
class L1LeastSquaresNode:
    """Lasso per node: ``1/(2n) ||X_j - X w||^2 + lambda1 ||w||_1`` (FISTA on the Gram).

    Args:
        lambda1: L1 weight.
        steps: FISTA iterations per fit (warm-started from the current weights).
        center: centre the columns of ``X`` first.
    """

    lambda1: float = 0.05
    steps: int = 200
    center: bool = True

    def prepare(self, X: jax.Array) -> NodeData:
        return _prepare(X, self.center)

    def init_params(self, key: jax.Array, d: int, dtype: jnp.dtype) -> jax.Array:
        return jnp.zeros((d,), dtype)

    def loss(self, w: jax.Array, mask: jax.Array, j: jax.Array, data: NodeData) -> jax.Array:
        w = mask * w
        G = data.gram
        l1 = jnp.asarray(self.lambda1, w.dtype)
        return 0.5 * (G[j, j] - 2.0 * w @ G[:, j] + w @ G @ w) + l1 * jnp.sum(jnp.abs(w))

    def fit(self, w: jax.Array, mask: jax.Array, j: jax.Array, data: NodeData) -> jax.Array:
        G = data.gram
        step = 1.0 / data.lipschitz
        return _fista(lambda v: G @ v - G[:, j], w, mask, step,
                      jnp.asarray(self.lambda1, w.dtype), self.steps)

    def weights(self, w: jax.Array, mask: jax.Array) -> jax.Array:
        return mask * w


@dataclasses.dataclass(frozen=True)
class LogisticNode:
    """L1-penalized logistic regression per node for binary data (FISTA, no intercept).

    Node ``j``'s term is ``1/n sum(log(1 + e^{X w}) - X_j * X w) + lambda1 ||w||_1``, the
    logistic variant of TOPO's linear code (there with scikit-learn's liblinear, ``C = 0.1``).

    Args:
        lambda1: L1 weight.
        steps: FISTA iterations per fit.
    """

    lambda1: float = 0.01
    steps: int = 200

    def prepare(self, X: jax.Array) -> NodeData:
        return _prepare(X, False)

    def init_params(self, key: jax.Array, d: int, dtype: jnp.dtype) -> jax.Array:
        return jnp.zeros((d,), dtype)

    def loss(self, w: jax.Array, mask: jax.Array, j: jax.Array, data: NodeData) -> jax.Array:
        w = mask * w
        m = data.X @ w
        l1 = jnp.asarray(self.lambda1, w.dtype)
        return jnp.mean(jax.nn.softplus(m) - data.X[:, j] * m) + l1 * jnp.sum(jnp.abs(w))

    def fit(self, w: jax.Array, mask: jax.Array, j: jax.Array, data: NodeData) -> jax.Array:
        X, n = data.X, data.X.shape[0]

        def grad(v: jax.Array) -> jax.Array:
            return X.T @ (jax.nn.sigmoid(X @ v) - X[:, j]) / n

        step = 4.0 / data.lipschitz
        return _fista(grad, w, mask, step, jnp.asarray(self.lambda1, w.dtype), self.steps)

    def weights(self, w: jax.Array, mask: jax.Array) -> jax.Array:
        return mask * w


class MLPParams(NamedTuple):
    """One node's network: ``x_j ~ sigmoid(X W1 + b1) w2 + b2``."""

    W1: jax.Array
    b1: jax.Array
    w2: jax.Array
    b2: jax.Array


@dataclasses.dataclass(frozen=True)
class MLPNode:
    """A one-hidden-layer sigmoid MLP per node (nonlinear TOPO / NOTEARS-MLP style).

    Node ``j``'s term is ``1/(2n) ||X_j - f_j(X)||^2 + lambda1 ||W1||_1 +
    lambda2/2 (||W1||^2 + ||w2||^2)``; the strength of edge ``i -> j`` is the Euclidean
    norm of row ``i`` of ``W1``. Fitted with Adam for a fixed number of steps.

    Args:
        hidden: hidden width.
        lambda1: L1 weight on the first layer.
        lambda2: L2 weight on all weights.
        steps: Adam steps per fit (warm-started).
        learning_rate: Adam step size.
    """

    hidden: int = 10
    lambda1: float = 0.01
    lambda2: float = 0.01
    steps: int = 300
    learning_rate: float = 0.05

    def prepare(self, X: jax.Array) -> NodeData:
        return _prepare(X, False)

    def init_params(self, key: jax.Array, d: int, dtype: jnp.dtype) -> MLPParams:
        k1, k2 = jax.random.split(key)
        return MLPParams(
            W1=jax.random.normal(k1, (d, self.hidden), dtype) / jnp.sqrt(d).astype(dtype),
            b1=jnp.zeros((self.hidden,), dtype),
            w2=jax.random.normal(k2, (self.hidden,), dtype) / jnp.sqrt(self.hidden).astype(dtype),
            b2=jnp.zeros((), dtype),
        )

    def predict(self, p: MLPParams, mask: jax.Array, X: jax.Array) -> jax.Array:
        return jax.nn.sigmoid(X @ (mask[:, None] * p.W1) + p.b1[None, :]) @ p.w2 + p.b2

    def loss(self, p: MLPParams, mask: jax.Array, j: jax.Array, data: NodeData) -> jax.Array:
        r = data.X[:, j] - self.predict(p, mask, data.X)
        W1 = mask[:, None] * p.W1
        dt = r.dtype
        return (0.5 * jnp.mean(r * r) + jnp.asarray(self.lambda1, dt) * jnp.sum(jnp.abs(W1))
                + 0.5 * jnp.asarray(self.lambda2, dt) * (jnp.sum(W1 * W1) + jnp.sum(p.w2**2)))

    def fit(self, p: MLPParams, mask: jax.Array, j: jax.Array, data: NodeData) -> MLPParams:
        opt = optax.adam(self.learning_rate)
        grad = jax.grad(self.loss)

        def body(_: int, carry: tuple) -> tuple:
            p, s = carry
            updates, s = opt.update(grad(p, mask, j, data), s, p)
            return optax.apply_updates(p, updates), s

        p, _ = jax.lax.fori_loop(0, self.steps, body, (p, opt.init(p)))
        return p

    def weights(self, p: MLPParams, mask: jax.Array) -> jax.Array:
        return mask * jnp.sqrt(jnp.sum(p.W1**2, axis=1))
