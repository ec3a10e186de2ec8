"""Minimize a function with any optax transformation through :func:`optlib.run`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from optlib.core._base import solver_dataclass, static_field
from optlib.core._gradient_descent import GradientDescentInfo
from optlib.core._tree import cast_like, tree_norm

PyTree = Any


class OptaxSolverState(NamedTuple):
    """State of :class:`OptaxSolver`.

    Attributes:
        count: ``int32[]``, steps taken.
        opt_state: the optax transformation's state.
    """

    count: jax.Array
    opt_state: PyTree


@solver_dataclass
class OptaxSolver:
    """Minimizes ``fun(params, *args)`` with an optax transformation.

    ``optimizer`` is either a ready ``optax.GradientTransformation`` (its
    hyperparameters are then baked into the compiled program) or a factory such as
    ``optax.adam`` together with ``hyperparams={"learning_rate": 1e-3}``; in the
    factory form the hyperparameters are traced leaves, so sweeping them neither
    recompiles nor prevents ``vmap``/``grad``. Transformations that take extra
    arguments (``optax.lbfgs``, ``optax.polyak_sgd``) receive ``value``, ``grad`` and
    ``value_fn``.

    Args:
        fun: the objective ``fun(params, *args) -> scalar`` (static).
        optimizer: an ``optax.GradientTransformation`` or a factory returning one (static).
        hyperparams: keyword arguments for the factory (traced leaves).
        tol: stop when the gradient norm falls below ``tol`` (``0`` never stops early).
        stochastic: ``fun`` is called as ``fun(params, *args, key=key)`` with the step's key
            (minibatches, dropout); pass ``key=`` to :func:`optlib.run`. The stopping rule
            then sees the stochastic gradient's norm.

    Example:
        >>> import jax.numpy as jnp, optax, optlib
        >>> fun = lambda x: jnp.sum((x - 2.0) ** 2)
        >>> solver = optlib.OptaxSolver(fun, optax.adam, hyperparams={"learning_rate": 0.1})
        >>> result = optlib.run(solver, jnp.zeros(2), max_steps=2000)
        >>> result.params.round(3).tolist()
        [2.0, 2.0]
    """

    fun: Callable[..., jax.Array] = static_field()
    optimizer: optax.GradientTransformation | Callable[..., optax.GradientTransformation] = (
        static_field())
    hyperparams: Mapping[str, Any] | None = None
    tol: float = 1e-6
    stochastic: bool = static_field(default=False)

    def _transformation(self) -> optax.GradientTransformation:
        if isinstance(self.optimizer, optax.GradientTransformation):
            if self.hyperparams:
                raise ValueError("hyperparams are only used with an optimizer factory such as "
                                 "optax.adam; got a ready GradientTransformation")
            return self.optimizer
        if not callable(self.optimizer):
            raise TypeError(f"optimizer must be an optax.GradientTransformation or a factory, "
                            f"got {self.optimizer!r}")
        return self.optimizer(**(self.hyperparams or {}))

    def init(self, params: PyTree, *args: Any, key: jax.Array | None = None) -> OptaxSolverState:
        del args, key
        return OptaxSolverState(jnp.zeros((), jnp.int32), self._transformation().init(params))

    def step(self, params: PyTree, state: OptaxSolverState, *args: Any,
             key: jax.Array | None = None) -> tuple[PyTree, OptaxSolverState, GradientDescentInfo]:
        transformation = self._transformation()
        objective = self._objective(key)
        value, grads = jax.value_and_grad(objective)(params, *args)
        if isinstance(transformation, optax.GradientTransformationExtraArgs):
            updates, opt_state = transformation.update(
                grads, state.opt_state, params, value=value, grad=grads,
                value_fn=lambda p: objective(p, *args))
        else:
            updates, opt_state = transformation.update(grads, state.opt_state, params)
        params = optax.apply_updates(params, updates)
        return params, OptaxSolverState(state.count + 1, opt_state), GradientDescentInfo(
            value, tree_norm(grads))

    def terminate(self, params: PyTree, state: OptaxSolverState,
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
