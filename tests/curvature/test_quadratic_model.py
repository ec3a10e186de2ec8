"""K-FAC's exact quadratic model: GGN Gram matrices, adaptive learning rate and momentum."""

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

import optlib.curvature as oc


def entropic(x):
    return jax.scipy.special.logsumexp(-x) - jnp.log(x.shape[0])


def _flatten(tree):
    return np.concatenate([np.ravel(x) for x in jax.tree.leaves(tree)])


def test_ggn_gram_equals_dense_jacobian_hessian_product():
    x = jax.random.normal(jax.random.key(0), (9, 3))
    model = oc.Dense(2)
    params = model.init(jax.random.key(1), x)["params"]
    output_fn = lambda p: jnp.tanh(model.apply({"params": p}, x)).sum(axis=1)  # noqa: E731
    dirs = [jax.tree.map(lambda a, k=k: jax.random.normal(jax.random.key(k), a.shape), params)
            for k in (2, 3, 4)]
    gram = jax.jit(lambda p, d: oc.ggn_gram(output_fn, p, entropic, d))(params, dirs)
    # Dense reference: J (9 x 8) from the full Jacobian, H (9 x 9) the entropic Hessian
    # with its cross-example terms.
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    jac = np.asarray(jax.jacobian(lambda f: output_fn(unravel(f)))(flat))
    hess = np.asarray(jax.hessian(entropic)(output_fn(params)))
    assert np.abs(hess - np.diag(np.diag(hess))).max() > 1e-3  # not diagonal
    d = np.stack([_flatten(v) for v in dirs], axis=1)
    np.testing.assert_allclose(gram, d.T @ jac.T @ hess @ jac @ d, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="direction"):
        oc.ggn_gram(output_fn, params, entropic, [])


@pytest.fixture(scope="module")
def least_squares(linear_least_squares):
    # The GGN is the exact Hessian, so the quadratic model is the loss itself and the
    # adaptive step can be checked against a line/plane search.
    x, params, apply_fn, loss = linear_least_squares
    value_fn = lambda p: loss(apply_fn({"params": p}, x)[0])  # noqa: E731
    lam = 0.3   # factored damping this large makes -F^{-1} g far from the Newton step

    @jax.jit
    def two_steps(params):
        # ema=0: each step's factors are its batch's, so the direction can be rebuilt.
        opt = oc.kfac(damping=lam, ema=0.0, adaptive_learning_rate=True,
                      adaptive_momentum=True, adaptive_damping=True, damping_every=1)
        state = opt.init(params)
        out = []
        for _ in range(2):
            value, grads = jax.value_and_grad(value_fn)(params)
            stats = oc.curvature_stats(apply_fn, params, x, loss=loss)
            gram = lambda d, p=params: oc.ggn_gram(  # noqa: E731
                lambda q: apply_fn({"params": q}, x)[0], p, loss, d)
            damping = state.damping
            upd, state = opt.update(grads, state, params, curvature=stats, value=value,
                                    value_fn=value_fn, ggn_gram=gram)
            # The K-FAC direction of this step, from the same optimizer without the model.
            plain = oc.kfac(1.0, damping=damping)
            delta = plain.update(grads, plain.init(params), params, curvature=stats)[0]
            out.append((params, grads, delta, upd, state, damping))
            params = jax.tree.map(lambda p, u: p + u, params, upd)
        return out

    return value_fn, two_steps(params)


def test_adaptive_learning_rate_is_the_damped_line_minimiser(least_squares):
    value_fn, steps = least_squares
    params, _, delta, upd, state, lam = steps[0]
    lam = float(lam)
    d, u = _flatten(delta), _flatten(upd)
    f = lambda a: float(value_fn(jax.tree.map(lambda p, v: p + a * v, params, delta)))  # noqa: E731
    best = scipy.optimize.minimize_scalar(lambda a: f(a) + 0.5 * lam * a**2 * (d @ d),
                                          bracket=(0.0, 1.0), tol=1e-12).x
    # First step: no previous update, so the step is alpha * Delta, with alpha != 1.
    np.testing.assert_allclose(u, best * d, rtol=1e-7)
    assert abs(best - 1.0) > 0.1


def test_adaptive_momentum_minimises_the_model_over_two_directions(least_squares):
    value_fn, steps = least_squares
    prev = _flatten(steps[0][3])
    params, grads, delta, upd, state, lam = steps[1]
    lam = float(lam)
    assert lam != float(steps[0][5])   # the damping rule acted after the first step
    d = _flatten(delta)

    def model(c):
        step = c[0] * d + c[1] * prev
        tree = jax.flatten_util.ravel_pytree(params)[1](jnp.asarray(step))
        return float(value_fn(jax.tree.map(lambda p, v: p + v, params, tree))) \
            + 0.5 * lam * step @ step

    best = scipy.optimize.minimize(model, np.array([1.0, 0.0]), method="Nelder-Mead",
                                   options=dict(xatol=1e-12, fatol=1e-16, maxiter=4000)).x
    np.testing.assert_allclose(_flatten(upd), best[0] * d + best[1] * prev, rtol=1e-5,
                               atol=1e-9)
    assert abs(best[1]) > 1e-3   # momentum is used
    # The damping rule's reduction ratio uses this exact model: (f(x+u) - f(x)) / q(u), where
    # q(u) = f(x+u) - f(x) + lam |u|^2 / 2 for a quadratic loss.
    f0 = float(value_fn(params))
    new = float(value_fn(jax.tree.map(lambda p, v: p + v, params, upd)))
    assert float(state.rho) == pytest.approx((new - f0) / (model(best) - f0), rel=1e-6)
    assert float(state.rho) > 1.0   # the damping term makes the model pessimistic here


def test_adaptive_trust_region_and_errors(linear_least_squares):
    with pytest.raises(ValueError, match="adaptive_learning_rate"):
        oc.kfac(adaptive_momentum=True)
    with pytest.raises(ValueError, match="momentum"):
        oc.kfac(adaptive_learning_rate=True, momentum=0.9)
    x, params, apply_fn, loss = linear_least_squares
    output_fn = lambda p: apply_fn({"params": p}, x)[0]  # noqa: E731
    stats = oc.curvature_stats(apply_fn, params, x, loss=loss)
    grads = jax.grad(lambda p: loss(output_fn(p)))(params)
    gram = lambda d: oc.ggn_gram(output_fn, params, loss, d)  # noqa: E731
    # kl_clip bounds the adaptive step in the damped exact-GGN norm u^T (C + l I) u.
    opt = oc.kfac(damping=0.5, adaptive_learning_rate=True, kl_clip=1e-4)
    upd = opt.update(grads, opt.init(params), params, curvature=stats, ggn_gram=gram)[0]
    xb = np.concatenate([np.asarray(x), np.ones((20, 1))], axis=1)
    u = np.concatenate([np.asarray(upd["kernel"])[:, 0], np.asarray(upd["bias"])])
    assert u @ (xb.T @ xb / 20 + 0.5 * np.eye(4)) @ u == pytest.approx(1e-4, rel=1e-10)
    opt = oc.kfac(adaptive_learning_rate=True)
    with pytest.raises(ValueError, match="ggn_gram"):
        opt.update(params, opt.init(params), params, curvature=stats)
