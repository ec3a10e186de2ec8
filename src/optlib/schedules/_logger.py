"""An optax transformation that records the l2 and l1 norms of every update it sees."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax


class GradNormLoggerState(NamedTuple):
    """State of :func:`grad_norm_logger`.

    Attributes:
        count: ``int32[]``, updates seen so far.
        l2: ``(num_steps,)`` l2 norms (zeros where not yet written).
        l1: ``(num_steps,)`` l1 norms.
    """

    count: jax.Array
    l2: jax.Array
    l1: jax.Array


def grad_norm_logger(num_steps: int) -> optax.GradientTransformation:
    """Records the l2 and l1 norms of the incoming updates; passes them on unchanged.

    Put it first in an ``optax.chain`` to log the raw gradients (before clipping or
    Adam's scaling), which is what :func:`refine` expects: ``l2`` for SGD, ``l1`` for Adam.
    The norms go into preallocated ``(num_steps,)`` arrays in the state, indexed by the
    update count, with no host call, so it works inside jit, scan and vmap; updates past
    ``num_steps`` are not recorded. The cost is two reductions over the gradient.

    Args:
        num_steps: how many updates to record (static: sets the state's shape).

    Returns:
        An ``optax.GradientTransformation`` whose state is a :class:`GradNormLoggerState`.

    Raises:
        ValueError: for ``num_steps < 1``.

    Example:
        >>> import jax.numpy as jnp, optax
        >>> from optlib.schedules import grad_norm_logger, logged_grad_norms
        >>> opt = optax.chain(grad_norm_logger(3), optax.sgd(0.1))
        >>> state = opt.init(jnp.zeros(2))
        >>> _, state = opt.update(jnp.array([3.0, -4.0]), state)
        >>> logged = logged_grad_norms(state)
        >>> logged.l2.tolist(), logged.l1.tolist()
        ([5.0, 0.0, 0.0], [7.0, 0.0, 0.0])
    """
    if isinstance(num_steps, bool) or not isinstance(num_steps, (int, np.integer)) \
            or num_steps < 1:
        raise ValueError(f"num_steps must be a positive int, got {num_steps!r}")

    def init(params: Any) -> GradNormLoggerState:
        leaves = jax.tree.leaves(params)
        dtype = jnp.result_type(*leaves) if leaves else jnp.result_type(float)
        if not jnp.issubdtype(dtype, jnp.inexact):
            dtype = jnp.result_type(float)
        zeros = jnp.zeros((num_steps,), jnp.finfo(dtype).dtype)
        return GradNormLoggerState(jnp.zeros((), jnp.int32), zeros, zeros)

    def update(updates: Any, state: GradNormLoggerState,
               params: Any = None) -> tuple[Any, GradNormLoggerState]:
        del params
        leaves = jax.tree.leaves(updates)
        dtype = state.l2.dtype
        sq = sum((jnp.sum(jnp.square(jnp.abs(x))).astype(dtype) for x in leaves),
                 jnp.zeros((), dtype))
        ab = sum((jnp.sum(jnp.abs(x)).astype(dtype) for x in leaves), jnp.zeros((), dtype))
        l2 = state.l2.at[state.count].set(jnp.sqrt(sq), mode="drop")
        l1 = state.l1.at[state.count].set(ab, mode="drop")
        return updates, GradNormLoggerState(state.count + 1, l2, l1)

    return optax.GradientTransformation(init, update)


def logged_grad_norms(opt_state: Any) -> GradNormLoggerState:
    """Finds the :class:`GradNormLoggerState` inside a (nested) optax state.

    Args:
        opt_state: any optax state (``chain``, ``inject_hyperparams``, a solver state...)
            that contains exactly one :func:`grad_norm_logger` state.

    Returns:
        The logger's state; slice ``l2[:count]`` / ``l1[:count]`` on the host.

    Raises:
        ValueError: when there is no logger state, or more than one.
    """
    found = [x for x in jax.tree.leaves(
        opt_state, is_leaf=lambda x: isinstance(x, GradNormLoggerState))
        if isinstance(x, GradNormLoggerState)]
    if len(found) != 1:
        raise ValueError(f"opt_state must contain exactly one grad_norm_logger state, found "
                         f"{len(found)}")
    return found[0]
