"""Kronecker factor statistics and their damped inverses (dense, expand, reduce, recurrent)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from optlib.core._linalg import unbatched_on_cpu

SEQUENCE_MODES = ("expand", "reduce", "recurrent")


def with_ones(a: jax.Array) -> jax.Array:
    """Appends the constant input that folds the bias into the kernel: ``a_bar = [a, 1]``."""
    return jnp.concatenate([a, jnp.ones(a.shape[:-1] + (1,), a.dtype)], axis=-1)


def factor_stats(a: jax.Array, g: jax.Array, mode: str
                 ) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """Batch estimates ``(A0, G0, A1, G1)`` of the Kronecker factors.

    ``a`` is ``(N, d_in + 1)`` (dense) or ``(N, T, d_in + 1)`` (shared over ``T`` steps)
    with the bias column appended; ``g`` matches with ``d_out``. With the loss-weighted
    output gradients ``g`` (so that the GGN block is ``sum_n J_n^T J_n``):

    * dense: ``A0 = mean_n a a^T``, ``G0 = sum_n g g^T``;
    * expand: ``A0 = mean_{n,t} a a^T``, ``G0 = sum_{n,t} g g^T``;
    * reduce: ``A0 = mean_n abar abar^T`` with ``abar = mean_t a``, ``G0 = sum_n gbar gbar^T``
      with ``gbar = sum_t g``;
    * recurrent: ``A0 = mean_{n,t} a_t a_t^T``, ``G0 = (1/T) sum_{n,t} g_t g_t^T`` (the
      per-step factors), ``A1 = mean_{n,t} a_{t+1} a_t^T`` and
      ``G1 = 1/(T-1) sum_{n,t} g_{t+1} g_t^T``.

    ``A1``/``G1`` are zero except in the recurrent mode. For ``T = 1`` every mode
    reduces to the dense factors (recurrent up to the factor ``T`` applied in the
    preconditioner).
    """
    zero_a = jnp.zeros((a.shape[-1], a.shape[-1]), a.dtype)
    zero_g = jnp.zeros((g.shape[-1], g.shape[-1]), g.dtype)
    if a.ndim == 2:
        n = a.shape[0]
        return a.T @ a / n, g.T @ g, zero_a, zero_g
    n, t = a.shape[:2]
    if mode == "expand":
        af, gf = a.reshape(n * t, -1), g.reshape(n * t, -1)
        return af.T @ af / (n * t), gf.T @ gf, zero_a, zero_g
    if mode == "reduce":
        am, gs = a.mean(axis=1), g.sum(axis=1)
        return am.T @ am / n, gs.T @ gs, zero_a, zero_g
    af, gf = a.reshape(n * t, -1), g.reshape(n * t, -1)
    a0 = af.T @ af / (n * t)
    g0 = gf.T @ gf / t
    if t == 1:
        return a0, g0, zero_a, zero_g
    a1 = jnp.einsum("nti,ntj->ij", a[:, 1:], a[:, :-1]) / (n * (t - 1))
    g1 = jnp.einsum("nti,ntj->ij", g[:, 1:], g[:, :-1]) / (t - 1)
    return a0, g0, a1, g1


def pi_correction(a: jax.Array, g: jax.Array) -> jax.Array:
    """``pi = sqrt((tr A / dim A) / (tr G / dim G))``, the trace-norm rule of Martens & Grosse."""
    ta = jnp.trace(a) / a.shape[0]
    tg = jnp.trace(g) / g.shape[0]
    tiny = jnp.finfo(a.dtype).tiny
    return jnp.where((ta > tiny) & (tg > tiny), jnp.sqrt(ta / jnp.maximum(tg, tiny)), 1.0)


def zeta_inverse(x: jax.Array, t: int) -> jax.Array:
    """``1 / zeta_T(x)`` with ``zeta_T(x) = sum_{i,j=1}^T x^{|i-j|} = T + 2 sum_d (T-d) x^d``.

    Evaluated as a polynomial (Horner), which is exact and stable at ``x -> 1``.
    """
    acc = jnp.zeros_like(x)
    for d in range(t - 1, 0, -1):
        acc = (acc + 2.0 * (t - d)) * x
    return 1.0 / (acc + t)


# a vmapped (over seeds) K-FAC refresh deadlocked in batched CPU eigh: see unbatched_on_cpu
eigh = unbatched_on_cpu(jnp.linalg.eigh)


def _sym_eigh(m: jax.Array) -> tuple[jax.Array, jax.Array]:
    s, u = eigh(0.5 * (m + m.T))
    return jnp.maximum(s, 0.0), u


def _inv_sqrt(m: jax.Array) -> jax.Array:
    s, u = _sym_eigh(m)
    return (u / jnp.sqrt(s)[None, :]) @ u.T


def preconditioner(a0: jax.Array, g0: jax.Array, a1: jax.Array, g1: jax.Array,
                   damping: jax.Array, *, recurrent_steps: int = 0, exact_damping: bool = False,
                   ) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Returns ``(L_A, L_G, W)`` such that the preconditioned gradient is
    ``L_A [(L_A^T M L_G) * W] L_G^T`` for a gradient ``M`` of shape ``(d_in + 1, d_out)``.

    * ``recurrent_steps == 0`` (dense, expand, reduce): factored Tikhonov damping with
      the pi correction, ``((A + pi sqrt(l) I) kron (G + sqrt(l)/pi I))^{-1}``, through
      eigendecompositions ``A = U_A S_A U_A^T`` (``L = U``,
      ``W = 1 / ((s_A + pi sqrt(l)) (s_G + sqrt(l)/pi)^T)``); with ``exact_damping``,
      ``(A kron G + l I)^{-1}`` (``W = 1 / (s_A s_G^T + l)``).
    * ``recurrent_steps = T > 0``: Martens, Ba & Johnson's option 1. With the damped
      per-step factors ``C0 = A0 + pi sqrt(l/T) I`` (``G0 + sqrt(l/T)/pi I``), the
      symmetrised ``Psi_C = C0^{-1/2} sym(C1) C0^{-1/2} = U diag(psi) U^T`` and
      ``L_C = C0^{-1/2} U``, ``F^{-1} = (L_A kron L_G) diag(1/zeta_T(psi_A psi_G^T)) (..)^T``.
      With ``Psi = 0`` this equals the expand preconditioner with damping ``l``.
    """
    lam = jnp.asarray(damping, a0.dtype)
    if recurrent_steps == 0:
        s_a, u_a = _sym_eigh(a0)
        s_g, u_g = _sym_eigh(g0)
        if exact_damping:
            w = 1.0 / (s_a[:, None] * s_g[None, :] + lam)
        else:
            pi = pi_correction(a0, g0)
            root = jnp.sqrt(lam)
            w = 1.0 / ((s_a + pi * root)[:, None] * (s_g + root / pi)[None, :])
        return u_a, u_g, w
    t = recurrent_steps
    pi = pi_correction(a0, g0)
    root = jnp.sqrt(lam / t)
    a0d = a0 + pi * root * jnp.eye(a0.shape[0], dtype=a0.dtype)
    g0d = g0 + root / pi * jnp.eye(g0.shape[0], dtype=g0.dtype)
    ia, ig = _inv_sqrt(a0d), _inv_sqrt(g0d)
    psi_a, v_a = eigh(ia @ (0.5 * (a1 + a1.T)) @ ia)
    psi_g, v_g = eigh(ig @ (0.5 * (g1 + g1.T)) @ ig)
    # |psi| < 1 keeps zeta_T positive: the VAR(1) model needs a stable chain.
    bound = 1.0 - 1e-6
    psi_a, psi_g = jnp.clip(psi_a, -bound, bound), jnp.clip(psi_g, -bound, bound)
    w = zeta_inverse(psi_a[:, None] * psi_g[None, :], t)
    return ia @ v_a, ig @ v_g, w


def apply_preconditioner(l_a: jax.Array, l_g: jax.Array, w: jax.Array, m: jax.Array) -> jax.Array:
    """``L_A [(L_A^T M L_G) * W] L_G^T``."""
    return l_a @ ((l_a.T @ m @ l_g) * w) @ l_g.T
