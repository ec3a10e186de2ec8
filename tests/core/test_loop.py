"""The run loop: statuses, termination, vmap, keys, validation, run_steps."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optlib
from optlib.core import solver_dataclass, static_field


def quadratic(x, b):
    return jnp.sum((x - b) ** 2)


def test_gradient_descent_matches_closed_form_iterates():
    # x_{k+1} - b = (1 - 2 lr)(x_k - b): after k steps the error is (1 - 2 lr)^k |x0 - b|.
    solver = optlib.GradientDescent(quadratic, learning_rate=0.1, tol=0.0)
    b = jnp.array([1.0, -2.0])
    result = optlib.run(solver, jnp.zeros(2), b, max_steps=7)
    np.testing.assert_allclose(result.params, b - 0.8**7 * b, rtol=1e-14)
    assert optlib.Status(int(result.status)) is optlib.Status.MAX_STEPS
    assert int(result.num_steps) == 7


def test_success_status_and_step_count():
    solver = optlib.GradientDescent(quadratic, learning_rate=0.25, tol=1e-3)
    # lr = 0.25 halves the error each step; grad norm = 2 |x - b| = 2 * 0.5^k before step k+1.
    result = optlib.run(solver, jnp.zeros(1), jnp.ones(1), max_steps=100)
    assert optlib.Status(int(result.status)) is optlib.Status.SUCCESS
    expected = next(k for k in range(1, 100) if 2 * 0.5 ** (k - 1) < 1e-3)
    assert int(result.num_steps) == expected
    result.raise_if_failed()


def test_nonfinite_step_returns_last_finite_iterate():
    # lr = 1.5 diverges geometrically: |x_k| = 2^k overflows float32 long before 1000 steps.
    solver = optlib.GradientDescent(lambda x: jnp.sum(x**2), learning_rate=1.5, tol=0.0)
    x0 = jnp.ones(1, jnp.float32)
    result = optlib.run(solver, x0, max_steps=1000)
    assert optlib.Status(int(result.status)) is optlib.Status.NONFINITE
    assert np.all(np.isfinite(result.params))
    k = int(result.num_steps)
    np.testing.assert_allclose(np.abs(result.params), 2.0**k, rtol=1e-6)
    with pytest.raises(RuntimeError, match="NONFINITE"):
        result.raise_if_failed()


def test_solver_specific_failure_status():
    @solver_dataclass
    class Diverging:
        limit: float = 10.0

        def init(self, params, *args, key=None):
            return jnp.zeros((), jnp.int32)

        def step(self, params, state, *args, key=None):
            return params * 2.0, state + 1, ()

        def terminate(self, params, state, info):
            diverged = jnp.max(jnp.abs(params)) > self.limit
            return diverged, jnp.where(diverged, optlib.Status.DIVERGED.as_array(),
                                       optlib.Status.SUCCESS.as_array())

    result = optlib.run(Diverging(), jnp.ones(1), max_steps=50)
    assert optlib.Status(int(result.status)) is optlib.Status.DIVERGED
    assert int(result.num_steps) == 4  # 2, 4, 8, 16 > 10


def test_vmap_stops_each_element_on_its_own():
    solver = optlib.GradientDescent(quadratic, learning_rate=0.25, tol=1e-6)
    b = jnp.array([[1.0], [10.0], [1000.0]])
    results = jax.vmap(lambda bi: optlib.run(solver, jnp.zeros(1), bi, max_steps=200))(b)
    steps = np.asarray(results.num_steps)
    assert steps[0] < steps[1] < steps[2]
    single = [int(optlib.run(solver, jnp.zeros(1), bi, max_steps=200).num_steps) for bi in b]
    np.testing.assert_array_equal(steps, single)
    np.testing.assert_allclose(results.params, b, atol=1e-6)


def test_vmap_over_hyperparameters_one_compilation():
    base = optlib.OptaxSolver(quadratic, optax.sgd, hyperparams={"learning_rate": 0.1},
                              tol=1e-8)
    lrs = jnp.linspace(0.05, 0.4, 16)
    sweep = jax.jit(jax.vmap(lambda lr: optlib.run(
        dataclasses.replace(base, hyperparams={"learning_rate": lr}),
        jnp.zeros(2), jnp.ones(2), max_steps=1000).num_steps))
    steps = np.asarray(sweep(lrs))
    assert steps.shape == (16,)
    assert np.all(np.diff(steps) <= 0)  # larger steps (all below 0.5) converge sooner


def test_keys_make_runs_reproducible():
    @solver_dataclass
    class RandomWalk:
        scale: float = 1.0

        def init(self, params, *args, key=None):
            return jax.random.normal(key, ())

        def step(self, params, state, *args, key=None):
            return params + self.scale * jax.random.normal(key, params.shape), state, ()

        def terminate(self, params, state, info):
            return jnp.asarray(False)

    a = optlib.run(RandomWalk(), jnp.zeros(3), key=jax.random.key(1), max_steps=10)
    b = optlib.run(RandomWalk(), jnp.zeros(3), key=jax.random.key(1), max_steps=10)
    c = optlib.run(RandomWalk(), jnp.zeros(3), key=jax.random.key(2), max_steps=10)
    np.testing.assert_array_equal(a.params, b.params)
    np.testing.assert_array_equal(a.state, b.state)
    assert not np.allclose(a.params, c.params)
    # Step k's key is fold_in(split(key)[1], k): the scan variant sees the same keys.
    d = optlib.run_steps(RandomWalk(), jnp.zeros(3), key=jax.random.key(1), num_steps=10)
    np.testing.assert_allclose(a.params, d.params, rtol=1e-15)


def test_pytree_params():
    def fun(p, target):
        return jnp.sum((p["w"] - target) ** 2) + (p["b"] - 1.0) ** 2

    solver = optlib.GradientDescent(fun, learning_rate=0.25, tol=1e-10)
    result = optlib.run(solver, {"w": jnp.zeros(3), "b": jnp.asarray(0.0)}, jnp.arange(3.0),
                        max_steps=200)
    np.testing.assert_allclose(result.params["w"], np.arange(3.0), atol=1e-9)
    np.testing.assert_allclose(result.params["b"], 1.0, atol=1e-9)


def test_run_steps_trace_and_status():
    solver = optlib.GradientDescent(quadratic, learning_rate=0.25, tol=1e-3)
    result = optlib.run_steps(solver, jnp.zeros(1), jnp.ones(1), num_steps=20)
    values = np.asarray(result.history.info.value)
    np.testing.assert_allclose(values, 0.25 ** np.arange(20), rtol=1e-12)
    np.testing.assert_array_equal(result.history.step, np.arange(1, 21))
    assert optlib.Status(int(result.status)) is optlib.Status.SUCCESS
    assert int(result.num_steps) == 20


def test_run_steps_is_reverse_differentiable():
    def final(lr):
        solver = optlib.GradientDescent(lambda x: jnp.sum(x**2), learning_rate=lr)
        return optlib.run_steps(solver, jnp.ones(1), num_steps=5, checkpoint=True).params[0]

    # x_5 = (1 - 2 lr)^5, derivative -10 (1 - 2 lr)^4.
    np.testing.assert_allclose(jax.grad(final)(0.1), -10 * 0.8**4, rtol=1e-12)


@pytest.mark.parametrize("bad", [0, -3])
def test_max_steps_must_be_positive(bad):
    solver = optlib.GradientDescent(quadratic)
    with pytest.raises(ValueError, match="max_steps"):
        optlib.run(solver, jnp.zeros(1), jnp.ones(1), max_steps=bad)


def test_max_steps_must_be_an_int():
    with pytest.raises(TypeError, match="max_steps"):
        optlib.run(optlib.GradientDescent(quadratic), jnp.zeros(1), jnp.ones(1), max_steps=1.5)


def test_not_a_solver():
    with pytest.raises(TypeError, match="init/step/terminate"):
        optlib.run(object(), jnp.zeros(1))


def test_bad_hook():
    with pytest.raises(TypeError, match="hooks"):
        optlib.run(optlib.GradientDescent(quadratic), jnp.zeros(1), jnp.ones(1),
                   hooks=[lambda *a: None])


def test_optax_solver_rejects_hyperparams_with_ready_transformation():
    solver = optlib.OptaxSolver(quadratic, optax.adam(0.1), hyperparams={"learning_rate": 0.1})
    with pytest.raises(ValueError, match="factory"):
        optlib.run(solver, jnp.zeros(1), jnp.ones(1), max_steps=2)


def test_status_messages():
    for status in optlib.Status:
        assert status.message
    assert not optlib.Status.SUCCESS.failed and optlib.Status.MAX_STEPS.failed


def test_raise_if_failed_allows_max_steps_on_request():
    solver = optlib.GradientDescent(quadratic, learning_rate=0.01, tol=0.0)
    result = optlib.run(solver, jnp.zeros(1), jnp.ones(1), max_steps=3)
    with pytest.raises(RuntimeError, match="MAX_STEPS"):
        result.raise_if_failed()
    assert result.raise_if_failed(allow_max_steps=True) is result


def test_static_field_and_leaves():
    @solver_dataclass
    class S:
        fun: object = static_field(default=None)
        lr: float = 0.1

    assert jax.tree.leaves(S(fun=print, lr=0.3)) == [0.3]


def test_stochastic_objective_gets_the_step_key():
    def noisy(x, target, key):
        noise = jax.random.normal(key, x.shape)
        return jnp.sum((x - target - 0.01 * noise) ** 2)

    solver = optlib.OptaxSolver(noisy, optax.sgd, hyperparams={"learning_rate": 0.1}, tol=0.0,
                                stochastic=True)
    a = optlib.run(solver, jnp.zeros(2), jnp.ones(2), key=jax.random.key(0), max_steps=200)
    b = optlib.run(solver, jnp.zeros(2), jnp.ones(2), key=jax.random.key(0), max_steps=200)
    np.testing.assert_array_equal(a.params, b.params)
    np.testing.assert_allclose(a.params, 1.0, atol=0.05)
    with pytest.raises(ValueError, match="PRNG key"):
        optlib.run(solver, jnp.zeros(2), jnp.ones(2), max_steps=2)


@pytest.mark.parametrize("driver", ["run", "run_steps"])
def test_resume_from_state_matches_one_long_run(driver):
    def noisy(x, target, key):
        return jnp.sum((x - target) ** 2) + jnp.sum(x * jax.random.normal(key, x.shape))

    solver = optlib.OptaxSolver(noisy, optax.adam, hyperparams={"learning_rate": 0.05}, tol=0.0,
                                stochastic=True)
    key = jax.random.key(3)
    go = (lambda *a, n, **k: optlib.run(solver, *a, key=key, max_steps=n, **k)) \
        if driver == "run" else \
        (lambda *a, n, **k: optlib.run_steps(solver, *a, key=key, num_steps=n, **k))
    whole = go(jnp.zeros(3), jnp.ones(3), n=30)
    first = go(jnp.zeros(3), jnp.ones(3), n=12)
    rest = go(first.params, jnp.ones(3), n=18, state=first.state, step_offset=12)
    np.testing.assert_allclose(rest.params, whole.params, rtol=1e-12)
    np.testing.assert_array_equal(rest.state.count, 30)
