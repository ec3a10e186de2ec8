"""Shared problems of the curvature tests."""

import jax
import jax.numpy as jnp
import pytest

import optlib.curvature as oc


@pytest.fixture(scope="module")
def linear_least_squares():
    """One registered linear layer with squared error: its GGN is the exact Hessian.

    Returns ``(x, params, apply_fn, loss)`` with ``apply_fn`` giving the residuals.
    """
    x = jax.random.normal(jax.random.key(5), (20, 3))
    y = jax.random.normal(jax.random.key(6), (20,))
    model = oc.Dense(1)
    params = model.init(jax.random.key(7), x)["params"]

    def apply_fn(variables, x):
        out, coll = model.apply(variables, x, mutable=oc.TAP_COLLECTIONS)
        return out[:, 0] - y, coll

    return x, params, apply_fn, lambda r: 0.5 * jnp.mean(r**2)
