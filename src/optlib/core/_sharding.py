"""Opt-in collectives for ``shard_map`` users."""

from __future__ import annotations

from typing import Any

import jax
from jax import lax

PyTree = Any


def pmean_if(tree: PyTree, axis_name: str | None) -> PyTree:
    """``lax.pmean`` over ``axis_name`` when one is given, identity otherwise.

    Solvers that reduce over data take an optional static ``axis_name``: under plain
    ``jit`` with sharded inputs the mean is already global and ``axis_name`` is ``None``;
    inside ``shard_map`` it names the data axis to average over.
    """
    if axis_name is None:
        return tree
    return jax.tree.map(lambda x: lax.pmean(x, axis_name), tree)


def psum_if(tree: PyTree, axis_name: str | None) -> PyTree:
    """``lax.psum`` over ``axis_name`` when one is given, identity otherwise."""
    if axis_name is None:
        return tree
    return jax.tree.map(lambda x: lax.psum(x, axis_name), tree)
