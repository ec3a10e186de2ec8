"""Hedging policies (flax.linen), registered for K-FAC."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from optlib.curvature._taps import Dense, tap_inputs, tap_outputs


class MLPHedger(nn.Module):
    """A feed-forward hedger applied at every rebalancing date.

    Maps the features of date ``k`` (``(N, n, F)``, e.g. :func:`hedge_features`) to the
    position ``delta_k`` (``(N, n)``) with the same weights at every date, like
    pfhedge's ``MultiLayerPerceptron``. Its dense layers see ``(N, n, d)`` inputs, so
    K-FAC treats them as weights shared over time (``sequence="expand"`` or ``"reduce"``).

    Attributes:
        hidden: widths of the hidden layers.

    Example:
        >>> import jax, jax.numpy as jnp, optlib.hedging as h
        >>> x = jnp.zeros((4, 30, 3))
        >>> params = h.MLPHedger((8,)).init(jax.random.key(0), x)["params"]
        >>> h.MLPHedger((8,)).apply({"params": params}, x).shape
        (4, 30)
    """

    hidden: Sequence[int] = (32, 32)

    @nn.compact
    def __call__(self, features: jax.Array) -> jax.Array:
        x = features
        for i, width in enumerate(self.hidden):
            x = jnp.tanh(Dense(width, name=f"hidden_{i}")(x))
        return Dense(1, name="head")(x)[..., 0]


class LSTMHedger(nn.Module):
    """A one-layer LSTM hedger: ``delta_k = head(h_k)``, ``h_k = LSTM(features_0..k)``.

    The input projection (``input_kernel``, ``input_bias``) is computed for all dates at
    once, the recurrent weight (``recurrent_kernel``) inside a ``lax.scan``; both are
    registered as weights shared across time with the gate pre-activations as their
    outputs, and the head is a :class:`optlib.curvature.Dense` applied at every date.
    Gate order ``i, f, g, o``; the forget-gate bias starts at 1.

    Attributes:
        hidden: number of LSTM units.

    Example:
        >>> import jax, jax.numpy as jnp, optlib.hedging as h
        >>> x = jnp.zeros((4, 30, 3))
        >>> params = h.LSTMHedger(8).init(jax.random.key(0), x)["params"]
        >>> params["recurrent_kernel"].shape
        (8, 32)
    """

    hidden: int = 32

    @nn.compact
    def __call__(self, features: jax.Array) -> jax.Array:
        n, _, d = features.shape
        h_dim = self.hidden
        dtype = features.dtype
        w_in = self.param("input_kernel", nn.initializers.lecun_normal(), (d, 4 * h_dim), dtype)

        def bias_init(key, shape, dtype):
            return jnp.zeros(shape, dtype).at[h_dim:2 * h_dim].set(1.0)

        b_in = self.param("input_bias", bias_init, (4 * h_dim,), dtype)
        w_rec = self.param("recurrent_kernel", nn.initializers.orthogonal(), (h_dim, 4 * h_dim),
                           dtype)
        # Both kernels feed the same gate pre-activations z_t, so both perturbations are
        # added outside the scan: their output gradients are then one array, and K-FAC's
        # G factors of the two blocks are one computation (deduplicated by XLA).
        pre_in = tap_outputs(self, "input_kernel", features @ w_in + b_in[None, None, :])
        pre_in = tap_outputs(self, "recurrent_kernel", pre_in)

        def cell(carry, x_proj):
            h, c = carry
            z = x_proj + h @ w_rec
            i, f, g, o = jnp.split(z, 4, axis=-1)
            c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
            h_new = jax.nn.sigmoid(o) * jnp.tanh(c)
            return (h_new, c), (h_new, h)

        init = (jnp.zeros((n, h_dim), dtype), jnp.zeros((n, h_dim), dtype))
        _, (hs, h_prev) = jax.lax.scan(cell, init, jnp.swapaxes(pre_in, 0, 1))
        hs, h_prev = jnp.swapaxes(hs, 0, 1), jnp.swapaxes(h_prev, 0, 1)
        tap_inputs(self, "input_kernel", features)
        tap_inputs(self, "recurrent_kernel", h_prev)
        return Dense(1, name="head")(hs)[..., 0]
