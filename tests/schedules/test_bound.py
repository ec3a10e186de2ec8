"""last_iterate_bound(): closed-form constants, brute force, and the refined schedule's optimality."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

from optlib.schedules import cosine, from_array, last_iterate_bound, linear_decay, refine, wsd


def brute_force_bound(eta, g, D=1.0):
    T = len(eta)
    first = (D**2 + np.sum(eta**2 * g**2)) / (2 * np.sum(eta))
    second = 0.0
    for k in range(T - 1):
        second += (eta[k] / eta[k + 1:].sum()) * (
            np.sum(eta[k:] ** 2 * g[k:] ** 2) / eta[k:].sum())
    return first + 0.5 * second


def test_matches_brute_force_and_tuning():
    rng = np.random.default_rng(0)
    eta = rng.uniform(0.1, 1.0, 60)
    g = rng.uniform(0.5, 3.0, 60)
    out = last_iterate_bound(eta, g, distance=2.5)
    np.testing.assert_allclose(out.value, brute_force_bound(eta, g, 2.5), rtol=1e-12)
    c = float(out.best_scale)
    np.testing.assert_allclose(out.tuned_value, brute_force_bound(c * eta, g, 2.5), rtol=1e-12)
    for f in (0.7, 1.3):
        assert brute_force_bound(f * c * eta, g, 2.5) > float(out.tuned_value)


@pytest.mark.parametrize("T", [1000, 5000])
def test_linear_decay_constant_is_two(T):
    k = jnp.arange(T)
    G, D = 3.0, 0.5
    ratio = lambda s: float(last_iterate_bound(s(k), G, D).tuned_value) * np.sqrt(T) / (D * G)
    lin = ratio(linear_decay(1.0, T))
    assert abs(lin - 2.0) <= 0.02
    assert ratio(cosine(1.0, T)) == pytest.approx(2.06, abs=0.01)
    assert ratio(wsd(1.0, T, cooldown_fraction=0.2)) == pytest.approx(2.16, abs=0.015)
    assert ratio(lambda k: jnp.ones(k.shape)) > 2.9
    assert lin < ratio(cosine(1.0, T))


def _minimize_bound(g, starts):
    f = jax.jit(jax.value_and_grad(lambda z: last_iterate_bound(jnp.exp(z), g).tuned_value))
    fun = lambda z: tuple(np.asarray(v, np.float64) for v in f(jnp.asarray(z)))
    best = np.inf
    for z0 in starts:
        res = scipy.optimize.minimize(fun, z0, jac=True, method="L-BFGS-B",
                                      options=dict(maxiter=3000, ftol=1e-14, gtol=1e-10))
        best = min(best, float(res.fun))
    return best


@pytest.mark.parametrize("profile, min_gain", [
    (([0, 0.1, 0.3, 1], [8, 3, 1, 1]), 0.20),        # "high early"
    (([0, 0.1, 0.5, 0.8, 1], [4, 1, 1, 1.5, 2.5]), 0.15),  # rises at the end
    (([0, 1], [1, 1]), None),                         # constant: refined == linear
])
def test_refined_is_near_optimal_for_the_bound(profile, min_gain):
    T = 200
    g = np.interp(np.arange(T) / T, *profile)
    k = jnp.arange(T)
    lin = linear_decay(1.0, T)(k)
    refined = from_array(refine(g, tau=0.0, num_points=T + 1).values, T)(k)
    b_lin = float(last_iterate_bound(lin, g).tuned_value)
    b_ref = float(last_iterate_bound(refined, g).tuned_value)
    if min_gain is not None:
        assert b_ref <= (1 - min_gain) * b_lin
    else:
        np.testing.assert_allclose(b_ref, b_lin, rtol=1e-12)
    b_opt = _minimize_bound(g, [np.log(lin + 1e-3), np.log(refined + 1e-3)])
    assert b_opt <= b_ref * (1 + 1e-9)
    assert b_ref <= 1.015 * b_opt


@pytest.mark.parametrize("args, match", [
    ((np.ones((2, 2)), 1.0), "1-D"),
    ((np.array([1.0, 0.5, 0.0]), 1.0), "last entry"),
    ((np.array([1.0, -0.5, 0.1]), 1.0), "non-negative"),
    ((np.ones(4), np.ones(3)), "shape"),
    ((np.ones(4), -1.0), "grad_norms"),
])
def test_bad_input_raises(args, match):
    with pytest.raises(ValueError, match=match):
        last_iterate_bound(*args)
