"""Lagrangian dual methods on :func:`optlib.run`: subgradient, dual averaging, proximal bundle,
Kelley cutting plane and the augmented Lagrangian, each with a primal repair step.

Every solver's ``params`` are the multipliers (``[ineq, eq, pairs]``) and its one argument is
the :class:`ConstrainedBinaryProblem`; each step builds the slack-free Lagrangian QUBO (a pure
function of the multipliers), asks the inner ``sampler`` for samples, takes the lowest-energy
one as the Lagrangian minimizer (its residual is the subgradient) and repairs every sample into
a feasible solution, keeping the best. Changing multipliers or hyperparameters never recompiles.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from optlib.core import Status, solver_dataclass, static_field
from optlib.core._tree import cast_like
from optlib.qubo._encodings import augmented_lagrangian_qubo, lagrangian_qubo
from optlib.qubo._model import QUBO, ConstrainedBinaryProblem
from optlib.qubo._repair import kick, repair

Array = jax.Array


class DualState(NamedTuple):
    """State shared by the dual methods.

    Attributes:
        count: ``int32[]`` oracle calls made.
        best_dual: the highest dual value seen (a lower bound on the optimum when the inner
            sampler is exact).
        best_primal: the best feasible objective value found (``inf`` until one is found).
        best_x: the best feasible solution.
        feasible_count: raw (unrepaired) samples that were feasible.
        sample_count: raw samples drawn.
        x_avg: running average of the Lagrangian minimizers (the ergodic primal estimate;
            rounded and repaired as one more primal candidate each step).
        extra: method-specific state (a NamedTuple).
    """

    count: Array
    best_dual: Array
    best_primal: Array
    best_x: Array
    feasible_count: Array
    sample_count: Array
    x_avg: Array
    extra: Any


class DualInfo(NamedTuple):
    """Per-step report of the dual methods.

    Attributes:
        dual_value: the Lagrangian value of the best sample at the evaluated multipliers.
        best_dual: the best dual value so far.
        primal_value: the best feasible objective value so far.
        duality_gap: ``(primal_value - best_dual) / |primal_value|``.
        feasible_rate: fraction of raw inner samples so far that were feasible.
        violation: constraint violation of the Lagrangian minimizer at this step.
        step_size: the step length used (method-specific meaning).
    """

    dual_value: Array
    best_dual: Array
    primal_value: Array
    duality_gap: Array
    feasible_rate: Array
    violation: Array
    step_size: Array


class _Oracle(NamedTuple):
    value: Array
    x: Array
    residual: Array
    violation: Array
    raw_feasible: Array
    raw_count: Array
    primal_x: Array
    primal_value: Array


def multiplier_scale(problem: ConstrainedBinaryProblem) -> Array:
    """A safe size for multipliers: twice the largest single-variable objective change over
    the smallest nonzero constraint coefficient (traced).

    No multiplier larger than this is needed to make any single variable's Lagrangian
    coefficient change sign, so it bounds the useful multiplier box and sets step scales.

    Args:
        problem: the constrained problem.

    Returns:
        A positive scalar.
    """
    h, J = problem.objective.ising_fields()
    dtype = h.dtype
    obj = jnp.max(jnp.abs(h) + jnp.sum(jnp.abs(J), -1))
    coefs = jnp.concatenate([jnp.abs(jnp.asarray(problem.ineq_matrix, dtype)).ravel(),
                             jnp.abs(jnp.asarray(problem.eq_matrix, dtype)).ravel(),
                             jnp.ones(problem.pairs.shape[0], dtype)])
    small = jnp.min(jnp.where(coefs > 0, coefs, jnp.inf)) if coefs.size else jnp.ones((), dtype)
    small = jnp.where(jnp.isfinite(small), small, 1.0)
    return 2.0 * jnp.maximum(obj, 1.0) / small


def _oracle(sampler: Any, problem: ConstrainedBinaryProblem, qubo: QUBO, lam: Array,
            key: Array | None, do_repair: bool, state: DualState, polish: int) -> _Oracle:
    """One dual evaluation plus the primal heuristic.

    The candidates are every inner sample, the rounded running average of the Lagrangian
    minimizers (an ergodic primal estimate, close to the LP point on a knapsack) and ``polish``
    random ruin-and-recreate moves (:func:`kick`, strengths 0.1 to 0.5) of the best feasible
    solution so far; all are repaired (:func:`repair`) and the best feasible one is returned.
    """
    dtype = jnp.asarray(problem.objective.linear).dtype
    key = jax.random.fold_in(jax.random.key(0), state.count) if key is None else key
    k_sample, k_kick = jax.random.split(key)
    ss = sampler.sample(qubo, k_sample)
    i = jnp.argmin(ss.energies)
    x = ss.samples[i].astype(dtype)
    raw_feas = problem.is_feasible(ss.samples)
    if do_repair:
        count = state.count.astype(dtype)
        avg = (state.x_avg * count + x) / (count + 1.0)
        cands = [ss.samples.astype(dtype), jnp.round(avg)[None]]
        if polish > 0 and problem.kind in ("mdkp", "mis"):
            strengths = jnp.linspace(0.1, 0.5, polish, dtype=dtype)
            keys = jax.random.split(k_kick, polish)
            cands.append(jax.vmap(lambda k, t: kick(problem, state.best_x, k, t, lam))(
                keys, strengths))
        # one vmapped repair (refill and exchanges) for every candidate
        xr = repair(problem, jnp.concatenate(cands), lam)
    else:
        xr = ss.samples.astype(dtype)
    vals = jnp.where(problem.is_feasible(xr), problem.value(xr), jnp.inf)
    j = jnp.argmin(vals)
    return _Oracle(ss.energies[i].astype(dtype), x, problem.residuals(x), problem.violation(x),
                   jnp.sum(raw_feas).astype(jnp.int32), jnp.asarray(raw_feas.shape[0], jnp.int32),
                   xr[j].astype(dtype), vals[j].astype(dtype))


def _init_state(params: Array, problem: ConstrainedBinaryProblem, extra: Any) -> DualState:
    dtype = jnp.asarray(problem.objective.linear).dtype
    n = problem.num_variables
    if params.shape != (problem.num_multipliers,):
        raise ValueError(f"multipliers must have shape ({problem.num_multipliers},), got "
                         f"{params.shape}")
    return DualState(jnp.zeros((), jnp.int32), jnp.asarray(-jnp.inf, dtype),
                     jnp.asarray(jnp.inf, dtype), jnp.zeros(n, dtype), jnp.zeros((), jnp.int32),
                     jnp.zeros((), jnp.int32), jnp.zeros(n, dtype), extra)


def _record(state: DualState, o: _Oracle, dual_value: Array, extra: Any) -> DualState:
    better = o.primal_value < state.best_primal
    count = state.count.astype(state.x_avg.dtype)
    x_avg = (state.x_avg * count + o.x) / (count + 1.0)
    return DualState(state.count + 1, jnp.maximum(state.best_dual, dual_value),
                     jnp.where(better, o.primal_value, state.best_primal),
                     jnp.where(better, o.primal_x, state.best_x),
                     state.feasible_count + o.raw_feasible, state.sample_count + o.raw_count,
                     x_avg, extra)


def _info(state: DualState, dual_value: Array, o: _Oracle, step: Array) -> DualInfo:
    dtype = state.best_dual.dtype
    scale = jnp.maximum(jnp.abs(state.best_primal), jnp.finfo(dtype).tiny)
    gap = jnp.where(jnp.isfinite(state.best_primal) & jnp.isfinite(state.best_dual),
                    (state.best_primal - state.best_dual) / scale, jnp.inf)
    rate = state.feasible_count.astype(dtype) / jnp.maximum(state.sample_count, 1).astype(dtype)
    return DualInfo(dual_value, state.best_dual, state.best_primal, gap, rate, o.violation,
                    jnp.asarray(step, dtype))


def _gap_reached(state: DualState, tol: Any) -> Array:
    tol = cast_like(tol, state.best_dual)
    # no feasible point yet (best_primal = inf) means no gap to measure, not a closed one
    return jnp.isfinite(state.best_primal) & (
        (state.best_primal - state.best_dual) <= tol * jnp.maximum(1.0, jnp.abs(
            state.best_primal)))


class SubgradientExtra(NamedTuple):
    """Extra state of :class:`SubgradientDual`: Polyak's ``theta`` and the stall counter."""

    theta: Array
    stall: Array


@solver_dataclass
class SubgradientDual:
    """Projected subgradient ascent on the Lagrangian dual.

    ``lam <- P(lam + alpha_k g_k)`` with ``g_k = r(x_k)``, the residual of the Lagrangian
    minimizer, and ``P`` the projection onto ``lam_ineq, lam_pair >= 0``. Step rules:
    ``"constant"`` (``alpha = step_size``), ``"sqrt"`` (``step_size / sqrt(k)``), ``"harmonic"``
    (``step_size / k``) and ``"polyak"`` (Held-Wolfe-Crowder: ``alpha = theta (UB - q) /
    ||g||^2`` with ``theta`` starting at ``step_size`` and halved after ``patience`` steps
    without a better dual value; ``UB`` is ``target`` if given, else the best feasible value).

    Args:
        sampler: the inner sampler (``ExactSolver``, ``SeparableSolver``, ``SimulatedAnnealing``,
            ``QAOASampler`` ...).
        step_rule: ``"polyak"``, ``"constant"``, ``"sqrt"`` or ``"harmonic"`` (static).
        step_size: ``alpha_0``, or ``theta_0`` for Polyak (traced).
        target: known optimum for Polyak steps (traced; NaN uses the best primal value).
        patience: Polyak stall length before halving ``theta`` (static).
        tol: stop when the relative duality gap is below ``tol`` (traced).
        use_repair: repair samples into feasible solutions (static).
        polish: random ruin-and-recreate moves applied to the best solution each step
            (MDKP and MIS; static; ``0`` turns them off).

    Example:
        >>> import jax.numpy as jnp, optlib
        >>> from optlib.qubo import mdkp, SeparableSolver, SubgradientDual
        >>> prob = mdkp([5.0, 4.0, 3.0], [[2.0, 3.0, 1.0]], [4.0])
        >>> res = optlib.run(SubgradientDual(SeparableSolver()), jnp.zeros(1), prob, max_steps=200)
        >>> float(res.state.best_primal)   # best value -8 (items 0 and 2)
        -8.0
    """

    sampler: Any
    step_rule: str = static_field(default="polyak")
    step_size: Any = 1.0
    target: Any = float("nan")
    patience: int = static_field(default=20)
    tol: Any = 1e-6
    use_repair: bool = static_field(default=True)
    polish: int = static_field(default=8)

    def init(self, params: Array, problem: ConstrainedBinaryProblem,
             key: Array | None = None) -> DualState:
        del key
        extra = SubgradientExtra(cast_like(self.step_size, params), jnp.zeros((), jnp.int32))
        return _init_state(params, problem, extra)

    def step(self, params: Array, state: DualState, problem: ConstrainedBinaryProblem,
             key: Array | None = None) -> tuple[Array, DualState, DualInfo]:
        o = _oracle(self.sampler, problem, lagrangian_qubo(problem, params), params, key,
                    self.use_repair, state, int(self.polish))
        q, g = o.value, o.residual
        k = (state.count + 1).astype(params.dtype)
        gg = jnp.sum(g * g)
        a0 = cast_like(self.step_size, params)
        theta, stall = state.extra
        improved = q > state.best_dual
        stall = jnp.where(improved, 0, stall + 1)
        theta = jnp.where(stall >= self.patience, theta / 2, theta)
        stall = jnp.where(stall >= self.patience, 0, stall)
        new_state = _record(state, o, q, SubgradientExtra(theta, stall))
        if self.step_rule == "polyak":
            target = cast_like(self.target, params)
            ub = jnp.where(jnp.isnan(target), new_state.best_primal, target)
            ub = jnp.where(jnp.isfinite(ub), ub, q + 0.05 * jnp.abs(q) + 1.0)
            alpha = theta * jnp.maximum(ub - q, 0.0) / jnp.where(gg > 0, gg, 1.0)
        elif self.step_rule == "constant":
            alpha = a0
        elif self.step_rule == "sqrt":
            alpha = a0 / jnp.sqrt(k)
        elif self.step_rule == "harmonic":
            alpha = a0 / k
        else:
            raise ValueError(f"step_rule must be polyak/constant/sqrt/harmonic, got "
                             f"{self.step_rule!r}")
        new = problem.project(params + alpha * g)
        return new, new_state, _info(new_state, q, o, alpha)

    def terminate(self, params: Array, state: DualState, info: DualInfo) -> Array:
        del params, info
        return _gap_reached(state, self.tol)


class DualAveragingExtra(NamedTuple):
    """Extra state of :class:`DualAveraging`: the subgradient sum, the anchor point and the
    largest subgradient norm seen."""

    grad_sum: Array
    anchor: Array
    grad_max: Array


@solver_dataclass
class DualAveraging:
    """Nesterov-Shikhman double simple averaging on the Lagrangian dual.

    ``s_k = sum_{i <= k} g_i``, ``lam+ = P(lam_0 + a s_k / sqrt(k + 1))`` and
    ``lam_{k+1} = ((k + 1) lam_k + lam+) / (k + 2)``, with
    ``a = step_size * multiplier_scale / max_i ||g_i||`` so that one ``step_size`` fits
    problems of any scale. Robust to noisy subgradients (sampled inner solvers).

    Args:
        sampler: the inner sampler.
        step_size: relative step (``1 / gamma`` in the paper's notation, traced).
        tol: relative duality gap at which to stop (traced).
        use_repair: repair samples into feasible solutions (static).
        polish: random ruin-and-recreate moves applied to the best solution each step
            (MDKP and MIS; static; ``0`` turns them off).

    References:
        Nesterov & Shikhman, "Quasi-monotone subgradient methods for nonsmooth convex
        minimization", JOTA 165 (2015).
    """

    sampler: Any
    step_size: Any = 1.0
    tol: Any = 1e-6
    use_repair: bool = static_field(default=True)
    polish: int = static_field(default=8)

    def init(self, params: Array, problem: ConstrainedBinaryProblem,
             key: Array | None = None) -> DualState:
        del key
        return _init_state(params, problem, DualAveragingExtra(
            jnp.zeros_like(params), params, jnp.zeros((), params.dtype)))

    def step(self, params: Array, state: DualState, problem: ConstrainedBinaryProblem,
             key: Array | None = None) -> tuple[Array, DualState, DualInfo]:
        o = _oracle(self.sampler, problem, lagrangian_qubo(problem, params), params, key,
                    self.use_repair, state, int(self.polish))
        s = state.extra.grad_sum + o.residual
        k = state.count.astype(params.dtype)
        gmax = jnp.maximum(state.extra.grad_max, jnp.sqrt(jnp.sum(o.residual ** 2)))
        a = (cast_like(self.step_size, params) * multiplier_scale(problem)
             / jnp.maximum(gmax, 1e-12) / jnp.sqrt(k + 2.0))
        plus = problem.project(state.extra.anchor + a * s)
        new = ((k + 1.0) * params + plus) / (k + 2.0)
        new_state = _record(state, o, o.value, DualAveragingExtra(s, state.extra.anchor, gmax))
        return new, new_state, _info(new_state, o.value, o, a)

    def terminate(self, params: Array, state: DualState, info: DualInfo) -> Array:
        del params, info
        return _gap_reached(state, self.tol)


class CuttingPlaneExtra(NamedTuple):
    """Bundle of cuts ``q(lam) <= e_i + g_i . lam`` plus the centre and the next candidate.

    Attributes:
        intercepts: ``(max_cuts,)`` ``e_i = q_i - g_i . lam_i``.
        slopes: ``(max_cuts, m)`` subgradients ``g_i``.
        active: ``(max_cuts,)`` which slots hold a cut.
        weights: ``(max_cuts,)`` cut weights of the last master solve (slot replacement).
        candidate: the multipliers to evaluate next.
        predicted: model value at the candidate.
        center_value: dual value at the centre (the best point, returned as ``params``).
        prox: the proximal weight ``mu`` (bundle only).
        upper: an upper bound on the proximal model's maximum (bundle) or on the dual
            optimum within the box (cutting plane).
    """

    intercepts: Array
    slopes: Array
    active: Array
    weights: Array
    candidate: Array
    predicted: Array
    center_value: Array
    prox: Array
    upper: Array


def _empty_cuts(params: Array, max_cuts: int) -> CuttingPlaneExtra:
    m = params.shape[0]
    dtype = params.dtype
    return CuttingPlaneExtra(jnp.zeros(max_cuts, dtype), jnp.zeros((max_cuts, m), dtype),
                             jnp.zeros(max_cuts, bool), jnp.zeros(max_cuts, dtype), params,
                             jnp.asarray(jnp.inf, dtype), jnp.asarray(-jnp.inf, dtype),
                             jnp.zeros((), dtype), jnp.asarray(jnp.inf, dtype))


def _add_cut(ex: CuttingPlaneExtra, lam: Array, q: Array, g: Array) -> CuttingPlaneExtra:
    free = ~ex.active
    slot = jnp.where(jnp.any(free), jnp.argmax(free),
                     jnp.argmin(jnp.where(ex.active, ex.weights, jnp.inf)))
    return ex._replace(intercepts=ex.intercepts.at[slot].set(q - g @ lam),
                       slopes=ex.slopes.at[slot].set(g), active=ex.active.at[slot].set(True),
                       weights=ex.weights.at[slot].set(jnp.max(ex.weights) + 1.0))


def project_simplex(v: Array, mask: Array) -> Array:
    """Euclidean projection of ``v`` onto the probability simplex over the entries in ``mask``
    (entries outside ``mask`` are set to zero)."""
    big = jnp.asarray(jnp.finfo(v.dtype).max / 4, v.dtype)
    v = jnp.where(mask, v, -big)
    u = jnp.sort(v)[::-1]
    css = jnp.cumsum(jnp.where(u > -big, u, 0.0))
    j = jnp.arange(1, v.shape[0] + 1, dtype=v.dtype)
    cond = (u - (css - 1.0) / j > 0) & (u > -big)
    r = jnp.max(jnp.where(cond, jnp.arange(v.shape[0]), 0))
    theta = (css[r] - 1.0) / (r + 1.0).astype(v.dtype)
    return jnp.where(mask, jnp.maximum(v - theta, 0.0), 0.0)


def _bundle_master(ex: CuttingPlaneExtra, center: Array, mu: Array, nonneg: Array,
                   iters: int) -> tuple[Array, Array, Array]:
    """``argmax_lam min_i (e_i + g_i . lam) - mu/2 ||lam - center||^2`` over the multiplier set.

    Solved in its dual over the simplex of cut weights by accelerated projected gradient:
    ``lam(a) = P(center + G^T a / mu)``, gradient ``e + G lam(a)`` (Danskin).
    """
    E, G, mask = ex.intercepts, ex.slopes, ex.active

    def lam_of(a: Array) -> Array:
        z = center + (a @ G) / mu
        return jnp.where(nonneg, jnp.maximum(z, 0.0), z)

    L = jnp.maximum(jnp.sum(jnp.where(mask[:, None], G, 0.0) ** 2) / mu, 1e-12)
    a0 = jnp.where(mask, 1.0, 0.0) / jnp.maximum(jnp.sum(mask), 1)

    def body(carry: tuple, _: Any) -> tuple:
        a, y, t = carry
        grad = E + G @ lam_of(y)
        a_new = project_simplex(y - grad / L, mask)
        t_new = (1.0 + jnp.sqrt(1.0 + 4.0 * t * t)) / 2.0
        y = a_new + ((t - 1.0) / t_new) * (a_new - a)
        return (a_new, y, t_new), None

    one = jnp.ones((), center.dtype)
    (a, _, _), _ = jax.lax.scan(body, (a0, a0, one), None, length=iters)
    lam = lam_of(a)
    model = jnp.min(jnp.where(mask, E + G @ lam, jnp.inf))
    # the master's dual value bounds max_lam model - mu/2 ||lam - c||^2 from above, however
    # inexact the master solve was: a safe stopping test
    upper = a @ (E + G @ lam) - 0.5 * mu * jnp.sum((lam - center) ** 2)
    return lam, model, a, upper


@solver_dataclass
class ProximalBundle:
    """Proximal bundle method on the Lagrangian dual (serious and null steps).

    Each step evaluates the candidate, adds its cut, moves the centre if the gain is at least
    ``serious_fraction`` of the model's predicted gain (serious step; otherwise a null step only
    enriches the model), then maximizes the cut model minus ``mu/2 ||lam - centre||^2``.
    The master QP is solved in its dual on the simplex by accelerated projected gradient, inside
    the jitted step. ``mu`` halves after a good serious step and doubles after a null step whose
    candidate was worse than the centre. ``params`` returned by the run is the centre, the best
    multipliers found.

    Args:
        sampler: the inner sampler (exact for a certified bound).
        prox: initial ``mu`` (traced; ``0`` picks ``||g_1||`` so the first move has unit length).
        serious_fraction: ``m`` in the serious-step test (traced).
        tol: stop when an upper bound on the proximal model's gain over the centre is below
            ``tol (1 + |q(centre)|)`` (traced).
        max_cuts: bundle capacity (static); the least-weighted cut is replaced when full.
        master_iters: iterations of the master solve (static).
        use_repair: repair samples into feasible solutions (static).
        polish: random ruin-and-recreate moves applied to the best solution each step
            (MDKP and MIS; static; ``0`` turns them off).

    References:
        Kiwiel, "Proximity control in bundle methods for convex nondifferentiable
        minimization", Math. Programming 46 (1990).
    """

    sampler: Any
    prox: Any = 0.0
    serious_fraction: Any = 0.1
    tol: Any = 1e-7
    max_cuts: int = static_field(default=64)
    master_iters: int = static_field(default=300)
    use_repair: bool = static_field(default=True)
    polish: int = static_field(default=8)

    def init(self, params: Array, problem: ConstrainedBinaryProblem,
             key: Array | None = None) -> DualState:
        del key
        ex = _empty_cuts(params, int(self.max_cuts))
        return _init_state(params, problem, ex._replace(prox=cast_like(self.prox, params)))

    def step(self, params: Array, state: DualState, problem: ConstrainedBinaryProblem,
             key: Array | None = None) -> tuple[Array, DualState, DualInfo]:
        ex = state.extra
        cand = ex.candidate
        o = _oracle(self.sampler, problem, lagrangian_qubo(problem, cand), cand, key,
                    self.use_repair, state, int(self.polish))
        q, g = o.value, o.residual
        mu = jnp.where(ex.prox > 0, ex.prox, jnp.maximum(jnp.sqrt(jnp.sum(g * g)), 1e-12))
        m = cast_like(self.serious_fraction, params)
        first = ~jnp.isfinite(ex.center_value)
        pred_gain = ex.predicted - ex.center_value
        gain = q - ex.center_value
        serious = first | (gain >= m * pred_gain)
        center = jnp.where(serious, cand, params)
        center_value = jnp.where(serious, q, ex.center_value)
        mu = jnp.where(~first & serious & (gain >= 0.5 * pred_gain), mu / 2,
                       jnp.where(~serious & (gain < 0), mu * 2, mu))
        ex = _add_cut(ex, cand, q, g)
        nonneg = jnp.asarray(problem.nonnegative_mask())
        lam, model, weights, upper = _bundle_master(ex, center, mu, nonneg,
                                                    int(self.master_iters))
        ex = ex._replace(weights=jnp.where(ex.active, weights, 0.0), candidate=lam,
                         predicted=model, center_value=center_value, prox=mu, upper=upper)
        new_state = _record(state, o, q, ex)
        return center, new_state, _info(new_state, q, o, jnp.sqrt(jnp.sum((lam - center) ** 2)))

    def terminate(self, params: Array, state: DualState, info: DualInfo) -> Array:
        del params, info
        ex = state.extra
        tol = cast_like(self.tol, ex.center_value)
        small = (ex.upper - ex.center_value) <= tol * (1.0 + jnp.abs(ex.center_value))
        return (small & (state.count > 1)) | _gap_reached(state, self.tol)


def _kelley_lp(E: np.ndarray, G: np.ndarray, active: np.ndarray, lo: np.ndarray,
               hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from scipy.optimize import linprog

    E, G, lo, hi = (np.asarray(a, np.float64) for a in (E, G, lo, hi))
    act = np.asarray(active, bool)
    m = G.shape[1]
    # variables (lam, t): maximize t  s.t.  t - g_i . lam <= e_i
    c = np.zeros(m + 1)
    c[-1] = -1.0
    A = np.hstack([-G[act], np.ones((int(act.sum()), 1))])
    bounds = list(zip(lo, hi, strict=True)) + [(None, None)]
    res = linprog(c, A_ub=A, b_ub=E[act], bounds=bounds, method="highs")
    if res.status != 0:
        return np.asarray(lo), np.asarray(np.inf)
    return res.x[:m], np.asarray(res.x[-1])


@solver_dataclass
class CuttingPlane:
    """Kelley's cutting-plane method on the Lagrangian dual.

    ``lam_{k+1} = argmax_{lam in box} min_i (q_i + g_i . (lam - lam_i))``: the master LP is
    solved on the host by SciPy's HiGHS through ``jax.pure_callback`` (the one host step of
    this package; everything else stays on the device). The box is ``[0, bound]`` for
    inequality and pair multipliers and ``[-bound, bound]`` for equalities.

    Args:
        sampler: the inner sampler.
        bound: half-width of the multiplier box (traced; ``0`` uses
            :func:`multiplier_scale`).
        tol: stop when the LP's upper bound exceeds the best dual value by less than
            ``tol (1 + |best|)`` (traced).
        max_cuts: cut capacity (static).
        use_repair: repair samples into feasible solutions (static).
        polish: random ruin-and-recreate moves applied to the best solution each step
            (MDKP and MIS; static; ``0`` turns them off).

    References:
        Kelley, "The cutting-plane method for solving convex programs", J. SIAM 8 (1960).
    """

    sampler: Any
    bound: Any = 0.0
    tol: Any = 1e-6
    max_cuts: int = static_field(default=256)
    use_repair: bool = static_field(default=True)
    polish: int = static_field(default=8)

    def init(self, params: Array, problem: ConstrainedBinaryProblem,
             key: Array | None = None) -> DualState:
        del key
        return _init_state(params, problem, _empty_cuts(params, int(self.max_cuts)))

    def step(self, params: Array, state: DualState, problem: ConstrainedBinaryProblem,
             key: Array | None = None) -> tuple[Array, DualState, DualInfo]:
        ex = state.extra
        cand = ex.candidate
        o = _oracle(self.sampler, problem, lagrangian_qubo(problem, cand), cand, key,
                    self.use_repair, state, int(self.polish))
        q = o.value
        better = q > ex.center_value
        center = jnp.where(better, cand, params)
        ex = _add_cut(ex, cand, q, o.residual)
        bound = cast_like(self.bound, params)
        bound = jnp.where(bound > 0, bound, multiplier_scale(problem))
        nonneg = jnp.asarray(problem.nonnegative_mask())
        lo = jnp.where(nonneg, 0.0, -bound) * jnp.ones_like(params)
        hi = bound * jnp.ones_like(params)
        shapes = (jax.ShapeDtypeStruct(params.shape, params.dtype),
                  jax.ShapeDtypeStruct((), params.dtype))
        lam, ub = jax.pure_callback(_kelley_lp, shapes, ex.intercepts, ex.slopes, ex.active,
                                    lo, hi, vmap_method="sequential")
        ex = ex._replace(candidate=lam, predicted=ub,
                         center_value=jnp.maximum(ex.center_value, q))
        new_state = _record(state, o, q, ex)
        return center, new_state, _info(new_state, q, o, jnp.sqrt(jnp.sum((lam - cand) ** 2)))

    def terminate(self, params: Array, state: DualState, info: DualInfo) -> Array:
        del params, info
        ex = state.extra
        tol = cast_like(self.tol, ex.center_value)
        return ((ex.predicted - ex.center_value) <= tol * (1.0 + jnp.abs(ex.center_value))) | \
            _gap_reached(state, self.tol)


class AugmentedLagrangianExtra(NamedTuple):
    """Extra state of :class:`AugmentedLagrangian`: ``rho`` and the last violation."""

    rho: Array
    last_violation: Array


@solver_dataclass
class AugmentedLagrangian:
    """Method of multipliers with the slack-free (unbalanced) augmented Lagrangian QUBO.

    Each step samples ``f + lam^T r + (rho/2) ||r||^2`` (see
    :func:`augmented_lagrangian_qubo`), updates ``lam <- P(lam + rho r(x))`` and multiplies
    ``rho`` by ``rho_growth`` (up to ``rho_max``) when the violation did not fall below
    ``eta`` times the previous one. Because the quadratic penalty couples the variables, the
    inner problem is a genuine QUBO for an annealer or a variational solver.

    The reported ``dual_value`` is the minimum of the augmented Lagrangian, a lower bound on the
    optimum for equality and pair constraints (exact inner solve); with inequalities the
    unbalanced term also penalises slack, so no bound is reported (``-inf``).

    Args:
        sampler: the inner sampler.
        rho: initial penalty (traced).
        rho_growth: growth factor ``gamma`` (traced).
        rho_max: cap on ``rho`` (traced).
        eta: required violation decrease (traced).
        tol: relative duality gap at which to stop (traced).
        use_repair: repair samples into feasible solutions (static).
        polish: random ruin-and-recreate moves applied to the best solution each step
            (MDKP and MIS; static; ``0`` turns them off).

    References:
        Bertsekas, "Constrained Optimization and Lagrange Multiplier Methods" (1982);
        Montanez-Barrera et al., "Unbalanced penalization", arXiv 2211.13914.
    """

    sampler: Any
    rho: Any = 1.0
    rho_growth: Any = 2.0
    rho_max: Any = 1e6
    eta: Any = 0.25
    tol: Any = 1e-6
    use_repair: bool = static_field(default=True)
    polish: int = static_field(default=8)

    def init(self, params: Array, problem: ConstrainedBinaryProblem,
             key: Array | None = None) -> DualState:
        del key
        extra = AugmentedLagrangianExtra(cast_like(self.rho, params),
                                         jnp.asarray(jnp.inf, params.dtype))
        return _init_state(params, problem, extra)

    def step(self, params: Array, state: DualState, problem: ConstrainedBinaryProblem,
             key: Array | None = None) -> tuple[Array, DualState, DualInfo]:
        rho, last = state.extra
        o = _oracle(self.sampler, problem, augmented_lagrangian_qubo(problem, params, rho),
                    params, key, self.use_repair, state, int(self.polish))
        bound = o.value if problem.multiplier_sizes[0] == 0 else jnp.asarray(-jnp.inf,
                                                                              params.dtype)
        new = problem.project(params + rho * o.residual)
        grow = o.violation > cast_like(self.eta, params) * last
        rho_next = jnp.where(grow, jnp.minimum(rho * cast_like(self.rho_growth, params),
                                               cast_like(self.rho_max, params)), rho)
        new_state = _record(state, o, bound, AugmentedLagrangianExtra(rho_next, o.violation))
        return new, new_state, _info(new_state, bound, o, rho)

    def terminate(self, params: Array, state: DualState, info: DualInfo) -> tuple[Array, Array]:
        del params, info
        return _gap_reached(state, self.tol), Status.SUCCESS.as_array()
