"""K-FAC against preconditioners built by hand from exact Kronecker factors (float64)."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optlib.curvature as oc

H, T, D, N = 2, 3, 2, 7
LAM = 1e-3


def entropic(x):
    return jax.scipy.special.logsumexp(-x) - jnp.log(x.shape[0])


class TinyRNN(nn.Module):
    """tanh RNN with a per-step linear head, registered for K-FAC."""

    @nn.compact
    def __call__(self, xs):
        n, t, _ = xs.shape
        init = nn.initializers.normal(0.7)
        wi = self.param("input_kernel", init, (xs.shape[-1], H))
        bi = self.param("input_bias", init, (H,))
        wh = self.param("recurrent_kernel", init, (H, H))
        zeros = jnp.zeros((n, t, H))
        e_in = oc.tap_outputs(self, "input_kernel", zeros)
        e_rec = oc.tap_outputs(self, "recurrent_kernel", zeros)
        pre = xs @ wi + bi[None, None] + e_in

        def step(h, inp):
            px, er = inp
            h_new = jnp.tanh(px + h @ wh + er)
            return h_new, (h_new, h)

        swap = lambda z: jnp.swapaxes(z, 0, 1)  # noqa: E731
        _, (hs, hprev) = jax.lax.scan(step, jnp.zeros((n, H)), (swap(pre), swap(e_rec)))
        oc.tap_inputs(self, "input_kernel", xs)
        oc.tap_inputs(self, "recurrent_kernel", swap(hprev))
        return oc.Dense(1, name="head")(swap(hs))[..., 0].sum(axis=1)


class TinyMLP(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = jnp.tanh(oc.Dense(3, name="l0")(x))
        return oc.Dense(1, name="l1")(x)[:, 0]


def manual_rnn(p, xs, e_in, e_rec, e_head):
    """The same RNN without flax, with explicit additive perturbations of every pre-activation."""
    n = xs.shape[0]
    h = jnp.zeros((n, H))
    hs, hprev = [], []
    for t in range(xs.shape[1]):
        hprev.append(h)
        h = jnp.tanh(xs[:, t] @ p["input_kernel"] + p["input_bias"][None] + e_in[:, t]
                     + h @ p["recurrent_kernel"] + e_rec[:, t])
        hs.append(h)
    hs = jnp.stack(hs, 1)
    out = hs @ p["head"]["kernel"] + p["head"]["bias"][None, None] + e_head
    return out[..., 0].sum(axis=1), hs, jnp.stack(hprev, 1)


def per_example_grads(fun, e):
    """d X_n / d e_n by the full Jacobian (N x N x ...) and its diagonal: no perturbation trick."""
    jac = jax.jit(jax.jacrev(fun))(e)
    return jnp.stack([jac[i, i] for i in range(e.shape[0])])


_COMPILED = {}


def stats_and_update(opt, apply_fn, params, grads, *args, loss, state=None, **extra):
    """curvature_stats and one K-FAC update, jitted (eager flax is slow on a loaded machine);
    one compiled program per (optimizer, model, loss), reused by later calls."""
    key = (opt, apply_fn, loss, tuple(sorted(extra)))
    if key not in _COMPILED:
        @jax.jit
        def run(params, grads, state, args, extra):
            stats = oc.curvature_stats(apply_fn, params, *args, loss=loss)
            updates, st = opt.update(grads, state, params, curvature=stats, **extra)
            return stats, updates, st

        _COMPILED[key] = run
    state = jax.jit(opt.init)(params) if state is None else state
    return _COMPILED[key](params, grads, state, args, extra)


def ones(a):
    return np.concatenate([a, np.ones(a.shape[:-1] + (1,))], axis=-1)


def damped_kron_inverse(a, g, lam):
    pi = np.sqrt((np.trace(a) / a.shape[0]) / (np.trace(g) / g.shape[0]))
    ad = a + pi * np.sqrt(lam) * np.eye(a.shape[0])
    gd = g + np.sqrt(lam) / pi * np.eye(g.shape[0])
    return np.linalg.inv(np.kron(ad, gd))


def kron_apply(inv, m):
    return (inv @ m.reshape(-1)).reshape(m.shape)


def mat_fun(m, f):
    s, u = np.linalg.eigh(0.5 * (m + m.T))
    return (u * f(s)) @ u.T


@pytest.fixture(scope="module")
def rnn_setup():
    xs = jax.random.normal(jax.random.key(0), (N, T, D))
    model = TinyRNN()
    params = model.init(jax.random.key(1), xs)["params"]

    def apply_fn(variables, xs):
        return model.apply(variables, xs, mutable=oc.TAP_COLLECTIONS)

    out, hs, hprev = manual_rnn(params, xs, *(jnp.zeros((N, T, k)) for k in (H, H, 1)))
    np.testing.assert_allclose(out, apply_fn({"params": params}, xs)[0], atol=1e-14)
    grads = jax.jit(jax.grad(lambda p: entropic(apply_fn({"params": p}, xs)[0])))(params)
    # Exact ingredients by hand.
    zh, z1 = jnp.zeros((N, T, H)), jnp.zeros((N, T, 1))
    d_in = per_example_grads(lambda e: manual_rnn(params, xs, e, zh, z1)[0], zh)
    d_head = per_example_grads(lambda e: manual_rnn(params, xs, zh, zh, e)[0], z1)
    hdiag = np.diagonal(np.asarray(jax.jit(jax.hessian(entropic))(out)))
    root = np.sqrt(hdiag)[:, None, None]
    taps = {"input_kernel": (np.asarray(xs), np.asarray(d_in) * root),
            "recurrent_kernel": (np.asarray(hprev), np.asarray(d_in) * root),
            "head/kernel": (np.asarray(hs), np.asarray(d_head) * root)}
    return model, params, xs, apply_fn, grads, taps


def test_stats_match_exact_per_example_derivatives(rnn_setup):
    model, params, xs, apply_fn, grads, taps = rnn_setup
    stats = jax.jit(lambda p: oc.curvature_stats(apply_fn, p, xs, loss=entropic))(params)
    assert sorted(stats) == sorted(taps)
    for k in taps:
        np.testing.assert_allclose(stats[k][0], taps[k][0], atol=1e-13)
        np.testing.assert_allclose(stats[k][1], taps[k][1], atol=1e-13)
    # The generic Hessian-diagonal route equals the closed form of a risk measure.
    from optlib.hedging import EntropicRisk
    stats2 = jax.jit(lambda p: oc.curvature_stats(apply_fn, p, xs, loss=EntropicRisk(1.0)))(
        params)
    np.testing.assert_allclose(stats2["head/kernel"][1], taps["head/kernel"][1], atol=1e-13)


def grad_matrix(grads, kernel_path):
    *head, name = kernel_path.split("/")
    node = grads
    for h in head:
        node = node[h]
    kernel = np.asarray(node[name])
    bias = node.get(name.replace("kernel", "bias"))
    return kernel if bias is None else np.concatenate([kernel, np.asarray(bias)[None]], 0)


def update_matrix(updates, kernel_path):
    return -grad_matrix(updates, kernel_path)


@pytest.mark.parametrize("mode", ["expand", "reduce", "recurrent"])
def test_rnn_kfac_equals_hand_built_preconditioner(rnn_setup, mode):
    model, params, xs, apply_fn, grads, taps = rnn_setup
    opt = oc.kfac(1.0, damping=LAM, sequence=mode)
    _, updates, _ = stats_and_update(opt, apply_fn, params, grads, xs, loss=entropic)
    for path, (a, g) in taps.items():
        a = a if path == "recurrent_kernel" else ones(a)
        m = grad_matrix(grads, path)
        if mode == "expand":
            af, gf = a.reshape(N * T, -1), g.reshape(N * T, -1)
            expected = kron_apply(damped_kron_inverse(af.T @ af / (N * T), gf.T @ gf, LAM), m)
        elif mode == "reduce":
            am, gs = a.mean(1), g.sum(1)
            expected = kron_apply(damped_kron_inverse(am.T @ am / N, gs.T @ gs, LAM), m)
        else:
            # Martens, Ba & Johnson option 1 as a dense matrix: F = V0^1/2 zeta_T(Psi) V0^1/2.
            af, gf = a.reshape(N * T, -1), g.reshape(N * T, -1)
            a0, g0 = af.T @ af / (N * T), gf.T @ gf / T
            a1 = sum(a[:, t + 1].T @ a[:, t] for t in range(T - 1)) / (N * (T - 1))
            g1 = sum(g[:, t + 1].T @ g[:, t] for t in range(T - 1)) / (T - 1)
            pi = np.sqrt((np.trace(a0) / a0.shape[0]) / (np.trace(g0) / g0.shape[0]))
            a0d = a0 + pi * np.sqrt(LAM / T) * np.eye(a0.shape[0])
            g0d = g0 + np.sqrt(LAM / T) / pi * np.eye(g0.shape[0])
            ia, ig = mat_fun(a0d, lambda s: s**-0.5), mat_fun(g0d, lambda s: s**-0.5)
            # |psi| < 1 (a stable VAR(1) chain) is enforced by clipping the eigenvalues.
            clip = lambda m: mat_fun(m, lambda s: np.clip(s, -1 + 1e-6, 1 - 1e-6))  # noqa: E731
            psi = np.kron(clip(ia @ (a1 + a1.T) / 2 @ ia), clip(ig @ (g1 + g1.T) / 2 @ ig))
            zeta = mat_fun(psi, lambda x: sum(x ** abs(i - j) for i in range(T) for j in range(T)))
            v_half = np.kron(mat_fun(a0d, np.sqrt), mat_fun(g0d, np.sqrt))
            expected = np.linalg.solve(v_half @ zeta @ v_half, m.reshape(-1)).reshape(m.shape)
        np.testing.assert_allclose(update_matrix(updates, path), expected, rtol=1e-8, atol=1e-12,
                                   err_msg=f"{mode} {path}")


def test_recurrent_with_no_correlation_equals_expand():
    a = np.random.default_rng(0).normal(size=(5, 4, 3))
    g = np.random.default_rng(1).normal(size=(5, 4, 2))
    a0, g0, _, _ = oc.factor_stats(jnp.asarray(a), jnp.asarray(g), "recurrent")
    zero_a, zero_g = jnp.zeros((3, 3)), jnp.zeros((2, 2))
    rec = oc.preconditioner(a0, g0, zero_a, zero_g, 0.1, recurrent_steps=4)
    e0, eg, _, _ = oc.factor_stats(jnp.asarray(a), jnp.asarray(g), "expand")
    exp = oc.preconditioner(e0, eg, zero_a, zero_g, 0.1)
    m = jnp.asarray(np.random.default_rng(2).normal(size=(3, 2)))
    apply = lambda lw: lw[0] @ ((lw[0].T @ m @ lw[1]) * lw[2]) @ lw[1].T  # noqa: E731
    np.testing.assert_allclose(apply(rec), apply(exp), rtol=1e-10)


def test_dense_mlp_kfac_equals_hand_built():
    x = jax.random.normal(jax.random.key(3), (9, 4))
    model = TinyMLP()
    params = model.init(jax.random.key(4), x)["params"]

    def apply_fn(variables, x):
        return model.apply(variables, x, mutable=oc.TAP_COLLECTIONS)

    loss = lambda out: jnp.mean((out - 1.0) ** 2)  # noqa: E731
    grads = jax.jit(jax.grad(lambda p: loss(apply_fn({"params": p}, x)[0])))(params)
    p = params

    def manual(e0, e1):
        h = jnp.tanh(x @ p["l0"]["kernel"] + p["l0"]["bias"][None] + e0)
        return (h @ p["l1"]["kernel"] + p["l1"]["bias"][None] + e1)[:, 0], h

    out, hid = manual(jnp.zeros((9, 3)), jnp.zeros((9, 1)))
    d0 = per_example_grads(lambda e: manual(e, jnp.zeros((9, 1)))[0], jnp.zeros((9, 3)))
    d1 = per_example_grads(lambda e: manual(jnp.zeros((9, 3)), e)[0], jnp.zeros((9, 1)))
    root = np.sqrt(2.0 / 9)
    opt = oc.kfac(0.5, damping=LAM, ema=0.5)
    stats, updates, state = stats_and_update(opt, apply_fn, params, grads, x, loss=loss)
    for path, a, g in (("l0/kernel", np.asarray(x), np.asarray(d0) * root),
                       ("l1/kernel", np.asarray(hid), np.asarray(d1) * root)):
        a = ones(a)
        inv = damped_kron_inverse(a.T @ a / 9, g.T @ g, LAM)
        np.testing.assert_allclose(update_matrix(updates, path) / 0.5,
                                   kron_apply(inv, grad_matrix(grads, path)), rtol=1e-8)
    # Second update: EMA 0.5 of the two batches' factors.
    x2 = 2.0 * x
    stats2, _, state2 = stats_and_update(opt, apply_fn, params, grads, x2, loss=loss, state=state)
    a1, a2 = ones(np.asarray(stats["l0/kernel"][0])), ones(np.asarray(stats2["l0/kernel"][0]))
    np.testing.assert_allclose(state2.blocks["l0/kernel"].a0,
                               0.5 * a1.T @ a1 / 9 + 0.5 * a2.T @ a2 / 9, rtol=1e-12)


def test_single_layer_kfac_is_exact_gauss_newton(linear_least_squares):
    # One linear layer, squared error: the GGN is exactly A kron G, so one damped K-FAC step
    # with exact damping equals the damped Gauss-Newton step (dense matrix, by hand).
    x, params, apply_fn, loss = linear_least_squares
    grads = jax.jit(jax.grad(lambda p: loss(apply_fn({"params": p}, x)[0])))(params)
    opt = oc.kfac(1.0, damping=1e-3, exact_damping=True)
    _, upd, _ = stats_and_update(opt, apply_fn, params, grads, x, loss=loss)
    xb = ones(np.asarray(x))
    ggn = xb.T @ xb / 20
    step = np.linalg.solve(ggn + 1e-3 * np.eye(4), grad_matrix(grads, "kernel")[:, 0])
    np.testing.assert_allclose(update_matrix(upd, "kernel")[:, 0], step, rtol=1e-10)


def test_damping_formulas():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(6, 4))
    a = a.T @ a
    g = rng.normal(size=(5, 3))
    g = g.T @ g
    pi = float(oc.pi_correction(jnp.asarray(a), jnp.asarray(g)))
    assert abs(pi - np.sqrt((np.trace(a) / 4) / (np.trace(g) / 3))) < 1e-14
    m = rng.normal(size=(4, 3))
    z = jnp.zeros
    for exact in (False, True):
        la, lg, w = oc.preconditioner(jnp.asarray(a), jnp.asarray(g), z((4, 4)), z((3, 3)), 0.3,
                                      exact_damping=exact)
        got = la @ ((la.T @ m @ lg) * w) @ lg.T
        if exact:
            want = np.linalg.solve(np.kron(a, g) + 0.3 * np.eye(12), m.reshape(-1))
        else:
            want = damped_kron_inverse(a, g, 0.3) @ m.reshape(-1)
        np.testing.assert_allclose(got, want.reshape(m.shape), rtol=1e-10)
    xs = np.linspace(-0.99, 0.99, 11)
    zeta = np.array([sum(x ** abs(i - j) for i in range(5) for j in range(5)) for x in xs])
    np.testing.assert_allclose(oc.zeta_inverse(jnp.asarray(xs), 5), 1 / zeta, rtol=1e-12)


def test_adaptive_damping_and_kl_clip_and_errors():
    x = jax.random.normal(jax.random.key(8), (16, 3))
    model = TinyMLP()
    params = model.init(jax.random.key(9), x)["params"]

    def apply_fn(variables, x):
        return model.apply(variables, x, mutable=oc.TAP_COLLECTIONS)

    loss = lambda o: jnp.mean((o - 1.0) ** 2)  # noqa: E731
    value_fn = lambda p: loss(apply_fn({"params": p}, x)[0])  # noqa: E731
    stats = jax.jit(lambda p: oc.curvature_stats(apply_fn, p, x, loss=loss))(params)
    value, grads = jax.jit(jax.value_and_grad(value_fn))(params)

    # Hyperparameters are traced: one compiled update per optimizer structure.
    @jax.jit
    def one(lr, kl_clip):
        opt = oc.kfac(lr, damping=1e-2, kl_clip=kl_clip)
        return opt.update(grads, opt.init(params), params, curvature=stats)[0]

    @jax.jit
    def adapt(lr):
        opt = oc.kfac(lr, damping=1e-2, adaptive_damping=True, damping_every=1,
                      damping_decay=0.5)
        return opt.update(grads, opt.init(params), params, curvature=stats, value=value,
                          value_fn=value_fn)[1]

    # A huge step is a poor model of the loss: damping must grow.
    st = adapt(50.0)
    assert float(st.damping) == pytest.approx(2e-2) and float(st.rho) < 0.25
    # A small step is well modelled: damping shrinks.
    st = adapt(0.01)
    assert float(st.damping) == pytest.approx(5e-3) and float(st.rho) > 0.75
    clipped = oc.kfac(100.0, damping=1e-2, kl_clip=1e-4)
    upd = one(100.0, 1e-4)
    upd_free = one(100.0, np.inf)   # an infinite bound never binds: the plain K-FAC step
    quad = -float(optax.tree.vdot(upd_free, grads)) / 100.0  # g^T F^-1 g
    step = -float(optax.tree.vdot(upd, grads)) / quad  # the clipped learning rate
    assert step**2 * quad == pytest.approx(1e-4, rel=1e-10)  # the bound is active

    # A scheduled bound: the k-th update is the constant-bound update with the k-th value.
    @functools.partial(jax.jit, static_argnums=0)
    def second_update(kl_clip):
        opt = oc.kfac(100.0, damping=1e-2, kl_clip=kl_clip)
        s = opt.update(grads, opt.init(params), params, curvature=stats)[1]
        return opt.update(grads, s, params, curvature=stats)[0]

    scheduled = second_update(lambda count: 1e-4 * 0.25 ** count)
    constant = second_update(0.25e-4)
    for got, want in zip(jax.tree.leaves(scheduled), jax.tree.leaves(constant)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    step = -float(optax.tree.vdot(scheduled, grads)) / quad
    assert step**2 * quad == pytest.approx(0.25e-4, rel=1e-6)
    # Momentum: v_1 = d_1, v_2 = m v_1 + d_2 on the (same) K-FAC steps d_k (m = 0: v = d).
    @jax.jit
    def two(m):
        opt = oc.kfac(0.1, damping=1e-2, momentum=m)
        s = opt.init(params)
        u1, s = opt.update(grads, s, params, curvature=stats)
        return u1, opt.update(grads, s, params, curvature=stats)[0]

    (d1, d2), (v1, v2) = two(0.0), two(0.5)
    for d, v, want in zip(jax.tree.leaves((d1, d2)), jax.tree.leaves((v1, v2)),
                          jax.tree.leaves((d1, jax.tree.map(lambda x, y: 0.5 * x + y, d1, d2)))):
        np.testing.assert_allclose(v, want, rtol=1e-12, atol=1e-15)
        assert not np.allclose(d, 0.0)
    # The traced m = 0 step is the plain K-FAC step (no velocity).
    np.testing.assert_allclose(jax.tree.leaves(one(0.1, np.inf))[0], jax.tree.leaves(d1)[0],
                               rtol=1e-12)
    with pytest.raises(ValueError, match="momentum"):
        oc.kfac(momentum=1.0)
    with pytest.raises(ValueError, match="curvature"):
        clipped.update(grads, clipped.init(params), params)
    with pytest.raises(ValueError, match="sequence"):
        oc.kfac(sequence="sum")
    with pytest.raises(ValueError, match="inverse_every"):
        oc.kfac(inverse_every=0)
    with pytest.raises(ValueError, match="damping"):
        oc.kfac(damping=-1.0)
    with pytest.raises(ValueError, match="value_fn"):
        oc.kfac(adaptive_damping=True).update(grads, clipped.init(params), params, curvature=stats)


def test_inverse_refresh_period_reuses_preconditioner():
    x = jax.random.normal(jax.random.key(10), (16, 3))
    model = TinyMLP()
    params = model.init(jax.random.key(11), x)["params"]

    def apply_fn(variables, x):
        return model.apply(variables, x, mutable=oc.TAP_COLLECTIONS)

    loss = lambda o: jnp.mean(o**2)  # noqa: E731
    opt = oc.kfac(0.1, inverse_every=3)
    state = opt.init(params)
    grads = jax.jit(jax.grad(lambda p: loss(apply_fn({"params": p}, x)[0])))(params)

    @jax.jit
    def step(state, xk):
        stats = oc.curvature_stats(apply_fn, params, xk, loss=loss)
        return opt.update(grads, state, params, curvature=stats)[1]

    ws = []
    for k in range(4):
        state = step(state, x * (1 + k))
        ws.append(np.asarray(state.blocks["l0/kernel"].w))
    np.testing.assert_array_equal(ws[0], ws[1])
    np.testing.assert_array_equal(ws[0], ws[2])
    assert not np.allclose(ws[0], ws[3])


def test_fisher_mode_is_unbiased_for_the_diagonal():
    x = jax.random.normal(jax.random.key(12), (6, 3))
    model = TinyMLP()
    params = model.init(jax.random.key(13), x)["params"]

    def apply_fn(variables, x):
        return model.apply(variables, x, mutable=oc.TAP_COLLECTIONS)

    ggn = jax.jit(lambda p: oc.curvature_stats(apply_fn, p, x, loss=entropic))(params)
    samples = jax.jit(jax.vmap(lambda k: oc.curvature_stats(apply_fn, params, x, loss=entropic,
                                                    curvature="fisher", key=k)["l1/kernel"][1]))(
        jax.random.split(jax.random.key(0), 4000))
    second_moment = np.mean(np.asarray(samples) ** 2, axis=0)
    np.testing.assert_allclose(second_moment, np.asarray(ggn["l1/kernel"][1]) ** 2, rtol=0.1)
    with pytest.raises(ValueError, match="key"):
        oc.curvature_stats(apply_fn, params, x, loss=entropic, curvature="fisher")
    with pytest.raises(ValueError, match="mutable"):
        oc.curvature_stats(lambda v, x: (model.apply(v, x), {}), params, x, loss=entropic)


def test_axis_name_averages_statistics_across_shards():
    # Two shards of a batch, each with its own mean loss: pmean'd factors = full-batch factors.
    x = jax.random.normal(jax.random.key(14), (12, 3))
    model = TinyMLP()
    params = model.init(jax.random.key(15), x)["params"]

    def apply_fn(variables, x):
        return model.apply(variables, x, mutable=oc.TAP_COLLECTIONS)

    loss = lambda o: jnp.mean((o - 1.0) ** 2)  # noqa: E731
    grads = jax.jit(jax.grad(lambda p: loss(apply_fn({"params": p}, x)[0])))(params)

    def factors(opt, xb):
        stats = oc.curvature_stats(apply_fn, params, xb, loss=loss)
        return opt.update(grads, opt.init(params), params, curvature=stats)[1].blocks

    full = jax.jit(lambda xb: factors(oc.kfac(), xb))(x)
    sharded = jax.jit(jax.vmap(lambda xb: factors(oc.kfac(axis_name="d"), xb),
                               axis_name="d"))(x.reshape(2, 6, 3))
    for path in full:
        np.testing.assert_allclose(sharded[path].a0[0], full[path].a0, rtol=1e-12)
        np.testing.assert_allclose(sharded[path].g0[1], full[path].g0, rtol=1e-12)


def _eigh_operand_shapes(jaxpr):
    """Operand shapes of every ``eigh`` in a jaxpr, nested jaxprs included."""
    out = []
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "eigh":
            out.append(eqn.invars[0].aval.shape)
        for param in eqn.params.values():
            for sub in param if isinstance(param, (list, tuple)) else [param]:
                if hasattr(sub, "jaxpr") and hasattr(sub, "consts"):
                    out += _eigh_operand_shapes(sub.jaxpr)
                elif hasattr(sub, "eqns"):
                    out += _eigh_operand_shapes(sub)
    return out


def test_vmapped_preconditioner_solves_one_matrix_at_a_time_on_cpu():
    # jaxlib 0.10.2's batched CPU eigh can deadlock XLA's thread pool (K-FAC vmapped over
    # seeds hung); under vmap the factors must be decomposed one matrix at a time.
    if jax.default_backend() != "cpu":
        pytest.skip("the one-at-a-time rule applies on CPU only")
    m = jax.random.normal(jax.random.key(0), (3, 4, 4))
    m = m @ jnp.swapaxes(m, 1, 2)

    def refresh(a):
        return oc.preconditioner(a, a, 0.3 * a, 0.2 * a, 1e-3, recurrent_steps=3)

    jaxpr = jax.make_jaxpr(jax.vmap(refresh))(m).jaxpr
    shapes = _eigh_operand_shapes(jaxpr)
    assert shapes and all(len(s) == 2 for s in shapes), shapes
    batched = jax.vmap(refresh)(m)
    for i in range(3):
        for got, want in zip(batched, refresh(m[i]), strict=True):
            np.testing.assert_allclose(got[i], want, rtol=1e-12, atol=1e-12)
