"""Deep hedging under Heston: K-FAC (optlib) against tuned Adam, and against kfac-jax.

The fixed benchmark of issue 7 / research note 5.1: Heston kappa 1, theta = v0 = 0.04,
rho -0.7, xi in {2.0, 0.2}; 30 daily steps to T = 30/365; a short ATM call; proportional
costs; entropic risk with lambda 1; LSTM policies with H units; fresh QE-M paths every
step. The spot is S0 = K = 100 by default: the Heston parameters are those of Buehler et
al.'s deep-hedging experiments, which use S0 = 100 (research note 2.1, and the 1.691834
reference price of note 4.4); with S0 = 1 and lambda = 1 the entropic risk is almost the
mean loss and does not separate hedges (``--s0 1`` reproduces that setting).

One invocation runs one setting ``(xi, cost, H)`` and caches it to
``benchmarks/results/hedging/<setting>.json`` (a cached setting is skipped), so the whole
grid is a series of short runs; ``--table`` renders every cached setting. Per setting:
Adam for every learning rate of ``--adam-lrs`` and K-FAC for every ``--kfac-lrs``, each on
all seeds (``lax.map`` over seeds: one compiled program per optimizer, seeds one after
the other so that step times are those of a single run and K-FAC's ``lax.cond`` on the
inverse refresh stays a branch, which ``vmap`` would turn into a select); the test risk of
the parameters recorded every ``--eval-every`` steps on held-out paths; the best Adam and
the best K-FAC learning rate by mean final test risk. Reported: final test risk with a 95%
CI over seeds, the steps and wall-clock for K-FAC to reach Adam's final test risk (seed
mean), the amortised step cost (training wall time / steps / seeds, compile apart), final
costs and P&L variance beside the paper's claims, and Black-Scholes / Heston delta
baselines on the same test paths.

``--peers`` runs kfac-jax on the MLP policy (MSE objective, its squared-error loss) and on
the LSTM (its diagonal fallback for weights reused in ``lax.scan``).

Usage::

    python benchmarks/hedging.py --xi 2.0 --cost 1e-3 --hidden 32
    python benchmarks/hedging.py --peers
    python benchmarks/hedging.py --table
"""

from __future__ import annotations

import argparse
import functools
import json
import subprocess
import sys
import time
import traceback
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import (  # noqa: E402
    machine_info,
    markdown_table,
    peak_memory_mb,
    time_interleaved,
)

import optlib  # noqa: E402
import optlib.curvature as oc  # noqa: E402
import optlib.hedging as h  # noqa: E402
import optlib.schedules as sch  # noqa: E402

PAPER = {"cost_reduction": 0.783, "variance_reduction": 0.344}
CACHE = Path(__file__).resolve().parent / "results" / "hedging"


def ci95(x):
    x = np.asarray(x, np.float64)
    if x.size < 2:
        return float("nan")
    return float(1.96 * x.std(ddof=1) / np.sqrt(x.size))


def load_average() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:  # pragma: no cover
        return "n/a"


@functools.partial(jax.jit, static_argnames=("steps", "eval_every"))
def _train_seeds(solver, p0, keys, steps, eval_every):
    # Seeds one after the other (lax.map): one compiled program per solver structure; a new
    # learning rate is a new leaf value, not a recompile.
    def one(args):
        p, k = args
        res = optlib.run(solver, p, key=k, max_steps=steps,
                         hooks=[optlib.History(every=eval_every, params=True)])
        return res.params, res.history.params, res.history.step
    return jax.lax.map(one, (p0, keys))


def train(solver, seeds, steps, eval_every):
    """Trains every seed. Returns (params history (S, R + 1, ...), recorded steps, final
    params, seconds per step of one seed, compile seconds)."""
    keys = jax.random.split(jax.random.key(1234), seeds)
    init = jax.vmap(lambda k: solver.init_params(k))(keys)
    run_keys = jax.vmap(lambda k: jax.random.fold_in(k, 7))(keys)
    t0 = time.perf_counter()
    compiled = _train_seeds.lower(solver, init, run_keys, steps=steps,
                                  eval_every=eval_every).compile()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    final, hist, rec_steps = jax.block_until_ready(compiled(solver, init, run_keys))
    per_step = (time.perf_counter() - t0) / (steps * seeds)
    rows = np.asarray(rec_steps[0])
    params = jax.tree.map(lambda a, b: jnp.concatenate([a[:, None], b], axis=1), init, hist)
    return params, np.concatenate([[0], rows]), final, per_step, compile_s


@jax.jit
def _curve(solver, flat, test):
    return jax.lax.map(lambda p: h.evaluate_policy(solver, p, test).risk, flat)


@jax.jit
def _final_metrics(solver, final, test):
    return jax.vmap(lambda p: h.evaluate_policy(solver, p, test))(final)


def test_curve(solver, params_hist, test):
    """Test risk (S, R) of every recorded parameter set, one evaluation at a time (memory)."""
    s, r = jax.tree.leaves(params_hist)[0].shape[:2]
    flat = jax.tree.map(lambda x: x.reshape((s * r,) + x.shape[2:]), params_hist)
    return np.asarray(_curve(solver, flat, test)).reshape(s, r)


def steps_to(curve_steps, curve, target):
    """First recorded step at which the seed-mean test risk is <= target (None if never)."""
    hit = np.nonzero(curve.mean(axis=0) <= target)[0]
    return int(curve_steps[hit[0]]) if hit.size else None


def make_problem(cfg, xi, cost):
    market = h.Heston(kappa=1.0, theta=0.04, xi=xi, rho=-0.7, v0=0.04)
    return h.HedgingProblem(market=market, option=h.EuropeanOption(cfg.s0), s0=cfg.s0,
                            cost_rate=cost, risk=h.EntropicRisk(cfg.lam))


def setting_name(cfg):
    return (f"s0{cfg.s0:g}_xi{cfg.xi:g}_c{cfg.cost:g}_H{cfg.hidden}_S{cfg.seeds}"
            f"_n{cfg.steps}_p{cfg.paths}")


def _adam(steps, schedule):
    if schedule == "constant":
        return optax.adam

    def factory(learning_rate):
        return optax.adam(sch.linear_decay(learning_rate, steps))
    return factory


def _kfac(steps, schedule, **flags):
    if schedule == "constant":
        return functools.partial(oc.kfac, **flags)

    # The whole step is multiplied by the linear-decay factor s_t: the learning rate for an
    # unclipped step, the bound (by s_t^2) for a clipped one, whose length the bound sets.
    decay = sch.linear_decay(1.0, steps)

    def factory(learning_rate, kl_clip=None, **hyper):
        bound = None if kl_clip is None else (lambda count: kl_clip * decay(count) ** 2)
        return oc.kfac(sch.linear_decay(learning_rate, steps), kl_clip=bound, **hyper,
                       **flags)
    return factory


def run_one(cfg, opt, lr, damping=None, kl_clip=None, momentum=0.0, inverse_every=None,
            stats_paths=None, adaptive="none"):
    """Trains one optimizer at one learning rate on every seed; returns a JSON record."""
    inverse_every = inverse_every or cfg.inverse_every
    stats_paths = stats_paths or cfg.stats_paths
    problem = make_problem(cfg, cfg.xi, cfg.cost)
    test = problem.simulate(jax.random.key(99), cfg.test_paths)
    policy = h.LSTMHedger(cfg.hidden)
    if opt == "adam":
        solver = h.DeepHedger(problem, policy, _adam(cfg.steps, cfg.schedule),
                              {"learning_rate": lr}, num_paths=cfg.paths)
    else:
        # Damping and the KL clip are traced hyperparameters, like the learning rate.
        hyper = {"learning_rate": lr, "damping": damping}
        if kl_clip is not None:
            hyper["kl_clip"] = kl_clip
        if momentum:
            hyper["momentum"] = momentum
        # Martens & Grosse's rule: step length (and momentum) from the exact GGN model,
        # with Levenberg-Marquardt damping on that model; the learning rate is unused.
        flags = dict(adaptive_learning_rate=True, adaptive_damping=True,
                     adaptive_momentum=adaptive == "lr+momentum", min_damping=cfg.min_damping,
                     damping_every=cfg.damping_every) if adaptive != "none" else {}
        solver = h.DeepHedger(problem, policy, _kfac(
            cfg.steps, cfg.schedule, inverse_every=inverse_every, sequence="recurrent",
            **flags), hyper, num_paths=cfg.paths, stats_paths=stats_paths)
    load_before = load_average()
    ph, st, final, per_step, compile_s = train(solver, cfg.seeds, cfg.steps, cfg.eval_every)
    curve = test_curve(solver, ph, test)
    m = _final_metrics(solver, final, test)
    print(f"  {setting_name(cfg)} {opt} lr={lr:g}: final test risk "
          f"{float(np.mean(m.risk)):.5f} ± {ci95(m.risk):.1e}, "
          f"{1e3 * per_step:.1f} ms/step, compile {compile_s:.1f} s", flush=True)
    return dict(opt=opt, lr=lr, damping=damping, kl_clip=kl_clip, momentum=momentum,
                schedule=cfg.schedule,
                adaptive=adaptive if opt == "kfac" else None,
                inverse_every=inverse_every if opt == "kfac" else None,
                stats_paths=stats_paths if opt == "kfac" else None, curve=curve.tolist(),
                curve_steps=st.tolist(),
                ms_per_step=1e3 * per_step, compile_s=compile_s,
                risk=np.asarray(m.risk).tolist(), cost=np.asarray(m.cost).tolist(),
                var=np.asarray(m.pnl_var).tolist(), turnover=np.asarray(m.turnover).tolist(),
                sharpe=np.asarray(m.sharpe).tolist(), load_before=load_before,
                load_after=load_average())


def baselines(cfg):
    problem = make_problem(cfg, cfg.xi, cfg.cost)
    test = problem.simulate(jax.random.key(99), cfg.test_paths)
    bs = h.hedging_metrics(problem, test, h.black_scholes_hedge(problem, test, 0.2))
    sub = h.Paths(test.spot[:cfg.heston_paths], test.variance[:cfg.heston_paths], test.times)
    hd = h.hedging_metrics(problem, sub, h.heston_hedge(problem, sub, num_nodes=128))
    return dict(bs_risk=float(bs.risk), bs_cost=float(bs.cost), bs_var=float(bs.pnl_var),
                test_risk_se=float(bs.risk_se), heston_delta_risk=float(hd.risk),
                heston_delta_paths=cfg.heston_paths)


def combine(rec, schedule="constant"):
    """Best Adam and best K-FAC learning rate of a cached setting, among the runs with the
    given step schedule, and the comparison."""
    runs = {n: r for n, r in rec["runs"].items() if r.get("schedule", "constant") == schedule}

    def best(opt):
        names = [n for n in runs if runs[n]["opt"] == opt]
        return min(names, key=lambda n: np.mean(runs[n]["risk"])) if names else None

    ba, bk = best("adam"), best("kfac")
    if ba is None or bk is None:
        return None
    a, k = runs[ba], runs[bk]

    def full(r):
        # History records the parameters after steps 1, 1 + every, ...; the final
        # parameters (after ``steps``) close the curve.
        curve = np.concatenate([np.asarray(r["curve"]), np.asarray(r["risk"])[:, None]], 1)
        return np.asarray(r["curve_steps"] + [rec["steps"]]), curve

    (sa, ca), (sk, ck) = full(a), full(k)
    target = float(ca[:, -1].mean())
    a_steps, k_steps = steps_to(sa, ca, target), steps_to(sk, ck, target)
    out = dict(schedule=schedule, adam_lr=a["lr"], kfac_lr=k["lr"], kfac_damping=k["damping"],
               kfac_kl_clip=k["kl_clip"], kfac_momentum=k.get("momentum", 0.0),
               kfac_inverse_every=k.get("inverse_every", rec["inverse_every"]),
               kfac_stats_paths=k.get("stats_paths", rec["stats_paths"]),
               kfac_name=bk, adam_name=ba, target=target,
               adam_steps_to_target=a_steps, kfac_steps_to_target=k_steps,
               sweep={n: float(np.mean(r["risk"])) for n, r in runs.items()})
    for name, r in (("adam", a), ("kfac", k)):
        for key in ("risk", "cost", "var", "turnover", "sharpe"):
            out[f"{name}_{key}"] = float(np.mean(r[key]))
            out[f"{name}_{key}_ci"] = ci95(r[key])
        out[f"{name}_ms_per_step"] = r["ms_per_step"]
    return out


def schedules(rec):
    """The step schedules among a cached setting's runs (runs before session 6: constant)."""
    return sorted({r.get("schedule", "constant") for r in rec["runs"].values()})


def summary_row(rec, c):
    a_steps, k_steps = c["adam_steps_to_target"], c["kfac_steps_to_target"]
    ratio = c["kfac_ms_per_step"] / c["adam_ms_per_step"]
    speed = None if k_steps in (None, 0) or a_steps is None else a_steps / k_steps
    wall = None if speed is None else speed / ratio
    rel = lambda key: c[f"kfac_{key}"] / c[f"adam_{key}"] - 1  # noqa: E731
    return {
        "S0": rec["s0"], "xi": rec["xi"], "cost": rec["cost"], "H": rec["hidden"],
        "seeds": rec["seeds"], "steps": rec["steps"], "schedule": c["schedule"],
        "lr Adam / K-FAC": f"{c['adam_lr']:g} / {c['kfac_lr']:g}",
        "K-FAC damping, kl_clip, momentum, inverse every, stats paths":
            f"{c['kfac_damping']:g}, {c['kfac_kl_clip']}, {c['kfac_momentum']:g}, "
            f"{c['kfac_inverse_every']}, {c['kfac_stats_paths']}",
        "Adam risk": f"{c['adam_risk']:.4f} ± {c['adam_risk_ci']:.4f}",
        "K-FAC risk": f"{c['kfac_risk']:.4f} ± {c['kfac_risk_ci']:.4f}",
        "BS / Heston delta": f"{rec['bs_risk']:.4f} / {rec['heston_delta_risk']:.4f}",
        "steps to Adam's final (Adam / K-FAC)": f"{a_steps} / {k_steps}",
        "step speed-up": "n/a" if speed is None else f"{speed:.2f}",
        "wall speed-up": "n/a" if wall is None else f"{wall:.2f}",
        "ms/step Adam / K-FAC": f"{c['adam_ms_per_step']:.0f} / {c['kfac_ms_per_step']:.0f}",
        "step cost K-FAC/Adam": f"{ratio:.2f}",
        "cost K-FAC vs Adam": f"{rel('cost'):+.1%}" if rec["cost"] > 0 else "n/a",
        "P&L var K-FAC vs Adam": f"{rel('var'):+.1%}",
    }


def step_timing(cfg):
    """Interleaved step times of Adam and K-FAC (same load for all): ``--timing-chunk`` steps
    per call from the same start, K-FAC with the tuned hyperparameters and inverses every
    ``--inverse-every`` steps (amortised) and, with ``--timing-worst``, every step."""
    problem = make_problem(cfg, cfg.xi, cfg.cost)
    hyper = {"learning_rate": cfg.kfac_lrs[0], "damping": cfg.dampings[0]}
    if cfg.kl_clips[0] is not None:
        hyper["kl_clip"] = cfg.kl_clips[0]
    if cfg.momenta[0]:
        hyper["momentum"] = cfg.momenta[0]
    rows = []
    for hidden in cfg.timing_hidden:
        policy = h.LSTMHedger(hidden)
        solvers = {"adam": h.DeepHedger(problem, policy, optax.adam,
                                        {"learning_rate": cfg.adam_lrs[0]}, num_paths=cfg.paths)}
        for ie in dict.fromkeys((cfg.inverse_every, 1) if cfg.timing_worst
                                else (cfg.inverse_every,)):
            solvers[f"kfac (inverse every {ie})"] = h.DeepHedger(
                problem, policy, functools.partial(oc.kfac, inverse_every=ie,
                                                   sequence="recurrent"),
                hyper, num_paths=cfg.paths, stats_paths=cfg.stats_paths)
        fns = {}
        for name, solver in solvers.items():
            p0 = solver.init_params(jax.random.key(0))
            fns[name] = (lambda key, solver=solver, p0=p0: optlib.run(
                solver, p0, key=key, max_steps=cfg.timing_chunk).params)
        load = load_average()
        t = time_interleaved(fns, jax.random.key(3), repeats=cfg.timing_repeats)
        base = t["adam"]["median_s"]
        for name, r in t.items():
            rows.append({"H": hidden, "optimizer": name, "paths": cfg.paths,
                         "stats paths": cfg.stats_paths if name != "adam" else None,
                         "ms/step (median)": 1e3 * r["median_s"] / cfg.timing_chunk,
                         "IQR ms/step": 1e3 * r["iqr_s"] / cfg.timing_chunk,
                         "ratio to Adam": r["median_s"] / base,
                         "compile s": r["compile_s"], "load before": load,
                         "load after": load_average()})
        print(markdown_table(rows[-len(t):]), flush=True)
    return rows


def _kfac_jax():
    """Imports kfac-jax and adapts it to this jax.

    kfac-jax 0.0.8 evaluates jaxpr equations with ``subfuns, params =
    primitive.get_bind_params(params)``; jax 0.10 returns the parameters alone (call
    primitives carry ``subfuns`` inside them). The replacement below does what jax's own
    ``eval_jaxpr`` does and accepts both forms; it changes nothing else in kfac-jax.
    """
    import jax.extend as jex
    import kfac_jax
    from kfac_jax._src import tag_graph_matcher as tgm

    def eval_jaxpr_eqn(eqn, in_values):
        bind = eqn.primitive.get_bind_params(eqn.params)
        subfuns = ()
        if isinstance(bind, tuple):
            subfuns, bind = bind
        with jex.source_info_util.user_context(eqn.source_info.traceback):
            out = eqn.primitive.bind(*subfuns, *in_values, **bind)
        return out if isinstance(out, list) else [out]

    tgm.eval_jaxpr_eqn = eval_jaxpr_eqn
    return kfac_jax


def peer_problem(cfg):
    """The benchmark market (``--xi``, ``--cost``, ``--s0``) with ``--peer-risk``: the MSE
    of the P&L with the Heston price as premium, or the entropic risk."""
    market = h.Heston(kappa=1.0, theta=0.04, xi=cfg.xi, rho=-0.7, v0=0.04)
    if cfg.peer_risk == "mse":
        premium = float(h.heston_call(cfg.s0, cfg.s0, 30 / 365, market))
        return h.HedgingProblem(market=market, option=h.EuropeanOption(cfg.s0), s0=cfg.s0,
                                cost_rate=cfg.cost, risk=h.MeanSquaredError(), premium=premium)
    return make_problem(cfg, cfg.xi, cfg.cost)


def kfac_jax_optimizer(kfac_jax, cfg, problem, policy, lstm):
    """kfac-jax on the same objective, curvature, hyperparameters and paths as optlib's K-FAC.

    The loss simulates the step's paths from the key passed as the batch (the key
    ``optlib.run`` gives step ``k``: same paths). The curvature is the GGN of the risk in
    the P&L with the loss Hessian's diagonal, as in :func:`optlib.curvature.curvature_stats`:
    the MSE is kfac-jax's squared-error loss (``sum (pnl - 0)^2 / N``, Fisher ``2/N``); for
    the entropic risk the registered prediction is ``s_n pnl_n`` with the constant
    ``s_n = sqrt(N H_nn / 2)``, ``H_nn = lambda w_n (1 - w_n)``, whose squared-error Fisher
    is ``H_nn J_n^T J_n`` (the value and gradient are those of the entropic risk itself).
    ``estimation_mode`` is kfac-jax's default ``ggn_curvature_prop`` (Rademacher signs:
    exact for one output per path). No burn-in, no momentum, fixed learning rate and
    damping, ``norm_constraint`` = ``kl_clip`` (the same bound ``lr^2 g^T F^-1 g``), the
    same EMA decay (0.95) and inverse period. The LSTM's recurrent kernel is used inside
    ``lax.scan``: kfac-jax 0.0.8 tags it as a dense layer inside the scan body and then
    fails ("parameter indices were not assigned a block"); skipping that pattern leaves it
    to kfac-jax's generic (diagonal) block, its fallback for such weights.
    """
    n = cfg.paths
    risk = problem.risk

    def loss(params, key):
        paths = problem.simulate(key, n, jax.tree.leaves(params)[0].dtype)
        feats = problem.features(paths)
        pnl = problem.pnl(paths, policy.apply({"params": params}, feats)).pnl
        if cfg.peer_risk == "mse":
            kfac_jax.register_squared_error_loss(pnl[:, None])
        else:
            s = jnp.sqrt(0.5 * n * risk.hessian_diag(jax.lax.stop_gradient(pnl)))
            kfac_jax.register_squared_error_loss(jax.lax.stop_gradient(s)[:, None]
                                                 * pnl[:, None])
        return risk(pnl)

    lr, damping = cfg.kfac_lrs[0], cfg.dampings[0]
    return kfac_jax.Optimizer(
        value_and_grad_func=jax.value_and_grad(loss), l2_reg=0.0,
        use_adaptive_learning_rate=False, use_adaptive_momentum=False,
        use_adaptive_damping=False, learning_rate_schedule=lambda s: lr,
        momentum_schedule=lambda s: 0.0, damping_schedule=lambda s: damping,
        norm_constraint=cfg.kl_clips[0], num_burnin_steps=0, curvature_ema=0.95,
        inverse_update_period=cfg.inverse_every, batch_size_extractor=lambda b: n,
        patterns_to_skip=("dense_no_bias_no_reshape",) if lstm else (), multi_device=False)


def kfac_jax_section(cfg):
    """optlib K-FAC against kfac-jax, seed by seed on the same initialisations and paths:
    MLP (both Kronecker-factored; kfac-jax's repeated-dense blocks = KFAC-expand) and LSTM
    (optlib's recurrent K-FAC against kfac-jax's diagonal fallback for the recurrent weight).

    Per policy: the relative difference of the two first updates (seed 0, inverses
    refreshed at step 0 by both: the blocks that both factor should agree), the test-risk
    curves of every seed at the recorded steps, the steps for the seed-mean curve to reach
    the worse of the two final risks (and intermediate levels), and step times (optlib: a
    compiled run over seeds, as in the main benchmark; kfac-jax: its jitted ``step`` in a
    Python loop, evaluation excluded).
    """
    try:
        kfac_jax = _kfac_jax()
    except ImportError as err:  # pragma: no cover - optional peer
        return [{"peer": "kfac-jax", "status": f"not installed: {err}"}]
    problem = peer_problem(cfg)
    test = problem.simulate(jax.random.key(99), cfg.test_paths)
    hyper = {"learning_rate": cfg.kfac_lrs[0], "damping": cfg.dampings[0]}
    if cfg.kl_clips[0] is not None:
        hyper["kl_clip"] = cfg.kl_clips[0]
    rows = []
    for label in cfg.peer_policies:
        lstm = label.startswith("lstm")
        policy = h.LSTMHedger(cfg.hidden) if lstm else h.MLPHedger((cfg.hidden, cfg.hidden))
        ours = h.DeepHedger(problem, policy, functools.partial(
            oc.kfac, inverse_every=cfg.inverse_every,
            sequence="recurrent" if lstm else "expand"), hyper, num_paths=cfg.paths,
            stats_paths=cfg.paths)
        load_before = load_average()
        ph, st, final, per_step, compile_s = train(ours, cfg.seeds, cfg.steps, cfg.eval_every)
        our_curve = np.concatenate([test_curve(ours, ph, test),
                                    np.asarray(_final_metrics(ours, final, test).risk)[:, None]],
                                   axis=1)
        rec = list(st) + [cfg.steps]
        print(f"  optlib {label}: final {our_curve[:, -1].mean():.4f}, "
              f"{1e3 * per_step:.1f} ms/step, compile {compile_s:.0f} s", flush=True)
        row = {"policy": f"{label} H={cfg.hidden}", "risk": cfg.peer_risk,
               "optlib curve": our_curve.tolist(), "steps": rec,
               "optlib ms/step": 1e3 * per_step, "optlib compile s": compile_s}
        try:
            opt = kfac_jax_optimizer(kfac_jax, cfg, problem, policy, lstm)
            evaluate = jax.jit(lambda p, ours=ours: h.evaluate_policy(ours, p, test).risk)
            keys = jax.random.split(jax.random.key(1234), cfg.seeds)   # as in train()
            curves, times, first = [], [], None
            for s in range(cfg.seeds):
                params = ours.init_params(keys[s])
                loop_key = jax.random.split(jax.random.fold_in(keys[s], 7))[1]
                state = opt.init(params, jax.random.key(1), loop_key)
                curve = [float(evaluate(params))]
                for i in range(cfg.steps):
                    before = jax.tree.map(jnp.copy, params) if s == 0 and i == 0 else None
                    t0 = time.perf_counter()
                    new, state, _ = opt.step(params, state, jax.random.key(3),
                                             batch=jax.random.fold_in(loop_key, i),
                                             global_step_int=i)
                    jax.block_until_ready(new)
                    times.append(time.perf_counter() - t0)
                    if s == 0 and i == 0:
                        first = jax.tree.map(lambda a, b: a - b, new, before)
                    params = new
                    if i + 1 in rec[1:-1]:
                        curve.append(float(evaluate(params)))
                curve.append(float(evaluate(params)))
                curves.append(curve)
                print(f"  kfac-jax {label} seed {s}: final {curve[-1]:.4f}", flush=True)
            peer_curve = np.asarray(curves)
            # optlib's first update on seed 0 (same paths and initialisation).
            p0 = ours.init_params(keys[0])
            r1 = optlib.run(ours, p0, key=jax.random.fold_in(keys[0], 7), max_steps=1)
            mine = jax.tree.map(lambda a, b: a - b, r1.params, p0)
            agree = {"/".join(str(getattr(k, "key", k)) for k in path):
                     float(jnp.linalg.norm(a - b) / jnp.linalg.norm(a))
                     for (path, a), b in zip(jax.tree_util.tree_flatten_with_path(mine)[0],
                                             jax.tree.leaves(first), strict=True)}
            steady = np.asarray(times[2 * cfg.inverse_every:], np.float64)
            row.update({"kfac-jax curve": peer_curve.tolist(),
                        "kfac-jax ms/step": 1e3 * float(steady.mean()),
                        "first-update relative difference per leaf": agree,
                        "status": "ran"})
            row.update(peer_summary(np.asarray(rec), our_curve, peer_curve))
        except Exception as err:  # noqa: BLE001 - report the peer's failure, do not hide it
            row.update({"status": f"kfac-jax failed: {type(err).__name__}: "
                                  f"{str(err).splitlines()[0][:160]}"})
            traceback.print_exc()
        row.update({"load before": load_before, "load after": load_average()})
        rows.append(row)
        print(markdown_table([peer_row(row)]), flush=True)
    return rows


def first_step_check(cfg):
    """One step of optlib K-FAC and kfac-jax from the same parameters on the same paths,
    without the trust region (``kl_clip``/``norm_constraint`` off), inverses refreshed at
    that step: per leaf, the relative difference and the cosine of the two updates."""
    kfac_jax = _kfac_jax()
    problem = peer_problem(cfg)
    check = argparse.Namespace(**{**vars(cfg), "kl_clips": [None], "inverse_every": 1})
    rows = []
    for label in cfg.peer_policies:
        lstm = label.startswith("lstm")
        policy = h.LSTMHedger(cfg.hidden) if lstm else h.MLPHedger((cfg.hidden, cfg.hidden))
        ours = h.DeepHedger(problem, policy, functools.partial(
            oc.kfac, inverse_every=1, sequence="recurrent" if lstm else "expand"),
            {"learning_rate": cfg.kfac_lrs[0], "damping": cfg.dampings[0]},
            num_paths=cfg.paths, stats_paths=cfg.paths)
        key = jax.random.split(jax.random.key(1234), 1)[0]
        p0 = ours.init_params(key)
        mine = jax.tree.map(lambda a, b: a - b, optlib.run(
            ours, p0, key=jax.random.fold_in(key, 7), max_steps=1).params, p0)
        opt = kfac_jax_optimizer(kfac_jax, check, problem, policy, lstm)
        loop_key = jax.random.split(jax.random.fold_in(key, 7))[1]
        state = opt.init(p0, jax.random.key(1), loop_key)
        new, _, _ = opt.step(jax.tree.map(jnp.copy, p0), state, jax.random.key(3),
                             batch=jax.random.fold_in(loop_key, 0), global_step_int=0)
        theirs = jax.tree.map(lambda a, b: a - b, new, p0)
        for (path, a), b in zip(jax.tree_util.tree_flatten_with_path(mine)[0],
                                jax.tree.leaves(theirs), strict=True):
            na, nb = float(jnp.linalg.norm(a)), float(jnp.linalg.norm(b))
            rows.append({"policy": label, "leaf": "/".join(str(getattr(k, "key", k)) for k in path),
                         "optlib norm": na, "kfac-jax norm": nb,
                         "relative difference": float(jnp.linalg.norm(a - b)) / na,
                         "cosine": float(jnp.vdot(a, b)) / (na * nb)})
    print(markdown_table(rows), flush=True)
    return rows


def pfhedge_export(cfg, out: Path) -> None:
    """Shared paths and optlib's results for ``benchmarks/hedging_pfhedge.py`` (pfhedge needs
    torch and numpy < 2, so it runs in its own environment and reads this file).

    MLP policy (``--hidden`` x 2, tanh, like pfhedge's ``MultiLayerPerceptron`` with
    ``n_layers=2``) trained by Adam (``--adam-lrs[0]``) for ``--steps`` steps, step ``k`` on
    the ``k``-th batch of ``--paths`` simulated paths (the same batches for every seed);
    the seeds differ in the initial weights, which are exported so that pfhedge starts
    from the same ones. Also exports the Black-Scholes delta on the test paths and
    optlib's P&L and entropic risk for it (the objective check)."""
    problem = make_problem(cfg, cfg.xi, cfg.cost)
    policy = h.MLPHedger((cfg.hidden, cfg.hidden))
    lr = cfg.adam_lrs[0]
    solver = h.DeepHedger(problem, policy, optax.adam, {"learning_rate": lr},
                          num_paths=cfg.paths)
    test = problem.simulate(jax.random.key(99), cfg.test_paths)
    batches = jax.vmap(lambda k: problem.simulate(k, cfg.paths))(
        jax.random.split(jax.random.key(2024), cfg.steps))

    @jax.jit
    def train(p0):
        def body(carry, batch):
            params, state = carry
            params, state, _ = solver.step(params, state, h.Paths(batch[0], batch[1],
                                                                   test.times))
            risk = h.evaluate_policy(solver, params, test).risk
            return (params, state), risk
        (params, _), curve = jax.lax.scan(body, (p0, solver.init(p0)),
                                          (batches.spot, batches.variance))
        return params, curve

    inits = [solver.init_params(jax.random.key(s)) for s in range(cfg.seeds)]
    t0 = time.perf_counter()
    results = [jax.block_until_ready(train(p)) for p in inits]
    wall = time.perf_counter() - t0
    bs = h.black_scholes_hedge(problem, test, 0.2)
    bs_m = h.hedging_metrics(problem, test, bs)
    flat = {f"init{s}/{'/'.join(str(getattr(k, 'key', k)) for k in path)}": np.asarray(leaf)
            for s, p in enumerate(inits)
            for path, leaf in jax.tree_util.tree_flatten_with_path(p)[0]}
    np.savez(out, train_spot=np.asarray(batches.spot), train_variance=np.asarray(
        batches.variance), test_spot=np.asarray(test.spot), test_variance=np.asarray(
        test.variance), times=np.asarray(test.times), bs_hedge=np.asarray(bs),
        bs_pnl=np.asarray(problem.pnl(test, bs).pnl), bs_risk=float(bs_m.risk),
        test_risk_se=float(bs_m.risk_se),
        optlib_curve=np.stack([np.asarray(c) for _, c in results]),
        optlib_wall_s=wall, config=json.dumps(dict(
            s0=cfg.s0, cost=cfg.cost, lam=cfg.lam, hidden=cfg.hidden, lr=lr,
            steps=cfg.steps, paths=cfg.paths, seeds=cfg.seeds, test_paths=cfg.test_paths,
            num_steps=problem.num_steps, machine=machine_info(),
            **{k: float(getattr(problem.market, k)) for k in ("kappa", "theta", "xi", "rho",
                                                              "v0")})), **flat)
    print(f"optlib MLP Adam lr {lr:g}: final test risk "
          + ", ".join(f"{float(c[-1]):.4f}" for _, c in results) + f"; BS delta "
          f"{float(bs_m.risk):.4f}; {wall:.0f} s; wrote {out}")


def peer_summary(steps, ours, peer):
    """Steps for the seed-mean test-risk curves to reach the worse final risk and levels
    a quarter, half and three quarters of the way to it from the initial risk."""
    m_ours, m_peer = ours.mean(axis=0), peer.mean(axis=0)
    target = max(m_ours[-1], m_peer[-1])
    start = m_ours[0]
    out = {"optlib final": float(m_ours[-1]), "optlib final ci": ci95(ours[:, -1]),
           "kfac-jax final": float(m_peer[-1]), "kfac-jax final ci": ci95(peer[:, -1]),
           "paired final difference (optlib - kfac-jax)": float(np.mean(ours[:, -1] - peer[:, -1])),
           "paired final difference ci": ci95(ours[:, -1] - peer[:, -1]), "levels": {}}
    for frac in (0.75, 0.9, 1.0):
        level = float(start + frac * (target - start))

        def first(c, level=level):
            hit = np.nonzero(c <= level)[0]
            return int(steps[hit[0]]) if hit.size else None

        out["levels"][f"{frac:g}"] = (level, first(m_ours), first(m_peer))
    return out


def peer_row(row):
    if row.get("status") != "ran":
        return {"policy": row["policy"], "status": row["status"]}
    lv = row["levels"]
    fmt = lambda k: f"{lv[k][1]} / {lv[k][2]}"  # noqa: E731
    return {"policy": row["policy"], "risk": row["risk"],
            "final optlib": f"{row['optlib final']:.4f} ± {row['optlib final ci']:.4f}",
            "final kfac-jax": f"{row['kfac-jax final']:.4f} ± {row['kfac-jax final ci']:.4f}",
            "paired diff": f"{row['paired final difference (optlib - kfac-jax)']:+.4f} ± "
                           f"{row['paired final difference ci']:.4f}",
            "steps to 75% / 90% / 100% of the way (optlib / kfac-jax)":
                f"{fmt('0.75')}; {fmt('0.9')}; {fmt('1')}",
            "ms/step optlib / kfac-jax": f"{row['optlib ms/step']:.0f} / "
                                         f"{row['kfac-jax ms/step']:.0f}",
            "first update max rel diff":
                f"{max(row['first-update relative difference per leaf'].values()):.1e}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--xi", type=float, default=2.0)
    parser.add_argument("--cost", type=float, default=1e-3)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--s0", type=float, default=100.0)
    parser.add_argument("--lam", type=float, default=1.0, help="entropic risk aversion")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--eval-every", type=int, default=10)
    parser.add_argument("--paths", type=int, default=8192)
    parser.add_argument("--stats-paths", type=int, default=1024)
    parser.add_argument("--test-paths", type=int, default=2**17)
    parser.add_argument("--heston-paths", type=int, default=4096)
    parser.add_argument("--adam-lrs", type=float, nargs="*", default=[1e-3, 3e-3, 1e-2])
    parser.add_argument("--kfac-lrs", type=float, nargs="*", default=[0.1, 0.3])
    parser.add_argument("--dampings", type=float, nargs="+", default=[1e-3])
    parser.add_argument("--kl-clips", type=float, nargs="+", default=[None],
                        help="K-FAC trust region lr^2 g^T F^-1 g <= kl_clip (one compile per "
                             "value list: all values must be given, or none)")
    parser.add_argument("--inverse-every", type=int, default=5)
    parser.add_argument("--momenta", type=float, nargs="+", default=[0.0],
                        help="K-FAC heavy-ball momentum values")
    parser.add_argument("--adaptive", choices=("none", "lr", "lr+momentum"), default="none",
                        help="K-FAC step from the exact quadratic model (Martens & Grosse "
                             "section 7) with adaptive damping; --kl-clips then bounds the "
                             "step in the model's norm")
    parser.add_argument("--min-damping", type=float, default=1.0,
                        help="floor of the adapted damping (--adaptive only)")
    parser.add_argument("--damping-every", type=int, default=1,
                        help="damping adaptation period (--adaptive only)")
    parser.add_argument("--schedule", choices=("constant", "linear"), default="constant",
                        help="learning rate schedule of both optimizers: constant, or linear "
                             "decay to 0 over --steps (for K-FAC the kl_clip bound decays "
                             "with the square of the factor, so a clipped step anneals too)")
    parser.add_argument("--inverse-everys", type=int, nargs="+", default=None,
                        help="K-FAC inverse refresh periods to sweep (default: --inverse-every)")
    parser.add_argument("--stats-paths-list", type=int, nargs="+", default=None,
                        help="K-FAC statistics subsample sizes to sweep (default: --stats-paths)")
    parser.add_argument("--peers", action="store_true", help="run the kfac-jax section")
    parser.add_argument("--peer-risk", choices=("mse", "entropic"), default="mse",
                        help="objective of the kfac-jax section")
    parser.add_argument("--peer-first-step", action="store_true",
                        help="one-step agreement check of optlib K-FAC and kfac-jax (no clip)")
    parser.add_argument("--peer-policies", nargs="+", choices=("mlp", "lstm"),
                        default=["mlp", "lstm"])
    parser.add_argument("--pfhedge-export", type=Path, default=None,
                        help="write shared paths and optlib's MLP results to this .npz for "
                             "benchmarks/hedging_pfhedge.py")
    parser.add_argument("--timing", action="store_true",
                        help="interleaved step times (first --adam-lrs / K-FAC values)")
    parser.add_argument("--timing-hidden", type=int, nargs="+", default=[32])
    parser.add_argument("--timing-chunk", type=int, default=10)
    parser.add_argument("--timing-worst", action="store_true",
                        help="also time K-FAC with inverses refreshed every step")
    parser.add_argument("--timing-repeats", type=int, default=7)
    parser.add_argument("--table", action="store_true", help="render the cached settings")
    parser.add_argument("--force", action="store_true", help="rerun cached runs")
    parser.add_argument("--cache", type=Path, default=CACHE,
                        help="folder of the cached settings (a second one lets two runs of the "
                             "same setting proceed at once; merge the 'runs' afterwards)")
    cfg = parser.parse_args()
    cache = cfg.cache
    cache.mkdir(parents=True, exist_ok=True)
    if cfg.table:
        recs = [json.loads(p.read_text()) for p in sorted(cache.glob("s0*.json"))]
        pairs = [(r, combine(r, sched)) for r in recs for sched in schedules(r)]
        print(markdown_table([summary_row(r, c) for r, c in pairs if c is not None]))
        for r, c in pairs:
            if c is None:
                continue
            print(f"\n{r['setting']}: final test risk per learning rate "
                  + ", ".join(f"{n}: {v:.4f}" for n, v in c["sweep"].items()))
            print(f"  costs Adam {c['adam_cost']:.4g} ± {c['adam_cost_ci']:.2g}, K-FAC "
                  f"{c['kfac_cost']:.4g} ± {c['kfac_cost_ci']:.2g}, BS {r['bs_cost']:.4g}; "
                  f"P&L var Adam {c['adam_var']:.4g} ± {c['adam_var_ci']:.2g}, K-FAC "
                  f"{c['kfac_var']:.4g} ± {c['kfac_var_ci']:.2g}, BS {r['bs_var']:.4g}; "
                  f"test-risk s.e. {r['test_risk_se']:.2g}")
            for n, run in r["runs"].items():
                print(f"  {n}: {run['ms_per_step']:.0f} ms/step, compile "
                      f"{run['compile_s']:.0f} s, load {run['load_before']}")
        return
    print(machine_info(), flush=True)
    t0 = time.perf_counter()
    if cfg.timing:
        rows = step_timing(cfg)
        out = cache / f"step_timing_p{cfg.paths}_s{cfg.stats_paths}.json"
        out.write_text(json.dumps({"rows": rows, "machine": machine_info(),
                                   "config": vars(cfg)}, indent=1, default=str))
        print(f"wrote {out}")
        return
    if cfg.pfhedge_export is not None:
        pfhedge_export(cfg, cfg.pfhedge_export)
        return
    if cfg.peer_first_step:
        rows = first_step_check(cfg)
        out = cache / f"peers_first_step_{cfg.peer_risk}_H{cfg.hidden}_p{cfg.paths}.json"
        out.write_text(json.dumps({"rows": rows, "config": vars(cfg)}, indent=1, default=str))
        print(f"wrote {out}")
        return
    if cfg.peers:
        rows = kfac_jax_section(cfg)
        out = cache / (f"peers_{cfg.peer_risk}_s0{cfg.s0:g}_xi{cfg.xi:g}_c{cfg.cost:g}"
                       f"_H{cfg.hidden}_S{cfg.seeds}_n{cfg.steps}_p{cfg.paths}_"
                       + "_".join(cfg.peer_policies) + ".json")
        out.write_text(json.dumps({"rows": rows, "load": load_average(),
                                   "config": vars(cfg)}, indent=1, default=str))
        print(markdown_table([peer_row(r) for r in rows]))
        print(f"wrote {out}")
        return
    out = cache / f"{setting_name(cfg)}.json"
    rec = json.loads(out.read_text()) if out.exists() else dict(
        setting=setting_name(cfg), s0=cfg.s0, lam=cfg.lam, xi=cfg.xi, cost=cfg.cost,
        hidden=cfg.hidden, seeds=cfg.seeds, steps=cfg.steps, paths=cfg.paths,
        stats_paths=cfg.stats_paths, test_paths=cfg.test_paths, eval_every=cfg.eval_every,
        inverse_every=cfg.inverse_every, paper=PAPER,
        machine=machine_info(), runs={}, **baselines(cfg))
    todo = [("adam", lr, None, None, 0.0, None, None) for lr in cfg.adam_lrs] + [
        ("kfac", lr, d, c, m, ie, sp) for sp in (cfg.stats_paths_list or [cfg.stats_paths])
        for ie in (cfg.inverse_everys or [cfg.inverse_every]) for m in cfg.momenta
        for c in cfg.kl_clips for d in cfg.dampings for lr in cfg.kfac_lrs]
    for opt, lr, damping, kl_clip, mom, ie, sp in todo:
        name = f"{opt} lr={lr:g}" + ("" if cfg.schedule == "constant" else f" {cfg.schedule}")
        if opt == "kfac":
            # Suffixes only where a value differs from the setting's record (older names stay).
            name += (f" damping={damping:g} kl_clip={kl_clip}" + (f" momentum={mom:g}" if mom
                     else "") + (f" inverse_every={ie}" if ie != rec["inverse_every"] else "")
                     + (f" stats_paths={sp}" if sp != rec["stats_paths"] else "")
                     + (f" adaptive={cfg.adaptive} min_damping={cfg.min_damping:g} "
                        f"damping_every={cfg.damping_every}" if cfg.adaptive != "none" else ""))
        if name in rec["runs"] and not cfg.force:
            print(f"  {name}: cached")
            continue
        rec["runs"][name] = run_one(cfg, opt, lr, damping, kl_clip, mom, ie, sp,
                                    cfg.adaptive)
        out.write_text(json.dumps(rec, indent=1))
    rows = [summary_row(rec, c) for c in (combine(rec, sched) for sched in schedules(rec))
            if c is not None]
    if rows:
        print(markdown_table(rows))
    print(f"wrote {out} ({time.perf_counter() - t0:.0f} s, peak {peak_memory_mb():.0f} MB)")


if __name__ == "__main__":
    main()
