"""The penalty method of Kwon, Kwon, Wright & Nowak (ICLR 2024): double loop and single loop."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax import lax

from optlib.bilevel._common import (
    BilevelInfo,
    ChecksInputs,
    Optimizer,
    apply,
    check_int,
    check_pair,
    check_positive,
    learning_rate,
    make_transformation,
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

_VARIANTS = ("double_loop", "single_loop")


class PenaltyState(NamedTuple):
    """State of :class:`Penalty`.

    Attributes:
        count: ``int32[]`` outer steps taken.
        z: the iterate tracking ``argmin_y g(x, y)`` (the value-function copy).
        outer_opt_state, inner_opt_state, z_opt_state: optax states for ``x``, ``y``, ``z``.
        prev: ``(x, y, z)`` of the previous step (single loop: STORM correction).
        directions: ``(d_x, d_y, d_z)`` of the previous step (single loop).
    """

    count: jax.Array
    z: PyTree
    outer_opt_state: PyTree
    inner_opt_state: PyTree
    z_opt_state: PyTree
    prev: PyTree
    directions: PyTree


@solver_dataclass
class Penalty(ChecksInputs):
    """Fully first-order penalty method for bilevel problems (Kwon et al., ICLR 2024).

    It minimizes the penalized hyper-objective
    ``psi_sigma(x) = min_y f(x, y) + (g(x, y) - g*(x)) / sigma`` whose gradient is
    ``grad_x f(x, y_s) + (grad_x g(x, y_s) - grad_x g(x, z)) / sigma`` with
    ``y_s in argmin_y sigma f + g`` and ``z in argmin_y g``. Only gradients are used (no
    Hessians), ``y`` and ``z`` are updated by projected inner steps, and the lower level
    may have several minimizers (the optimistic solution is approached, with an
    ``O(sigma)`` bias). The penalty follows ``sigma_k = max(sigma, sigma0 (k+1)^-decay)``.

    ``variant="double_loop"`` runs ``inner_steps`` steps on ``y`` (on ``sigma f + g``) and
    on ``z`` (on ``g``) per outer step. ``variant="single_loop"`` takes one step on each
    of ``x``, ``y``, ``z`` per iteration along STORM momentum directions
    ``d_k = G(s_k; xi_k) + (1 - momentum)(d_{k-1} - G(s_{k-1}; xi_k))``; with
    ``momentum=1`` it is plain simultaneous SGD.

    Params are ``(x, y)``; run with ``optlib.run(solver, (x0, y0), inner_data, outer_data)``.
    The paper's appendix (Moreau-envelope terms with a parameter ``rho`` for nonconvex
    constrained lower levels) could not be read; the inner loops here are plain projected
    gradient steps (see the bilevel guide for exactly what may differ).

    Args:
        problem: the :class:`BilevelProblem` (static); its projections are applied.
        outer_optimizer: optax transformation or factory for ``x`` (static).
        outer_hyperparams: factory keyword arguments (traced).
        inner_optimizer: optax transformation or factory for ``y`` and ``z`` (static); it
            sees the gradient of ``sigma f + g``, so its step is set by the lower level's
            smoothness, independent of ``sigma``.
        inner_hyperparams: factory keyword arguments (traced).
        sigma: the final (smallest) penalty parameter, > 0.
        sigma0: the initial penalty parameter, > 0.
        sigma_decay: exponent of the decrease (``0``: constant ``max(sigma, sigma0)``).
        inner_steps: inner steps per outer step in the double loop (static).
        variant: ``"double_loop"`` or ``"single_loop"`` (static).
        momentum: STORM parameter in ``(0, 1]`` for the single loop.
        tol: stop when the hypergradient estimate's norm falls below ``tol`` (``0``: never).

    Example:
        >>> import jax.numpy as jnp, optlib
        >>> from optlib.bilevel import Penalty, problems
        >>> toy = problems.non_unique_lower_level()
        >>> solver = Penalty(toy.problem, sigma=0.5, sigma0=0.5,
        ...                  outer_hyperparams={"learning_rate": 0.5},
        ...                  inner_hyperparams={"learning_rate": 0.5}, inner_steps=20)
        >>> result = optlib.run(solver, (toy.x0, toy.y0), max_steps=300)
        >>> result.params[0].round(3).tolist(), result.params[1].round(3).tolist()
        ([1.0], [1.0, 1.0])

    References:
        Kwon, Kwon, Wright & Nowak, "On penalty methods for nonconvex bilevel optimization
        and first-order stochastic approximation", ICLR 2024.
    """

    problem: BilevelProblem = static_field()
    outer_optimizer: Optimizer = static_field(default=optax.sgd)
    outer_hyperparams: Mapping[str, Any] | None = learning_rate(0.1)
    inner_optimizer: Optimizer = static_field(default=optax.sgd)
    inner_hyperparams: Mapping[str, Any] | None = learning_rate(0.1)
    sigma: float = 1e-2
    sigma0: float = 1.0
    sigma_decay: float = 6.0 / 7.0
    inner_steps: int = static_field(default=10)
    variant: str = static_field(default="double_loop")
    momentum: float = 0.5
    tol: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.problem, BilevelProblem):
            raise ValueError(f"problem must be a BilevelProblem, got {type(self.problem)!r}")
        if self.variant not in _VARIANTS:
            raise ValueError(f"variant must be one of {_VARIANTS}, got {self.variant!r}")
        check_int("inner_steps", self.inner_steps)
        check_positive("sigma", self.sigma)
        check_positive("sigma0", self.sigma0)
        check_positive("momentum", self.momentum)

    def sigma_at(self, count: jax.Array, like: PyTree) -> jax.Array:
        """The penalty parameter used at outer step ``count``."""
        k = jnp.asarray(count, scalar(0.0, like).dtype)
        return jnp.maximum(scalar(self.sigma, like),
                           scalar(self.sigma0, like) * (k + 1) ** -scalar(self.sigma_decay, like))

    def _txs(self, x: PyTree, y: PyTree) -> tuple:
        return (make_transformation(self.outer_optimizer, self.outer_hyperparams, x, "outer"),
                make_transformation(self.inner_optimizer, self.inner_hyperparams, y, "inner"))

    def init(self, params: PyTree, inner_data: PyTree = None, outer_data: PyTree = None,
             key: jax.Array | None = None) -> PenaltyState:
        x, y = check_pair(self.problem, params, inner_data, outer_data, key)
        tx_x, tx_y = self._txs(x, y)
        zeros = jax.tree.map(jnp.zeros_like, (x, y, y))
        return PenaltyState(jnp.zeros((), jnp.int32), y, tx_x.init(x), tx_y.init(y),
                            tx_y.init(y), (x, y, y), zeros)

    def _directions(self, x: PyTree, y: PyTree, z: PyTree, sigma: jax.Array, batches: tuple
                    ) -> tuple[PyTree, PyTree, PyTree, jax.Array]:
        """``(d_x, d_y, d_z, f)``: penalized hypergradient and the two lower-level gradients."""
        p = self.problem
        ib_y, ib_z, ob = batches
        f_val, (fx, fy) = jax.value_and_grad(p.outer, argnums=(0, 1))(x, y, ob)
        gx_y, gy_y = jax.grad(p.inner, argnums=(0, 1))(x, y, ib_y)
        gx_z, gy_z = jax.grad(p.inner, argnums=(0, 1))(x, z, ib_z)
        inv = 1.0 / sigma
        d_x = tree_add(fx, tree_scale(inv, tree_sub(gx_y, gx_z)))
        d_y = tree_add(tree_scale(sigma, fy), gy_y)
        return d_x, d_y, gy_z, f_val

    def _batches(self, inner_data: PyTree, outer_data: PyTree, key: jax.Array | None) -> tuple:
        k1, k2, k3 = split_keys(key, 3)
        p = self.problem
        return (p.inner_batch(inner_data, k1), p.inner_batch(inner_data, k2),
                p.outer_batch(outer_data, k3))

    def step(self, params: PyTree, state: PyTree, inner_data: PyTree = None,
             outer_data: PyTree = None, key: jax.Array | None = None
             ) -> tuple[PyTree, PenaltyState, BilevelInfo]:
        if self.variant == "double_loop":
            return self._double_loop(params, state, inner_data, outer_data, key)
        return self._single_loop(params, state, inner_data, outer_data, key)

    def _double_loop(self, params: PyTree, state: PenaltyState, inner_data: PyTree,
                     outer_data: PyTree, key: jax.Array | None
                     ) -> tuple[PyTree, PenaltyState, BilevelInfo]:
        p = self.problem
        x, y = params
        tx_x, tx_y = self._txs(x, y)
        sigma = self.sigma_at(state.count, x)
        inner_key, outer_key = split_keys(key, 2)

        def inner_step(carry: tuple, i: jax.Array) -> tuple:
            y, z, sy, sz = carry
            k = None if inner_key is None else jax.random.fold_in(inner_key, i)
            k1, k2, k3 = split_keys(k, 3)
            fy = jax.grad(p.outer, argnums=1)(x, y, p.outer_batch(outer_data, k3))
            gy = jax.grad(p.inner, argnums=1)(x, y, p.inner_batch(inner_data, k1))
            gz = jax.grad(p.inner, argnums=1)(x, z, p.inner_batch(inner_data, k2))
            y, sy = apply(tx_y, tree_add(tree_scale(sigma, fy), gy), sy, y, p.proj_y)
            z, sz = apply(tx_y, gz, sz, z, p.proj_y)
            return (y, z, sy, sz), None

        (y, z, sy, sz), _ = lax.scan(
            inner_step, (y, state.z, state.inner_opt_state, state.z_opt_state),
            jnp.arange(self.inner_steps))
        d_x, _, gz, f_val = self._directions(x, y, z, sigma,
                                             self._batches(inner_data, outer_data, outer_key))
        x_new, sx = apply(tx_x, d_x, state.outer_opt_state, x, p.proj_x)
        new_state = state._replace(count=state.count + 1, z=z, outer_opt_state=sx,
                                   inner_opt_state=sy, z_opt_state=sz)
        return (x_new, y), new_state, BilevelInfo(f_val, tree_norm(d_x), tree_norm(gz))

    def _single_loop(self, params: PyTree, state: PenaltyState, inner_data: PyTree,
                     outer_data: PyTree, key: jax.Array | None
                     ) -> tuple[PyTree, PenaltyState, BilevelInfo]:
        p = self.problem
        x, y = params
        z = state.z
        tx_x, tx_y = self._txs(x, y)
        sigma = self.sigma_at(state.count, x)
        batches = self._batches(inner_data, outer_data, key)
        d_x, d_y, d_z, f_val = self._directions(x, y, z, sigma, batches)
        # STORM: correct the old direction with the same sample at the previous point.
        px, py, pz = state.prev
        sigma_prev = self.sigma_at(jnp.maximum(state.count - 1, 0), x)
        o_x, o_y, o_z, _ = self._directions(px, py, pz, sigma_prev, batches)
        first = state.count == 0
        keep = jnp.where(first, 0.0, 1.0 - scalar(self.momentum, x))

        def storm(new: PyTree, old_dir: PyTree, old_at_prev: PyTree) -> PyTree:
            return tree_add(new, tree_scale(keep, tree_sub(old_dir, old_at_prev)))

        dir_x, dir_y, dir_z = state.directions
        d_x, d_y, d_z = storm(d_x, dir_x, o_x), storm(d_y, dir_y, o_y), storm(d_z, dir_z, o_z)
        x_new, sx = apply(tx_x, d_x, state.outer_opt_state, x, p.proj_x)
        y_new, sy = apply(tx_y, d_y, state.inner_opt_state, y, p.proj_y)
        z_new, sz = apply(tx_y, d_z, state.z_opt_state, z, p.proj_y)
        new_state = PenaltyState(state.count + 1, z_new, sx, sy, sz, (x, y, z), (d_x, d_y, d_z))
        return (x_new, y_new), new_state, BilevelInfo(f_val, tree_norm(d_x), tree_norm(d_z))

    def terminate(self, params: PyTree, state: PenaltyState, info: BilevelInfo
                  ) -> tuple[jax.Array, jax.Array]:
        del params, state
        return terminate(info, self.tol)
