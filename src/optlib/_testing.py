"""Test and benchmark helpers (private: used by ``tests/`` and ``benchmarks/``)."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

PyTree = Any


def assert_trees_allclose(actual: PyTree, desired: PyTree, *, rtol: float = 1e-7,
                          atol: float = 0.0, err_msg: str = "") -> None:
    """``np.testing.assert_allclose`` leaf by leaf, after checking the structures match."""
    a_leaves, a_def = jax.tree.flatten(actual)
    d_leaves, d_def = jax.tree.flatten(desired)
    if a_def != d_def:
        raise AssertionError(f"tree structures differ: {a_def} != {d_def}. {err_msg}")
    for i, (a, d) in enumerate(zip(a_leaves, d_leaves, strict=True)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(d), rtol=rtol, atol=atol,
                                   err_msg=f"leaf {i}: {err_msg}")


def tree_dtypes(tree: PyTree) -> list[jnp.dtype]:
    """The dtypes of every leaf."""
    return [jnp.result_type(x) for x in jax.tree.leaves(tree)]


_BACKEND_COMPILE = "/jax/core/compile/backend_compile_duration"


@contextlib.contextmanager
def count_compilations() -> Iterator[Callable[[], int]]:
    """Counts XLA backend compilations inside the ``with`` block.

    Prepare inputs before entering the block: creating arrays compiles small programs too.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from optlib._testing import count_compilations
        >>> f = jax.jit(lambda x: x + 1)
        >>> x, y = jnp.ones(3), jnp.zeros(3)
        >>> with count_compilations() as n:
        ...     _ = f(x); _ = f(y)
        >>> n()
        1
    """
    events: list[str] = []

    def listener(name: str, duration: float, **kwargs: Any) -> None:
        if name == _BACKEND_COMPILE:
            events.append(name)

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield lambda: len(events)
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)


def finite_difference_grad(fun: Callable[[jax.Array], jax.Array], x: jax.Array,
                           eps: float = 1e-6) -> np.ndarray:
    """Central finite differences of a scalar ``fun`` at ``x`` (float64 recommended)."""
    x = np.asarray(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = eps
        grad[i] = (float(fun(jnp.asarray(x + e))) - float(fun(jnp.asarray(x - e)))) / (2 * eps)
    return grad


@dataclasses.dataclass(frozen=True)
class ContractCase:
    """One (solver, problem with a known answer) pair for the shared contract tests.

    Each area adds its cases in ``tests/contract/cases_<area>.py`` as a list ``CASES``.

    Attributes:
        name: test id.
        solver: the solver, configured to converge on the problem.
        make_problem: ``seed -> (params0, args, solution)``, with float64 arrays; problems
            from different seeds must share shapes (they are stacked for the ``vmap`` test).
        with_hyperparameter: ``(solver, value) -> solver`` changing one traced hyperparameter.
        hyperparameter_values: two values for the no-recompilation test.
        max_steps: step budget for the convergence test.
        atol: absolute tolerance on the solution (float64).
        needs_key: pass a PRNG key to ``run``.
        check: ``(result, solution) -> None``; default compares ``result.params`` with
            ``solution`` at ``atol``.
        float32_atol: tolerance when the problem is cast to float32 (dtype test).
    """

    name: str
    solver: Any
    make_problem: Callable[[int], tuple[PyTree, tuple, PyTree]]
    with_hyperparameter: Callable[[Any, float], Any]
    hyperparameter_values: tuple[float, float]
    max_steps: int = 1000
    atol: float = 1e-6
    needs_key: bool = False
    check: Callable[[Any, PyTree], None] | None = None
    float32_atol: float = 1e-3
