"""Capturing layer inputs and output gradients from a flax.linen model for K-FAC."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from optlib.curvature._factors import eigh

PyTree = Any

KFAC_INPUTS = "kfac_inputs"
"""The flax collection that holds the inputs ``a`` of every registered layer."""

PERTURBATIONS = "perturbations"
"""The flax collection of zero perturbations whose gradients are the output gradients ``g``."""

TAP_COLLECTIONS = (KFAC_INPUTS, PERTURBATIONS)
"""Pass as ``mutable=`` to ``module.apply`` in the ``apply_fn`` given to :func:`curvature_stats`."""


def tap_inputs(module: nn.Module, kernel_name: str, inputs: jax.Array) -> None:
    """Records the inputs ``a`` of the layer whose weight is the parameter ``kernel_name``.

    ``inputs`` has shape ``(batch, d_in)`` for a dense layer, or ``(batch, time, d_in)``
    for a weight shared across time steps. Call it inside a flax ``@nn.compact``
    method, next to :func:`tap_outputs` with the same name. Outside of
    :func:`curvature_stats` (no mutable ``kfac_inputs``) it does nothing.

    Args:
        module: the flax module that owns the parameter.
        kernel_name: the parameter's name, e.g. ``"kernel"``.
        inputs: the layer's inputs.
    """
    if module.is_mutable_collection(KFAC_INPUTS):
        module.sow(KFAC_INPUTS, kernel_name, inputs, init_fn=lambda: None,
                   reduce_fn=lambda _, new: new)


def tap_outputs(module: nn.Module, kernel_name: str, outputs: jax.Array) -> jax.Array:
    """Adds a zero perturbation to the pre-activations ``s = a W`` of a registered layer.

    The gradient of the model output with respect to this perturbation is the output
    gradient ``g`` that K-FAC needs (flax's ``perturb``); with ordinary
    ``module.apply({"params": ...})`` it is a no-op. For a weight shared across the
    steps of a ``lax.scan``, create the perturbation outside the scan with the full
    ``(batch, time, d_out)`` shape (``tap_outputs(self, name, zeros)``) and add its
    slices inside. Where two weights feed the same pre-activations (an LSTM's input and
    recurrent kernels), tap that sum once per weight outside the scan, as
    :class:`optlib.hedging.LSTMHedger` does: the output gradients are then one array and
    K-FAC computes their factor once.

    Args:
        module: the flax module that owns the parameter.
        kernel_name: the parameter's name, e.g. ``"kernel"``.
        outputs: the pre-activations ``a @ kernel (+ bias)``.

    Returns:
        ``outputs`` plus the (zero) perturbation.
    """
    return module.perturb(kernel_name, outputs, collection=PERTURBATIONS)


class Dense(nn.Module):
    """A drop-in replacement for ``flax.linen.Dense`` registered for K-FAC.

    Parameters are ``kernel`` ``(d_in, features)`` and ``bias`` ``(features,)``, as in
    ``nn.Dense``. Inputs may carry extra leading axes after the batch axis (a dense
    layer applied at every time step), which makes it a weight-sharing block.

    Attributes:
        features: output width.
        use_bias: add a bias (folded into the Kronecker factor ``A`` as a constant input).
        kernel_init: initializer of the kernel.
        bias_init: initializer of the bias.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from optlib.curvature import Dense
        >>> params = Dense(3).init(jax.random.key(0), jnp.ones((2, 4)))["params"]
        >>> params["kernel"].shape
        (4, 3)
    """

    features: int
    use_bias: bool = True
    kernel_init: Callable[..., jax.Array] = nn.initializers.lecun_normal()
    bias_init: Callable[..., jax.Array] = nn.initializers.zeros_init()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param("kernel", self.kernel_init, (x.shape[-1], self.features), x.dtype)
        y = x @ kernel
        if self.use_bias:
            bias = self.param("bias", self.bias_init, (self.features,), x.dtype)
            y = y + bias.reshape((1,) * (y.ndim - 1) + (-1,))
        tap_inputs(self, "kernel", x)
        return tap_outputs(self, "kernel", y)


def _flat(tree: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    out = {}
    for k, v in tree.items():
        if isinstance(v, Mapping):
            out.update(_flat(v, prefix + (k,)))
        else:
            out[prefix + (k,)] = v
    return out


def _loss_cotangent(loss: Any, outputs: jax.Array, mode: str, key: jax.Array | None) -> jax.Array:
    """A cotangent ``z`` on the outputs with ``E[z_n**2]`` = the loss Hessian's diagonal."""
    if mode == "ggn":
        if hasattr(loss, "hessian_diag"):
            diag = loss.hessian_diag(outputs)
        else:
            flat = outputs.reshape(-1)
            fun = lambda o: loss(o.reshape(outputs.shape))  # noqa: E731

            def entry(i):
                e = jnp.zeros_like(flat).at[i].set(1.0)
                return jax.jvp(jax.grad(fun), (flat,), (e,))[1][i]

            diag = jax.lax.map(entry, jnp.arange(flat.size), batch_size=256).reshape(outputs.shape)
        return jnp.sqrt(jnp.maximum(diag, 0.0))
    # "fisher": curvature_stats has already checked that a key was given
    if hasattr(loss, "sample_cotangent"):
        return loss.sample_cotangent(key, outputs)
    flat = outputs.reshape(-1)
    hess = jax.hessian(lambda o: loss(o.reshape(outputs.shape)))(flat)
    evals, evecs = eigh(hess)
    eps = jax.random.normal(key, flat.shape, flat.dtype)
    return (evecs @ (jnp.sqrt(jnp.maximum(evals, 0.0)) * eps)).reshape(outputs.shape)


def curvature_stats(apply_fn: Callable[..., tuple[jax.Array, PyTree]], params: PyTree,
                    *args: Any, loss: Callable[[jax.Array], jax.Array],
                    curvature: str = "ggn", key: jax.Array | None = None,
                    ) -> dict[str, tuple[jax.Array, jax.Array]]:
    """Layer inputs ``a`` and loss-weighted output gradients ``g`` for :func:`kfac`.

    The model computes per-example outputs ``X = f(params, batch)`` (shape
    ``(batch,)`` or ``(batch, k)``) and the training loss is ``loss(X)``. The curvature
    is the generalized Gauss-Newton matrix ``J^T H J`` with the loss Hessian ``H`` in
    ``X`` replaced by its diagonal, so ``g_n = sqrt(H_nn) dX_n/ds_n`` is exact with one
    backward pass (``curvature="ggn"``; ``H_nn`` comes from ``loss.hessian_diag`` when
    the loss provides it, else from Hessian-vector products). ``curvature="fisher"``
    uses a random cotangent ``z`` with covariance ``H`` (``loss.sample_cotangent`` or
    a dense factorization of ``H``) instead: a sampled Fisher/GGN that keeps
    cross-example terms in expectation. Custom losses need only be twice
    differentiable and convex in ``X``.

    Args:
        apply_fn: ``apply_fn(variables, *args) -> (X, collections)``, typically
            ``module.apply(variables, ..., mutable=TAP_COLLECTIONS)`` followed by any
            computation of the per-example outputs (e.g. a hedging P&L).
        params: the model parameters (``variables["params"]``).
        *args: the batch (pass a subsample to estimate the statistics cheaply).
        loss: the loss of the per-example outputs (a callable; optionally with
            ``hessian_diag(X)`` and ``sample_cotangent(key, X)`` methods).
        curvature: ``"ggn"`` or ``"fisher"``.
        key: PRNG key (``"fisher"`` only).

    Returns:
        A dict from the kernel's path (``"Dense_0/kernel"``) to ``(a, g)``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from optlib.curvature import Dense, TAP_COLLECTIONS, curvature_stats
        >>> model = Dense(1)
        >>> x = jnp.ones((5, 3))
        >>> params = model.init(jax.random.key(0), x)["params"]
        >>> def apply_fn(variables, x):
        ...     y, coll = model.apply(variables, x, mutable=TAP_COLLECTIONS)
        ...     return y[:, 0], coll
        >>> stats = curvature_stats(apply_fn, params, x, loss=lambda y: jnp.mean(y**2))
        >>> [(k, a.shape, g.shape) for k, (a, g) in stats.items()]
        [('kernel', (5, 3), (5, 1))]
    """
    if curvature not in ("ggn", "fisher"):
        raise ValueError(f"curvature must be 'ggn' or 'fisher', got {curvature!r}")
    if curvature == "fisher" and key is None:
        raise ValueError("curvature='fisher' samples a cotangent and needs key=")
    _, shapes = jax.eval_shape(lambda p: apply_fn({"params": p}, *args), params)
    if PERTURBATIONS not in shapes or KFAC_INPUTS not in shapes:
        raise ValueError("apply_fn must call module.apply(..., mutable=TAP_COLLECTIONS) and "
                         "return (outputs, collections); no registered layers were found")
    zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes[PERTURBATIONS])

    def forward(perturbations):
        out, coll = apply_fn({"params": params, PERTURBATIONS: perturbations}, *args)
        return out, coll[KFAC_INPUTS]

    outputs, vjp_fn, inputs = jax.vjp(forward, zeros, has_aux=True)
    z = _loss_cotangent(loss, jax.lax.stop_gradient(outputs), curvature, key)
    (grads,) = vjp_fn(z.astype(outputs.dtype))
    flat_a, flat_g = _flat(inputs), _flat(grads)
    if set(flat_a) != set(flat_g):
        raise ValueError("every tap_inputs needs a tap_outputs with the same name; got inputs "
                         f"{sorted(flat_a)} and outputs {sorted(flat_g)}")
    return {"/".join(k): (flat_a[k], flat_g[k]) for k in sorted(flat_a)}
