"""The bilevel problem: two objectives, optional minibatching and projections."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

PyTree = Any
Projection = Callable[[PyTree], PyTree]


def _identity(tree: PyTree) -> PyTree:
    return tree


@dataclasses.dataclass(frozen=True)
class BilevelProblem:
    """``min_x f(x, y*(x))`` subject to ``y*(x) in argmin_y g(x, y)``, with optional sets.

    ``outer(x, y, batch)`` is the upper-level objective ``f`` and ``inner(x, y, batch)``
    the lower-level objective ``g``; both return a scalar. ``x`` and ``y`` are any
    pytrees; solvers carry them as the pair ``params = (x, y)``.

    Data reach the objectives through the solver's positional arguments
    ``(inner_data, outer_data)`` of :func:`optlib.run`. With a batch size of ``None``
    the objective sees the whole data pytree (full batch, deterministic); with an
    integer ``b`` every oracle call draws ``b`` rows (uniformly, with replacement) along
    the leading axis of every leaf, using the step's key, so a run needs ``key=``.

    Args:
        outer: ``f(x, y, batch) -> scalar``.
        inner: ``g(x, y, batch) -> scalar``.
        inner_batch_size: rows per inner oracle call, or ``None`` for full batch.
        outer_batch_size: rows per outer oracle call, or ``None`` for full batch.
        project_outer: Euclidean projection onto the closed convex set of ``x``
            (``None``: unconstrained).
        project_inner: projection onto the set of ``y`` (``None``: unconstrained).

    Example:
        >>> import jax.numpy as jnp
        >>> from optlib.bilevel import BilevelProblem
        >>> problem = BilevelProblem(
        ...     outer=lambda x, y, batch: jnp.sum((y - 1.0) ** 2) + 0.1 * jnp.sum(x**2),
        ...     inner=lambda x, y, batch: jnp.sum((y - x) ** 2))
        >>> float(problem.outer(jnp.ones(2), jnp.ones(2), None))
        0.2
    """

    outer: Callable[[PyTree, PyTree, Any], jax.Array]
    inner: Callable[[PyTree, PyTree, Any], jax.Array]
    inner_batch_size: int | None = None
    outer_batch_size: int | None = None
    project_outer: Projection | None = None
    project_inner: Projection | None = None

    def __post_init__(self) -> None:
        for name in ("outer", "inner"):
            if not callable(getattr(self, name)):
                raise ValueError(f"BilevelProblem: {name} must be callable f(x, y, batch), "
                                 f"got {getattr(self, name)!r}")
        for name in ("inner_batch_size", "outer_batch_size"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(
                    value, (int, np.integer)) or value < 1):
                raise ValueError(f"BilevelProblem: {name} must be None or a positive int, "
                                 f"got {value!r}")
        for name in ("project_outer", "project_inner"):
            value = getattr(self, name)
            if value is not None and not callable(value):
                raise ValueError(f"BilevelProblem: {name} must be None or a callable "
                                 f"projection, got {value!r}")

    @property
    def stochastic(self) -> bool:
        """Whether any oracle draws minibatches (then runs need a key)."""
        return self.inner_batch_size is not None or self.outer_batch_size is not None

    def proj_x(self, x: PyTree) -> PyTree:
        """Projects ``x`` onto its set (identity when unconstrained)."""
        return (self.project_outer or _identity)(x)

    def proj_y(self, y: PyTree) -> PyTree:
        """Projects ``y`` onto its set (identity when unconstrained)."""
        return (self.project_inner or _identity)(y)

    def inner_batch(self, data: PyTree, key: jax.Array | None) -> PyTree:
        """A minibatch of ``data`` for the inner objective (``data`` itself in full batch)."""
        return _sample(data, self.inner_batch_size, key)

    def outer_batch(self, data: PyTree, key: jax.Array | None) -> PyTree:
        """A minibatch of ``data`` for the outer objective (``data`` itself in full batch)."""
        return _sample(data, self.outer_batch_size, key)

    def check(self, params: PyTree, inner_data: PyTree = None, outer_data: PyTree = None) -> None:
        """Raises ``ValueError`` for input that cannot work, before anything is traced.

        Checks that ``params`` is an ``(x, y)`` pair, that both objectives return a
        real scalar, that concrete data are finite, and that minibatching has rows to draw.
        """
        if not (isinstance(params, (tuple, list)) and len(params) == 2):
            raise ValueError("params must be the pair (x, y) of outer and inner variables, "
                             f"got {type(params).__name__}")
        x, y = params
        for name, data, size in (("inner_data", inner_data, self.inner_batch_size),
                                 ("outer_data", outer_data, self.outer_batch_size)):
            leaves = jax.tree.leaves(data)
            for leaf in leaves:
                if isinstance(leaf, jax.core.Tracer):
                    continue
                arr = np.asarray(leaf)
                if np.issubdtype(arr.dtype, np.inexact) and not np.all(np.isfinite(arr)):
                    raise ValueError(f"{name} contains non-finite values (NaN or inf)")
            if size is not None:
                rows = {np.shape(leaf)[0] if np.ndim(leaf) else None for leaf in leaves}
                if not leaves or None in rows or len(rows) != 1:
                    raise ValueError(
                        f"{name}: minibatching needs every leaf to share a leading sample axis, "
                        f"got leading sizes {sorted(map(str, rows))}")
        for name, fn, data in (("outer", self.outer, outer_data),
                               ("inner", self.inner, inner_data)):
            try:
                out = jax.eval_shape(lambda x, y, b, fn=fn: fn(x, y, b), x, y,
                                     self._batch_shape(data, name))
            except (TypeError, ValueError) as err:
                raise ValueError(f"BilevelProblem.{name}(x, y, batch) failed on the given "
                                 f"params/data: {err}") from err
            if not (hasattr(out, "shape") and out.shape == ()
                    and jnp.issubdtype(out.dtype, jnp.floating)):
                raise ValueError(f"BilevelProblem.{name} must return a real scalar, got "
                                 f"{getattr(out, 'shape', out)} {getattr(out, 'dtype', '')}")

    def _batch_shape(self, data: PyTree, which: str) -> PyTree:
        size = self.inner_batch_size if which == "inner" else self.outer_batch_size
        if size is None:
            return data
        return jax.tree.map(lambda a: jax.ShapeDtypeStruct((size,) + np.shape(a)[1:],
                                                           jnp.result_type(a)), data)


def _sample(data: PyTree, batch_size: int | None, key: jax.Array | None) -> PyTree:
    if batch_size is None:
        return data
    if key is None:
        raise ValueError("a stochastic BilevelProblem (batch size set) needs key= in optlib.run")
    leaves = jax.tree.leaves(data)
    n = leaves[0].shape[0]
    idx = jax.random.randint(key, (batch_size,), 0, n)
    return jax.tree.map(lambda a: jnp.take(a, idx, axis=0), data)
