"""Heston and Black-Scholes market layer against closed forms and Monte Carlo."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import norm

import optlib.hedging as h

# (S0, K, T, model, reference call, reference P1-delta): kfac_hedging.md section 4.4,
# recomputed there with scipy quad to 1e-12 using two independent Fourier formulas.
ANDERSEN_I = (100.0, 100.0, 10.0, h.Heston(kappa=0.5, theta=0.04, xi=1.0, rho=-0.9, v0=0.04))
SHORT_ATM = (100.0, 100.0, 30 / 365, h.Heston(kappa=1.0, theta=0.04, xi=2.0, rho=-0.7, v0=0.04))
CASES = [
    (*ANDERSEN_I, 13.084670, 0.785936),
    (100.0, 100.0, 15.0, h.Heston(kappa=0.3, theta=0.04, xi=0.9, rho=-0.5, v0=0.04), 16.649223,
     0.703434),
    (100.0, 100.0, 5.0, h.Heston(kappa=1.0, theta=0.09, xi=1.0, rho=-0.3, v0=0.09), 21.795288,
     0.657810),
    (*SHORT_ATM, 1.691834, 0.696007),
    (100.0, 90.0, 30 / 365, SHORT_ATM[3], 10.382981, 0.953942),
    (100.0, 110.0, 30 / 365, SHORT_ATM[3], 0.029087, 0.011194),
    (100.0, 100.0, 0.5, h.Heston(kappa=2.0, theta=0.06, xi=0.1, rho=-0.7, v0=0.06, rate=0.10,
                                 dividend=0.07), 7.346077, 0.563298),
]


# One compiled pricer for every case (the model's numbers are traced leaves).
call = jax.jit(h.heston_call, static_argnames="num_nodes")
delta = jax.jit(h.heston_delta, static_argnames=("num_nodes", "minimum_variance"))


def test_heston_call_matches_reference():
    # References are rounded to 6 decimals, so 1e-6 is the tolerance the rounding allows.
    for s0, k, t, model, ref, ref_delta in CASES:
        assert abs(float(call(s0, k, t, model)) - ref) < 1e-6, (model, ref)
        assert abs(float(delta(s0, k, t, model)) - ref_delta) < 1e-6, (model, ref_delta)


def test_heston_black_scholes_limit():
    model = h.Heston(kappa=1.0, theta=0.04, xi=1e-4, rho=-0.5, v0=0.04, rate=0.02)
    bs = h.black_scholes_call(100.0, 100.0, 1.0, 0.2, rate=0.02)
    assert abs(float(call(100.0, 100.0, 1.0, model)) - float(bs)) < 1e-6
    assert abs(float(bs) - 8.916037) < 1e-6


def test_heston_delta_matches_finite_difference_and_mv_correction():
    s0, k, t, model = SHORT_ATM
    eps = 1e-4
    fd = (call(s0 + eps, k, t, model) - call(s0 - eps, k, t, model)) / (2 * eps)
    assert abs(float(delta(s0, k, t, model)) - float(fd)) < 1e-7
    dv = (call(s0, k, t, model._replace(v0=0.04 + 1e-6))
          - call(s0, k, t, model._replace(v0=0.04 - 1e-6))) / 2e-6
    mv = delta(s0, k, t, model, minimum_variance=True)
    expected = float(fd) + model.rho * model.xi / s0 * float(dv)
    assert abs(float(mv) - expected) < 1e-5
    assert abs(float(mv) - 0.2977) < 1e-3  # research note: MV delta 0.2977


def test_black_scholes_against_scipy():
    s, k, tau, sig, r = 105.0, 100.0, 0.5, 0.3, 0.01
    d1 = (np.log(s / k) + (r + 0.5 * sig**2) * tau) / (sig * np.sqrt(tau))
    d2 = d1 - sig * np.sqrt(tau)
    ref = s * norm.cdf(d1) - k * np.exp(-r * tau) * norm.cdf(d2)
    assert abs(float(h.black_scholes_call(s, k, tau, sig, rate=r)) - ref) < 1e-10
    assert abs(float(h.black_scholes_delta(s, k, tau, sig, rate=r)) - norm.cdf(d1)) < 1e-12
    assert float(h.black_scholes_call(105.0, 100.0, 0.0, 0.2)) == 5.0


def _mc_call(paths, strike):
    payoff = np.maximum(np.asarray(paths.spot[:, -1]) - strike, 0.0)
    return payoff.mean(), payoff.std(ddof=1) / np.sqrt(payoff.size)


def test_qe_monte_carlo_short_atm_within_3_se():
    s0, k, t, model = SHORT_ATM
    paths = h.simulate_heston(jax.random.key(1), model, s0, t, 30, 200_000)
    mean, se = _mc_call(paths, k)
    assert abs(mean - 1.691834) < 3 * se
    st = np.asarray(paths.spot[:, -1])
    assert abs(st.mean() - s0) < 3 * st.std(ddof=1) / np.sqrt(st.size)
    assert np.all(np.asarray(paths.variance) >= 0)


def test_qe_monte_carlo_andersen_case_i_within_3_se():
    s0, k, t, model = ANDERSEN_I
    paths = h.simulate_heston(jax.random.key(2), model, s0, t, 80, 100_000)
    mean, se = _mc_call(paths, k)
    assert abs(mean - 13.084670) < 3 * se
    st = np.asarray(paths.spot[:, -1])
    assert abs(st.mean() - s0) < 3 * st.std(ddof=1) / np.sqrt(st.size)


def test_euler_full_truncation_is_biased_high_at_daily_steps():
    # Research note 4.4: +6.7% bias at 30 daily steps when xi = 2; QE-M removes it.
    s0, k, t, model = SHORT_ATM
    paths = h.simulate_heston(jax.random.key(1), model, s0, t, 30, 100_000, scheme="euler")
    mean, se = _mc_call(paths, k)
    assert mean - 1.691834 > 10 * se


def test_gbm_martingale_and_bs_price():
    paths = h.simulate_gbm(jax.random.key(3), 100.0, 0.2, 1.0, 4, 200_000)
    mean, se = _mc_call(paths, 100.0)
    assert abs(mean - float(h.black_scholes_call(100.0, 100.0, 1.0, 0.2))) < 3 * se


def test_float32_paths_keep_dtype():
    paths = h.simulate_heston(jax.random.key(0), h.Heston(), 1.0, 0.1, 5, 7, dtype=jnp.float32)
    assert paths.spot.dtype == jnp.float32 and paths.spot.shape == (7, 6)


@pytest.mark.parametrize("kwargs,match", [
    (dict(model=h.Heston(theta=-0.1)), "theta"),
    (dict(model=h.Heston(v0=-0.1)), "v0"),
    (dict(model=h.Heston(xi=0.0)), "xi"),
    (dict(model=h.Heston(rho=-1.5)), "rho"),
    (dict(maturity=0.0), "maturity"),
    (dict(num_steps=0), "num_steps"),
    (dict(num_paths=2.5), "num_paths"),
    (dict(scheme="milstein"), "scheme"),
])
def test_bad_input_raises(kwargs, match):
    args = dict(model=h.Heston(), s0=1.0, maturity=0.1, num_steps=5, num_paths=4)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        h.simulate_heston(jax.random.key(0), **args)


def test_pnl_costs_and_shapes():
    paths = h.Paths(jnp.array([[1.0, 1.1, 1.2]]), jnp.zeros((1, 3)), jnp.array([0.0, 0.5, 1.0]))
    hedge = jnp.array([[0.5, 1.0]])
    res = h.hedge_pnl(paths, hedge, h.EuropeanOption(1.0), cost_rate=0.01, premium=0.1)
    np.testing.assert_allclose(res.gains, [0.5 * 0.1 + 1.0 * 0.1])
    np.testing.assert_allclose(res.costs, [0.01 * (1.0 * 0.5 + 1.1 * 0.5)])
    np.testing.assert_allclose(res.pnl, [0.1 - 0.2 + 0.15 - res.costs[0]])
    liq = h.hedge_pnl(paths, hedge, h.EuropeanOption(1.0), cost_rate=0.01, liquidate=True)
    np.testing.assert_allclose(liq.costs - res.costs, [0.01 * 1.2])
    with pytest.raises(ValueError, match="hedge"):
        h.hedge_pnl(paths, jnp.zeros((1, 3)), h.EuropeanOption(1.0))
    with pytest.raises(ValueError, match="cost_rate"):
        h.hedge_pnl(paths, hedge, h.EuropeanOption(1.0), cost_rate=-1.0)


def test_risk_measures():
    x = jax.random.normal(jax.random.key(0), (1001,))
    lam = 2.0
    ent = h.EntropicRisk(lam)
    np.testing.assert_allclose(ent(x), np.log(np.mean(np.exp(-lam * np.asarray(x)))) / lam)
    np.testing.assert_allclose(ent(x + 3.0), ent(x) - 3.0)  # cash invariance
    np.testing.assert_allclose(ent(jnp.array([-1000.0, 0.0])), 1000.0 - np.log(2) / 1.0 / lam,
                               rtol=1e-12)  # no overflow
    hess = jax.jit(jax.hessian(ent))(x[:50])
    np.testing.assert_allclose(ent.hessian_diag(x[:50]), jnp.diagonal(hess), atol=1e-14)
    cvar = h.CVaR(0.9)
    losses = np.sort(-np.asarray(x))
    brute = min(w + np.mean(np.maximum(losses - w, 0)) / 0.1 for w in losses)
    np.testing.assert_allclose(cvar(x), brute, rtol=1e-12)
    np.testing.assert_allclose(cvar(x, jnp.asarray(losses[900])), brute, rtol=1e-12)
    mse = h.MeanSquaredError()
    np.testing.assert_allclose(mse.hessian_diag(x[:50]),
                               np.diagonal(jax.jit(jax.hessian(mse))(x[:50])))
    with pytest.raises(ValueError, match="risk_aversion"):
        h.EntropicRisk(0.0)
    with pytest.raises(ValueError, match="alpha"):
        h.CVaR(1.0)
