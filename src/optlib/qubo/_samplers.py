"""Classical QUBO samplers: exact enumeration, simulated annealing, parallel tempering.

Every sampler is a pytree dataclass (sizes and modes static, temperatures traced) with a pure
``sample(qubo, key) -> SampleSet`` method that can be jitted and vmapped over problems; the
replicas are a batch axis inside.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from optlib.core import solver_dataclass, static_field
from optlib.qubo._model import QUBO

Array = jax.Array


class SampleSet(NamedTuple):
    """Samples returned by a sampler.

    Attributes:
        samples: ``int8 (num_reads, n)`` assignments.
        energies: ``(num_reads,)`` their QUBO energies (recomputed exactly from the samples).
    """

    samples: Array
    energies: Array


def _energies(h: Array, J: Array, c: Array, x: Array) -> Array:
    return x @ h + 0.5 * jnp.sum(x * (x @ J), -1) + c


def _bits(z: Array, n: int, dtype: Any) -> Array:
    shifts = jnp.arange(n, dtype=z.dtype)
    return ((z[:, None] >> shifts[None, :]) & 1).astype(dtype)


def enumerate_energies(qubo: QUBO) -> Array:
    """Energies of all ``2^n`` assignments; entry ``z`` is ``x_k = (z >> k) & 1``.

    Args:
        qubo: a QUBO with ``n <= 24`` variables.

    Returns:
        ``(2^n,)`` energies.

    Example:
        >>> import jax.numpy as jnp
        >>> from optlib.qubo import QUBO, enumerate_energies
        >>> enumerate_energies(QUBO(jnp.zeros((2, 2)), jnp.array([1.0, -2.0]))).tolist()
        [0.0, 1.0, -2.0, -1.0]
    """
    n = qubo.num_variables
    if n > 24:
        raise ValueError(f"enumeration needs n <= 24 variables, got {n}")
    h, J = qubo.ising_fields()
    c = jnp.asarray(qubo.offset, h.dtype)
    chunk = min(1 << n, 1 << 14)
    z = jnp.arange(1 << n, dtype=jnp.int32).reshape(-1, chunk)
    return lax.map(lambda zc: _energies(h, J, c, _bits(zc, n, h.dtype)), z).reshape(-1)


@solver_dataclass
class ExactSolver:
    """Exact minimization by enumerating all ``2^n`` assignments in chunks (``n <= 24``).

    Args:
        chunk_size: assignments evaluated per chunk (static; bounds memory at
            ``chunk_size * n`` values).

    Example:
        >>> import jax.numpy as jnp
        >>> from optlib.qubo import QUBO, ExactSolver
        >>> q = QUBO(jnp.array([[0.0, 2.0], [2.0, 0.0]]), jnp.array([-1.0, -1.0]))
        >>> out = ExactSolver().sample(q)
        >>> out.samples.tolist(), out.energies.tolist()
        ([[1, 0]], [-1.0])
    """

    chunk_size: int = static_field(default=1 << 14)

    def sample(self, qubo: QUBO, key: jax.Array | None = None) -> SampleSet:
        """Returns the minimizer (the lowest index among ties) as a one-sample set.

        Args:
            qubo: the QUBO (``n <= 24``).
            key: unused (accepted for a uniform sampler interface).
        """
        del key
        n = qubo.num_variables
        if n > 24:
            raise ValueError(f"ExactSolver needs n <= 24 variables, got {n}")
        h, J = qubo.ising_fields()
        c = jnp.asarray(qubo.offset, h.dtype)
        chunk = min(1 << n, int(self.chunk_size))
        zs = jnp.arange(1 << n, dtype=jnp.int32).reshape(-1, chunk)

        def body(carry: tuple, zc: Array) -> tuple:
            best_e, best_z = carry
            e = _energies(h, J, c, _bits(zc, n, h.dtype))
            i = jnp.argmin(e)
            better = e[i] < best_e
            return (jnp.where(better, e[i], best_e), jnp.where(better, zc[i], best_z)), None

        init = (jnp.asarray(jnp.inf, h.dtype), jnp.zeros((), jnp.int32))
        (best_e, best_z), _ = lax.scan(body, init, zs)
        x = _bits(best_z[None], n, jnp.int8)
        return SampleSet(x, best_e[None])


@solver_dataclass
class SeparableSolver:
    """Sets ``x_i = [h_i < 0]`` for the fields ``h = l + diag(Q)``.

    This is the exact minimizer of a QUBO without couplings, such as the Lagrangian of a
    knapsack whose constraints are all relaxed with linear multipliers (the inner problem is
    separable). With couplings it is only a heuristic.

    Example:
        >>> import jax.numpy as jnp
        >>> from optlib.qubo import QUBO, SeparableSolver
        >>> q = QUBO(jnp.zeros((2, 2)), jnp.array([1.0, -2.0]))
        >>> SeparableSolver().sample(q).samples.tolist()
        [[0, 1]]
    """

    def sample(self, qubo: QUBO, key: jax.Array | None = None) -> SampleSet:
        """Returns the one-sample set ``[h < 0]``."""
        del key
        h, J = qubo.ising_fields()
        x = (h < 0).astype(h.dtype)[None]
        return SampleSet(x.astype(jnp.int8), _energies(h, J, jnp.asarray(qubo.offset, h.dtype), x))


def default_beta_range(qubo: QUBO) -> Array:
    """A hot and a cold inverse temperature for annealing, from the QUBO's energy scales.

    Hot: ``ln 2 / max_i (|h_i| + sum_j |J_ij|)`` (the largest single-flip change is accepted with
    probability 1/2); cold: ``ln 100 / min`` nonzero ``|J_ij|, |h_i|`` (the smallest change is
    accepted with probability 1/100). The same heuristic as dwave-samplers' default.

    Args:
        qubo: the QUBO.

    Returns:
        ``[beta_hot, beta_cold]`` (traced).
    """
    h, J = qubo.ising_fields()
    aJ, ah = jnp.abs(J), jnp.abs(h)
    max_delta = jnp.max(ah + jnp.sum(aJ, -1))
    nz = jnp.minimum(jnp.min(jnp.where(aJ > 0, aJ, jnp.inf)), jnp.min(jnp.where(ah > 0, ah,
                                                                                 jnp.inf)))
    one = jnp.ones((), h.dtype)
    hot = jnp.where(max_delta > 0, math.log(2.0) / jnp.where(max_delta > 0, max_delta, one), one)
    cold = jnp.where(jnp.isfinite(nz), math.log(100.0) / jnp.where(jnp.isfinite(nz), nz, one),
                     hot * 100)
    return jnp.stack([hot, jnp.maximum(cold, hot)])


def beta_schedule(beta_range: Array, num_sweeps: int, schedule: str = "geometric") -> Array:
    """An annealing schedule of ``num_sweeps`` inverse temperatures.

    Args:
        beta_range: ``[beta_start, beta_end]``.
        num_sweeps: number of sweeps (static).
        schedule: ``"geometric"`` or ``"linear"``.

    Returns:
        ``(num_sweeps,)`` betas.
    """
    b0, b1 = beta_range[0], beta_range[1]
    t = jnp.linspace(0.0, 1.0, num_sweeps, dtype=jnp.result_type(b0))
    if schedule == "geometric":
        return b0 * (b1 / b0) ** t
    if schedule == "linear":
        return b0 + (b1 - b0) * t
    raise ValueError(f"schedule must be 'geometric' or 'linear', got {schedule!r}")


def _padded(qubo: QUBO, block: int) -> tuple[Array, Array, Array, int, int]:
    h, J = qubo.ising_fields()
    n = h.shape[-1]
    pad = (-n) % block
    # padded variables have zero field and no couplings: they flip freely and change nothing
    h = jnp.pad(h, (0, pad))
    J = jnp.pad(J, ((0, pad), (0, pad)))
    return h, J, jnp.asarray(qubo.offset, h.dtype), n, pad


def _sweep(J: Array, x: Array, F: Array, thresholds: Array, block: int) -> tuple[Array, Array]:
    """One exact sequential Metropolis sweep over all variables, for every replica.

    The state is stored variables-major, ``x, F: (N, R)``, so that each decision is one
    contiguous vector operation over the ``R`` replicas. ``F = h + J x`` are the local fields;
    flipping ``i`` changes the energy by ``(1 - 2 x_i) F_i``, accepted when that is below the
    threshold ``-log(u) / beta``. Variables are visited in blocks of ``block``: inside a block
    the fields of the block's own variables are updated after every decision, and the other
    fields receive the block's flips in one ``(N, B) @ (B, R)`` product, so the chain is exactly
    the sequential one. Small sweeps are unrolled (no loop overhead per block).
    """
    N, R = x.shape
    nblocks = N // block

    def one_block(b: Array, carry: tuple) -> tuple:
        x, F = carry
        s = b * block
        xb = lax.dynamic_slice(x, (s, 0), (block, R))
        Fb = lax.dynamic_slice(F, (s, 0), (block, R))
        tb = lax.dynamic_slice(thresholds, (s, 0), (block, R))
        Jbb = lax.dynamic_slice(J, (s, s), (block, block))
        flips = []
        for k in range(block):
            d = 1.0 - 2.0 * xb[k]
            dk = jnp.where(d * Fb[k] < tb[k], d, 0.0)
            flips.append(dk)
            Fb = Fb + Jbb[:, k][:, None] * dk[None, :]
        D = jnp.stack(flips)
        x = lax.dynamic_update_slice(x, xb + D, (s, 0))
        F = F + lax.dynamic_slice(J, (0, s), (N, block)) @ D
        return x, F

    unroll = nblocks if N <= 64 else 1  # unrolled small sweeps; bigger ones keep compiles short
    return lax.fori_loop(0, nblocks, one_block, (x, F), unroll=unroll)


def _mix32(z: Array) -> Array:
    # "lowbias32" integer finalizer (C. Wellons): a cheap, well-mixed 32-bit hash
    z = z ^ (z >> 16)
    z = z * jnp.uint32(0x7FEB352D)
    z = z ^ (z >> 15)
    z = z * jnp.uint32(0x846CA68B)
    return z ^ (z >> 16)


def _seed(key: Array) -> Array:
    return jax.random.bits(key, (2,), jnp.uint32)


def _thresholds(seed: Array, step: Array, shape: tuple[int, int], beta: Array,
                dtype: Any) -> Array:
    """Metropolis thresholds ``-log(u) / beta`` for one sweep, variables-major ``(N, R)``.

    The uniforms come from a counter-based hash of ``(seed, step, replica, variable)`` that
    fuses into the sweep's elementwise work; drawing them with ``jax.random`` costs more than
    the sweep itself on CPU. ``beta`` is ``(R,)`` (one temperature per replica).
    """
    return -jnp.log(_uniforms(seed, step, shape, dtype)) / beta[None, :]


def _uniforms(seed: Array, step: Array, shape: tuple[int, int], dtype: Any) -> Array:
    """Uniforms in ``(0, 1)`` from a counter-based hash of ``(seed, step, column, row)``.

    Entry ``(i, r)`` of a ``(N, R)`` block uses the counter ``r N + i``. Much cheaper to compile
    and run on CPU than ``jax.random`` inside the sweep loop.
    """
    N, _ = shape
    ctr = (lax.broadcasted_iota(jnp.uint32, shape, 1) * jnp.uint32(N)
           + lax.broadcasted_iota(jnp.uint32, shape, 0))
    z = _mix32(ctr ^ _mix32(seed[0] + jnp.asarray(step, jnp.uint32) * jnp.uint32(0x9E3779B9)))
    z = _mix32(z ^ seed[1])
    return ((z >> 8).astype(dtype) + 0.5) * (1.0 / (1 << 24))


@solver_dataclass
class SimulatedAnnealing:
    """Simulated annealing with many replicas and exact sequential Metropolis sweeps.

    Each sweep visits the variables in order and accepts a flip with probability
    ``min(1, exp(-beta dE))``; local fields are maintained incrementally (blocked delayed
    updates: one ``(n, B) @ (B, R)`` product per block of ``B`` variables), so one sweep costs
    ``O(R n^2)`` arithmetic in matrix products regardless of the acceptance rate. The state is
    stored variables-major so every decision is a contiguous vector operation over replicas:
    many replicas (hundreds to thousands) are what make the sampler fast.

    Args:
        num_reads: number of independent replicas ``R`` (static).
        num_sweeps: sweeps per anneal (static).
        beta_range: ``[beta_hot, beta_cold]``; ``None`` uses :func:`default_beta_range`
            (traced when given).
        schedule: ``"geometric"`` or ``"linear"`` (static).
        block_size: variables per block ``B`` (static; 8 suits CPUs, 64-128 GPUs).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from optlib.qubo import QUBO, SimulatedAnnealing
        >>> q = QUBO(jnp.array([[0.0, 2.0], [2.0, 0.0]]), jnp.array([-1.0, -1.0]))
        >>> out = SimulatedAnnealing(num_reads=8, num_sweeps=50).sample(q, jax.random.key(0))
        >>> float(out.energies.min())
        -1.0
    """

    num_reads: int = static_field(default=64)
    num_sweeps: int = static_field(default=200)
    beta_range: Any = None
    schedule: str = static_field(default="geometric")
    block_size: int = static_field(default=8)

    def betas(self, qubo: QUBO) -> Array:
        """The ``(num_sweeps,)`` inverse temperatures used on ``qubo``."""
        h = jnp.asarray(qubo.linear)
        br = default_beta_range(qubo) if self.beta_range is None else jnp.asarray(
            self.beta_range, h.dtype)
        return beta_schedule(br, int(self.num_sweeps), self.schedule)

    def sample(self, qubo: QUBO, key: jax.Array,
               initial_states: jax.typing.ArrayLike | None = None) -> SampleSet:
        """Anneals ``num_reads`` replicas and returns their final states.

        Args:
            qubo: a (dense or sparse; it is densified) QUBO.
            key: PRNG key.
            initial_states: optional ``(num_reads, n)`` starting states (default: uniform random).

        Returns:
            A :class:`SampleSet` with ``num_reads`` samples.
        """
        B = int(self.block_size)
        h, J, c, n, pad = _padded(qubo, B)
        R = int(self.num_reads)
        dtype = h.dtype
        seed = _seed(key)
        if initial_states is None:
            # the hash stream at step 2^32 - 1, which no sweep uses
            x = (_uniforms(seed, jnp.uint32(0xFFFFFFFF), (n, R), dtype) < 0.5).astype(dtype)
        else:
            x = jnp.asarray(initial_states, dtype).reshape(R, n).T
        x = jnp.pad(x, ((0, pad), (0, 0)))  # (N, R): replicas contiguous
        F = h[:, None] + J @ x
        betas = self.betas(qubo)

        def body(carry: tuple, inp: tuple) -> tuple:
            x, F = carry
            beta, k = inp
            thr = _thresholds(seed, k, x.shape, jnp.full((R,), beta, dtype), dtype)
            return _sweep(J, x, F, thr, B), None

        steps = jnp.arange(int(self.num_sweeps), dtype=jnp.uint32)
        (x, F), _ = lax.scan(body, (x, F), (betas, steps))
        x = x[:n].T
        return SampleSet(x.astype(jnp.int8), _energies(h[:n], J[:n, :n], c, x))


@solver_dataclass
class ParallelTempering:
    """Parallel tempering (replica exchange Monte Carlo).

    ``num_temperatures`` temperatures (geometric between ``beta_range``) each hold
    ``num_reads`` chains; after every Metropolis sweep, neighbouring temperatures exchange
    states with probability ``min(1, exp((beta_k - beta_{k+1}) (E_k - E_{k+1})))``
    (even and odd pairs alternating). Energies are tracked from the local fields.

    Args:
        num_reads: chains per temperature (static); the coldest ``num_reads`` are returned.
        num_sweeps: sweeps (static).
        num_temperatures: number of temperatures (static).
        beta_range: ``[beta_hot, beta_cold]`` or ``None`` (:func:`default_beta_range`).
        block_size: block size of the sweep (static).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from optlib.qubo import QUBO, ParallelTempering
        >>> q = QUBO(jnp.array([[0.0, 2.0], [2.0, 0.0]]), jnp.array([-1.0, -1.0]))
        >>> out = ParallelTempering(num_reads=4, num_sweeps=30).sample(q, jax.random.key(0))
        >>> float(out.energies.min())
        -1.0
    """

    num_reads: int = static_field(default=16)
    num_sweeps: int = static_field(default=200)
    num_temperatures: int = static_field(default=8)
    beta_range: Any = None
    block_size: int = static_field(default=8)

    def sample(self, qubo: QUBO, key: jax.Array) -> SampleSet:
        """Runs the exchange Monte Carlo and returns the coldest chains' final states."""
        Bk = int(self.block_size)
        h, J, c, n, pad = _padded(qubo, Bk)
        K, R = int(self.num_temperatures), int(self.num_reads)
        dtype = h.dtype
        br = default_beta_range(qubo) if self.beta_range is None else jnp.asarray(
            self.beta_range, dtype)
        betas = beta_schedule(br, K, "geometric")
        chain_beta = jnp.repeat(betas, R)
        seed = _seed(key)
        x0 = (_uniforms(seed, jnp.uint32(0xFFFFFFFF), (n, K * R), dtype) < 0.5).astype(dtype)
        x = jnp.pad(x0, ((0, pad), (0, 0)))  # (N, K R)
        F = h[:, None] + J @ x
        idx = jnp.arange(K)
        swap_seed = _mix32(seed + jnp.uint32(0x632BE5AB))

        def body(carry: tuple, inp: tuple) -> tuple:
            x, F = carry
            parity = inp
            step = parity.astype(jnp.uint32)
            x, F = _sweep(J, x, F, _thresholds(seed, step, x.shape, chain_beta, dtype), Bk)
            E = (jnp.sum(x * (h[:, None] + F), 0) / 2).reshape(K, R)
            lower = (idx % 2 == parity % 2) & (idx + 1 < K)
            upper = jnp.roll(lower, 1)
            partner = jnp.where(lower, idx + 1, jnp.where(upper, idx - 1, idx))
            dlog = (betas - jnp.roll(betas, -1))[:, None] * (E - jnp.roll(E, -1, axis=0))
            u = _uniforms(swap_seed, step, (K, R), dtype)
            acc_low = lower[:, None] & (jnp.log(u) < dlog)
            swap = acc_low | (upper[:, None] & jnp.roll(acc_low, 1, axis=0))
            src = jnp.where(swap, partner[:, None], idx[:, None])  # (K, R) source temperature
            cols = (src * R + jnp.arange(R)[None, :]).reshape(-1)
            return (x[:, cols], F[:, cols]), None

        S = int(self.num_sweeps)
        (x, F), _ = lax.scan(body, (x, F), jnp.arange(S))
        x = x[:n, (K - 1) * R:].T
        return SampleSet(x.astype(jnp.int8), _energies(h[:n], J[:n, :n], c, x))
