"""Closed-form and array-backed schedules: values, jit/vmap, resume, inject_hyperparams."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optlib
from optlib._testing import assert_trees_allclose, count_compilations
from optlib.schedules import cosine, from_array, inverse_sqrt, linear_decay, wsd

T = 100
_ev = jax.jit(lambda sched, k: sched(k))


def all_schedules():
    return {
        "linear": linear_decay(0.3, T, warmup_steps=10),
        "linear_end": linear_decay(0.3, T, end_value=0.03),
        "cosine": cosine(0.3, T, warmup_steps=5, end_value=0.03),
        "wsd_linear": wsd(0.3, T, warmup_steps=5, cooldown_fraction=0.2),
        "wsd_sqrt": wsd(0.3, T, cooldown_fraction=0.3, cooldown="1-sqrt"),
        "inverse_sqrt": inverse_sqrt(0.3, warmup_steps=10),
        "array": from_array(np.array([0.0, 1.0, 0.7, 0.2, 0.0]), T, peak_value=0.3),
    }


def test_values_match_closed_forms_and_optax():
    k = np.arange(0, 2 * T)
    np.testing.assert_allclose(linear_decay(0.3, T)(k), 0.3 * np.clip(1 - k / T, 0, 1),
                               rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(
        linear_decay(0.3, T, end_value=0.03)(k),
        jax.vmap(optax.linear_schedule(0.3, 0.03, T))(k), rtol=1e-6)
    np.testing.assert_allclose(
        cosine(0.3, T, end_value=0.03)(k),
        jax.vmap(optax.cosine_decay_schedule(0.3, T, alpha=0.1))(k), rtol=1e-6)
    warm = linear_decay(1.0, T, warmup_steps=10)(k)
    np.testing.assert_allclose(warm[:11], k[:11] / 10, rtol=1e-12)
    np.testing.assert_allclose(warm[10:T], 1 - (k[10:T] - 10) / 90, rtol=1e-12)
    s = wsd(1.0, T, warmup_steps=5, cooldown_fraction=0.2, cooldown="1-sqrt")(k)
    np.testing.assert_allclose(s[5:80], 1.0)
    np.testing.assert_allclose(s[80:T], 1 - np.sqrt((k[80:T] - 80) / 20), rtol=1e-12)
    np.testing.assert_allclose(s[T:], 0.0)
    r = inverse_sqrt(2.0, 16)(k)
    np.testing.assert_allclose(r[16:], 2.0 * np.sqrt(16 / k[16:]), rtol=1e-12)


def test_from_array_interpolates_in_normalized_time():
    values = np.array([0.0, 1.0, 0.5, 0.0])
    for horizon in (30, 300, 3000):
        sched = from_array(values, horizon)
        k = np.round(np.linspace(0, 1.2, 301) * horizon)
        expected = np.interp(np.clip(k / horizon, 0, 1), np.linspace(0, 1, 4), values)
        np.testing.assert_allclose(_ev(sched, k), expected, atol=1e-12)
    # linear decay as an array is exactly linear decay
    np.testing.assert_allclose(from_array(np.linspace(1, 0, 7), T)(np.arange(T)),
                               linear_decay(1.0, T)(np.arange(T)), atol=1e-12)


def test_from_array_caps_knots():
    long = np.linspace(1.0, 0.0, 100_000) ** 2
    sched = from_array(long, 50_000, max_knots=2048)
    assert sched.values.shape == (2048,)
    k = np.arange(0, 50_000, 997)
    np.testing.assert_allclose(_ev(sched, k), (1 - k / 50_000) ** 2, atol=1e-6)


@pytest.mark.parametrize("name", list(all_schedules()))
def test_jit_vmap_and_pytree(name):
    sched = all_schedules()[name]
    k = jnp.arange(3 * T)
    direct = np.array([float(sched(int(i))) for i in range(0, 3 * T, 7)])
    np.testing.assert_allclose(jax.jit(jax.vmap(sched))(k)[::7], direct, rtol=1e-12)
    # a batch of schedules with different peaks, vmapped as a pytree
    leaves, treedef = jax.tree.flatten(sched)
    peaks = jnp.array([0.1, 0.2, 0.4])
    batched = jax.tree.unflatten(treedef, [jnp.broadcast_to(jnp.asarray(x), (3,) + jnp.shape(x))
                                           for x in leaves])
    batched = jax.tree.map(lambda x: x, batched)
    scaled = jax.vmap(lambda s, p: s(37) * p)(batched, peaks)
    np.testing.assert_allclose(scaled, float(sched(37)) * peaks, rtol=1e-12)


def _train(opt, params, num_steps, state=None):
    X = jnp.asarray(np.random.default_rng(0).normal(size=(20, 3)))
    loss = lambda w, i: jnp.sum((X[i % 20] @ w - 1.0) ** 2)
    state = opt.init(params) if state is None else state

    def body(carry, i):
        w, s = carry
        g = jax.grad(loss)(w, i)
        u, s = opt.update(g, s, w)
        return (optax.apply_updates(w, u), s), None

    start = state.count
    (params, state), _ = jax.lax.scan(body, (params, state), start + jnp.arange(num_steps))
    return params, state


@pytest.mark.parametrize("name", list(all_schedules()))
def test_checkpoint_resume_and_inject_hyperparams(name):
    sched = all_schedules()[name]
    opt = optax.inject_hyperparams(optax.adam)(learning_rate=sched)
    w0 = jnp.zeros(3)
    full, full_state = _train(opt, w0, T + 20)
    half, half_state = _train(opt, w0, 60)
    # a checkpoint is host numpy arrays; resuming needs nothing but the restored state
    restored = jax.tree.map(lambda x: jnp.asarray(np.asarray(x)), (half, half_state))
    resumed, resumed_state = _train(opt, restored[0], T + 20 - 60, state=restored[1])
    assert_trees_allclose(resumed, full, rtol=0, atol=0)
    # inject_hyperparams reports the schedule's value at the last count it used
    lr = full_state.hyperparams["learning_rate"]
    np.testing.assert_allclose(lr, sched(T + 19), rtol=1e-12)
    assert int(resumed_state.count) == T + 20


def test_no_recompilation_when_values_change():
    f = jax.jit(lambda s, k: s(k))
    a = linear_decay(0.1, 100, warmup_steps=5)
    b = linear_decay(0.7, 3000, warmup_steps=50)
    arr1 = from_array(jnp.linspace(1.0, 0.0, 64), 100)
    arr2 = from_array(jnp.linspace(0.0, 1.0, 64) ** 2, 5000, peak_value=3.0)
    k = jnp.asarray(10)
    jax.block_until_ready((f(a, k), f(arr1, k)))
    with count_compilations() as n:
        jax.block_until_ready((f(b, k), f(arr2, k)))
    assert n() == 0


def test_optax_solver_with_schedule_does_not_recompile():
    fun = lambda x: jnp.sum((x - 2.0) ** 2)
    make = lambda peak, horizon: optlib.OptaxSolver(
        fun, optax.sgd, hyperparams={"learning_rate": linear_decay(peak, horizon)}, tol=0.0)
    x0 = jnp.zeros(2)
    r1 = optlib.run_steps(make(0.1, 200.0), x0, num_steps=200)
    with count_compilations() as n:
        r2 = optlib.run_steps(make(0.3, 150.0), x0, num_steps=200)
    assert n() == 0
    np.testing.assert_allclose(r1.params, 2.0, atol=1e-6)
    np.testing.assert_allclose(r2.params, 2.0, atol=1e-6)


@pytest.mark.parametrize("make, match", [
    (lambda: linear_decay(1.0, 0), "total_steps"),
    (lambda: cosine(1.0, -5), "total_steps"),
    (lambda: linear_decay(1.0, 10, warmup_steps=10), "warmup_steps"),
    (lambda: linear_decay(-1.0, 10), "peak_value"),
    (lambda: linear_decay(float("nan"), 10), "peak_value"),
    (lambda: wsd(1.0, 10, cooldown="cosine"), "cooldown"),
    (lambda: wsd(1.0, 10, cooldown_fraction=0.0), "cooldown_fraction"),
    (lambda: inverse_sqrt(1.0, 0), "warmup_steps"),
    (lambda: from_array(np.ones((3, 2)), 10), "1-D"),
    (lambda: from_array(np.ones(1), 10), "1-D"),
    (lambda: from_array(np.array([1.0, np.inf]), 10), "finite"),
    (lambda: from_array(np.ones(3), 0), "total_steps"),
    (lambda: linear_decay(np.ones(2), 10), "peak_value"),
])
def test_bad_input_raises(make, match):
    with pytest.raises(ValueError, match=match):
        make()
