"""How :func:`optlib.run` is differentiated: implicitly at the fixed point, or unrolled."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
from jax import lax

from optlib.core._base import solver_dataclass, static_field
from optlib.core._linear import CG

PyTree = Any


@solver_dataclass
class ImplicitAdjoint:
    """Differentiates the solution through its optimality condition (implicit function theorem).

    With ``F(x*, theta) = 0`` at the solution, ``dx*/dtheta = -(dF/dx)^{-1} dF/dtheta``.
    The forward solve is not differentiated; the backward pass solves one linear system
    with ``dF/dx`` applied matrix-free (``jax.lax.custom_root``). Gradients flow to
    everything ``optimality_fn`` reads from ``*args``.

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
            max_steps: int) -> Any:
        from optlib.core._loop import _while_run_jit

        optimality_fn = self.optimality_fn or getattr(solver, "optimality_fn", None)
        if optimality_fn is None:
            raise ValueError(
                f"ImplicitAdjoint needs an optimality_fn: {type(solver).__name__} has none; "
                "pass ImplicitAdjoint(optimality_fn=lambda params, *args: ...)")
        linear_solver = self.linear_solver

        def residual(x: PyTree) -> PyTree:
            return optimality_fn(x, *args)

        def forward(_: Any, x0: PyTree) -> tuple[PyTree, Any]:
            nondiff = jax.tree.map(lax.stop_gradient, (solver, args, key))
            result = _while_run_jit(*nondiff[:1], x0, nondiff[1], nondiff[2], hooks,
                                    max_steps=max_steps)
            return result.params, result

        def tangent_solve(matvec: Callable[[PyTree], PyTree], b: PyTree) -> PyTree:
            return linear_solver(matvec, b)

        params_star, result = lax.custom_root(residual, params, forward, tangent_solve,
                                              has_aux=True)
        return result._replace(params=params_star)


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
            max_steps: int) -> Any:
        from optlib.core._loop import _scan_run_jit

        return _scan_run_jit(solver, params, args, key, hooks, num_steps=max_steps,
                             checkpoint=self.checkpoint)
