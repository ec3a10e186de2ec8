"""Exact generalized Gauss-Newton quadratic forms for K-FAC's step-size rule."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

PyTree = Any


def ggn_gram(output_fn: Callable[[PyTree], jax.Array], params: PyTree,
             loss: Callable[[jax.Array], jax.Array], directions: Sequence[PyTree]) -> jax.Array:
    """Gram matrix ``D_ij = d_i^T G d_j`` of the exact generalized Gauss-Newton matrix.

    ``G = J^T H J`` with ``J`` the Jacobian of the outputs ``X = output_fn(params)`` and
    ``H`` the full Hessian of ``loss`` in ``X`` (cross-example terms included, unlike
    the diagonal used for K-FAC's factors). The model is linearized once; each direction then
    costs one Jacobian-vector product and one Hessian-vector product of the loss; ``G``
    is never formed.
    :func:`kfac` calls it (as the extra argument ``ggn_gram``) to choose the learning
    rate and momentum from the quadratic model.

    Args:
        output_fn: the per-example outputs ``X`` (any shape) as a function of ``params``.
        params: where the curvature is taken.
        loss: the loss of the outputs, twice differentiable and convex in ``X``.
        directions: ``k`` parameter-shaped pytrees.

    Returns:
        The symmetric ``(k, k)`` matrix ``[d_i^T G d_j]``.

    Example:
        >>> import jax.numpy as jnp
        >>> x = jnp.array([[1.0, 0.0], [0.0, 2.0]])
        >>> gram = ggn_gram(lambda w: x @ w, jnp.zeros(2), lambda r: 0.5 * jnp.sum(r**2),
        ...                 [jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0])])
        >>> gram.tolist()   # x^T x
        [[1.0, 0.0], [0.0, 4.0]]

    References:
        J. Martens, R. Grosse, "Optimizing neural networks with Kronecker-factored
        approximate curvature", ICML 2015, section 7. N. Schraudolph, "Fast curvature
        matrix-vector products for second-order gradient descent", Neural Computation 2002.
    """
    if not directions:
        raise ValueError("ggn_gram needs at least one direction")
    out, jvp_fn = jax.linearize(output_fn, params)
    jvps = [jvp_fn(d) for d in directions]
    hess_fn = jax.linearize(jax.grad(loss), out)[1]
    hjvps = [hess_fn(jv) for jv in jvps]
    rows = [[jnp.vdot(jvps[i], hjvps[j]) for j in range(len(jvps))] for i in range(len(jvps))]
    gram = jnp.stack([jnp.stack(r) for r in rows])
    return 0.5 * (gram + gram.T)
