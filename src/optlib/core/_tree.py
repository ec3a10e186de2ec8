"""Small pytree utilities shared by all solvers."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

PyTree = Any


def tree_allfinite(tree: PyTree) -> jax.Array:
    """Returns a scalar boolean: ``True`` when every inexact leaf of ``tree`` is finite."""
    leaves = [
        jnp.all(jnp.isfinite(leaf))
        for leaf in jax.tree.leaves(tree)
        if jnp.issubdtype(jnp.result_type(leaf), jnp.inexact)
    ]
    if not leaves:
        return jnp.asarray(True)
    return jnp.all(jnp.stack(leaves))


def tree_where(pred: jax.Array, on_true: PyTree, on_false: PyTree) -> PyTree:
    """Leaf-wise ``jnp.where`` with a scalar predicate."""
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)


def tree_zeros_like(tree: PyTree) -> PyTree:
    """Zeros shaped like ``tree`` (``ShapeDtypeStruct`` leaves allowed)."""
    return jax.tree.map(lambda x: jnp.zeros(jnp.shape(x), x.dtype), tree)


def tree_size(tree: PyTree) -> int:
    """Total number of scalars in ``tree``."""
    return sum(int(jnp.size(leaf)) for leaf in jax.tree.leaves(tree))


def tree_norm(tree: PyTree) -> jax.Array:
    """Euclidean norm of all leaves of ``tree`` taken together."""
    return optax.tree.norm(tree)


def tree_vdot(a: PyTree, b: PyTree) -> jax.Array:
    """Inner product of two pytrees of the same structure."""
    return optax.tree.vdot(a, b)


def tree_axpy(alpha: jax.Array, x: PyTree, y: PyTree) -> PyTree:
    """Returns ``alpha * x + y`` leaf-wise, casting ``alpha`` to each leaf's dtype."""
    return jax.tree.map(lambda xi, yi: jnp.asarray(alpha, yi.dtype) * xi + yi, x, y)


def cast_like(value: jax.typing.ArrayLike, like: jax.Array) -> jax.Array:
    """Casts a hyperparameter to the dtype of ``like`` (keeps strict dtype promotion happy)."""
    return jnp.asarray(value, dtype=jnp.result_type(like))


def first_leaf_dtype(tree: PyTree) -> jnp.dtype:
    """The dtype of the first inexact leaf of ``tree`` (float32 if there is none)."""
    for leaf in jax.tree.leaves(tree):
        dtype = jnp.result_type(leaf)
        if jnp.issubdtype(dtype, jnp.inexact):
            return dtype
    return jnp.dtype(jnp.float32)
