"""Sharding on 8 fake CPU devices, in a fresh process (XLA_FLAGS must precede jax's import)."""

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import jax, jax.numpy as jnp, numpy as np, optax, optlib
    from jax.sharding import NamedSharding, PartitionSpec as P
    assert jax.device_count() == 8, jax.devices()
    mesh = jax.make_mesh((8,), ("batch",), axis_types=(jax.sharding.AxisType.Auto,))
    batch = NamedSharding(mesh, P("batch"))

    def loss(x, b):
        return jnp.sum((x - b) ** 2)

    solver = optlib.OptaxSolver(loss, optax.adam, hyperparams={"learning_rate": 0.1}, tol=1e-6)
    b = jax.device_put(jnp.arange(16.0).reshape(16, 1), batch)
    x0 = jax.device_put(jnp.zeros((16, 1)), batch)
    run = jax.jit(jax.vmap(lambda x, bi: optlib.run(solver, x, bi, max_steps=5000)))
    result = run(x0, b)
    assert result.params.sharding.is_equivalent_to(batch, 2), result.params.sharding
    np.testing.assert_allclose(result.params, np.arange(16.0).reshape(16, 1), atol=1e-4)
    # The same batch on one device gives the same answer.
    single = jax.vmap(lambda x, bi: optlib.run(solver, x, bi, max_steps=5000))(
        jnp.zeros((16, 1)), jnp.arange(16.0).reshape(16, 1))
    np.testing.assert_allclose(result.params, single.params, rtol=1e-6)
    np.testing.assert_array_equal(result.num_steps, single.num_steps)

    # States built with zeros_like inherit the parameters' sharding (no device_put inside).
    params = jax.device_put(jnp.zeros((8, 4)), NamedSharding(mesh, P("batch", None)))
    state = solver.init(params)
    assert state.opt_state[0].mu.sharding.is_equivalent_to(params.sharding, 2)
    print("OK")
""")


def test_sharded_batch_on_eight_fake_devices():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8",
               JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("OK")
