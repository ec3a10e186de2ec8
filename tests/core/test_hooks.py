"""Hooks under jit, vmap and grad."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tqdm.auto

import optlib


def quadratic(x, b):
    return jnp.sum((x - b) ** 2)


SOLVER = optlib.GradientDescent(quadratic, learning_rate=0.25, tol=1e-8)


class RecordingBar:
    instances: list["RecordingBar"] = []

    def __init__(self, total, **kwargs):
        self.total, self.n, self.closed, self.updates = total, 0, False, 0
        RecordingBar.instances.append(self)

    def update(self, n):
        self.n += n
        self.updates += 1

    def set_postfix(self, *args, **kwargs):
        pass

    def close(self):
        self.closed = True


@pytest.fixture
def bars(monkeypatch):
    RecordingBar.instances = []
    monkeypatch.setattr(tqdm.auto, "tqdm", RecordingBar)
    return RecordingBar.instances


def test_history_records_every_step():
    result = optlib.run(SOLVER, jnp.zeros(1), jnp.ones(1), max_steps=50,
                        hooks=[optlib.History(params=True)])
    trace = result.history.valid()
    n = int(result.num_steps)
    assert len(trace.step) == n
    np.testing.assert_array_equal(trace.step, np.arange(1, n + 1))
    np.testing.assert_allclose(trace.info.value, 0.25 ** np.arange(n), rtol=1e-12)
    np.testing.assert_allclose(trace.params[:, 0], 1 - 0.5 ** np.arange(1, n + 1), rtol=1e-12)
    # Unwritten rows are NaN.
    assert np.all(np.isnan(np.asarray(result.history.info.value)[n:]))


def test_history_every_k():
    result = optlib.run(SOLVER, jnp.zeros(1), jnp.ones(1), max_steps=30,
                        hooks=[optlib.History(every=5)])
    trace = result.history.valid()
    np.testing.assert_array_equal(trace.step, np.arange(1, int(result.num_steps) + 1, 5))
    np.testing.assert_allclose(trace.info.value, 0.25 ** (trace.step - 1), rtol=1e-12)


def test_history_under_vmap():
    b = jnp.array([[1.0], [100.0]])
    results = jax.vmap(lambda bi: optlib.run(SOLVER, jnp.zeros(1), bi, max_steps=60,
                                             hooks=[optlib.History()]))(b)
    lengths = np.asarray(results.history.length)
    np.testing.assert_array_equal(lengths, np.asarray(results.num_steps))
    for i in range(2):
        values = np.asarray(results.history.info.value[i, : lengths[i]])
        np.testing.assert_allclose(values, float(b[i, 0]) ** 2 * 0.25 ** np.arange(lengths[i]),
                                   rtol=1e-12)


def test_history_under_grad():
    def loss(lr):
        solver = optlib.GradientDescent(lambda x: jnp.sum(x**2), learning_rate=lr)
        result = optlib.run_steps(solver, jnp.ones(1), num_steps=3, hooks=[optlib.History()])
        return result.params[0]

    np.testing.assert_allclose(jax.grad(loss)(0.1), -6 * 0.8**2, rtol=1e-12)


def test_progress_bar_one_bar_per_run(bars):
    result = optlib.run(SOLVER, jnp.zeros(1), jnp.ones(1), max_steps=100,
                        hooks=[optlib.ProgressBar(every=2)])
    jax.effects_barrier()
    assert len(bars) == 1
    assert bars[0].closed and bars[0].total == 100
    assert bars[0].n == int(result.num_steps) < 100


def test_progress_bar_under_vmap_is_one_bar(bars):
    b = jnp.linspace(1.0, 1000.0, 8)[:, None]
    results = jax.vmap(lambda bi: optlib.run(SOLVER, jnp.zeros(1), bi, max_steps=100,
                                             hooks=[optlib.ProgressBar(every=5)]))(b)
    jax.effects_barrier()
    assert len(bars) == 1
    assert bars[0].closed
    assert bars[0].n == int(np.max(results.num_steps))


def test_progress_bar_gated_by_every(bars):
    optlib.run(SOLVER, jnp.zeros(1), jnp.ones(1), max_steps=1000,
               hooks=[optlib.ProgressBar(every=1000)])
    jax.effects_barrier()
    # Never reached step 1000: only the closing update moves the bar.
    assert bars == [] or bars[0].updates <= 1


def test_progress_bar_under_jit(bars):
    f = jax.jit(lambda b: optlib.run(SOLVER, jnp.zeros(1), b, max_steps=100,
                                     hooks=[optlib.ProgressBar(every=1)]).params)
    f(jnp.ones(1))
    f(2 * jnp.ones(1))
    jax.effects_barrier()
    assert len(bars) == 2 and all(bar.closed for bar in bars)


def test_print_hook(capsys):
    optlib.run(SOLVER, jnp.zeros(1), jnp.ones(1), max_steps=4, hooks=[optlib.Print(every=2)])
    jax.effects_barrier()
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines == ["step 2: value=0.25, grad_norm=1", "step 4: value=0.01562, grad_norm=0.25"]


@pytest.mark.parametrize("hook", [optlib.History, optlib.ProgressBar, optlib.Print])
def test_hooks_reject_bad_every(hook):
    with pytest.raises(ValueError, match="every"):
        optlib.run(SOLVER, jnp.zeros(1), jnp.ones(1), max_steps=4, hooks=[hook(every=0)])
