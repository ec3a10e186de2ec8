"""ScaleBiO (Pan et al.): first-order minimax bilevel data reweighting, with LISA layer sampling."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from optlib.bilevel._common import (
    BilevelInfo,
    Optimizer,
    apply,
    check_int,
    check_pair,
    check_positive,
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


def adamw(learning_rate: Any, weight_decay: Any = 1e-4) -> optax.GradientTransformation:
    """``optax.adamw`` with a traced learning rate and weight decay (ScaleBiO's default)."""
    return optax.adamw(learning_rate=learning_rate, weight_decay=weight_decay)


@dataclasses.dataclass(frozen=True)
class LayerSampling:
    """LISA-style layer sampling: ``num_active`` layers train, resampled every ``interval`` steps.

    ``layer_of(path)`` maps a leaf's key path (as given by
    ``jax.tree_util.tree_flatten_with_path``) to a layer index in ``[0, num_layers)``, or
    to ``-1`` for leaves that always train (embeddings, head, norms). Frozen layers get
    zero gradient and zero update (their optimizer moments see a zero gradient; PyTorch's
    LISA skips them instead).

    In JAX the gradients of frozen layers are still computed (masked afterwards), so
    this reproduces LISA's optimization behaviour, not its activation-memory savings.

    Args:
        layer_of: ``path -> int`` (static).
        num_layers: number of sampleable layers.
        num_active: layers active at a time.
        interval: steps between resampling (LISA default 20).

    Example:
        >>> from optlib.bilevel import LayerSampling
        >>> sampling = LayerSampling(LayerSampling.by_prefix("block_"), num_layers=4,
        ...                          num_active=2, interval=20)
        >>> sampling.num_active
        2
    """

    layer_of: Callable[[tuple], int]
    num_layers: int
    num_active: int = 2
    interval: int = 20

    def __post_init__(self) -> None:
        if not callable(self.layer_of):
            raise ValueError(f"layer_of must be callable, got {self.layer_of!r}")
        check_int("num_layers", self.num_layers)
        check_int("num_active", self.num_active)
        check_int("interval", self.interval)
        if self.num_active > self.num_layers:
            raise ValueError(f"num_active ({self.num_active}) must be <= num_layers "
                             f"({self.num_layers})")

    @staticmethod
    def by_prefix(prefix: str) -> Callable[[tuple], int]:
        """``layer_of`` for names like ``block_3`` or ``Block_3`` (flax.linen default naming).

        Returns the integer after ``prefix`` in the first matching path entry, else ``-1``.
        """

        def layer_of(path: tuple) -> int:
            for entry in path:
                name = str(getattr(entry, "key", getattr(entry, "name", entry)))
                if name.startswith(prefix) and name[len(prefix):].isdigit():
                    return int(name[len(prefix):])
            return -1

        return layer_of

    def mask(self, params: PyTree, key: jax.Array, count: jax.Array) -> PyTree:
        """A pytree of 0/1 scalars (per leaf) marking the layers active at step ``count``."""
        k = jax.random.fold_in(key, count // self.interval)
        chosen = jax.random.permutation(k, self.num_layers)[: self.num_active]
        active = jnp.zeros(self.num_layers, bool).at[chosen].set(True)
        leaves, treedef = jax.tree_util.tree_flatten_with_path(params)
        masks = []
        for path, leaf in leaves:
            layer = int(self.layer_of(path))
            if layer >= self.num_layers:
                raise ValueError(f"layer_of returned {layer} for {jax.tree_util.keystr(path)}, "
                                 f"outside [0, {self.num_layers})")
            flag = jnp.asarray(True) if layer < 0 else active[layer]
            masks.append(flag.astype(jnp.result_type(leaf)))
        return jax.tree_util.tree_unflatten(treedef, masks)


def _masked(tree: PyTree, mask: PyTree | None) -> PyTree:
    if mask is None:
        return tree
    return jax.tree.map(lambda t, m: t * m, tree, mask)


class ScaleBiOState(NamedTuple):
    """State of :class:`ScaleBiO`.

    Attributes:
        count: ``int32[]`` steps taken.
        u: the copy of the model that tracks ``argmin_u L2(u; theta)``.
        outer_opt_state, w_opt_state, u_opt_state: optax states for ``theta``, ``w``, ``u``.
        lisa_key: key for layer sampling (a dummy when sampling is off).
    """

    count: jax.Array
    u: PyTree
    outer_opt_state: PyTree
    w_opt_state: PyTree
    u_opt_state: PyTree
    lisa_key: jax.Array


@solver_dataclass
class ScaleBiO:
    """ScaleBiO: ``min_{w, theta} max_u f(theta, w) + alpha [g(theta, w) - g(theta, u)]``.

    The fully first-order minimax form of the penalty method (``alpha = 1/sigma``) used by
    Pan et al. for data reweighting of LLMs: ``theta`` holds the logits of per-source
    weights, ``g`` is the weighted training loss and ``f`` the validation loss (see
    :func:`reweighting_problem`), ``w`` and ``u`` are two copies of the model. Each step,
    with gradients all taken at the pre-update point and one shared minibatch:
    ``u`` steps on ``alpha g(theta, u)``, ``w`` on ``f + alpha g(theta, w)``, and ``theta``
    on ``grad_theta f + alpha (grad_theta g(theta, w) - grad_theta g(theta, u))``.
    Optional :class:`LayerSampling` trains only a few layers of ``u`` and ``w`` at a time
    (independently drawn for each copy), as LISA does.

    Params are ``(theta, w)``; ``u`` starts as a copy of ``w``. Defaults follow the
    authors' GPT-2 script: ``alpha=10``, AdamW with lr ``1e-5`` and weight decay ``5e-4``
    on the models and lr ``1e-2`` (weight decay ``0.01``) on ``theta``.

    Args:
        problem: the :class:`BilevelProblem` (static): ``outer`` is ``f(theta, w, batch)``,
            ``inner`` is ``g(theta, w, batch)``.
        outer_optimizer: optax transformation or factory for ``theta`` (static).
        outer_hyperparams: factory keyword arguments (traced).
        inner_optimizer: optax transformation or factory for ``w`` and ``u`` (static).
        inner_hyperparams: factory keyword arguments (traced).
        alpha: penalty weight, > 0.
        layer_sampling: a :class:`LayerSampling` or ``None`` (static).
        tol: stop when the ``theta`` gradient norm falls below ``tol`` (``0``: never).

    Example:
        >>> import jax.numpy as jnp, optax, optlib
        >>> from optlib.bilevel import ScaleBiO, problems
        >>> toy = problems.non_unique_lower_level()
        >>> solver = ScaleBiO(toy.problem, alpha=2.0, outer_optimizer=optax.sgd,
        ...                   outer_hyperparams={"learning_rate": 0.2},
        ...                   inner_optimizer=optax.sgd, inner_hyperparams={"learning_rate": 0.2})
        >>> result = optlib.run(solver, (toy.x0, toy.y0), max_steps=3000)
        >>> result.params[0].round(4).tolist()
        [1.0]

    References:
        Pan, Zhang, Pan, Zhang et al., "ScaleBiO: scalable bilevel optimization for LLM
        data reweighting", ACL 2025 (arXiv 2406.19976);
        Pan et al., "LISA: layerwise importance sampling for memory-efficient large
        language model fine-tuning", NeurIPS 2024.
    """

    problem: BilevelProblem = static_field()
    outer_optimizer: Optimizer = static_field(default=adamw)
    outer_hyperparams: Mapping[str, Any] | None = dataclasses.field(
        default_factory=lambda: {"learning_rate": 1e-2, "weight_decay": 1e-2})
    inner_optimizer: Optimizer = static_field(default=adamw)
    inner_hyperparams: Mapping[str, Any] | None = dataclasses.field(
        default_factory=lambda: {"learning_rate": 1e-5, "weight_decay": 5e-4})
    alpha: float = 10.0
    layer_sampling: LayerSampling | None = static_field(default=None)
    tol: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.problem, BilevelProblem):
            raise ValueError(f"problem must be a BilevelProblem, got {type(self.problem)!r}")
        check_positive("alpha", self.alpha)
        if self.layer_sampling is not None and not isinstance(self.layer_sampling,
                                                              LayerSampling):
            raise ValueError("layer_sampling must be a LayerSampling or None, got "
                             f"{self.layer_sampling!r}")

    def _txs(self, theta: PyTree, w: PyTree) -> tuple:
        return (make_transformation(self.outer_optimizer, self.outer_hyperparams, theta,
                                    "outer"),
                make_transformation(self.inner_optimizer, self.inner_hyperparams, w, "inner"))

    def init(self, params: PyTree, inner_data: PyTree = None, outer_data: PyTree = None,
             key: jax.Array | None = None) -> ScaleBiOState:
        theta, w = check_pair(self.problem, params, inner_data, outer_data, key)
        if self.layer_sampling is not None and key is None:
            raise ValueError("ScaleBiO with layer_sampling needs key= in optlib.run")
        tx_t, tx_w = self._txs(theta, w)
        lisa_key = jax.random.key(0) if key is None else jax.random.fold_in(key, 1)
        return ScaleBiOState(jnp.zeros((), jnp.int32), w, tx_t.init(theta), tx_w.init(w),
                             tx_w.init(w), lisa_key)

    def data_weights(self, params: PyTree) -> PyTree:
        """``softmax(theta)`` when ``theta`` is an array of logits (per-source weights)."""
        return jax.tree.map(jax.nn.softmax, params[0])

    def step(self, params: PyTree, state: ScaleBiOState, inner_data: PyTree = None,
             outer_data: PyTree = None, key: jax.Array | None = None
             ) -> tuple[PyTree, ScaleBiOState, BilevelInfo]:
        p = self.problem
        theta, w = params
        u = state.u
        tx_t, tx_w = self._txs(theta, w)
        alpha = scalar(self.alpha, theta)
        k_in, k_out = split_keys(key, 2)
        batch = p.inner_batch(inner_data, k_in)
        val_batch = p.outer_batch(outer_data, k_out)
        f_val, (f_t, f_w) = jax.value_and_grad(p.outer, argnums=(0, 1))(theta, w, val_batch)
        g_t_w, g_w = jax.grad(p.inner, argnums=(0, 1))(theta, w, batch)
        g_t_u, g_u = jax.grad(p.inner, argnums=(0, 1))(theta, u, batch)
        d_u = tree_scale(alpha, g_u)
        d_w = tree_add(f_w, tree_scale(alpha, g_w))
        d_t = tree_add(f_t, tree_scale(alpha, tree_sub(g_t_w, g_t_u)))
        mask_w = mask_u = None
        if self.layer_sampling is not None:
            k_w, k_u = jax.random.split(state.lisa_key)
            mask_w = self.layer_sampling.mask(w, k_w, state.count)
            mask_u = self.layer_sampling.mask(u, k_u, state.count)
        u_new, su = self._masked_apply(tx_w, d_u, state.u_opt_state, u, mask_u)
        w_new, sw = self._masked_apply(tx_w, d_w, state.w_opt_state, w, mask_w)
        theta_new, st = apply(tx_t, d_t, state.outer_opt_state, theta, p.proj_x)
        new_state = ScaleBiOState(state.count + 1, u_new, st, sw, su, state.lisa_key)
        return (theta_new, w_new), new_state, BilevelInfo(f_val, tree_norm(d_t),
                                                          tree_norm(g_u))

    def _masked_apply(self, tx: optax.GradientTransformation, grads: PyTree, opt_state: PyTree,
                      params: PyTree, mask: PyTree | None) -> tuple[PyTree, PyTree]:
        updates, new_state = tx.update(_masked(grads, mask), opt_state, params)
        new_params = self.problem.proj_y(optax.apply_updates(params, _masked(updates, mask)))
        return new_params, new_state

    def terminate(self, params: PyTree, state: ScaleBiOState, info: BilevelInfo
                  ) -> tuple[jax.Array, jax.Array]:
        del params, state
        return terminate(info, self.tol)


def reweighting_problem(example_loss: Callable[[PyTree, Any], jax.Array],
                        validation_loss: Callable[[PyTree, Any], jax.Array],
                        num_sources: int,
                        source_of: Callable[[Any], jax.Array] = lambda batch: batch["source"],
                        inner_batch_size: int | None = None,
                        outer_batch_size: int | None = None) -> BilevelProblem:
    """The per-source data reweighting problem of ScaleBiO as a :class:`BilevelProblem`.

    With ``p = softmax(theta)`` over ``num_sources`` sources, the inner objective is
    ``g(theta, w, batch) = sum_j p[s_j] / n_batch(s_j) * loss_j(w)`` (each source's mean
    loss weighted by its probability, as in the authors' code) and the outer objective is
    ``validation_loss(w, batch)``. Params are ``(theta, w)`` with ``theta`` of shape
    ``(num_sources,)``; ``w`` is any model pytree (for example flax.linen variables).

    Args:
        example_loss: ``(w, batch) -> float[batch]`` per-example training losses.
        validation_loss: ``(w, batch) -> scalar`` validation loss.
        num_sources: number of data sources (static).
        source_of: ``batch -> int[batch]`` source index of each example.
        inner_batch_size: minibatch size for the training data (``None``: full batch).
        outer_batch_size: minibatch size for the validation data.

    Returns:
        A :class:`BilevelProblem`.

    Example:
        >>> import jax.numpy as jnp
        >>> from optlib.bilevel import reweighting_problem
        >>> problem = reweighting_problem(lambda w, b: (b["x"] * w - b["y"]) ** 2,
        ...                               lambda w, b: jnp.mean((b["x"] * w - b["y"]) ** 2), 2)
        >>> batch = {"x": jnp.ones(4), "y": jnp.array([0.0, 0.0, 2.0, 2.0]),
        ...          "source": jnp.array([0, 0, 1, 1])}
        >>> float(problem.inner(jnp.zeros(2), jnp.asarray(1.0), batch))  # 0.5 * 1 + 0.5 * 1
        1.0
    """
    check_int("num_sources", num_sources)

    def inner(theta: jax.Array, w: PyTree, batch: Any) -> jax.Array:
        losses = example_loss(w, batch)
        sources = source_of(batch)
        probs = jax.nn.softmax(theta)
        counts = jnp.zeros(num_sources, losses.dtype).at[sources].add(1.0)
        weights = probs[sources] / counts[sources]
        return jnp.sum(weights.astype(losses.dtype) * losses)

    def outer(theta: jax.Array, w: PyTree, batch: Any) -> jax.Array:
        return validation_loss(w, batch) + 0.0 * jnp.sum(theta)

    return BilevelProblem(outer, inner, inner_batch_size=inner_batch_size,
                          outer_batch_size=outer_batch_size)

