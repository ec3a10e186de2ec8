"""The driver: :func:`run` (``lax.while_loop``) and :func:`run_steps` (``lax.scan``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from optlib.core._base import canonicalize_hyperparameters, split_terminate
from optlib.core._hooks import History, Hook, Trace
from optlib.core._status import Status, status_counts
from optlib.core._tree import tree_allfinite, tree_where, tree_zeros_like

PyTree = Any


class RunResult(NamedTuple):
    """What :func:`run` and :func:`run_steps` return.

    Under ``vmap`` every field gains a leading batch axis.

    Attributes:
        params: the final iterate (the last finite one if the run hit non-finite values).
        state: the solver state that goes with ``params``.
        info: the info of the last step taken.
        num_steps: ``int32[]``, the number of accepted steps.
        status: ``int32[]``, an :class:`optlib.Status` code.
        history: a :class:`optlib.Trace` when a :class:`optlib.History` hook was given
            (or always, for :func:`run_steps`), else ``None``.
    """

    params: PyTree
    state: PyTree
    info: PyTree
    num_steps: jax.Array
    status: jax.Array
    history: Trace | None

    @property
    def succeeded(self) -> np.ndarray:
        """Host-side boolean (array under vmap): did the stopping rule fire?"""
        return np.asarray(self.status) == int(Status.SUCCESS)

    def raise_if_failed(self, allow_max_steps: bool = False) -> RunResult:
        """Raises ``RuntimeError`` unless every run succeeded; returns ``self`` otherwise.

        Args:
            allow_max_steps: treat :attr:`Status.MAX_STEPS` as success (for fixed budgets).
        """
        counts = status_counts(np.asarray(self.status))
        ok = {Status.SUCCESS, Status.MAX_STEPS} if allow_max_steps else {Status.SUCCESS}
        bad = {s: n for s, n in counts.items() if s not in ok}
        if bad:
            lines = "; ".join(f"{n} run(s) {s.name}: {s.message}" for s, n in bad.items())
            raise RuntimeError(f"optlib.run failed: {lines}")
        return self


def _check_inputs(solver: Any, params: PyTree, args: tuple, key: jax.Array | None) -> None:
    # Runs eagerly, before tracing, so a solver can reject bad concrete input (NaN data,
    # mismatched pytrees) with a ValueError instead of a status.
    check = getattr(solver, "check_inputs", None)
    if check is not None:
        check(params, *args, key=key)


def _check_run_args(solver: Any, max_steps: Any, hooks: Sequence[Any]) -> tuple[Hook, ...]:
    for method in ("init", "step", "terminate"):
        if not callable(getattr(solver, method, None)):
            raise TypeError(
                f"solver must have init/step/terminate methods; {type(solver).__name__} "
                f"has no callable '{method}'")
    if isinstance(max_steps, bool) or not isinstance(max_steps, (int, np.integer)):
        raise TypeError(f"max_steps must be a Python int, got {max_steps!r}")
    if max_steps < 1:
        raise ValueError(f"max_steps must be >= 1, got {max_steps}")
    hooks = tuple(hooks)
    for hook in hooks:
        if not isinstance(hook, Hook):
            raise TypeError(f"hooks must implement init/step/finish; got {hook!r}")
    return hooks


def _split_key(key: jax.Array | None) -> tuple[jax.Array | None, jax.Array | None]:
    if key is None:
        return None, None
    init_key, loop_key = jax.random.split(key)
    return init_key, loop_key


def _step_key(key: jax.Array | None, step: jax.Array | int) -> jax.Array | None:
    return None if key is None else jax.random.fold_in(key, step)


def _init(solver: Any, params: PyTree, args: tuple, key: jax.Array | None,
          hooks: tuple[Hook, ...], max_steps: int, state: PyTree | None
          ) -> tuple[PyTree, PyTree, tuple, jax.Array | None]:
    init_key, key = _split_key(key)
    if state is None:
        state = solver.init(params, *args, key=init_key)
    info_shape = jax.eval_shape(
        lambda p, s, k: solver.step(p, s, *args, key=k)[2], params, state, _step_key(key, 0))
    info = tree_zeros_like(info_shape)
    hook_states = tuple(h.init(params, state, info, max_steps) for h in hooks)
    return state, info, hook_states, key


def _history(hooks: tuple[Hook, ...], hook_states: tuple) -> Trace | None:
    for hook, hook_state in zip(hooks, hook_states, strict=True):
        if isinstance(hook, History):
            return hook_state
    return None


def _while_run(solver: Any, params: PyTree, args: tuple, key: jax.Array | None,
               hooks: tuple[Hook, ...], max_steps: int, state: PyTree | None = None,
               step_offset: jax.Array | int = 0) -> RunResult:
    state, info, hook_states, key = _init(solver, params, args, key, hooks, max_steps, state)
    finite0 = tree_allfinite(params)
    status0 = jnp.where(finite0, Status.MAX_STEPS.as_array(), Status.NONFINITE.as_array())

    def cond(carry: tuple) -> jax.Array:
        return ~carry[4]

    def body(carry: tuple) -> tuple:
        k, params, state, info, done, status, hook_states = carry
        new_params, new_state, info = solver.step(params, state, *args,
                                                  key=_step_key(key, step_offset + k))
        finite = tree_allfinite(new_params)
        stop, solver_status = split_terminate(solver.terminate(new_params, new_state, info))
        params = tree_where(finite, new_params, params)
        state = tree_where(finite, new_state, state)
        k = k + finite.astype(jnp.int32)
        status = jnp.where(~finite, Status.NONFINITE.as_array(),
                           jnp.where(stop, solver_status, Status.MAX_STEPS.as_array()))
        done = (~finite) | stop | (k >= max_steps)
        hook_states = tuple(h.step(hs, k, params, state, info)
                            for h, hs in zip(hooks, hook_states, strict=True))
        return k, params, state, info, done, status, hook_states

    carry = (jnp.zeros((), jnp.int32), params, state, info, ~finite0, status0, hook_states)
    k, params, state, info, _, status, hook_states = lax.while_loop(cond, body, carry)
    hook_states = tuple(h.finish(hs, k, status) for h, hs in zip(hooks, hook_states, strict=True))
    return RunResult(params, state, info, k, status, _history(hooks, hook_states))


_while_run_jit = jax.jit(_while_run, static_argnames=("max_steps",))


def _scan_run(solver: Any, params: PyTree, args: tuple, key: jax.Array | None,
              hooks: tuple[Hook, ...], num_steps: int, checkpoint: bool = False,
              state: PyTree | None = None, step_offset: jax.Array | int = 0) -> RunResult:
    state, info, hook_states, key = _init(solver, params, args, key, hooks, num_steps, state)
    finite0 = tree_allfinite(params)

    def one_step(params: PyTree, state: PyTree, k: jax.Array) -> tuple:
        return solver.step(params, state, *args, key=_step_key(key, step_offset + k))

    if checkpoint:
        one_step = jax.checkpoint(one_step)

    def body(carry: tuple, _: Any) -> tuple:
        k, params, state, alive, hook_states = carry
        new_params, new_state, info = one_step(params, state, k)
        finite = tree_allfinite(new_params) & alive
        params = tree_where(finite, new_params, params)
        state = tree_where(finite, new_state, state)
        k = k + finite.astype(jnp.int32)
        hook_states = tuple(h.step(hs, k, params, state, info)
                            for h, hs in zip(hooks, hook_states, strict=True))
        return (k, params, state, finite, hook_states), (k, info)

    carry = (jnp.zeros((), jnp.int32), params, state, finite0, hook_states)
    (k, params, state, alive, hook_states), (steps, infos) = lax.scan(
        body, carry, None, length=num_steps)
    last_info = jax.tree.map(lambda x: x[-1], infos)
    stop, solver_status = split_terminate(solver.terminate(params, state, last_info))
    status = jnp.where(~alive, Status.NONFINITE.as_array(),
                       jnp.where(stop, solver_status, Status.MAX_STEPS.as_array()))
    hook_states = tuple(h.finish(hs, k, status) for h, hs in zip(hooks, hook_states, strict=True))
    history = Trace(step=steps, info=infos, params=None, length=k)
    return RunResult(params, state, last_info, k, status, history)


_scan_run_jit = jax.jit(_scan_run, static_argnames=("num_steps", "checkpoint"))


def run(solver: Any, params: PyTree, *args: Any, key: jax.Array | None = None,
        max_steps: int = 1000, hooks: Sequence[Hook] = (), adjoint: Any = None,
        state: PyTree | None = None, step_offset: jax.typing.ArrayLike = 0) -> RunResult:
    """Runs ``solver`` from ``params`` until it stops, inside one compiled ``lax.while_loop``.

    The loop stops when the solver's ``terminate`` fires (``Status.SUCCESS`` or the
    solver's own failure status), when a step produces non-finite parameters
    (``Status.NONFINITE``; the last finite iterate is returned) or after ``max_steps``
    steps (``Status.MAX_STEPS``). Under ``vmap`` each batch element stops on its own
    (finished elements are frozen while the others continue). The loop is compiled
    once per solver structure, argument shapes and ``max_steps``; changing only
    hyperparameter values reuses the compiled program.

    Args:
        solver: a solver implementing the :class:`optlib.core.Solver` protocol.
        params: the initial parameters (any pytree of arrays).
        *args: data passed to the solver's ``init`` and ``step`` (and its objective).
        key: a PRNG key for stochastic solvers; step ``k`` receives
            ``jax.random.fold_in(loop_key, k)`` where ``init_key, loop_key = split(key)``
            and ``init`` receives ``init_key``; results are reproducible under a key.
        max_steps: a static bound on the number of steps.
        hooks: :class:`optlib.History`, :class:`optlib.ProgressBar`,
            :class:`optlib.Print` or any object with the hook protocol.
        adjoint: ``None`` (not reverse-differentiable), an
            :class:`optlib.ImplicitAdjoint` (differentiate the fixed point) or an
            :class:`optlib.UnrolledAdjoint` (differentiate ``max_steps`` unrolled steps).
        state: resume from this solver state instead of calling ``solver.init``
            (for example ``previous_result.state``).
        step_offset: the number of steps already taken when resuming; step ``k`` of this
            call then draws the key of step ``step_offset + k``, so a run split into chunks
            sees the same keys as one long run. Traced: changing it does not recompile.

    Returns:
        A :class:`optlib.RunResult`.

    Example:
        >>> import jax.numpy as jnp, optlib
        >>> solver = optlib.GradientDescent(lambda x, b: jnp.sum((x - b) ** 2), learning_rate=0.1)
        >>> result = optlib.run(solver, jnp.zeros(2), jnp.array([1.0, -2.0]), max_steps=500)
        >>> result.params.round(4).tolist(), optlib.Status(int(result.status)).name
        ([1.0, -2.0], 'SUCCESS')
    """
    hooks = _check_run_args(solver, max_steps, hooks)
    _check_inputs(solver, params, args, key)
    solver = canonicalize_hyperparameters(solver)
    offset = jnp.asarray(step_offset, jnp.int32)
    if adjoint is not None:
        return adjoint.run(solver, params, tuple(args), key, hooks, int(max_steps),
                           state=state, step_offset=offset)
    return _while_run_jit(solver, params, tuple(args), key, hooks, max_steps=int(max_steps),
                          state=state, step_offset=offset)


def run_steps(solver: Any, params: PyTree, *args: Any, num_steps: int,
              key: jax.Array | None = None, hooks: Sequence[Hook] = (),
              checkpoint: bool = False, state: PyTree | None = None,
              step_offset: jax.typing.ArrayLike = 0) -> RunResult:
    """Runs exactly ``num_steps`` steps with ``lax.scan`` and returns the trace of infos.

    The solver's stopping rule is evaluated once, at the end, to set the status;
    it does not stop the scan. A non-finite step freezes the iterate for the rest of
    the scan (``Status.NONFINITE``). Because it is a scan, the result can be
    differentiated in reverse mode with respect to ``params``, ``args`` and the
    solver's hyperparameters.

    Args:
        solver: a solver implementing the :class:`optlib.core.Solver` protocol.
        params: the initial parameters.
        *args: data passed to the solver.
        num_steps: a static number of steps.
        key: a PRNG key for stochastic solvers.
        hooks: hooks as in :func:`run`.
        checkpoint: rematerialize each step in the backward pass (``jax.checkpoint``),
            trading compute for memory when differentiating long runs.
        state: resume from this solver state instead of calling ``solver.init``.
        step_offset: steps already taken when resuming (keys continue from there).

    Returns:
        A :class:`optlib.RunResult` whose ``history`` holds every step's info.

    Example:
        >>> import jax.numpy as jnp, optlib
        >>> solver = optlib.GradientDescent(lambda x: jnp.sum(x**2), learning_rate=0.25)
        >>> result = optlib.run_steps(solver, jnp.ones(2), num_steps=3)
        >>> result.history.info.value.tolist()
        [2.0, 0.5, 0.125]
    """
    hooks = _check_run_args(solver, num_steps, hooks)
    _check_inputs(solver, params, args, key)
    solver = canonicalize_hyperparameters(solver)
    return _scan_run_jit(solver, params, tuple(args), key, hooks,
                         num_steps=int(num_steps), checkpoint=bool(checkpoint), state=state,
                         step_offset=jnp.asarray(step_offset, jnp.int32))
