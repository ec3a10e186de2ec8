"""Pieces shared by the bilevel solvers: optax plumbing, oracles, keys, info, checks."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from optlib.core._tree import cast_like, first_leaf_dtype, tree_norm

PyTree = Any
Optimizer = optax.GradientTransformation | Callable[..., optax.GradientTransformation]


class BilevelInfo(NamedTuple):
    """What every bilevel solver reports per step.

    Attributes:
        outer_value: the upper-level objective at the new iterate's batch (``f(x, y)``).
        hypergrad_norm: norm of the hypergradient estimate used for the ``x`` update.
        inner_grad_norm: norm of ``grad_y g`` at the lower-level iterate.
    """

    outer_value: jax.Array
    hypergrad_norm: jax.Array
    inner_grad_norm: jax.Array


def make_transformation(optimizer: Optimizer, hyperparams: Mapping[str, Any] | None,
                        like: PyTree, name: str) -> optax.GradientTransformation:
    """Builds the optax transformation; traced hyperparameters are cast to ``like``'s dtype."""
    if isinstance(optimizer, optax.GradientTransformation):
        if hyperparams:
            raise ValueError(f"{name}_hyperparams are only used with an optimizer factory such "
                             f"as optax.sgd; got a ready GradientTransformation for {name}")
        return optimizer
    if not callable(optimizer):
        raise ValueError(f"{name}_optimizer must be an optax.GradientTransformation or a "
                         f"factory, got {optimizer!r}")
    dtype = first_leaf_dtype(like)
    hp = {k: (jnp.asarray(v, dtype) if not callable(v) else v)
          for k, v in (hyperparams or {}).items()}
    return optimizer(**hp)


def apply(tx: optax.GradientTransformation, grads: PyTree, opt_state: PyTree, params: PyTree,
          project: Callable[[PyTree], PyTree]) -> tuple[PyTree, PyTree]:
    """One optax step followed by a projection."""
    updates, opt_state = tx.update(grads, opt_state, params)
    return project(optax.apply_updates(params, updates)), opt_state


def split_keys(key: jax.Array | None, num: int) -> list[jax.Array | None]:
    if key is None:
        return [None] * num
    return list(jax.random.split(key, num))


def scalar(value: Any, like: PyTree) -> jax.Array:
    """Casts a traced hyperparameter to the dtype of the first leaf of ``like``."""
    leaves = [leaf for leaf in jax.tree.leaves(like)
              if jnp.issubdtype(jnp.result_type(leaf), jnp.inexact)]
    if leaves:
        return cast_like(value, leaves[0])
    return jnp.asarray(value, first_leaf_dtype(like))


def tree_scale(alpha: jax.Array, tree: PyTree) -> PyTree:
    return jax.tree.map(lambda t: jnp.asarray(alpha, t.dtype) * t, tree)


def tree_sub(a: PyTree, b: PyTree) -> PyTree:
    return jax.tree.map(jnp.subtract, a, b)


def tree_add(a: PyTree, b: PyTree) -> PyTree:
    return jax.tree.map(jnp.add, a, b)


def inverse_power_sgd(learning_rate: jax.typing.ArrayLike,
                      power: jax.typing.ArrayLike = 0.5) -> optax.GradientTransformation:
    """SGD with step ``learning_rate / (t + 1) ** power`` (the benchopt bilevel schedule).

    Both arguments may be traced (sweeping them does not recompile).

    Args:
        learning_rate: the initial step.
        power: the decay exponent (``0`` is a constant step).

    Returns:
        An ``optax.GradientTransformation``.

    Example:
        >>> import jax.numpy as jnp
        >>> from optlib.bilevel import inverse_power_sgd
        >>> tx = inverse_power_sgd(1.0, power=1.0)
        >>> state = tx.init(jnp.zeros(1))
        >>> u, state = tx.update(jnp.ones(1), state)
        >>> u, state = tx.update(jnp.ones(1), state)
        >>> float(u[0])  # second step: -1 / 2
        -0.5
    """
    return optax.sgd(lambda t: learning_rate / (t + 1.0) ** power)


class NormalizedMomentumState(NamedTuple):
    """State of :func:`normalized_momentum`.

    Attributes:
        count: ``int32[]`` steps taken.
        momentum: the exponential moving average of the gradients.
    """

    count: jax.Array
    momentum: PyTree


def normalized_momentum(learning_rate: optax.ScalarOrSchedule, beta: jax.typing.ArrayLike = 0.9,
                        eps: float = 1e-10) -> optax.GradientTransformation:
    """Normalized momentum ``m <- beta m + (1 - beta) g``, ``x <- x - lr m / ||m||``.

    The step moves ``x`` by exactly ``lr`` (in the norm of the whole pytree), which is
    what makes BO-REP robust to unbounded smoothness (Hao, Gong & Liu, ICLR 2024).

    Args:
        learning_rate: step length, a scalar or an ``optax.Schedule`` of the step count.
        beta: momentum factor.
        eps: added to the norm (as ``1e-10`` in the authors' code).

    Returns:
        An ``optax.GradientTransformation``.

    Example:
        >>> import jax.numpy as jnp
        >>> from optlib.bilevel import normalized_momentum
        >>> tx = normalized_momentum(0.5, beta=0.0)
        >>> u, _ = tx.update(jnp.array([3.0, 4.0]), tx.init(jnp.zeros(2)))
        >>> u.round(6).tolist()
        [-0.3, -0.4]
    """

    def init(params: PyTree) -> NormalizedMomentumState:
        return NormalizedMomentumState(jnp.zeros((), jnp.int32),
                                       jax.tree.map(jnp.zeros_like, params))

    def update(updates: PyTree, state: NormalizedMomentumState,
               params: PyTree = None) -> tuple[PyTree, NormalizedMomentumState]:
        del params
        b = scalar(beta, updates)
        m = jax.tree.map(lambda mi, gi: b * mi + (1 - b) * gi, state.momentum, updates)
        lr = learning_rate(state.count) if callable(learning_rate) else learning_rate
        scale = -scalar(lr, updates) / (tree_norm(m) + scalar(eps, updates))
        return tree_scale(scale, m), NormalizedMomentumState(state.count + 1, m)

    return optax.GradientTransformation(init, update)


def check_positive(name: str, value: Any) -> None:
    """``ValueError`` when a concrete hyperparameter is not positive (tracers pass)."""
    for leaf in jax.tree.leaves(value):
        if isinstance(leaf, jax.core.Tracer):
            continue
        arr = np.asarray(leaf)
        if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
            raise ValueError(f"{name} must be positive and finite, got {value!r}")


def check_int(name: str, value: Any, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


def check_pair(problem: Any, params: PyTree, inner_data: PyTree, outer_data: PyTree,
               key: jax.Array | None) -> tuple[PyTree, PyTree]:
    """Validates ``params``/data once, at ``init`` (before the loop is traced)."""
    problem.check(params, inner_data, outer_data)
    if problem.stochastic and key is None:
        raise ValueError("this BilevelProblem draws minibatches: pass key= to optlib.run")
    x, y = params
    return x, y


def grad_norm(tree: PyTree) -> jax.Array:
    return tree_norm(tree)


def learning_rate(value: float) -> Any:
    """A dataclass field whose default is ``{"learning_rate": value}`` (traced)."""
    import dataclasses

    return dataclasses.field(default_factory=lambda: {"learning_rate": value})


def terminate(info: BilevelInfo, tol: Any) -> tuple[jax.Array, jax.Array]:
    """Stops on a small hypergradient (SUCCESS) or on non-finite reports (NONFINITE).

    Non-finite data can leave the iterate finite (the loop freezes it) while the
    oracles return NaN; this turns that into a status instead of a false success.
    """
    from optlib.core._status import Status

    finite = jnp.isfinite(info.outer_value) & jnp.isfinite(info.hypergrad_norm) & jnp.isfinite(
        info.inner_grad_norm)
    done = (info.hypergrad_norm < scalar(tol, info.hypergrad_norm)) | ~finite
    status = jnp.where(finite, Status.SUCCESS.as_array(), Status.NONFINITE.as_array())
    return done, status
