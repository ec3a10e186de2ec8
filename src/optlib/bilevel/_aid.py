"""Hypergradient baselines: implicit differentiation (AID) and unrolled differentiation (ITD)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from optlib.bilevel._common import (
    BilevelInfo,
    ChecksInputs,
    Optimizer,
    apply,
    check_int,
    check_pair,
    learning_rate,
    make_transformation,
    split_keys,
    terminate,
)
from optlib.bilevel._newton import Newton
from optlib.bilevel._problem import BilevelProblem
from optlib.core._adjoint import ImplicitAdjoint, UnrolledAdjoint
from optlib.core._base import solver_dataclass, static_field
from optlib.core._gradient_descent import GradientDescentInfo
from optlib.core._linear import CG, GMRES
from optlib.core._loop import run
from optlib.core._optax_solver import OptaxSolver
from optlib.core._tree import cast_like, tree_norm

PyTree = Any


class ProjectedInnerState(NamedTuple):
    """State of the projected inner solver of :class:`ImplicitDiff` / :class:`Unrolled`.

    Attributes:
        count: ``int32[]`` steps taken.
        opt_state: the optax state.
    """

    count: jax.Array
    opt_state: PyTree


def gradient_mapping(y: PyTree, grad: PyTree, project: Any, step: jax.Array) -> PyTree:
    """``(y - P(y - step * grad)) / step``: zero exactly at the constrained minimizers."""
    moved = project(jax.tree.map(lambda a, g: a - step * g, y, grad))
    return jax.tree.map(lambda a, b: (a - b) / step, y, moved)


@solver_dataclass
class _ProjectedOptax:
    """Projected optax steps on ``y`` (the inner solve for a constrained lower level).

    Reports (and stops on) the norm of the gradient mapping at the iterate before the
    step; ``optimality_fn`` is that mapping, whose zeros are the fixed points of
    ``y = P(y - step grad_y g(x, y))``, i.e. the minimizers of a convex lower level over
    the set.
    """

    fun: Any = static_field()
    transformation: Any = static_field()
    project: Any = static_field()
    step_size: Any = 1.0
    tol: Any = 0.0

    def init(self, params: PyTree, *args: Any, key: jax.Array | None = None
             ) -> ProjectedInnerState:
        del args, key
        return ProjectedInnerState(jnp.zeros((), jnp.int32), self.transformation.init(params))

    def step(self, params: PyTree, state: ProjectedInnerState, *args: Any,
             key: jax.Array | None = None) -> tuple[PyTree, ProjectedInnerState, Any]:
        del key
        value, grad = jax.value_and_grad(self.fun)(params, *args)
        new, opt_state = apply(self.transformation, grad, state.opt_state, params, self.project)
        mapping = gradient_mapping(params, grad, self.project, cast_like(self.step_size, value))
        return new, ProjectedInnerState(state.count + 1, opt_state), GradientDescentInfo(
            value, tree_norm(mapping))

    def terminate(self, params: PyTree, state: ProjectedInnerState, info: Any) -> jax.Array:
        del params, state
        return info.grad_norm < cast_like(self.tol, info.grad_norm)

    def optimality_fn(self, params: PyTree, *args: Any) -> PyTree:
        """The gradient mapping (zero at the constrained solution), for implicit diff."""
        grad = jax.grad(self.fun)(params, *args)
        return gradient_mapping(params, grad, self.project,
                                cast_like(self.step_size, jax.tree.leaves(params)[0]))


class HypergradientState(NamedTuple):
    """State of :class:`ImplicitDiff` and :class:`Unrolled`.

    Attributes:
        count: ``int32[]`` outer steps taken.
        outer_opt_state: the outer optax state.
    """

    count: jax.Array
    outer_opt_state: PyTree


def _inner_objective(problem: BilevelProblem):
    def fun(y: PyTree, x: PyTree, batch: Any) -> jax.Array:
        return problem.inner(x, y, batch)

    return fun


class _HypergradientSolver(ChecksInputs):
    """The outer loop shared by :class:`ImplicitDiff` and :class:`Unrolled`."""

    problem: BilevelProblem
    outer_optimizer: Optimizer
    outer_hyperparams: Mapping[str, Any] | None
    inner_optimizer: Optimizer
    _adjoint: Any
    inner_hyperparams: Mapping[str, Any] | None
    inner_steps: int
    tol: float

    def _inner_solver(self, like: PyTree) -> Any:
        if isinstance(self.inner_optimizer, str):  # "newton" (checked in __post_init__)
            damping = (self.inner_hyperparams or {}).get("damping", 0.0)
            return Newton(_inner_objective(self.problem), tol=self._inner_tol(),
                          damping=damping)
        tx = make_transformation(self.inner_optimizer, self.inner_hyperparams, like, "inner")
        if self.problem.project_inner is not None:
            return _ProjectedOptax(_inner_objective(self.problem), tx, self.problem.proj_y,
                                   self._fixed_point_step(), self._inner_tol())
        return OptaxSolver(_inner_objective(self.problem), tx, tol=self._inner_tol())

    def _fixed_point_step(self) -> Any:
        return 1.0

    def _stationarity(self, x: PyTree, y: PyTree, inner_batch: Any) -> jax.Array:
        """``||grad_y g||``, or the norm of the gradient mapping for a constrained ``y``."""
        gy = jax.grad(self.problem.inner, argnums=1)(x, y, inner_batch)
        if self.problem.project_inner is None:
            return tree_norm(gy)
        step = cast_like(self._fixed_point_step(), jax.tree.leaves(y)[0])
        return tree_norm(gradient_mapping(y, gy, self.problem.proj_y, step))

    def _inner_tol(self) -> Any:
        return 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.problem, BilevelProblem):
            raise ValueError(f"problem must be a BilevelProblem, got {type(self.problem)!r}")
        check_int("inner_steps", self.inner_steps)
        if isinstance(self.inner_optimizer, str):
            if self.inner_optimizer != "newton" or isinstance(self, Unrolled):
                allowed = "" if isinstance(self, Unrolled) else " or 'newton'"
                raise ValueError(
                    f"{type(self).__name__}: inner_optimizer must be an optax transformation "
                    f"or factory{allowed}, got {self.inner_optimizer!r}")
            extra = set(self.inner_hyperparams or {}) - {"damping", "learning_rate"}
            if extra:
                raise ValueError(f"inner_optimizer='newton' takes inner_hyperparams "
                                 f"{{'damping': ...}} only, got {sorted(extra)}")
        if self.problem.project_inner is not None and isinstance(self.inner_optimizer, str):
            raise ValueError(f"{type(self).__name__}: inner_optimizer='newton' solves an "
                             "unconstrained lower level; with project_inner give an optax "
                             "inner optimizer (projected steps)")

    def hypergradient(self, x: PyTree, y: PyTree, inner_data: PyTree = None,
                      outer_data: PyTree = None, key: jax.Array | None = None
                      ) -> tuple[jax.Array, PyTree, PyTree]:
        """The hypergradient at ``x``, solving the lower level from the warm start ``y``.

        Args:
            x: outer variable.
            y: warm start of the inner variable.
            inner_data: data (or the pool minibatches are drawn from) of ``g``.
            outer_data: data of ``f``.
            key: PRNG key, needed for a stochastic problem.

        Returns:
            ``(f(x, y*), grad Phi(x), y*)``.
        """
        k_in, k_out = split_keys(key, 2)
        phi = self._phi(y, self.problem.inner_batch(inner_data, k_in),
                        self.problem.outer_batch(outer_data, k_out))
        (value, y_star), grad = jax.value_and_grad(phi, has_aux=True)(x)
        return value, grad, y_star

    def _phi(self, y: PyTree, inner_batch: Any, outer_batch: Any) -> Any:
        """``x -> (f(x, y*(x)), y*(x))``, differentiable; the lower level starts at ``y``."""
        solver = self._inner_solver(y)
        adjoint = self._adjoint()
        steps = self.inner_steps

        def phi(x: PyTree) -> tuple[jax.Array, PyTree]:
            y_star = run(solver, y, x, inner_batch, max_steps=steps, adjoint=adjoint).params
            return self.problem.outer(x, y_star, outer_batch), jax.lax.stop_gradient(y_star)

        return phi

    def init(self, params: PyTree, inner_data: PyTree = None, outer_data: PyTree = None,
             key: jax.Array | None = None) -> HypergradientState:
        x, _ = check_pair(self.problem, params, inner_data, outer_data, key)
        tx = make_transformation(self.outer_optimizer, self.outer_hyperparams, x, "outer")
        return HypergradientState(jnp.zeros((), jnp.int32), tx.init(x))

    def step(self, params: PyTree, state: HypergradientState, inner_data: PyTree = None,
             outer_data: PyTree = None, key: jax.Array | None = None
             ) -> tuple[PyTree, HypergradientState, BilevelInfo]:
        x, y = params
        k_in, k_out = split_keys(key, 2)
        inner_batch = self.problem.inner_batch(inner_data, k_in)
        phi = self._phi(y, inner_batch, self.problem.outer_batch(outer_data, k_out))
        (value, y_star), grad = jax.value_and_grad(phi, has_aux=True)(x)
        tx = make_transformation(self.outer_optimizer, self.outer_hyperparams, x, "outer")
        x_new, opt_state = apply(tx, grad, state.outer_opt_state, x, self.problem.proj_x)
        info = BilevelInfo(value, tree_norm(grad), self._stationarity(x, y_star, inner_batch))
        return (x_new, y_star), HypergradientState(state.count + 1, opt_state), info

    def terminate(self, params: PyTree, state: HypergradientState, info: BilevelInfo
                  ) -> tuple[jax.Array, jax.Array]:
        del params, state
        return terminate(info, self.tol)


@solver_dataclass
class ImplicitDiff(_HypergradientSolver):
    """Approximate implicit differentiation (AID): inner solve, then a linear solve.

    Each outer step warm-starts the lower level from the current ``y``, runs the inner
    optimizer until ``||grad_y g|| < inner_tol`` (at most ``inner_steps`` steps), and
    differentiates ``x -> f(x, y*(x))`` through :class:`optlib.ImplicitAdjoint`: the
    backward pass solves ``grad^2_yy g v = grad_y f`` with ``linear_solver`` (CG by
    default, or :class:`optlib.Neumann` / :class:`optlib.Direct`) and returns
    ``grad_x f - grad^2_xy g v``. The outer optimizer then takes a step.

    **Constrained lower level** (``problem.project_inner`` set, ``y`` in a closed convex
    set ``Y``): the inner steps are projected, the inner loop stops on the norm of the
    gradient mapping ``G(y) = (y - P(y - eta grad_y g(x, y))) / eta`` (``eta`` is
    ``fixed_point_step``), and the hypergradient is the implicit derivative of the fixed
    point ``y* = P(y* - eta grad_y g(x, y*))``. With ``D`` the Jacobian of ``P`` at
    ``y* - eta grad_y g`` (by autodiff), ``dy*/dx = -(I - D (I - eta H))^{-1} eta D
    grad^2_yx g`` and ``grad Phi = grad_x f + (dy*/dx)^T grad_y f``. The adjoint system is
    not symmetric, so the default linear solver is then :class:`optlib.GMRES` (``Direct`` also
    works). Where ``y*(x)`` is differentiable (for a box: strict complementarity, every
    coordinate at a bound has a nonzero gradient), this is its exact derivative and does
    not depend on ``eta``: coordinates at a bound do not move and the free block solves
    ``H_FF dy_F = -grad^2_{y_F x} g``. At a degenerate point it is the element of the
    generalized Jacobian that autodiff's derivative of ``P`` selects.

    Args:
        problem: the :class:`BilevelProblem` (static). With ``project_inner`` the inner
            optimizer must be an optax one (projected steps), not ``"newton"``.
        outer_optimizer: optax transformation or factory for ``x`` (static).
        outer_hyperparams: factory keyword arguments (traced).
        inner_optimizer: optax transformation or factory for ``y`` (static), or
            ``"newton"``: :class:`Newton` (dense Hessian, Armijo backtracking), the fast
            choice for a smooth, strongly convex lower level with few variables.
        inner_hyperparams: factory keyword arguments (traced); for ``"newton"`` only
            ``{"damping": ...}`` is read.
        inner_steps: bound on inner steps per outer step (static).
        inner_tol: inner stopping tolerance on ``||grad_y g||`` (on the gradient
            mapping's norm for a constrained lower level).
        linear_solver: a core linear solver (static); ``None``: ``CG(rtol=1e-10,
            max_iter=200)``, or ``GMRES()`` for a constrained lower level.
        fixed_point_step: ``eta`` of the gradient mapping of a constrained lower level.
            With an exact adjoint solve the hypergradient does not depend on it (where
            ``y*`` is differentiable); about ``1 / L`` makes :class:`optlib.Neumann` converge.
        tol: stop when the hypergradient norm falls below ``tol`` (``0``: never).

    Example:
        >>> import jax, optlib
        >>> from optlib.bilevel import ImplicitDiff, problems
        >>> quad = problems.quadratic(jax.random.key(0), dim_outer=3, dim_inner=5)
        >>> solver = ImplicitDiff(quad.problem, inner_hyperparams={"learning_rate": 1.0})
        >>> _, grad, _ = solver.hypergradient(quad.x0, quad.y0, quad.inner_data, quad.outer_data)
        >>> bool(abs(grad - quad.hypergradient(quad.x0)).max() < 1e-4)
        True

    References:
        Pedregosa, "Hyperparameter optimization with approximate gradient", ICML 2016;
        Blondel et al., "Efficient and modular implicit differentiation", NeurIPS 2022.
    """

    problem: BilevelProblem = static_field()
    outer_optimizer: Optimizer = static_field(default=optax.sgd)
    outer_hyperparams: Mapping[str, Any] | None = learning_rate(0.1)
    inner_optimizer: Optimizer = static_field(default=optax.sgd)
    inner_hyperparams: Mapping[str, Any] | None = learning_rate(0.1)
    inner_steps: int = static_field(default=200)
    inner_tol: float = 1e-10
    linear_solver: Any = static_field(default=None)
    fixed_point_step: float = 1.0
    tol: float = 0.0

    def _inner_tol(self) -> Any:
        return self.inner_tol

    def _fixed_point_step(self) -> Any:
        return self.fixed_point_step

    def _adjoint(self) -> Any:
        solver = self.linear_solver
        if solver is None:
            solver = GMRES() if self.problem.project_inner is not None else CG(rtol=1e-10,
                                                                               max_iter=200)
        return ImplicitAdjoint(linear_solver=solver)


@solver_dataclass
class Unrolled(_HypergradientSolver):
    """Iterative differentiation (ITD): backpropagate through ``inner_steps`` inner steps.

    Each outer step runs exactly ``inner_steps`` steps of the inner optimizer from the
    warm start ``y`` and differentiates ``f(x, y_K(x))`` through them with
    :class:`optlib.UnrolledAdjoint` (``lax.scan``; memory linear in ``inner_steps``).
    The hypergradient is exact for the truncated procedure, biased for the true one.
    With ``problem.project_inner`` the inner steps are projected and the backward pass
    differentiates through the projections too (autodiff's derivative of ``P``).

    Args:
        problem: the :class:`BilevelProblem` (static); ``project_inner`` is applied after
            every inner step.
        outer_optimizer: optax transformation or factory for ``x`` (static).
        outer_hyperparams: factory keyword arguments (traced).
        inner_optimizer: optax transformation or factory for ``y`` (static).
        inner_hyperparams: factory keyword arguments (traced).
        inner_steps: number of unrolled steps (static).
        tol: stop when the hypergradient norm falls below ``tol`` (``0``: never).

    Example:
        >>> import jax, optlib
        >>> from optlib.bilevel import Unrolled, problems
        >>> quad = problems.quadratic(jax.random.key(0), dim_outer=3, dim_inner=5)
        >>> solver = Unrolled(quad.problem, inner_hyperparams={"learning_rate": 1.0},
        ...                   inner_steps=200)
        >>> _, grad, _ = solver.hypergradient(quad.x0, quad.y0, quad.inner_data, quad.outer_data)
        >>> bool(abs(grad - quad.hypergradient(quad.x0)).max() < 1e-3)
        True

    References:
        Franceschi et al., "Forward and reverse gradient-based hyperparameter
        optimization", ICML 2017.
    """

    problem: BilevelProblem = static_field()
    outer_optimizer: Optimizer = static_field(default=optax.sgd)
    outer_hyperparams: Mapping[str, Any] | None = learning_rate(0.1)
    inner_optimizer: Optimizer = static_field(default=optax.sgd)
    inner_hyperparams: Mapping[str, Any] | None = learning_rate(0.1)
    inner_steps: int = static_field(default=50)
    tol: float = 0.0

    def _adjoint(self) -> Any:
        return UnrolledAdjoint()
