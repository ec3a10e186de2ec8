"""grad_norm_logger(): recorded norms, jit/scan/vmap, and the log -> refine pipeline."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optlib
from optlib.schedules import (
    GradNormLoggerState,
    from_array,
    grad_norm_logger,
    linear_decay,
    logged_grad_norms,
    refine,
)


def test_records_l2_and_l1_of_raw_updates():
    params = {"a": jnp.zeros(3), "b": jnp.zeros((2, 2))}
    opt = optax.chain(grad_norm_logger(4), optax.clip_by_global_norm(0.1), optax.adam(0.1))
    state = opt.init(params)
    rng = np.random.default_rng(0)
    grads = [jax.tree.map(lambda x: jnp.asarray(rng.normal(size=x.shape)), params)
             for _ in range(6)]
    step = jax.jit(opt.update)
    for g in grads:
        _, state = step(g, state, params)
    logged = logged_grad_norms(state)
    assert isinstance(logged, GradNormLoggerState) and int(logged.count) == 6
    flat = [np.concatenate([np.ravel(x) for x in jax.tree.leaves(g)]) for g in grads[:4]]
    np.testing.assert_allclose(logged.l2, [np.linalg.norm(f) for f in flat], rtol=1e-12)
    np.testing.assert_allclose(logged.l1, [np.abs(f).sum() for f in flat], rtol=1e-12)
    assert logged.l2.dtype == jnp.float64


@pytest.mark.float32
def test_dtype_follows_params():
    state = grad_norm_logger(3).init({"w": jnp.zeros(2, jnp.float32)})
    assert state.l2.dtype == jnp.float32


def test_inside_run_steps_vmap_and_refine_pipeline(key):
    # noisy least squares with SGD: the pilot run's norms drive a refined schedule
    X = jax.random.normal(key, (64, 5))
    y = X @ jnp.arange(5.0) + jax.random.normal(jax.random.fold_in(key, 1), (64,))

    def loss(w, idx):
        return 0.5 * jnp.mean((X[idx] @ w - y[idx]) ** 2)

    @optlib.core.solver_dataclass
    class SGD:
        schedule: object
        num_steps: int = optlib.core.static_field(default=300)

        def _opt(self):
            return optax.chain(grad_norm_logger(self.num_steps), optax.sgd(self.schedule))

        def init(self, params, key=None):
            return self._opt().init(params)

        def step(self, params, state, key=None):
            idx = jax.random.randint(key, (8,), 0, 64)
            value, g = jax.value_and_grad(loss)(params, idx)
            u, state = self._opt().update(g, state, params)
            return optax.apply_updates(params, u), state, optlib.core.GradientDescentInfo(
                value, optlib.core.tree_norm(g))

        def terminate(self, params, state, info):
            return jnp.asarray(False)

    T = 300
    peaks = jnp.array([0.05, 0.1])
    solvers = jax.vmap(lambda p: SGD(linear_decay(p, float(T))))(peaks)
    results = jax.vmap(lambda s: optlib.run_steps(s, jnp.zeros(5), num_steps=T, key=key))(
        solvers)
    logged = logged_grad_norms(results.state)
    assert logged.l2.shape == (2, T)
    np.testing.assert_allclose(logged.l2, results.history.info.grad_norm, rtol=1e-12)
    out = refine(np.asarray(logged.l2[1]), norm="l2")
    sched = from_array(out.values, T, peak_value=0.1)
    assert float(sched(0)) < float(sched(int(out.peak_position * T)))
    assert float(sched(T)) == 0.0


def test_bad_input():
    with pytest.raises(ValueError, match="num_steps"):
        grad_norm_logger(0)
    with pytest.raises(ValueError, match="exactly one"):
        logged_grad_norms(optax.sgd(0.1).init(jnp.zeros(2)))
