"""Data-driven bilevel problems: ijcnn1 per-feature regularization and digits hyper-cleaning."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from optlib.bilevel._problem import BilevelProblem

PyTree = Any


class DataProblem(NamedTuple):
    """A bilevel problem built on a shipped data set.

    Attributes:
        problem: the :class:`BilevelProblem`.
        x0: starting outer variable.
        y0: starting inner variable.
        inner_data: training data for ``g``.
        outer_data: validation data for ``f``.
        test_data: held-out data for reporting.
        extra: problem-specific arrays (for hyper-cleaning, the corruption mask).
    """

    problem: BilevelProblem
    x0: PyTree
    y0: PyTree
    inner_data: PyTree
    outer_data: PyTree
    test_data: PyTree
    extra: dict


def _logistic(w: jax.Array, X: jax.Array, t: jax.Array) -> jax.Array:
    return jnp.mean(jnp.logaddexp(0.0, -t * (X @ w)))


def _ijcnn1_inner(x: jax.Array, w: jax.Array, data: tuple) -> jax.Array:
    X, t = data
    return _logistic(w, X, t) + 0.5 * jnp.sum(jnp.exp(x) * w**2)


def _ijcnn1_outer(x: jax.Array, w: jax.Array, data: tuple) -> jax.Array:
    X, t = data
    return _logistic(w, X, t)


def ijcnn1_regularization(key: jax.Array | None = None, num_train: int | None = None,
                          inner_batch_size: int | None = None,
                          outer_batch_size: int | None = None,
                          dtype: Any = None) -> DataProblem:
    """Per-feature L2 regularization of logistic regression on ijcnn1 (benchopt's problem).

    ``g(x, w) = mean log(1 + exp(-t Xw)) + 1/2 sum_j exp(x_j) w_j^2`` on the training file
    and ``f(x, w)`` the logistic loss on the first 10,000 shipped test rows (validation);
    the other 10,000 are ``test_data``. ``x`` has 22 entries (log regularization weights).
    Starts as in benchopt: ``x0 = log U(0, 1)``, ``w0 ~ N(0, 1)`` (from ``key``).

    Args:
        key: PRNG key for the start (default ``key(0)``).
        num_train: use only the first ``num_train`` training rows (``None``: all 49,990).
        inner_batch_size: minibatch size for ``g`` (``None``: full batch).
        outer_batch_size: minibatch size for ``f``.
        dtype: floating dtype of the data.

    Returns:
        A :class:`DataProblem`.
    """
    from optlib.datasets import load_ijcnn1

    dt = dtype or jnp.zeros(()).dtype
    data = load_ijcnn1()
    n = data.X_train.shape[0] if num_train is None else int(num_train)
    train = (jnp.asarray(data.X_train[:n], dt), jnp.asarray(data.y_train[:n], dt))
    val = (jnp.asarray(data.X_test[:10000], dt), jnp.asarray(data.y_test[:10000], dt))
    test = (jnp.asarray(data.X_test[10000:], dt), jnp.asarray(data.y_test[10000:], dt))
    k1, k2 = jax.random.split(jax.random.key(0) if key is None else key)
    x0 = jnp.log(jax.random.uniform(k1, (22,), dt, minval=1e-3, maxval=1.0))
    w0 = jax.random.normal(k2, (22,), dt)
    problem = BilevelProblem(_ijcnn1_outer, _ijcnn1_inner, inner_batch_size=inner_batch_size,
                             outer_batch_size=outer_batch_size)
    return DataProblem(problem, x0, w0, train, val, test, {})


def _cross_entropy(W: dict, X: jax.Array, labels: jax.Array) -> jax.Array:
    logits = X @ W["w"] + W["b"][None, :]
    return -jnp.take_along_axis(jax.nn.log_softmax(logits), labels[:, None], axis=1)[:, 0]


def hyper_cleaning(key: jax.Array | None = None, corruption: float = 0.5,
                   num_train: int = 900, num_val: int = 300, reg: float = 1e-3,
                   dtype: Any = None) -> DataProblem:
    """Data hyper-cleaning on the 8x8 digits: learn per-sample weights of a noisy training set.

    The first ``num_train`` shuffled digits form the training set; a fixed fraction
    ``corruption`` of them get a uniformly random *wrong* label (the mask is in
    ``extra["corrupted"]``). ``g(x, W) = mean_i sigmoid(x_i) CE_i(W) + reg ||W||^2`` for
    a linear softmax model and ``f`` is the clean validation cross-entropy (as in the
    benchopt MNIST problem). ``x0 = 0`` (all weights 1/2). ``x`` is indexed by training
    row, so this problem is full batch.

    Args:
        key: PRNG key for the split and the corruption (default ``key(0)``).
        corruption: fraction of corrupted training labels.
        num_train: training size.
        num_val: validation size (the remaining digits are the test set).
        reg: L2 regularization of the model.
        dtype: floating dtype.

    Returns:
        A :class:`DataProblem` whose ``extra`` holds ``corrupted`` (bool mask) and
        ``clean_labels``.
    """
    from optlib.datasets import load_digits

    dt = dtype or jnp.zeros(()).dtype
    X, y = load_digits()
    k_perm, k_mask, k_label = jax.random.split(jax.random.key(0) if key is None else key, 3)
    perm = np.asarray(jax.random.permutation(k_perm, X.shape[0]))
    X = X[perm] / 16.0
    y = y[perm]
    tr, va = slice(0, num_train), slice(num_train, num_train + num_val)
    te = slice(num_train + num_val, None)
    n_bad = int(round(corruption * num_train))
    bad = np.zeros(num_train, bool)
    bad[np.asarray(jax.random.permutation(k_mask, num_train))[:n_bad]] = True
    shift = np.asarray(jax.random.randint(k_label, (num_train,), 1, 10))
    noisy = np.where(bad, (y[tr] + shift) % 10, y[tr])

    def inner(x: jax.Array, W: dict, data: tuple) -> jax.Array:
        Xb, lb = data
        losses = _cross_entropy(W, Xb, lb)
        return (jnp.mean(jax.nn.sigmoid(x) * losses)
                + reg * (jnp.sum(W["w"] ** 2) + jnp.sum(W["b"] ** 2)))

    def outer(x: jax.Array, W: dict, data: tuple) -> jax.Array:
        Xb, lb = data
        return jnp.mean(_cross_entropy(W, Xb, lb))

    as_data = lambda s, labels: (jnp.asarray(X[s], dt), jnp.asarray(labels, jnp.int32))  # noqa: E731
    W0 = {"w": jnp.zeros((X.shape[1], 10), dt), "b": jnp.zeros(10, dt)}
    return DataProblem(BilevelProblem(outer, inner), jnp.zeros(num_train, dt), W0,
                       as_data(tr, noisy), as_data(va, y[va]), as_data(te, y[te]),
                       {"corrupted": bad, "clean_labels": y[tr]})
