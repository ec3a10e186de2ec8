"""The solver protocol and the helpers that make a solver a pytree."""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple, Protocol, TypeVar, runtime_checkable

import jax
import jax.numpy as jnp

PyTree = Any
T = TypeVar("T")


@runtime_checkable
class Solver(Protocol):
    """What :func:`optlib.run` needs from a solver.

    A solver is a frozen dataclass registered as a pytree (see :func:`solver_dataclass`):
    hyperparameters are array leaves, so changing their values never recompiles and
    ``vmap``/``grad`` can act on them; callables, sizes and modes are static fields.

    ``init(params, *args, key=None) -> state``
        Builds the carried state, a NamedTuple of arrays.
    ``step(params, state, *args, key=None) -> (params, state, info)``
        One iteration. ``info`` is a NamedTuple of arrays describing the step; it is
        not fed back into the next step.
    ``terminate(params, state, info) -> done`` or ``(done, status)``
        A traced boolean scalar; a solver that can diagnose a failure (divergence,
        infeasibility) returns a :class:`optlib.Status` code with it.

    Optionally, ``check_inputs(params, *args, key=None)`` is called by :func:`optlib.run`
    before anything is traced and raises ``ValueError`` for input that cannot work
    (non-finite data, mismatched pytrees). Leaves may be tracers when ``run`` is called
    inside a user's ``jit``; skip those.
    """

    def init(self, params: PyTree, *args: Any, key: jax.Array | None = None) -> NamedTuple: ...

    def step(
        self, params: PyTree, state: NamedTuple, *args: Any, key: jax.Array | None = None
    ) -> tuple[PyTree, NamedTuple, NamedTuple]: ...

    def terminate(self, params: PyTree, state: NamedTuple, info: NamedTuple) -> Any: ...


def static_field(**kwargs: Any) -> Any:
    """A dataclass field that is part of the pytree structure (not a traced leaf).

    Use it for callables, shape-determining integers, booleans and modes. Changing a
    static field changes the compiled program.
    """
    metadata = dict(kwargs.pop("metadata", {}) or {})
    metadata["static"] = True
    return dataclasses.field(metadata=metadata, **kwargs)


def solver_dataclass(cls: type[T]) -> type[T]:
    """Makes ``cls`` a frozen dataclass registered as a pytree.

    Fields declared with :func:`static_field` become static; every other field is a
    leaf (a hyperparameter).

    Example:
        >>> import jax.numpy as jnp
        >>> from optlib.core import solver_dataclass, static_field
        >>> @solver_dataclass
        ... class Scale:
        ...     fun: object = static_field()
        ...     factor: float = 2.0
        >>> import jax
        >>> jax.tree.leaves(Scale(fun=jnp.sin, factor=3.0))
        [3.0]
    """
    cls = dataclasses.dataclass(frozen=True)(cls)
    return jax.tree_util.register_dataclass(cls)


def canonicalize_hyperparameters(solver: T) -> T:
    """Turns Python-number leaves into arrays of JAX's default dtype.

    ``run`` calls this so that ``learning_rate=0.1`` and ``learning_rate=jnp.asarray(0.2)``
    share one compiled program. Array leaves keep their dtype.
    """

    def canon(leaf: Any) -> Any:
        if isinstance(leaf, bool):
            return jnp.asarray(leaf)
        if isinstance(leaf, (int, float, complex)):
            return jnp.asarray(leaf, dtype=jnp.result_type(type(leaf)))
        return leaf

    return jax.tree.map(canon, solver)


def split_terminate(out: Any) -> tuple[jax.Array, jax.Array]:
    """Normalizes ``terminate``'s return value to ``(done, status)``."""
    from optlib.core._status import Status

    if isinstance(out, tuple) and len(out) == 2:
        done, status = out
        return jnp.asarray(done, dtype=bool), jnp.asarray(status, dtype=jnp.int32)
    return jnp.asarray(out, dtype=bool), Status.SUCCESS.as_array()
