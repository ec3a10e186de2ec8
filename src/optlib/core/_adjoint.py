"""How :func:`optlib.run` is differentiated: implicitly at the fixed point, or unrolled."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from optlib.core._base import solver_dataclass, static_field
from optlib.core._linear import CG

PyTree = Any


@solver_dataclass
class ImplicitAdjoint:
    """Differentiates the solution through its optimality condition (implicit function theorem).

    With ``F(x*, theta) = 0`` at the solution, ``dx*/dtheta = -(dF/dx)^{-1} dF/dtheta``.
    The forward solve is not differentiated; the backward pass solves one linear system
    ``(dF/dx)^T u = g`` with ``dF/dx`` applied matrix-free (vector-Jacobian products),
    then pulls ``u`` back through ``dF/dtheta``. Gradients flow to everything
    ``optimality_fn`` reads from ``*args``; the initial parameters and the solver's
    hyperparameters get zero gradient, as the fixed point does not depend on them.
    Reverse mode only (``jax.grad``, ``jax.vjp``).

    Args:
        linear_solver: :class:`optlib.core.CG` (symmetric ``dF/dx``, the default),
            :class:`optlib.core.Neumann` or :class:`optlib.core.Direct`.
        optimality_fn: ``F(params, *args) -> pytree like params``. ``None`` uses the
            solver's ``optimality_fn`` (the gradient of its objective).

    Example:
        >>> import jax, jax.numpy as jnp, optlib
        >>> def inner(x, lam):  # argmin_x (x - 3)^2 + lam x^2  =  3 / (1 + lam)
        ...     return jnp.sum((x - 3.0) ** 2 + lam * x**2)
        >>> def solution(lam):
        ...     solver = optlib.GradientDescent(inner, learning_rate=0.2, tol=1e-10)
        ...     return optlib.run(solver, jnp.zeros(1), lam, max_steps=2000,
        ...                       adjoint=optlib.ImplicitAdjoint()).params[0]
        >>> round(float(jax.grad(solution)(1.0)), 6)  # d/dlam 3/(1+lam) = -3/4
        -0.75

    References:
        Blondel et al., "Efficient and modular implicit differentiation", NeurIPS 2022.
    """

    linear_solver: Any = static_field(default=CG())
    optimality_fn: Callable[..., PyTree] | None = static_field(default=None)

    def run(self, solver: Any, params: PyTree, args: tuple, key: Any, hooks: tuple,
            max_steps: int, state: PyTree | None = None, step_offset: Any = 0) -> Any:
        from optlib.core._loop import _while_run_jit

        optimality_fn = self.optimality_fn or getattr(solver, "optimality_fn", None)
        if optimality_fn is None:
            raise ValueError(
                f"ImplicitAdjoint needs an optimality_fn: {type(solver).__name__} has none; "
                "pass ImplicitAdjoint(optimality_fn=lambda params, *args: ...)")
        solver, args_nd, key, state = jax.tree.map(lax.stop_gradient,
                                                   (solver, args, key, state))
        result = _while_run_jit(solver, params, args_nd, key, hooks, max_steps=max_steps,
                                state=state, step_offset=step_offset)
        params_star = _implicit_solution(optimality_fn, self.linear_solver,
                                         lax.stop_gradient(result.params), args)
        return result._replace(params=params_star)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _implicit_solution(optimality_fn: Callable[..., PyTree], linear_solver: Any,
                       solution: PyTree, args: tuple) -> PyTree:
    return solution


def _implicit_solution_fwd(optimality_fn: Callable[..., PyTree], linear_solver: Any,
                           solution: PyTree, args: tuple) -> tuple[PyTree, tuple]:
    return solution, (solution, args)


def _implicit_solution_bwd(optimality_fn: Callable[..., PyTree], linear_solver: Any,
                           residuals: tuple, cotangent: PyTree) -> tuple[PyTree, tuple]:
    solution, args = residuals
    _, vjp_params = jax.vjp(lambda x: optimality_fn(x, *args), solution)
    u = linear_solver(lambda v: vjp_params(v)[0], cotangent)
    _, vjp_args = jax.vjp(lambda *a: optimality_fn(solution, *a), *args)
    args_cotangent = jax.tree.map(lambda c: -c if c.dtype != jax.dtypes.float0 else c,
                                  vjp_args(u))
    return jax.tree.map(jnp.zeros_like, solution), tuple(args_cotangent)


_implicit_solution.defvjp(_implicit_solution_fwd, _implicit_solution_bwd)


@solver_dataclass
class UnrolledAdjoint:
    """Differentiates through every step: the run becomes ``max_steps`` steps of ``lax.scan``.

    This is iterative differentiation (ITD): exact for the truncated procedure,
    with memory linear in ``max_steps`` unless ``checkpoint=True``. The loop never
    stops early, so keep ``max_steps`` to the horizon you mean to differentiate.

    Args:
        checkpoint: rematerialize each step in the backward pass.

    Example:
        >>> import jax, jax.numpy as jnp, optlib
        >>> def final(lr):  # x_K = (1 - 2 lr)^K x_0 for f(x) = x^2
        ...     solver = optlib.GradientDescent(lambda x: jnp.sum(x**2), learning_rate=lr)
        ...     return optlib.run(solver, jnp.ones(1), max_steps=3,
        ...                       adjoint=optlib.UnrolledAdjoint()).params[0]
        >>> round(float(jax.grad(final)(0.1)), 6)  # -6 (1 - 0.2)^2
        -3.84
    """

    checkpoint: bool = static_field(default=False)

    def run(self, solver: Any, params: PyTree, args: tuple, key: Any, hooks: tuple,
            max_steps: int, state: PyTree | None = None, step_offset: Any = 0) -> Any:
        from optlib.core._loop import _scan_run_jit

        return _scan_run_jit(solver, params, args, key, hooks, num_steps=max_steps,
                             checkpoint=self.checkpoint, state=state, step_offset=step_offset)
