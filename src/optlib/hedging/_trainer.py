"""Training a hedging policy through :func:`optlib.run` with any optax optimizer or K-FAC."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from optlib.core._base import solver_dataclass, static_field
from optlib.core._tree import tree_norm
from optlib.curvature._kfac import KFACTransformation
from optlib.curvature._quadratic import ggn_gram
from optlib.curvature._taps import TAP_COLLECTIONS, curvature_stats
from optlib.hedging._heston import Paths
from optlib.hedging._problem import HedgingProblem

PyTree = Any


class DeepHedgerState(NamedTuple):
    """State of :class:`DeepHedger`.

    Attributes:
        count: ``int32[]``, steps taken.
        opt_state: the optimizer's state.
    """

    count: jax.Array
    opt_state: PyTree


class DeepHedgerInfo(NamedTuple):
    """What one training step saw (on its training paths, before the update).

    Attributes:
        risk: the objective ``risk(P&L)``.
        grad_norm: norm of its gradient.
        pnl_mean: mean P&L.
        pnl_std: standard deviation of the P&L.
        cost: mean transaction cost per path.
    """

    risk: jax.Array
    grad_norm: jax.Array
    pnl_mean: jax.Array
    pnl_std: jax.Array
    cost: jax.Array


@functools.partial(jax.jit, static_argnums=(0, 2, 3))
def _init_policy(policy: nn.Module, key: jax.Array, num_steps: int, dtype: jnp.dtype) -> PyTree:
    # Compiled once per (policy, shape, dtype): flax's eager init dispatches every
    # operation of the model (an LSTM's scan included) one at a time.
    return policy.init(key, jnp.zeros((1, num_steps, 3), dtype))["params"]


@solver_dataclass
class DeepHedger:
    """Deep hedging (Buehler et al. 2019): minimise ``risk(P&L)`` over a policy's weights.

    Each step simulates ``num_paths`` fresh paths with the step's key (or uses the
    fixed :class:`Paths` passed as the first extra argument of :func:`optlib.run`),
    computes the risk of the hedged P&L and its gradient, and applies the optimizer.
    When the optimizer is :func:`optlib.curvature.kfac`, the step also computes the
    Kronecker-factor statistics (GGN of the risk in the P&L) on the first
    ``stats_paths`` paths and passes ``curvature=``, ``value=``, ``value_fn=`` and
    ``ggn_gram=`` (the exact GGN of the risk in the P&L on all the step's paths, for
    K-FAC's adaptive learning rate and momentum).
    With fresh paths the objective is stochastic and the run uses its ``max_steps``.

    Args:
        problem: the :class:`HedgingProblem` (static).
        policy: a flax module mapping ``(N, n, F)`` features to ``(N, n)`` positions (static).
        optimizer: an optax transformation, or a factory such as ``optax.adam`` or
            ``optlib.curvature.kfac`` used with ``hyperparams`` (static).
        hyperparams: keyword arguments of the factory (traced: a new learning rate does
            not recompile).
        num_paths: training paths per step (static).
        stats_paths: paths used for the K-FAC statistics (static; ``None``: all).
        curvature: ``"ggn"`` or ``"fisher"`` (static; K-FAC only).
        tol: stop when the gradient norm falls below ``tol`` (default ``0``: run
            ``max_steps``; useful with fixed paths, where the objective is deterministic).

    Example:
        >>> import jax, optax, optlib, optlib.hedging as h
        >>> problem = h.HedgingProblem()
        >>> policy = h.MLPHedger((8,))
        >>> solver = h.DeepHedger(problem, policy, optax.adam, {"learning_rate": 1e-2},
        ...                       num_paths=256)
        >>> params = solver.init_params(jax.random.key(0))
        >>> result = optlib.run(solver, params, key=jax.random.key(1), max_steps=5)
        >>> int(result.num_steps)
        5
    """

    problem: HedgingProblem = static_field()
    policy: nn.Module = static_field()
    optimizer: optax.GradientTransformation | Callable[..., optax.GradientTransformation] = (
        static_field())
    hyperparams: Mapping[str, Any] | None = None
    num_paths: int = static_field(default=4096)
    stats_paths: int | None = static_field(default=None)
    curvature: str = static_field(default="ggn")
    tol: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.num_paths, int) or self.num_paths <= 0:
            raise ValueError(f"num_paths must be a positive integer, got {self.num_paths!r}")
        if self.stats_paths is not None and not (
                isinstance(self.stats_paths, int) and 0 < self.stats_paths <= self.num_paths):
            raise ValueError(f"stats_paths must be an integer in [1, num_paths], "
                             f"got {self.stats_paths!r}")

    def _transformation(self) -> optax.GradientTransformation:
        if isinstance(self.optimizer, optax.GradientTransformation):
            if self.hyperparams:
                raise ValueError("hyperparams are only used with an optimizer factory")
            return self.optimizer
        return self.optimizer(**(self.hyperparams or {}))

    def init_params(self, key: jax.Array, dtype: jnp.dtype | None = None) -> PyTree:
        """Initial policy weights for this problem's feature shape."""
        dtype = jnp.dtype(dtype or jnp.result_type(float))
        return _init_policy(self.policy, key, self.problem.num_steps, dtype)

    def hedge(self, params: PyTree, paths: Paths) -> jax.Array:
        """The policy's positions ``(N, n)`` on ``paths``."""
        feats = self.problem.features(paths).astype(jax.tree.leaves(params)[0].dtype)
        return self.policy.apply({"params": params}, feats)

    def _paths(self, args: tuple, key: jax.Array | None, dtype: jnp.dtype) -> Paths:
        if args:
            paths = args[0]
            if not isinstance(paths, Paths):
                raise ValueError(f"the extra argument must be optlib.hedging.Paths, got "
                                 f"{type(paths).__name__}")
            return paths
        if key is None:
            raise ValueError("DeepHedger simulates fresh paths each step and needs key=")
        return self.problem.simulate(key, self.num_paths, dtype)

    def init(self, params: PyTree, *args: Any, key: jax.Array | None = None) -> DeepHedgerState:
        del args, key
        return DeepHedgerState(jnp.zeros((), jnp.int32), self._transformation().init(params))

    def step(self, params: PyTree, state: DeepHedgerState, *args: Any,
             key: jax.Array | None = None) -> tuple[PyTree, DeepHedgerState, DeepHedgerInfo]:
        dtype = jax.tree.leaves(params)[0].dtype
        paths = self._paths(args, key, dtype)
        paths = Paths(*(x.astype(dtype) for x in paths))
        problem = self.problem

        def objective(p, paths):
            res = problem.pnl(paths, self.hedge(p, paths))
            return problem.risk(res.pnl), res

        (value, res), grads = jax.value_and_grad(objective, has_aux=True)(params, paths)
        transformation = self._transformation()
        if isinstance(transformation, KFACTransformation):
            m = self.stats_paths or paths.spot.shape[0]
            sub = Paths(paths.spot[:m], paths.variance[:m], paths.times)

            def apply_fn(variables, sub):
                feats = problem.features(sub).astype(dtype)
                hedge, coll = self.policy.apply(variables, feats, mutable=TAP_COLLECTIONS)
                return problem.pnl(sub, hedge).pnl, coll

            stats_key = None if key is None else jax.random.fold_in(key, 1)
            stats = curvature_stats(apply_fn, params, sub, loss=problem.risk,
                                    curvature=self.curvature, key=stats_key)
            pnl_fn = lambda p: problem.pnl(paths, self.hedge(p, paths)).pnl  # noqa: E731
            updates, opt_state = transformation.update(
                grads, state.opt_state, params, curvature=stats, value=value,
                value_fn=lambda p: objective(p, paths)[0],
                ggn_gram=lambda dirs: ggn_gram(pnl_fn, params, problem.risk, dirs))
        elif isinstance(transformation, optax.GradientTransformationExtraArgs):
            updates, opt_state = transformation.update(
                grads, state.opt_state, params, value=value, grad=grads,
                value_fn=lambda p: objective(p, paths)[0])
        else:
            updates, opt_state = transformation.update(grads, state.opt_state, params)
        params = optax.apply_updates(params, updates)
        info = DeepHedgerInfo(value, tree_norm(grads), jnp.mean(res.pnl), jnp.std(res.pnl),
                              jnp.mean(res.costs))
        return params, DeepHedgerState(state.count + 1, opt_state), info

    def terminate(self, params: PyTree, state: DeepHedgerState, info: DeepHedgerInfo
                  ) -> jax.Array:
        del params, state
        return info.grad_norm < jnp.asarray(self.tol, info.grad_norm.dtype)
