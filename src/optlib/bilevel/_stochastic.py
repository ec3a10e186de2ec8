"""Stochastic single-loop hypergradient solvers: SOBA, BO-REP and F2SA."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax import lax

from optlib.bilevel._aid import gradient_mapping
from optlib.bilevel._common import (
    BilevelInfo,
    ChecksInputs,
    Optimizer,
    apply,
    check_int,
    check_pair,
    check_positive,
    inverse_power_sgd,
    make_transformation,
    normalized_momentum,
    scalar,
    split_keys,
    terminate,
    tree_add,
    tree_scale,
    tree_sub,
)
from optlib.bilevel._problem import BilevelProblem
from optlib.core._base import solver_dataclass, static_field
from optlib.core._tree import tree_norm

PyTree = Any


def _check_problem(problem: Any) -> None:
    if not isinstance(problem, BilevelProblem):
        raise ValueError(f"problem must be a BilevelProblem, got {type(problem)!r}")


def _hvp_pieces(problem: BilevelProblem, x: PyTree, y: PyTree, v: PyTree, inner_batch: Any
                ) -> tuple[PyTree, PyTree, PyTree]:
    """``(grad_y g, grad^2_xy g v, grad^2_yy g v)`` from one VJP of ``grad_y g``.

    With ``project_inner`` the VJP is that of the gradient mapping
    ``F(x, y) = y - P(y - grad_y g(x, y))`` (the optimality condition of the constrained
    lower level, as in :class:`ImplicitDiff` with ``fixed_point_step=1``), so ``v``
    solves the constrained adjoint system; without it ``F = grad_y g``.
    """

    def optimality(x: PyTree, y: PyTree) -> tuple[PyTree, PyTree]:
        grad = jax.grad(problem.inner, argnums=1)(x, y, inner_batch)
        if problem.project_inner is None:
            return grad, grad
        return gradient_mapping(y, grad, problem.proj_y, scalar(1.0, grad)), grad

    _, vjp, grad_y = jax.vjp(optimality, x, y, has_aux=True)
    cross, hvp = vjp(v)
    return grad_y, cross, hvp


class SOBAState(NamedTuple):
    """State of :class:`SOBA` and :class:`BOREP`.

    Attributes:
        count: ``int32[]`` steps taken.
        v: the linear-system variable, ``~ [grad^2_yy g]^{-1} grad_y f``.
        outer_opt_state, inner_opt_state, v_opt_state: optax states for ``x``, ``y``, ``v``.
    """

    count: jax.Array
    v: PyTree
    outer_opt_state: PyTree
    inner_opt_state: PyTree
    v_opt_state: PyTree


@solver_dataclass
class SOBA(ChecksInputs):
    """SOBA: one stochastic step on ``y``, on the linear-system variable ``v`` and on ``x``.

    Per step, at the current ``(x, y, v)`` and with fresh minibatches:
    ``y <- y - step(grad_y g)``, ``v <- v - step(grad^2_yy g v - grad_y f)`` and
    ``x <- x - step(grad_x f - grad^2_xy g v)``. Both second-order products come from one
    VJP of ``grad_y g``. Defaults follow the benchopt bilevel benchmark: step ``0.1``
    decaying as ``(t+1)^-1/2`` on both levels.

    Args:
        problem: the :class:`BilevelProblem` (static).
        outer_optimizer: optax transformation or factory for ``x`` (static).
        outer_hyperparams: factory keyword arguments (traced).
        inner_optimizer: optax transformation or factory for ``y`` and ``v`` (static).
        inner_hyperparams: factory keyword arguments (traced).
        tol: stop when the hypergradient estimate's norm falls below ``tol`` (``0``: never).

    Example:
        >>> import jax, optlib
        >>> from optlib.bilevel import SOBA, problems
        >>> quad = problems.quadratic(jax.random.key(0), dim_outer=3, dim_inner=5)
        >>> solver = SOBA(quad.problem, outer_hyperparams={"learning_rate": 0.5, "power": 0.0},
        ...               inner_hyperparams={"learning_rate": 0.5, "power": 0.0})
        >>> result = optlib.run(solver, (quad.x0, quad.y0), quad.inner_data, quad.outer_data,
        ...                     max_steps=3000)
        >>> bool(abs(result.params[0] - quad.solution()[0]).max() < 1e-5)
        True

    References:
        Dagreou, Ablin, Vaiter & Moreau, "A framework for bilevel optimization that enables
        stochastic and global variance reduction algorithms", NeurIPS 2022.
    """

    problem: BilevelProblem = static_field()
    outer_optimizer: Optimizer = static_field(default=inverse_power_sgd)
    outer_hyperparams: Mapping[str, Any] | None = None
    inner_optimizer: Optimizer = static_field(default=inverse_power_sgd)
    inner_hyperparams: Mapping[str, Any] | None = None
    tol: float = 0.0

    def __post_init__(self) -> None:
        _check_problem(self.problem)

    def _txs(self, x: PyTree, y: PyTree) -> tuple:
        ohp = self.outer_hyperparams
        ihp = self.inner_hyperparams
        if self.outer_optimizer is inverse_power_sgd and ohp is None:
            ohp = {"learning_rate": 0.1, "power": 0.5}
        if self.inner_optimizer is inverse_power_sgd and ihp is None:
            ihp = {"learning_rate": 0.1, "power": 0.5}
        return (make_transformation(self.outer_optimizer, ohp, x, "outer"),
                make_transformation(self.inner_optimizer, ihp, y, "inner"))

    def init(self, params: PyTree, inner_data: PyTree = None, outer_data: PyTree = None,
             key: jax.Array | None = None) -> SOBAState:
        x, y = check_pair(self.problem, params, inner_data, outer_data, key)
        tx_x, tx_y = self._txs(x, y)
        v = jax.tree.map(jnp.zeros_like, y)
        return SOBAState(jnp.zeros((), jnp.int32), v, tx_x.init(x), tx_y.init(y), tx_y.init(v))

    def _estimate(self, x: PyTree, y: PyTree, v: PyTree, inner_data: PyTree,
                  outer_data: PyTree, key: jax.Array | None) -> tuple:
        p = self.problem
        k1, k2 = split_keys(key, 2)
        grad_y, cross, hvp = _hvp_pieces(p, x, y, v, p.inner_batch(inner_data, k1))
        f_val, (fx, fy) = jax.value_and_grad(p.outer, argnums=(0, 1))(
            x, y, p.outer_batch(outer_data, k2))
        return grad_y, tree_sub(hvp, fy), tree_sub(fx, cross), f_val

    def step(self, params: PyTree, state: SOBAState, inner_data: PyTree = None,
             outer_data: PyTree = None, key: jax.Array | None = None
             ) -> tuple[PyTree, SOBAState, BilevelInfo]:
        p = self.problem
        x, y = params
        tx_x, tx_y = self._txs(x, y)
        grad_y, d_v, d_x, f_val = self._estimate(x, y, state.v, inner_data, outer_data, key)
        y_new, sy = apply(tx_y, grad_y, state.inner_opt_state, y, p.proj_y)
        v_new, sv = apply(tx_y, d_v, state.v_opt_state, state.v, lambda t: t)
        x_new, sx = apply(tx_x, d_x, state.outer_opt_state, x, p.proj_x)
        return (x_new, y_new), SOBAState(state.count + 1, v_new, sx, sy, sv), BilevelInfo(
            f_val, tree_norm(d_x), tree_norm(grad_y))

    def terminate(self, params: PyTree, state: SOBAState, info: BilevelInfo
                  ) -> tuple[jax.Array, jax.Array]:
        del params, state
        return terminate(info, self.tol)


@solver_dataclass
class BOREP(ChecksInputs):
    """BO-REP: bilevel optimization with lower-level initialization refinement and periodic updates.

    For upper levels with unbounded smoothness (Hao, Gong & Liu, ICLR 2024). Every
    ``period`` steps (including step 0, which doubles as the initialization refinement)
    ``y`` takes ``inner_steps`` inner-optimizer steps on ``g`` with fresh minibatches; in
    between ``y`` is frozen. Each step updates the linear-system variable
    ``v <- Pi_R(v - linear_system_lr (grad^2_yy g v - grad_y f))``, forms
    ``grad_x f - grad^2_xy g v`` and feeds it to the outer optimizer, by default
    :func:`normalized_momentum` (``m <- beta m + (1 - beta) d``, ``x <- x - lr m/||m||``).

    Defaults from the authors' code (``data_cleaning``): outer lr ``5e-2``, ``beta=0.9``,
    inner lr ``5e-2``, ``linear_system_lr=1e-2``, ``period=2``, ``inner_steps=10``. The code
    has no projection of ``v`` (``radius=inf`` here) and starts ``v`` at random; we start at 0.

    Args:
        problem: the :class:`BilevelProblem` (static).
        outer_optimizer: optax transformation or factory for ``x`` (static).
        outer_hyperparams: factory keyword arguments (traced).
        inner_optimizer: optax transformation or factory for ``y`` (static).
        inner_hyperparams: factory keyword arguments (traced).
        linear_system_lr: step on ``v``.
        radius: ``v`` is projected onto the ball of this radius.
        period: ``I``, steps between lower-level updates (static).
        inner_steps: ``N``, lower-level steps per update (static).
        tol: stop when the hypergradient estimate's norm falls below ``tol`` (``0``: never).

    Example:
        >>> import optax, optlib
        >>> from optlib.bilevel import BOREP, normalized_momentum, problems
        >>> toy = problems.unbounded_smoothness()
        >>> solver = BOREP(toy.problem, outer_optimizer=normalized_momentum(
        ...     optax.exponential_decay(0.1, 100, 0.7), beta=0.5),
        ...     outer_hyperparams=None, inner_hyperparams={"learning_rate": 0.5},
        ...     linear_system_lr=0.5)
        >>> result = optlib.run(solver, (toy.x0, toy.y0), max_steps=2000)
        >>> bool(abs(result.params[0] - toy.x_star)[0] < 1e-3)
        True

    References:
        Hao, Gong & Liu, "Bilevel optimization under unbounded smoothness: a new algorithm
        and convergence analysis", ICLR 2024.
    """

    problem: BilevelProblem = static_field()
    outer_optimizer: Optimizer = static_field(default=normalized_momentum)
    outer_hyperparams: Mapping[str, Any] | None = None
    inner_optimizer: Optimizer = static_field(default=optax.sgd)
    inner_hyperparams: Mapping[str, Any] | None = None
    linear_system_lr: float = 1e-2
    radius: float = float("inf")
    period: int = static_field(default=2)
    inner_steps: int = static_field(default=10)
    tol: float = 0.0

    def __post_init__(self) -> None:
        _check_problem(self.problem)
        check_int("period", self.period)
        check_int("inner_steps", self.inner_steps)
        check_positive("linear_system_lr", self.linear_system_lr)

    def _txs(self, x: PyTree, y: PyTree) -> tuple:
        ohp, ihp = self.outer_hyperparams, self.inner_hyperparams
        if self.outer_optimizer is normalized_momentum and ohp is None:
            ohp = {"learning_rate": 5e-2, "beta": 0.9}
        if self.inner_optimizer is optax.sgd and ihp is None:
            ihp = {"learning_rate": 5e-2}
        return (make_transformation(self.outer_optimizer, ohp, x, "outer"),
                make_transformation(self.inner_optimizer, ihp, y, "inner"))

    def init(self, params: PyTree, inner_data: PyTree = None, outer_data: PyTree = None,
             key: jax.Array | None = None) -> SOBAState:
        x, y = check_pair(self.problem, params, inner_data, outer_data, key)
        tx_x, tx_y = self._txs(x, y)
        v = jax.tree.map(jnp.zeros_like, y)
        return SOBAState(jnp.zeros((), jnp.int32), v, tx_x.init(x), tx_y.init(y), ())

    def step(self, params: PyTree, state: SOBAState, inner_data: PyTree = None,
             outer_data: PyTree = None, key: jax.Array | None = None
             ) -> tuple[PyTree, SOBAState, BilevelInfo]:
        p = self.problem
        x, y = params
        tx_x, tx_y = self._txs(x, y)
        lower_key, k1, k2 = split_keys(key, 3)

        def refine(args: tuple) -> tuple:
            def one(carry: tuple, i: jax.Array) -> tuple:
                y, s = carry
                k = None if lower_key is None else jax.random.fold_in(lower_key, i)
                g = jax.grad(p.inner, argnums=1)(x, y, p.inner_batch(inner_data, k))
                return apply(tx_y, g, s, y, p.proj_y), None

            return lax.scan(one, args, jnp.arange(self.inner_steps))[0]

        y, sy = lax.cond(state.count % self.period == 0, refine, lambda a: a,
                         (y, state.inner_opt_state))
        grad_y, cross, hvp = _hvp_pieces(p, x, y, state.v, p.inner_batch(inner_data, k1))
        f_val, (fx, fy) = jax.value_and_grad(p.outer, argnums=(0, 1))(
            x, y, p.outer_batch(outer_data, k2))
        nu = scalar(self.linear_system_lr, y)
        v = tree_sub(state.v, tree_scale(nu, tree_sub(hvp, fy)))
        v_norm = tree_norm(v)
        v = tree_scale(jnp.minimum(1.0, scalar(self.radius, y) / jnp.maximum(v_norm, 1e-30)), v)
        # The cross term uses the updated v, as in the paper's algorithm.
        _, cross, _ = _hvp_pieces(p, x, y, v, p.inner_batch(inner_data, k1))
        d_x = tree_sub(fx, cross)
        x_new, sx = apply(tx_x, d_x, state.outer_opt_state, x, p.proj_x)
        return (x_new, y), SOBAState(state.count + 1, v, sx, sy, ()), BilevelInfo(
            f_val, tree_norm(d_x), tree_norm(grad_y))

    def terminate(self, params: PyTree, state: SOBAState, info: BilevelInfo
                  ) -> tuple[jax.Array, jax.Array]:
        del params, state
        return terminate(info, self.tol)


class F2SAState(NamedTuple):
    """State of :class:`F2SA`.

    Attributes:
        count: ``int32[]`` outer steps taken.
        z: the iterate tracking ``argmin_y g``.
        lmbda: the current penalty multiplier ``lambda = 1/sigma``.
    """

    count: jax.Array
    z: PyTree
    lmbda: jax.Array


@solver_dataclass
class F2SA(ChecksInputs):
    """F2SA, the fully first-order stochastic approximation of Kwon et al. (ICML 2023).

    The benchopt bilevel-benchmark form: per outer step, ``inner_steps`` SGD steps on
    ``y`` (on ``lambda g + f``) and on ``z`` (on ``g``) with fresh minibatches, then
    ``x <- x - lr_x (grad_x f(y) + lambda (grad_x g(y) - grad_x g(z)))`` and
    ``lambda <- lambda + delta_lmbda (t+1)^-1/7``. Steps decay as ``step_size (t+1)^-e``
    with ``e = 5/7`` (``y``), ``4/7`` (``z``) and ``4/7`` (``x``, with
    ``step_size / outer_ratio``). ``y`` sees the gradient of ``lambda g + f``, so its step
    must shrink like ``1/lambda``; here it is divided by ``lambda`` (as in
    :class:`Penalty`'s scaling), which keeps the defaults stable as ``lambda`` grows.

    Args:
        problem: the :class:`BilevelProblem` (static).
        step_size: base inner step (benchopt default ``0.01``).
        outer_ratio: outer step is ``step_size / outer_ratio``.
        lmbda0: initial ``lambda``.
        delta_lmbda: ``lambda`` increment base.
        inner_steps: inner steps per outer step (static).
        lmbda_max: cap on ``lambda`` (``inf``: none).
        exponents: decay exponents of the steps of ``y``, ``z``, ``x`` and of the
            ``lambda`` increment (``0`` gives constant steps).
        tol: stop when the hypergradient estimate's norm falls below ``tol`` (``0``: never).

    Example:
        >>> import jax, optlib
        >>> from optlib.bilevel import F2SA, problems
        >>> toy = problems.non_unique_lower_level()
        >>> solver = F2SA(toy.problem, step_size=0.5, lmbda0=2.0, delta_lmbda=0.0)
        >>> result = optlib.run(solver, (toy.x0, toy.y0), max_steps=3000)
        >>> result.params[0].round(3).tolist()
        [1.0]

    References:
        Kwon, Kwon, Wright & Nowak, "A fully first-order method for stochastic bilevel
        optimization", ICML 2023; Dagreou et al., benchopt ``benchmark_bilevel``.
    """

    problem: BilevelProblem = static_field()
    step_size: float = 0.01
    outer_ratio: float = 1.0
    lmbda0: float = 1.0
    delta_lmbda: float = 0.1
    inner_steps: int = static_field(default=10)
    lmbda_max: float = float("inf")
    exponents: tuple = (5.0 / 7.0, 4.0 / 7.0, 4.0 / 7.0, 1.0 / 7.0)
    tol: float = 0.0

    def __post_init__(self) -> None:
        _check_problem(self.problem)
        check_int("inner_steps", self.inner_steps)
        if len(self.exponents) != 4:
            raise ValueError(f"exponents must be 4 decay exponents (y, z, x, lambda), got "
                             f"{self.exponents!r}")
        for name in ("step_size", "outer_ratio", "lmbda0"):
            check_positive(name, getattr(self, name))

    def init(self, params: PyTree, inner_data: PyTree = None, outer_data: PyTree = None,
             key: jax.Array | None = None) -> F2SAState:
        x, y = check_pair(self.problem, params, inner_data, outer_data, key)
        return F2SAState(jnp.zeros((), jnp.int32), y, scalar(self.lmbda0, x))

    def step(self, params: PyTree, state: F2SAState, inner_data: PyTree = None,
             outer_data: PyTree = None, key: jax.Array | None = None
             ) -> tuple[PyTree, F2SAState, BilevelInfo]:
        p = self.problem
        x, y = params
        t = jnp.asarray(state.count, state.lmbda.dtype) + 1
        base = scalar(self.step_size, x)
        lam = state.lmbda
        e_y, e_z, e_x, e_l = (scalar(e, x) for e in self.exponents)
        lr_y = base * t**-e_y / lam
        lr_z = base * t**-e_z
        lr_x = base / scalar(self.outer_ratio, x) * t**-e_x
        inner_key, outer_key = split_keys(key, 2)

        def inner_step(carry: tuple, i: jax.Array) -> tuple:
            y, z = carry
            k = None if inner_key is None else jax.random.fold_in(inner_key, i)
            k1, k2, k3 = split_keys(k, 3)
            gy = jax.grad(p.inner, argnums=1)(x, y, p.inner_batch(inner_data, k1))
            fy = jax.grad(p.outer, argnums=1)(x, y, p.outer_batch(outer_data, k3))
            gz = jax.grad(p.inner, argnums=1)(x, z, p.inner_batch(inner_data, k2))
            y = p.proj_y(tree_sub(y, tree_scale(lr_y, tree_add(tree_scale(lam, gy), fy))))
            z = p.proj_y(tree_sub(z, tree_scale(lr_z, gz)))
            return (y, z), None

        (y, z), _ = lax.scan(inner_step, (y, state.z), jnp.arange(self.inner_steps))
        k1, k2, k3 = split_keys(outer_key, 3)
        f_val, fx = jax.value_and_grad(p.outer)(x, y, p.outer_batch(outer_data, k3))
        gx_y = jax.grad(p.inner)(x, y, p.inner_batch(inner_data, k1))
        gx_z, gy_z = jax.grad(p.inner, argnums=(0, 1))(x, z, p.inner_batch(inner_data, k2))
        d_x = tree_add(fx, tree_scale(lam, tree_sub(gx_y, gx_z)))
        x_new = p.proj_x(tree_sub(x, tree_scale(lr_x, d_x)))
        lam_new = jnp.minimum(lam + scalar(self.delta_lmbda, x) * t**-e_l,
                              scalar(self.lmbda_max, x))
        return (x_new, y), F2SAState(state.count + 1, z, lam_new), BilevelInfo(
            f_val, tree_norm(d_x), tree_norm(gy_z))

    def terminate(self, params: PyTree, state: F2SAState, info: BilevelInfo
                  ) -> tuple[jax.Array, jax.Array]:
        del params, state
        return terminate(info, self.tol)
