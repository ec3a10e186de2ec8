"""A batching rule that keeps LAPACK calls unbatched on CPU (a jaxlib 0.10.2 deadlock)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
from jax import lax


def unbatched_on_cpu(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wraps a LAPACK-backed function so that ``vmap`` maps it one problem at a time on CPU.

    jaxlib 0.10.2 runs a batched CPU factorization (``potrf``, ``getrf``, ``syevd``) as one
    call that splits its batch over XLA's intra-op thread pool and blocks until the pieces
    finish (``jax::ParallelBatchMap``). When as many such calls run concurrently as the pool
    has threads, no thread is left to run the pieces and the process deadlocks with every
    thread in futex wait (``--xla_cpu_multi_thread_eigen=false`` does not help). Under
    ``vmap`` on CPU the wrapped function therefore runs inside ``lax.map``; on other
    backends it batches as usual. Unbatched calls are unchanged.

    Args:
        fn: a function of arrays (pytrees allowed), e.g. ``jnp.linalg.eigh``.

    Returns:
        The wrapped function (same signature). It is meant for values, not for
        differentiation.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from optlib.core._linalg import unbatched_on_cpu
        >>> solve = unbatched_on_cpu(jnp.linalg.solve)
        >>> A = jnp.stack([2.0 * jnp.eye(2), 4.0 * jnp.eye(2)])
        >>> jax.vmap(solve, in_axes=(0, None))(A, jnp.ones(2)).tolist()
        [[0.5, 0.5], [0.25, 0.25]]
    """
    def call(*args: Any) -> Any:
        # positional only: custom_vmap would otherwise bind fn's keyword defaults as operands
        return fn(*args)

    wrapped = jax.custom_batching.custom_vmap(call)

    @wrapped.def_vmap
    def _rule(axis_size: int, in_batched: list[Any], *args: Any):
        del axis_size
        if jax.default_backend() != "cpu":
            in_axes = tuple(jax.tree.map(lambda b: 0 if b else None, ib) for ib in in_batched)
            out = jax.vmap(fn, in_axes=in_axes)(*args)
        else:
            leaves, treedef = jax.tree.flatten(args)
            flags = jax.tree.leaves(in_batched)

            def one(batched_leaves: list[jax.Array]) -> Any:
                it = iter(batched_leaves)
                full = [next(it) if b else leaf for leaf, b in zip(leaves, flags, strict=True)]
                # the wrapped function, so an enclosing vmap maps this body the same way
                return wrapped(*jax.tree.unflatten(treedef, full))

            out = lax.map(one, [leaf for leaf, b in zip(leaves, flags, strict=True) if b])
        return out, jax.tree.map(lambda _: True, out)

    return wrapped
