"""Plain gradient descent, the simplest solver of the protocol."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optlib.core._base import solver_dataclass, static_field
from optlib.core._tree import cast_like, tree_norm

PyTree = Any


class GradientDescentState(NamedTuple):
    """State of :class:`GradientDescent`.

    Attributes:
        count: ``int32[]``, steps taken.
    """

    count: jax.Array


class GradientDescentInfo(NamedTuple):
    """Per-step info of :class:`GradientDescent` (and :class:`OptaxSolver`).

    Attributes:
        value: objective at the parameters *before* the step.
        grad_norm: Euclidean norm of the gradient there.
    """

    value: jax.Array
    grad_norm: jax.Array


@solver_dataclass
class GradientDescent:
    """Gradient descent ``x <- x - learning_rate * grad f(x, *args)``.

    Stops when the gradient norm falls below ``tol``.

    Args:
        fun: the objective ``fun(params, *args) -> scalar`` (static).
        learning_rate: step size (a traced hyperparameter).
        tol: tolerance on the gradient norm (a traced hyperparameter).
        stochastic: ``fun`` is called as ``fun(params, *args, key=key)`` with the step's key
            (minibatches, dropout); pass ``key=`` to :func:`optlib.run`. The stopping rule
            then sees the stochastic gradient's norm.

    Example:
        >>> import jax.numpy as jnp, optlib
        >>> solver = optlib.GradientDescent(lambda x: jnp.sum((x - 1.0) ** 2), learning_rate=0.1)
        >>> optlib.run(solver, jnp.zeros(3), max_steps=1000).params.round(4).tolist()
        [1.0, 1.0, 1.0]
    """

    fun: Callable[..., jax.Array] = static_field()
    learning_rate: float = 1e-2
    tol: float = 1e-6
    stochastic: bool = static_field(default=False)

    def init(self, params: PyTree, *args: Any,
             key: jax.Array | None = None) -> GradientDescentState:
        del params, args, key
        return GradientDescentState(count=jnp.zeros((), jnp.int32))

    def step(self, params: PyTree, state: GradientDescentState, *args: Any,
             key: jax.Array | None = None
             ) -> tuple[PyTree, GradientDescentState, GradientDescentInfo]:
        value, grads = jax.value_and_grad(self._objective(key))(params, *args)
        params = jax.tree.map(lambda p, g: p - cast_like(self.learning_rate, p) * g, params, grads)
        return params, GradientDescentState(state.count + 1), GradientDescentInfo(
            value, tree_norm(grads))

    def terminate(self, params: PyTree, state: GradientDescentState,
                  info: GradientDescentInfo) -> jax.Array:
        del params, state
        return info.grad_norm < cast_like(self.tol, info.grad_norm)

    def _objective(self, key: jax.Array | None) -> Callable[..., jax.Array]:
        if not self.stochastic:
            return self.fun
        if key is None:
            raise ValueError(f"{type(self).__name__}(stochastic=True) needs a PRNG key: "
                             "pass key= to optlib.run")
        return lambda params, *args: self.fun(params, *args, key=key)

    def optimality_fn(self, params: PyTree, *args: Any) -> PyTree:
        """The gradient of ``fun``, zero at a stationary point (for implicit differentiation)."""
        if self.stochastic:
            raise ValueError("implicit differentiation needs a deterministic objective; "
                             f"this {type(self).__name__} has stochastic=True")
        return jax.grad(self.fun)(params, *args)
