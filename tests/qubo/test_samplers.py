"""Samplers: exact enumeration, simulated annealing, parallel tempering, QAOA/VQE."""

import jax
import jax.numpy as jnp
import numpy as np

from optlib.qubo import (
    QUBO,
    ExactSolver,
    ParallelTempering,
    QAOASampler,
    SeparableSolver,
    SimulatedAnnealing,
    cvar,
    enumerate_energies,
    qaoa_state,
    vqe_state,
)


def _random_qubo(n, seed):
    rng = np.random.default_rng(seed)
    return QUBO.from_upper(jnp.asarray(np.triu(rng.normal(size=(n, n)))), 0.25)


def test_enumeration_and_exact_solver():
    q = _random_qubo(10, 0)
    E = np.asarray(enumerate_energies(q))
    z = np.arange(1 << 10)
    X = (z[:, None] >> np.arange(10)[None, :]) & 1
    np.testing.assert_allclose(E, q.energy(X), rtol=1e-12, atol=1e-12)
    out = ExactSolver(chunk_size=128).sample(q)
    assert np.isclose(float(out.energies[0]), E.min(), rtol=1e-12)
    assert np.isclose(float(q.energy(out.samples[0])), E.min(), rtol=1e-12)
    assert int(np.argmin(E)) == int(np.sum(np.asarray(out.samples[0]) << np.arange(10)))


def test_separable_solver_is_exact_without_couplings():
    q = QUBO(jnp.diag(jnp.array([1.0, -3.0, 0.5])), jnp.array([-2.0, 1.0, 0.2]))
    out = SeparableSolver().sample(q)
    assert np.isclose(float(out.energies[0]), float(enumerate_energies(q).min()))


def test_annealing_and_tempering_find_brute_force_optimum_vmapped():
    qs = [_random_qubo(16, s) for s in (1, 2)]
    best = [float(enumerate_energies(q).min()) for q in qs]
    stacked = jax.tree.map(lambda *a: jnp.stack(a), *qs)
    keys = jax.random.split(jax.random.key(0), 2)
    sa = SimulatedAnnealing(num_reads=32, num_sweeps=150)
    out = jax.jit(jax.vmap(sa.sample))(stacked, keys)
    pt = ParallelTempering(num_reads=4, num_sweeps=150, num_temperatures=6)
    out_pt = jax.jit(jax.vmap(pt.sample))(stacked, keys)
    for i in range(2):
        # energies are recomputed exactly from the returned samples
        np.testing.assert_allclose(out.energies[i], qs[i].energy(out.samples[i]), rtol=1e-10)
        assert np.isclose(float(out.energies[i].min()), best[i], rtol=1e-10)
        assert np.mean(np.isclose(out.energies[i], best[i], rtol=1e-10)) >= 0.5
        assert np.isclose(float(out_pt.energies[i].min()), best[i], rtol=1e-10)


def test_annealing_block_size_does_not_change_the_chain():
    q = _random_qubo(10, 3)
    a = SimulatedAnnealing(num_reads=8, num_sweeps=20, block_size=2).sample(q, jax.random.key(1))
    b = SimulatedAnnealing(num_reads=8, num_sweeps=20, block_size=5).sample(q, jax.random.key(1))
    np.testing.assert_array_equal(a.samples, b.samples)


def _dense_qaoa(c, gammas, betas):
    n = int(np.log2(c.size))
    X = np.array([[0, 1], [1, 0]])
    psi = np.ones(c.size, complex) / np.sqrt(c.size)
    for g, b in zip(gammas, betas):
        psi = np.exp(-1j * g * c) * psi
        rx = np.cos(b) * np.eye(2) - 1j * np.sin(b) * X
        M = np.ones((1, 1))
        for _ in range(n):
            M = np.kron(M, rx)
        psi = M @ psi
    return psi


def test_qaoa_matches_dense_reference():
    for n in (3, 8):
        q = _random_qubo(n, n)
        c = enumerate_energies(q)
        g, b = np.array([0.3, -0.8, 0.5]), np.array([0.9, 0.4, 0.1])
        psi = qaoa_state(c, jnp.asarray(g), jnp.asarray(b))
        ref = _dense_qaoa(np.asarray(c), g, b)
        np.testing.assert_allclose(psi, ref, atol=1e-12)
        probs = np.abs(ref) ** 2
        np.testing.assert_allclose(cvar(jnp.asarray(probs), c, 1.0), probs @ np.asarray(c),
                                   rtol=1e-12)


def test_vqe_state_matches_dense_reference():
    n = 3
    th = np.random.default_rng(0).normal(size=(2, n))
    psi = np.asarray(vqe_state(n, jnp.asarray(th)))

    def ry(t):
        return np.array([[np.cos(t / 2), -np.sin(t / 2)], [np.sin(t / 2), np.cos(t / 2)]])

    def layer(row):
        M = np.ones((1, 1))
        for q in reversed(range(n)):  # qubit 0 is the least significant bit
            M = np.kron(M, ry(row[q]))
        return M

    z = np.arange(1 << n)
    bits = (z[:, None] >> np.arange(n)) & 1
    cz = np.where(np.sum(bits * np.roll(bits, -1, axis=1), 1) % 2 == 1, -1.0, 1.0)
    ref = layer(th[1]) @ (cz * (layer(th[0]) @ np.eye(1 << n)[0]))
    np.testing.assert_allclose(psi, ref, atol=1e-12)


def test_cvar_is_tail_mean():
    probs = jnp.array([0.1, 0.2, 0.3, 0.4])
    cost = jnp.array([3.0, 1.0, 2.0, 0.0])
    assert np.isclose(float(cvar(probs, cost, 0.5)), (0.4 * 0.0 + 0.1 * 1.0) / 0.5)


def test_qaoa_sampler_finds_minimum_small():
    q = _random_qubo(5, 7)
    best = float(enumerate_energies(q).min())
    out = QAOASampler(layers=2, num_steps=40, num_reads=64, alpha=0.2).sample(q, jax.random.key(0))
    np.testing.assert_allclose(out.energies, q.energy(out.samples), rtol=1e-10)
    assert np.isclose(float(out.energies.min()), best, rtol=1e-10)
