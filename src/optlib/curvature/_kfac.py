"""K-FAC as an optax ``GradientTransformationExtraArgs``."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from optlib.core._sharding import pmean_if
from optlib.curvature._factors import (
    SEQUENCE_MODES,
    apply_preconditioner,
    factor_stats,
    preconditioner,
    with_ones,
)

PyTree = Any


class KFACBlockState(NamedTuple):
    """Curvature state of one registered layer.

    Attributes:
        a0, g0: EMA of the Kronecker factors (``A`` is ``(d_in+1)^2`` when a bias is folded in).
        a1, g1: EMA of the lag-one factors (recurrent mode; zero otherwise).
        l_a, l_g, w: the preconditioner refreshed every ``inverse_every`` steps (see
            :func:`optlib.curvature.preconditioner`).
    """

    a0: jax.Array
    g0: jax.Array
    a1: jax.Array
    g1: jax.Array
    l_a: jax.Array
    l_g: jax.Array
    w: jax.Array


class KFACState(NamedTuple):
    """State of :func:`kfac`.

    Attributes:
        count: ``int32[]``, updates taken.
        blocks: dict from kernel path to :class:`KFACBlockState`.
        damping: current Tikhonov damping.
        rho: last reduction ratio of the adaptive damping rule (``nan`` if never measured).
        velocity: the last update (a params-shaped pytree), used by ``momentum``; ``None``
            when ``momentum`` is zero.
    """

    count: jax.Array
    blocks: dict[str, KFACBlockState]
    damping: jax.Array
    rho: jax.Array
    velocity: PyTree = None


class KFACTransformation(optax.GradientTransformationExtraArgs):
    """The optax transformation returned by :func:`kfac` (recognised by the hedging trainer)."""


def _path_str(path: tuple[Any, ...]) -> str:
    return "/".join(str(getattr(p, "key", getattr(p, "name", p))) for p in path)


def _bias_path(kernel_path: str) -> str:
    head, _, name = kernel_path.rpartition("/")
    bias = name.replace("kernel", "bias")
    return f"{head}/{bias}" if head else bias


def _kernels(params: PyTree) -> dict[str, tuple[jax.Array, bool]]:
    """Kernel path -> (kernel, whether a sibling bias exists)."""
    flat = {_path_str(p): leaf for p, leaf in jax.tree_util.tree_flatten_with_path(params)[0]}
    return {path: (leaf, _bias_path(path) in flat) for path, leaf in flat.items()
            if path.rpartition("/")[2].endswith("kernel") and jnp.ndim(leaf) == 2}


def kfac(learning_rate: optax.ScalarOrSchedule = 1.0, *, damping: float = 1e-3,
         ema: float = 0.95, inverse_every: int = 1, sequence: str = "expand",
         sequence_modes: Mapping[str, str] | None = None, exact_damping: bool = False,
         kl_clip: optax.ScalarOrSchedule | None = None, adaptive_damping: bool = False,
         damping_every: int = 5, damping_decay: float = 0.9 ** 5,
         min_damping: float = 1e-8, max_damping: float = 1e4,
         momentum: float = 0.0, adaptive_learning_rate: bool = False,
         adaptive_momentum: bool = False, axis_name: str | None = None) -> KFACTransformation:
    """Kronecker-factored approximate curvature (K-FAC) preconditioning.

    Every 2-D parameter whose name ends in ``kernel`` (shape ``(d_in, d_out)``, the
    flax layout) is a block; its sibling ``...bias`` (``kernel`` -> ``bias`` in the
    name) is folded in as a constant input. ``update(grads, state, params,
    curvature=stats)`` takes ``stats = curvature_stats(...)``: per block the inputs
    ``a`` and loss-weighted output gradients ``g``, either ``(N, d)`` (dense) or
    ``(N, T, d)`` for a weight shared over ``T`` time steps, handled by ``sequence``
    (``"expand"``, ``"reduce"`` or ``"recurrent"``, overridable per block through
    ``sequence_modes``). The factors are exponential moving averages (the first update
    takes the batch factors as they are); the damped inverse is refreshed every
    ``inverse_every`` updates and reused in between. The update is
    ``-learning_rate * F^{-1} grad`` for every block; parameters without statistics
    (other leaves, or kernels with no taps) get ``-learning_rate * grad``.

    Damping ``l``: factored Tikhonov ``(A + pi sqrt(l)) kron (G + sqrt(l)/pi)`` with the
    trace-norm pi correction (Martens & Grosse 2015, section 6.3), or ``A kron G + l`` with
    ``exact_damping``. ``adaptive_damping`` applies the Levenberg-Marquardt rule every
    ``damping_every`` updates: ``l /= damping_decay`` when the reduction ratio
    ``(f(x + d) - f(x)) / q(d)`` is below 1/4 and ``l *= damping_decay`` above 3/4, where
    ``q`` is the quadratic model of the damped K-FAC curvature (``q(d) = -e(1 - e/2) g^T
    F^{-1} g`` for ``d = -e F^{-1} g``; Martens & Grosse use the exact GGN there). It
    needs the extra arguments ``value`` and ``value_fn`` (given by
    :class:`optlib.OptaxSolver` and the hedging trainer). ``kl_clip`` rescales the step
    so that ``lr^2 g^T F^{-1} g <= kl_clip``. ``momentum`` ``m`` turns the (clipped)
    preconditioned step ``d_k`` into ``v_k = m v_{k-1} + d_k`` (heavy ball on the K-FAC
    direction, as in Martens & Grosse's fixed-momentum variant); ``m = 0`` is plain K-FAC.

    ``adaptive_learning_rate`` replaces the learning rate by the minimiser ``alpha`` of the
    exact quadratic model ``q(u) = g^T u + u^T (C + l I) u / 2`` along ``Delta = -F^{-1} g``,
    where ``C`` is the exact generalized Gauss-Newton matrix of the batch; with
    ``adaptive_momentum`` the update ``u = alpha Delta + mu u_prev`` minimises ``q`` over both
    coefficients (a 2 x 2 solve; Martens & Grosse, section 7). Both need the extra argument
    ``ggn_gram``: a callable from a list of parameter-shaped directions to their Gram matrix
    under ``C`` (:func:`optlib.curvature.ggn_gram`; the hedging trainer passes it). The
    adaptive damping rule then uses this exact model for ``q`` instead of the K-FAC one,
    and ``kl_clip`` becomes a trust region on the model, ``u^T (C + l I) u <= kl_clip``
    (our addition, for stochastic objectives; not in the paper).

    Args:
        learning_rate: step size or optax schedule.
        damping: initial Tikhonov damping ``l`` (> 0).
        ema: decay of the factor averages, in [0, 1).
        inverse_every: refresh period of the inverses/eigenbases (>= 1).
        sequence: weight-sharing treatment for ``(N, T, d)`` statistics.
        sequence_modes: per-kernel-path overrides of ``sequence``.
        exact_damping: use ``A kron G + l I`` (eigenbasis form) instead of factored damping.
        kl_clip: optional trust-region bound on ``lr^2 g^T F^{-1} g``, a number or an optax
            schedule of the update count. While the bound binds, the step length is set by
            it alone, so a decaying learning rate does not anneal the step; a decaying
            bound does.
        adaptive_damping: Levenberg-Marquardt damping adaptation.
        damping_every: adaptation period.
        damping_decay: multiplicative damping change per adaptation, in (0, 1).
        min_damping: lower bound of the adapted damping.
        max_damping: upper bound of the adapted damping.
        momentum: heavy-ball coefficient on the K-FAC step, in [0, 1).
        adaptive_learning_rate: take the step length from the exact quadratic model
            (``learning_rate`` is then not used).
        adaptive_momentum: also choose the momentum coefficient from the quadratic model
            (needs ``adaptive_learning_rate``).
        axis_name: average the factor statistics over this mapped axis (``shard_map``/``pmap``).

    Returns:
        A :class:`KFACTransformation`.

    Example:
        >>> import jax, jax.numpy as jnp, optlib.curvature as oc
        >>> model = oc.Dense(1)
        >>> x = jax.random.normal(jax.random.key(0), (64, 3)); y = x @ jnp.array([1.0, -2.0, 0.5])
        >>> params = model.init(jax.random.key(1), x)["params"]
        >>> def apply_fn(variables, x):
        ...     out, coll = model.apply(variables, x, mutable=oc.TAP_COLLECTIONS)
        ...     return out[:, 0] - y, coll
        >>> loss = lambda r: 0.5 * jnp.mean(r**2)
        >>> opt = oc.kfac(1.0, damping=1e-10, exact_damping=True)
        >>> state = opt.init(params)
        >>> grads = jax.grad(lambda p: loss(apply_fn({"params": p}, x)[0]))(params)
        >>> stats = oc.curvature_stats(apply_fn, params, x, loss=loss)
        >>> updates, state = opt.update(grads, state, params, curvature=stats)
        >>> new = jax.tree.map(lambda p, u: p + u, params, updates)
        >>> float(loss(apply_fn({"params": new}, x)[0])) < 1e-8   # one Newton step
        True

    References:
        J. Martens, R. Grosse, "Optimizing neural networks with Kronecker-factored
        approximate curvature", ICML 2015. J. Martens, J. Ba, M. Johnson,
        "Kronecker-factored curvature approximations for recurrent neural networks",
        ICLR 2018. R. Eschenhagen et al., "Kronecker-factored approximate curvature for
        modern neural network architectures", NeurIPS 2023.
    """
    if sequence not in SEQUENCE_MODES:
        raise ValueError(f"sequence must be one of {SEQUENCE_MODES}, got {sequence!r}")
    sequence_modes = dict(sequence_modes or {})
    for path, mode in sequence_modes.items():
        if mode not in SEQUENCE_MODES:
            raise ValueError(f"sequence_modes[{path!r}] must be one of {SEQUENCE_MODES}, "
                             f"got {mode!r}")
    if not isinstance(inverse_every, int) or inverse_every < 1:
        raise ValueError(f"inverse_every must be a positive integer, got {inverse_every!r}")
    if not isinstance(damping_every, int) or damping_every < 1:
        raise ValueError(f"damping_every must be a positive integer, got {damping_every!r}")
    for name, value, lo, hi in (("damping", damping, 0.0, float("inf")), ("ema", ema, -1e-300, 1.0),
                                ("damping_decay", damping_decay, 0.0, 1.0)):
        if isinstance(value, (int, float)) and not lo < value < hi:
            raise ValueError(f"{name} must be in ({lo:g}, {hi:g}), got {value!r}")
    if isinstance(momentum, (int, float)) and not 0.0 <= momentum < 1.0:
        raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
    use_momentum = not (isinstance(momentum, (int, float)) and momentum == 0.0)
    if adaptive_momentum and not adaptive_learning_rate:
        raise ValueError("adaptive_momentum needs adaptive_learning_rate=True")
    if adaptive_learning_rate and use_momentum:
        raise ValueError("adaptive_learning_rate chooses the step from the quadratic model; "
                         "it cannot be combined with a fixed momentum")
    if kl_clip is not None and isinstance(kl_clip, (int, float)) and kl_clip <= 0:
        raise ValueError(f"kl_clip must be positive, got {kl_clip!r}")

    def init(params: PyTree) -> KFACState:
        blocks = {}
        for path, (kernel, has_bias) in _kernels(params).items():
            d_in, d_out = kernel.shape
            d_in += int(has_bias)
            dt = kernel.dtype
            eye_a, eye_g = jnp.eye(d_in, dtype=dt), jnp.eye(d_out, dtype=dt)
            blocks[path] = KFACBlockState(
                jnp.zeros_like(eye_a), jnp.zeros_like(eye_g), jnp.zeros_like(eye_a),
                jnp.zeros_like(eye_g), eye_a, eye_g, jnp.ones((d_in, d_out), dt))
        dtype = jax.tree.leaves(params)[0].dtype if jax.tree.leaves(params) else jnp.float32
        velocity = (jax.tree.map(jnp.zeros_like, params) if use_momentum or adaptive_momentum
                    else None)
        return KFACState(jnp.zeros((), jnp.int32), blocks, jnp.asarray(damping, dtype),
                         jnp.asarray(jnp.nan, dtype), velocity)

    def update(updates: PyTree, state: KFACState, params: PyTree | None = None, *,
               curvature: Mapping[str, tuple[jax.Array, jax.Array]] | None = None,
               value: jax.Array | None = None, value_fn: Any = None,
               ggn_gram: Any = None, **extra: Any) -> tuple[PyTree, KFACState]:
        del extra
        if curvature is None:
            raise ValueError("kfac.update needs curvature=curvature_stats(...) (the layer taps)")
        if adaptive_damping and (value is None or value_fn is None or params is None):
            raise ValueError("adaptive_damping needs params and the extra arguments value "
                             "and value_fn")
        if adaptive_learning_rate and ggn_gram is None:
            raise ValueError("adaptive_learning_rate needs the extra argument ggn_gram "
                             "(see optlib.curvature.ggn_gram)")
        unknown = set(curvature) - set(state.blocks)
        if unknown:
            raise ValueError(f"curvature has statistics for {sorted(unknown)}, which are not "
                             f"kernels of params; known blocks: {sorted(state.blocks)}")
        flat, treedef = jax.tree_util.tree_flatten_with_path(updates)
        grads = {_path_str(p): g for p, g in flat}
        dtype = state.damping.dtype
        count = state.count
        decay = jnp.where(count == 0, 0.0, jnp.asarray(ema, dtype))
        refresh = count % inverse_every == 0
        new_blocks = dict(state.blocks)
        out = dict(grads)
        quad = jnp.zeros((), dtype)
        for path, (a, g) in curvature.items():
            kernel = grads[path]
            if a.shape[-1] != kernel.shape[0] or g.shape[-1] != kernel.shape[1] or \
                    a.shape[:-1] != g.shape[:-1] or a.ndim not in (2, 3):
                raise ValueError(f"statistics for {path!r} have shapes a {a.shape}, g {g.shape}; "
                                 f"expected (N[, T], {kernel.shape[0]}) and "
                                 f"(N[, T], {kernel.shape[1]})")
            mode = sequence_modes.get(path, sequence)
            bias_path = _bias_path(path)
            has_bias = bias_path in grads
            a = with_ones(a.astype(dtype)) if has_bias else a.astype(dtype)
            stats = factor_stats(a, g.astype(dtype), mode)
            stats = pmean_if(stats, axis_name)
            blk = state.blocks[path]
            factors = tuple(decay * old + (1.0 - decay) * new
                            for old, new in zip((blk.a0, blk.g0, blk.a1, blk.g1), stats,
                                                strict=True))
            steps = a.shape[1] if (a.ndim == 3 and mode == "recurrent") else 0
            refreshed = functools.partial(preconditioner, recurrent_steps=steps,
                                          exact_damping=exact_damping)
            l_a, l_g, w = jax.lax.cond(
                refresh, lambda f, lam, old, fn=refreshed: fn(*f, lam),
                lambda f, lam, old: old, factors, state.damping, (blk.l_a, blk.l_g, blk.w))
            a0, g0, a1, g1 = factors
            new_blocks[path] = KFACBlockState(a0, g0, a1, g1, l_a, l_g, w)
            m = kernel.astype(dtype)
            if has_bias:
                m = jnp.concatenate([m, grads[bias_path][None, :].astype(dtype)], axis=0)
            p = apply_preconditioner(l_a, l_g, w, m)
            quad = quad + jnp.sum(p * m)
            if has_bias:
                out[path], out[bias_path] = p[:-1].astype(kernel.dtype), p[-1].astype(kernel.dtype)
            else:
                out[path] = p.astype(kernel.dtype)
        registered = set(curvature) | {_bias_path(p) for p in curvature}
        for path, gleaf in grads.items():
            if path not in registered:
                quad = quad + jnp.sum(gleaf.astype(dtype) ** 2)
        lr = learning_rate(count) if callable(learning_rate) else learning_rate
        lr = jnp.asarray(lr, dtype)
        scale = lr
        bound = kl_clip(count) if callable(kl_clip) else kl_clip
        if adaptive_learning_rate:
            new_updates, velocity, model = _quadratic_step(
                flat, treedef, out, grads, quad, state.velocity if adaptive_momentum else None,
                state.damping, ggn_gram, count, bound)
            step_updates = new_updates
        elif bound is not None:
            bound = jnp.asarray(bound, dtype)
            scale = lr * jnp.minimum(1.0, jnp.sqrt(bound / jnp.maximum(lr**2 * quad,
                                                                     jnp.finfo(dtype).tiny)))
        if not adaptive_learning_rate:
            new_updates = jax.tree_util.tree_unflatten(
                treedef, [(-scale * out[_path_str(p)]).astype(leaf.dtype) for p, leaf in flat])
            step_updates = new_updates   # the damping rule's quadratic model is of this step
            velocity = state.velocity
            model = -scale * (1.0 - 0.5 * scale) * quad
        if use_momentum:
            m = jnp.asarray(momentum, dtype)
            new_updates = jax.tree.map(lambda v, d: (m * v + d).astype(d.dtype),
                                       state.velocity, step_updates)
            velocity = new_updates
        new_damping, rho = state.damping, state.rho
        if adaptive_damping:

            def adapt():
                trial = value_fn(optax.apply_updates(params, step_updates))
                ratio = (trial - value) / jnp.minimum(model, -jnp.finfo(dtype).tiny)
                factor = jnp.where(ratio < 0.25, 1.0 / damping_decay,
                                   jnp.where(ratio > 0.75, damping_decay, 1.0))
                lam = jnp.clip(state.damping * factor, min_damping, max_damping)
                return lam.astype(dtype), ratio.astype(dtype)

            new_damping, rho = jax.lax.cond(count % damping_every == damping_every - 1, adapt,
                                            lambda: (state.damping, state.rho))
        return new_updates, KFACState(count + 1, new_blocks, new_damping, rho, velocity)

    return KFACTransformation(init, update)


def _quadratic_step(flat: list, treedef: Any, precond: dict[str, jax.Array],
                    grads: dict[str, jax.Array], quad: jax.Array, previous: PyTree | None,
                    damping: jax.Array, ggn_gram: Any, count: jax.Array,
                    trust_radius: Any = None) -> tuple[PyTree, PyTree | None, jax.Array]:
    """Martens & Grosse's step ``alpha Delta + mu previous`` minimising the exact model.

    With ``trust_radius`` the step is shortened so that ``u^T (C + l I) u`` is at most
    that bound. Returns the update, the new velocity (the update itself, or ``None``
    without momentum) and the model's predicted change ``q(u) < 0``.
    """
    dtype = quad.dtype
    tiny = jnp.finfo(dtype).tiny
    paths = [_path_str(p) for p, _ in flat]
    delta = jax.tree_util.tree_unflatten(
        treedef, [(-precond[k]).astype(leaf.dtype) for k, (_, leaf) in zip(paths, flat,
                                                                            strict=True)])
    dirs = [delta] if previous is None else [delta, previous]
    dot = lambda x, y: optax.tree.vdot(x, y).astype(dtype)  # noqa: E731
    gram = ggn_gram(dirs).astype(dtype) + damping * jnp.array(
        [[dot(a, b) for b in dirs] for a in dirs], dtype)
    lin = [-quad]   # g^T Delta = -g^T F^{-1} g
    if previous is not None:
        lin.append(dot(jax.tree_util.tree_unflatten(treedef, [grads[k] for k in paths]),
                       previous))
    lin = jnp.stack(lin)
    coef = -lin[:1] / jnp.maximum(gram[0, 0], tiny)
    if previous is not None:
        det = gram[0, 0] * gram[1, 1] - gram[0, 1] ** 2
        # No previous step (first update) or collinear directions: the 1-D solution.
        two_d = (count > 0) & (det > 1e-12 * gram[0, 0] * gram[1, 1])
        coef2 = -jnp.stack([gram[1, 1] * lin[0] - gram[0, 1] * lin[1],
                            gram[0, 0] * lin[1] - gram[0, 1] * lin[0]]) / jnp.where(two_d,
                                                                                   det, 1.0)
        coef = jnp.where(two_d, coef2, jnp.concatenate([coef, jnp.zeros(1, dtype)]))
    if trust_radius is not None:
        bound = jnp.asarray(trust_radius, dtype)
        coef = coef * jnp.minimum(1.0, jnp.sqrt(bound / jnp.maximum(coef @ gram @ coef, tiny)))
    model = coef @ lin + 0.5 * (coef @ gram @ coef)
    updates = jax.tree.map(lambda *ds: sum(c * d for c, d in zip(coef, ds, strict=True)
                                           ).astype(ds[0].dtype), *dirs)
    return updates, (None if previous is None else updates), model
