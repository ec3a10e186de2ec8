"""Hooks: code that watches a run without changing it.

A hook is a pytree whose configuration is static. It carries its own state through
the loop: ``init`` builds it, ``step`` updates it after each solver step and
``finish`` runs once after the loop. Everything happens inside the compiled loop,
so hooks work under ``jit`` and ``vmap``. :class:`History` uses no host callbacks at
all and is also safe under ``grad``; :class:`ProgressBar` and :class:`Print` talk to
the host through ``jax.debug.callback`` and print on process 0 only.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any, NamedTuple, Protocol, runtime_checkable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from optlib.core._base import solver_dataclass, static_field

PyTree = Any


@runtime_checkable
class Hook(Protocol):
    """The hook protocol used by :func:`optlib.run` and :func:`optlib.run_steps`."""

    def init(self, params: PyTree, state: PyTree, info: PyTree, max_steps: int) -> PyTree: ...

    def step(self, hook_state: PyTree, step: jax.Array, params: PyTree, state: PyTree,
             info: PyTree) -> PyTree: ...

    def finish(self, hook_state: PyTree, num_steps: jax.Array, status: jax.Array) -> PyTree: ...


class Trace(NamedTuple):
    """Per-step records written by :class:`History` (or by :func:`optlib.run_steps`).

    Rows past ``length`` were never written: floating leaves hold NaN there and
    integer leaves hold zero. :meth:`valid` returns the written rows as NumPy arrays.

    Attributes:
        step: ``int32[rows]``, the step number (1-based) of each row.
        info: the solver's info NamedTuple with a leading ``rows`` axis.
        params: the parameters with a leading ``rows`` axis, or ``None``.
        length: ``int32[]``, how many rows were written.
    """

    step: jax.Array
    info: PyTree
    params: PyTree
    length: jax.Array

    def valid(self) -> Trace:
        """The written rows only, as NumPy arrays (host side; one run, not a batch)."""
        n = int(self.length)
        cut = lambda x: np.asarray(x)[:n]  # noqa: E731
        return Trace(cut(self.step), jax.tree.map(cut, self.info),
                     jax.tree.map(cut, self.params), np.asarray(n))


def _empty_rows(tree: PyTree, rows: int) -> PyTree:
    def empty(x: Any) -> jax.Array:
        x = jnp.asarray(x)
        fill = jnp.nan if jnp.issubdtype(x.dtype, jnp.inexact) else 0
        return jnp.full((rows,) + x.shape, fill, x.dtype)

    return jax.tree.map(empty, tree)


def _write_row(rows: PyTree, index: jax.Array, value: PyTree) -> PyTree:
    return jax.tree.map(lambda r, v: r.at[index].set(jnp.asarray(v, r.dtype)), rows, value)


@solver_dataclass
class History:
    """Records ``info`` (and optionally ``params``) into preallocated device arrays.

    The recorded :class:`Trace` comes back as ``RunResult.history``. No host
    callbacks are involved, so it is safe under ``jit``, ``vmap`` and ``grad``.

    Args:
        every: record one row every ``every`` steps (the array has
            ``ceil(max_steps / every)`` rows).
        params: also record the parameters (memory grows with their size).

    Example:
        >>> import jax.numpy as jnp, optlib
        >>> solver = optlib.GradientDescent(lambda x: jnp.sum(x**2), learning_rate=0.25)
        >>> result = optlib.run(solver, jnp.ones(2), max_steps=5, hooks=[optlib.History()])
        >>> result.history.valid().info.value.round(3).tolist()
        [2.0, 0.5, 0.125, 0.031, 0.008]
    """

    every: int = static_field(default=1)
    params: bool = static_field(default=False)

    def init(self, params: PyTree, state: PyTree, info: PyTree, max_steps: int) -> Trace:
        if self.every < 1:
            raise ValueError(f"History(every=...) must be >= 1, got {self.every}")
        rows = -(-max_steps // self.every)
        return Trace(
            step=jnp.zeros((rows,), jnp.int32),
            info=_empty_rows(info, rows),
            params=_empty_rows(params, rows) if self.params else None,
            length=jnp.zeros((), jnp.int32),
        )

    def step(self, hook_state: Trace, step: jax.Array, params: PyTree, state: PyTree,
             info: PyTree) -> Trace:
        del state
        record = (step - 1) % self.every == 0 if self.every > 1 else True
        index = hook_state.length

        def write(h: Trace) -> Trace:
            return Trace(
                step=h.step.at[index].set(step.astype(jnp.int32)),
                info=_write_row(h.info, index, info),
                params=_write_row(h.params, index, params) if self.params else None,
                length=h.length + 1,
            )

        if record is True:
            return write(hook_state)
        return lax.cond(record, write, lambda h: h, hook_state)

    def finish(self, hook_state: Trace, num_steps: jax.Array, status: jax.Array) -> Trace:
        return hook_state


class _Bars:
    """Host-side registry of progress bars, keyed by run id (one bar per run, even under vmap)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.bars: dict[int, Any] = {}
        self.ids = itertools.count()

    def update(self, run_id: int, total: int, desc: str, every: int, step: Any,
               postfix: dict[str, Any]) -> None:
        if jax.process_index() != 0:
            return
        step = int(np.max(step))
        if step % every and step != total:
            return
        with self.lock:
            bar = self.bars.get(run_id)
            if bar is None:
                from tqdm.auto import tqdm

                bar = self.bars[run_id] = tqdm(total=total, desc=desc, leave=True,
                                               dynamic_ncols=True)
            if step > bar.n:
                bar.update(step - bar.n)
                if postfix:
                    bar.set_postfix({k: float(np.mean(v)) for k, v in postfix.items()},
                                    refresh=False)

    def close(self, run_id: int, num_steps: Any) -> None:
        if jax.process_index() != 0:
            return
        with self.lock:
            bar = self.bars.pop(run_id, None)
        if bar is not None:
            final = int(np.max(num_steps))
            if final > bar.n:
                bar.update(final - bar.n)
            bar.close()


_BARS = _Bars()


def _maybe_callback(pred: jax.Array, fn: Any, *args: Any) -> None:
    # The device-side gate saves host calls in plain jit; under vmap the predicate is
    # batched, lax.cond becomes a select, and the host-side gate in `fn` does the work.
    lax.cond(pred, lambda: jax.debug.callback(fn, *args), lambda: None)


@solver_dataclass
class ProgressBar:
    """A tqdm progress bar updated every ``every`` steps from inside the compiled loop.

    One bar per run: under ``vmap`` the batch shares a bar that shows the furthest
    element. The bar total is ``max_steps``; a run that stops early jumps to its final
    step count when it closes.

    Args:
        every: update the bar every this many steps.
        desc: the bar's label.
        fields: names of scalar ``info`` fields shown next to the bar (batch mean under vmap).

    Example:
        >>> import jax.numpy as jnp, optlib
        >>> solver = optlib.GradientDescent(lambda x: jnp.sum(x**2), learning_rate=0.1)
        >>> result = optlib.run(solver, jnp.ones(3), max_steps=100,
        ...                     hooks=[optlib.ProgressBar(every=10)])  # doctest: +SKIP
    """

    every: int = static_field(default=10)
    desc: str = static_field(default="optlib")
    fields: tuple[str, ...] = static_field(default=("value",))

    def init(self, params: PyTree, state: PyTree, info: PyTree, max_steps: int) -> jax.Array:
        if self.every < 1:
            raise ValueError(f"ProgressBar(every=...) must be >= 1, got {self.every}")
        # The bar's id and total travel as data, so the compiled loop needs no Python state.
        return jnp.asarray([next(_BARS.ids), max_steps], jnp.int32)

    def step(self, hook_state: jax.Array, step: jax.Array, params: PyTree, state: PyTree,
             info: PyTree) -> jax.Array:
        fields = {f: getattr(info, f) for f in self.fields
                  if hasattr(info, f) and jnp.ndim(getattr(info, f)) == 0}
        desc, every = self.desc, self.every

        def host(ids: Any, step: Any, postfix: dict[str, Any]) -> None:
            ids = np.asarray(ids).reshape(-1, 2)[0]
            _BARS.update(int(ids[0]), int(ids[1]), desc, every, step, postfix)

        pred = (step % every == 0) | (step == hook_state[1])
        _maybe_callback(pred, host, hook_state, step, fields)
        return hook_state

    def finish(self, hook_state: jax.Array, num_steps: jax.Array, status: jax.Array) -> jax.Array:
        def host(ids: Any, n: Any) -> None:
            _BARS.close(int(np.asarray(ids).reshape(-1, 2)[0, 0]), n)

        jax.debug.callback(host, hook_state, num_steps)
        return hook_state


@solver_dataclass
class Print:
    """Prints the step number and scalar ``info`` fields every ``every`` steps.

    Under ``vmap`` each batch element prints its own line.

    Args:
        every: print every this many steps.
        fields: names of ``info`` fields to print; ``None`` prints every scalar field.

    Example:
        >>> import jax.numpy as jnp, optlib
        >>> solver = optlib.GradientDescent(lambda x: jnp.sum(x**2), learning_rate=0.25)
        >>> _ = optlib.run(solver, jnp.ones(2), max_steps=2, hooks=[optlib.Print(every=1)])
        step 1: value=2, grad_norm=2.828
        step 2: value=0.5, grad_norm=1.414
    """

    every: int = static_field(default=100)
    fields: tuple[str, ...] | None = static_field(default=None)

    def init(self, params: PyTree, state: PyTree, info: PyTree, max_steps: int) -> jax.Array:
        if self.every < 1:
            raise ValueError(f"Print(every=...) must be >= 1, got {self.every}")
        return jnp.zeros((), jnp.int32)

    def step(self, hook_state: jax.Array, step: jax.Array, params: PyTree, state: PyTree,
             info: PyTree) -> jax.Array:
        names = self.fields if self.fields is not None else getattr(info, "_fields", ())
        names = tuple(n for n in names if jnp.ndim(getattr(info, n)) == 0)
        values = tuple(getattr(info, n) for n in names)
        every = self.every

        def host(step: Any, values: tuple[Any, ...]) -> None:
            if jax.process_index() != 0 or int(step) % every:
                return
            text = ", ".join(f"{k}={float(v):.4g}" for k, v in zip(names, values, strict=True))
            print(f"step {int(step)}: {text}", flush=True)

        _maybe_callback(step % every == 0, host, step, values)
        return hook_state

    def finish(self, hook_state: jax.Array, num_steps: jax.Array, status: jax.Array) -> jax.Array:
        return hook_state
