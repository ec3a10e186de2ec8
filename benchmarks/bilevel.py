"""Bilevel benchmark: time to target for every optlib solver vs jaxopt implicit differentiation.

Problems (float64 on CPU):

* quadratic bilevel problem (closed form): target ``||grad Phi(x)||^2 <= 1e-6 ||grad Phi(x0)||^2``;
* ijcnn1 per-feature L2 regularization of logistic regression (first 10,000 training rows,
  10,000 validation rows): target validation loss
  ``f(x, y*(x))`` (``y*`` by an accurate L-BFGS solve off the clock) within ``1e-3`` of the best
  value any run reached.

Method: each solver runs once with a ``History`` of its outer iterates; the first recorded step
that meets the target gives ``k``; then a fresh compiled run of exactly ``k`` steps is timed
(median of repeats, ``block_until_ready``; compile time apart). The peer is jaxopt's implicit
differentiation the way benchopt's ``jaxopt_GD`` solver uses it (warm-started
``jaxopt.GradientDescent`` inner solve with ``implicit_diff=True``, plain GD outer loop, all in
one ``lax.scan``). Each method gets a small step-size grid and keeps its best time.

A second part times a vmapped sweep of 16 ``Penalty`` configurations against a Python loop over
the same 16 runs (each compiled once).

    python benchmarks/bilevel.py [--quick]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import markdown_table, peak_memory_mb, time_jitted, write_results  # noqa: E402

import optlib  # noqa: E402
from optlib.bilevel import (  # noqa: E402
    BOREP,
    F2SA,
    SOBA,
    ImplicitDiff,
    Penalty,
    ScaleBiO,
    Unrolled,
    inverse_power_sgd,
    normalized_momentum,
    problems,
)

jax.config.update("jax_enable_x64", True)


# ------------------------------------------------------------------ jaxopt peer


def jaxopt_aid(problem, outer_lr, inner_maxiter=100, outer="sgd", inner="gd"):
    """jaxopt implicit differentiation, warm-started, all in one ``lax.scan``.

    ``inner="gd"`` is benchopt's jaxopt_GD (``jaxopt.GradientDescent``, tol 1e-10);
    ``inner="lbfgs"`` uses ``jaxopt.LBFGS`` (tol 1e-8), jaxopt's stronger smooth solver.
    Both differentiate with ``implicit_diff_solve=solve_cg``. The outer update is plain
    GD (as in benchopt) or Adam (the same outer optimizer as the optlib rows).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import jaxopt

    def make_run(num_steps):
        def run(x0, y0, inner_data, outer_data):
            fun = lambda y, x, d: problem.inner(x, y, d)  # noqa: E731
            if inner == "lbfgs":
                inner_solver = jaxopt.LBFGS(fun=fun, maxiter=inner_maxiter, tol=1e-8,
                                            implicit_diff=True,
                                            implicit_diff_solve=jaxopt.linear_solve.solve_cg)
            else:
                inner_solver = jaxopt.GradientDescent(
                    fun=fun, maxiter=inner_maxiter, tol=1e-10, implicit_diff=True,
                    implicit_diff_solve=jaxopt.linear_solve.solve_cg)

            def value(x, y):
                y_star = inner_solver.run(y, x, inner_data).params
                return problem.outer(x, y_star, outer_data), y_star

            tx = optax.adam(outer_lr) if outer == "adam" else optax.sgd(outer_lr)

            def step(carry, _):
                x, y, s = carry
                (_, y_star), g = jax.value_and_grad(value, has_aux=True)(x, y)
                u, s = tx.update(g, s, x)
                x = optax.apply_updates(x, u)
                return (x, jax.lax.stop_gradient(y_star), s), x

            (x, y, _), xs = jax.lax.scan(step, (x0, y0, tx.init(x0)), None, length=num_steps)
            return x, xs

        return run

    return make_run


# ------------------------------------------------------------------ helpers


def interleave(fns, args, repeats):
    """Round-robin wall times of ready callables (first call apart, as compile time)."""
    out = {}
    for name, fn in fns.items():
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        out[name] = {"compile_s": time.perf_counter() - start, "times": []}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            jax.block_until_ready(fn(*args))
            out[name]["times"].append(time.perf_counter() - start)
    for stats in out.values():
        ts = sorted(stats.pop("times"))
        stats.update(median_s=float(np.median(ts)), min_s=ts[0],
                     iqr_s=float(np.subtract(*np.percentile(ts, [75, 25]))))
    return out


def first_hit(steps, xs, metric, target):
    for k, x in zip(steps, xs, strict=True):
        if metric(x) <= target:
            return int(k)
    return None


def optlib_trace(solver, params0, args, max_steps, every, key=None):
    result = optlib.run(solver, params0, *args, max_steps=max_steps, key=key,
                        hooks=[optlib.History(every=every, params=True)])
    tr = result.history.valid()
    return tr.step, tr.params[0]


def time_optlib(solver, params0, args, k, key=None, repeats=5):
    def fn(solver, params0, args, key):
        return optlib.run(solver, params0, *args, max_steps=k, key=key).params

    return time_jitted(fn, solver, params0, args, key, repeats=repeats)


def time_peer(make_run, params0, args, k, repeats=5):
    run = make_run(k)
    return time_jitted(lambda p, a: run(p[0], p[1], *a)[0], params0, args, repeats=repeats)


def time_to_target(name, candidates, params0, args, metric, target, max_steps, every,
                   key=None, peer=False, repeats=5):
    """Best (fastest) time to target over a grid of configurations."""
    best = None
    for label, solver in candidates:
        if peer:
            _, xs = jax.jit(solver(max_steps))(params0[0], params0[1], *args)
            xs = np.asarray(xs)[every - 1::every]
            steps = np.arange(every, max_steps + 1, every)
        else:
            steps, xs = optlib_trace(solver, params0, args, max_steps, every, key)
        k = first_hit(steps, xs, metric, target)
        if k is None:
            print(f"  {name} [{label}]: target not reached in {max_steps} steps")
            continue
        stats = (time_peer(solver, params0, args, k, repeats) if peer
                 else time_optlib(solver, params0, args, k, key, repeats))
        print(f"  {name} [{label}]: {k} steps, {stats['median_s']:.4f} s "
              f"(compile {stats['compile_s']:.2f} s)")
        if best is None or stats["median_s"] < best["time_s"]:
            best = {"solver": name, "config": label, "steps": k, "time_s": stats["median_s"],
                    "iqr_s": stats["iqr_s"], "compile_s": stats["compile_s"]}
    return best or {"solver": name, "config": "-", "steps": "not reached", "time_s": float("nan"),
                    "iqr_s": float("nan"), "compile_s": float("nan")}


# ------------------------------------------------------------------ quadratic


def quadratic_section(quick):
    quad = problems.quadratic(jax.random.key(0), dim_outer=10, dim_inner=100)
    p = quad.problem
    params0 = (quad.x0, quad.y0)
    args = (quad.inner_data, quad.outer_data)
    g0 = float(jnp.sum(quad.hypergradient(quad.x0) ** 2))
    hyper = jax.jit(quad.hypergradient)
    metric = lambda x: float(jnp.sum(hyper(jnp.asarray(x)) ** 2))  # noqa: E731
    target = 1e-6 * g0
    max_steps = 1000 if quick else 3000
    every = 5
    lrs = (1.0,) if quick else (0.5, 1.0)
    const = {"power": 0.0}
    grids = {
        "ImplicitDiff (CG)": [(f"lr={lr}", ImplicitDiff(
            p, outer_hyperparams={"learning_rate": lr}, inner_hyperparams={"learning_rate": 1.0},
            inner_steps=100, inner_tol=1e-8, linear_solver=optlib.CG(rtol=1e-8, max_iter=100)))
            for lr in lrs],
        "Unrolled (50 steps)": [(f"lr={lr}", Unrolled(
            p, outer_hyperparams={"learning_rate": lr}, inner_hyperparams={"learning_rate": 1.0},
            inner_steps=50)) for lr in lrs],
        "SOBA": [(f"lr={lr}", SOBA(p, outer_hyperparams={"learning_rate": lr, **const},
                                   inner_hyperparams={"learning_rate": 1.0, **const}))
                 for lr in lrs],
        "BOREP": [(f"lr={lr}", BOREP(
            p, outer_optimizer=normalized_momentum(optax.exponential_decay(lr, 50, 0.7), 0.5),
            inner_hyperparams={"learning_rate": 1.0}, linear_system_lr=1.0)) for lr in lrs],
        "Penalty (double loop, sigma=1e-4)": [(f"lr={lr}", Penalty(
            p, sigma=1e-4, sigma0=1.0, sigma_decay=1.0, outer_hyperparams={"learning_rate": lr},
            inner_hyperparams={"learning_rate": 1.0}, inner_steps=10)) for lr in lrs],
        "F2SA (constant steps)": [(f"lr={lr}", F2SA(
            p, step_size=lr, lmbda0=1.0, delta_lmbda=1.0, exponents=(0.0, 0.0, 0.0, 0.0)))
            for lr in lrs],
        "ScaleBiO (alpha=1e3)": [(f"lr={lr}", ScaleBiO(
            p, alpha=1e3, outer_optimizer=optax.sgd, outer_hyperparams={"learning_rate": lr / 10},
            inner_optimizer=optax.sgd, inner_hyperparams={"learning_rate": 1e-3}))
            for lr in lrs],
    }
    rows = []
    print("quadratic: target ||grad Phi||^2 <= 1e-6 ||grad Phi(x0)||^2")
    for name, cands in grids.items():
        rows.append(time_to_target(name, cands, params0, args, metric, target, max_steps, every,
                                   repeats=3 if quick else 5))
    peer = time_to_target("jaxopt implicit diff (peer)",
                          [(f"lr={lr}", jaxopt_aid(p, lr)) for lr in lrs], params0, args,
                          metric, target, max_steps, every, peer=True, repeats=3 if quick else 5)
    return rows, peer


# ------------------------------------------------------------------ ijcnn1


def ijcnn1_section(quick, which="full", target=None, gd_peer=True, full_grid=False):
    """Time to a validation-loss target on ijcnn1.

    ``which="full"``: the full-batch hypergradient methods and the jaxopt peers; the
    target is the best validation loss their traces reach plus 1e-3.
    ``which="stochastic"``: the minibatch solvers against a ``target`` given by the
    full-batch invocation (so both tables share one target).
    """
    n = 10_000  # first 10,000 training rows: keeps the off-clock evaluation affordable
    full = problems.ijcnn1_regularization(jax.random.key(0), num_train=n)
    params0 = (full.x0, full.y0)
    args = (full.inner_data, full.outer_data)
    inner_solver = optlib.OptaxSolver(lambda w, x, d: full.problem.inner(x, w, d), optax.lbfgs(),
                                      tol=1e-9)

    @jax.jit
    def val_loss(x):  # f(x, w*(x)) with w* refitted accurately by L-BFGS, off the clock
        w = optlib.run(inner_solver, full.y0, x, full.inner_data, max_steps=100).params
        return full.problem.outer(x, w, full.outer_data)

    def val_losses(xs):  # a Python loop: compiling the vmapped L-BFGS took minutes
        return np.array([float(val_loss(x)) for x in xs])

    fb = full.problem
    adam = {"learning_rate": 0.1}
    if which == "full":
        max_steps, every = 150, 2
        grids = {
            "ImplicitDiff (Newton inner, direct adjoint)": ImplicitDiff(
                fb, outer_optimizer=optax.adam, outer_hyperparams=adam, inner_optimizer="newton",
                inner_hyperparams=None, inner_steps=20, inner_tol=1e-8,
                linear_solver=optlib.Direct()),
            "ImplicitDiff (one Newton step per outer step)": ImplicitDiff(
                fb, outer_optimizer=optax.adam, outer_hyperparams=adam, inner_optimizer="newton",
                inner_hyperparams=None, inner_steps=1, inner_tol=1e-8,
                linear_solver=optlib.Direct()),
            "jaxopt AID, LBFGS inner": jaxopt_aid(fb, 0.1, inner_maxiter=100, outer="adam",
                                                 inner="lbfgs"),
        }
        if gd_peer:
            grids["jaxopt AID, GradientDescent inner (benchopt jaxopt_GD)"] = jaxopt_aid(
                fb, 0.1, inner_maxiter=100, outer="adam")
        key = None
    else:
        max_steps, every = (2000, 50) if quick else (8000, 100)
        sb = problems.ijcnn1_regularization(jax.random.key(0), num_train=n, inner_batch_size=256,
                                            outer_batch_size=256).problem
        grids = stochastic_grid(sb, full_grid)
        key = jax.random.key(1)
    traces = {}
    for name, solver in grids.items():
        start = time.perf_counter()
        if callable(solver) and not hasattr(solver, "step"):  # a jaxopt peer
            xs = np.asarray(jax.jit(solver(max_steps))(*params0, *args)[1])
            steps, xs = np.arange(1, max_steps + 1)[every - 1::every], xs[every - 1::every]
        else:
            steps, xs = optlib_trace(solver, params0, args, max_steps, every, key)
            steps, xs = np.asarray(steps), np.asarray(xs)
        finite = np.all(np.isfinite(xs), axis=1)
        vals = np.full(len(xs), np.inf)
        vals[finite] = np.asarray(val_losses(jnp.asarray(xs[finite])))
        traces[name] = (steps, vals)
        print(f"  {name}: trace {time.perf_counter() - start:.1f} s, best {vals.min():.5f}",
              flush=True)
    init_val = float(val_losses(full.x0[None])[0])
    best_val = min(v.min() for _, v in traces.values())
    if target is None:
        target = best_val + 1e-3
    print(f"ijcnn1 ({which}): validation loss at x0 {init_val:.5f}, best {best_val:.5f}, "
          f"target {target:.5f}", flush=True)
    fns, rows = {}, {}
    for name, solver in grids.items():
        steps, vals = traces[name]
        hit = np.nonzero(vals <= target)[0]
        quality = {"best_val": float(vals.min()), "best_step": int(steps[np.argmin(vals)]),
                   "final_val": float(vals[-1])}
        if not len(hit):
            rows[name] = {"solver": name, "steps": "not reached", "time_s": float("nan"),
                          "iqr_s": float("nan"), "compile_s": float("nan"), **quality}
            continue
        k = int(steps[hit[0]])
        rows[name] = {"solver": name, "steps": k, **quality}
        if callable(solver) and not hasattr(solver, "step"):
            run_k = solver(k)
            fns[name] = jax.jit(lambda p, a, run_k=run_k: run_k(*p, *a)[0])
        else:
            fns[name] = jax.jit(lambda p, a, s=solver, k=k: optlib.run(
                s, p, *a, max_steps=k, key=key).params[0])
    # The benchopt-style GradientDescent peer is ~5x slower than the rest; to keep the locked
    # run short it is timed once, after the others (which are interleaved).
    slow = {n for n in fns if "GradientDescent" in n}
    stats = interleave({n: (lambda f=f: f(params0, args)) for n, f in fns.items()
                        if n not in slow}, (), repeats=3 if quick else 5)
    stats.update(interleave({n: (lambda f=fns[n]: f(params0, args)) for n in slow}, (),
                            repeats=1))
    for name, st in stats.items():
        rows[name].update(time_s=st["median_s"], iqr_s=st["iqr_s"], compile_s=st["compile_s"])
    return list(rows.values()), {"best_val": best_val, "target": target, "init_val": init_val}


def adam_decay(learning_rate, power):
    """Adam with step ``learning_rate / (t + 1) ** power`` (both traced)."""
    return optax.adam(lambda t: learning_rate / (t + 1.0) ** power)


def normalized_momentum_decay(learning_rate, power, beta):
    """BO-REP's normalized momentum with step ``learning_rate / (t + 1) ** power``."""
    return normalized_momentum(lambda t: learning_rate / (t + 1.0) ** power, beta)


def stochastic_grid(sb, full_grid=False):
    """Minibatch solvers on ijcnn1 (batch 256) with decaying steps.

    By default the best setting of each solver on the small grid of ``full_grid=True``
    (``--stochastic-grid``; best validation loss within 4,000-8,000 steps, RESULTS.md).
    Steps decay as ``c / (t + 1) ** power``: ``power = 1/2`` on both levels is benchopt's
    SOBA schedule; F2SA keeps its own exponents (5/7, 4/7, 4/7, 1/7).
    """

    def soba(olr, opow, ilr, ipow):
        return SOBA(sb, outer_optimizer=adam_decay,
                    outer_hyperparams={"learning_rate": olr, "power": opow},
                    inner_hyperparams={"learning_rate": ilr, "power": ipow})

    def borep(lr, nu, period=2, inner_steps=10):
        return BOREP(sb, outer_optimizer=normalized_momentum_decay,
                     outer_hyperparams={"learning_rate": lr, "power": 0.5, "beta": 0.9},
                     inner_hyperparams={"learning_rate": 0.3}, linear_system_lr=nu,
                     period=period, inner_steps=inner_steps)

    def penalty(olr, opow, ipow, sigma=1e-2):
        return Penalty(sb, sigma=sigma, sigma0=1.0, variant="single_loop",
                       outer_optimizer=adam_decay,
                       outer_hyperparams={"learning_rate": olr, "power": opow},
                       inner_optimizer=inverse_power_sgd,
                       inner_hyperparams={"learning_rate": 0.3, "power": ipow})

    def f2sa(step, ratio):
        return F2SA(sb, step_size=step, outer_ratio=ratio, lmbda0=10.0, delta_lmbda=0.01)

    best = {  # the lowest best validation loss of each solver on the grid below
        "SOBA (batch 256)": soba(0.1, 0.5, 1.0, 0.0),
        "BOREP (batch 256)": borep(1.0, 0.1, period=1, inner_steps=10),
        "Penalty single loop (batch 256)": penalty(0.3, 0.5, 0.0),
        "F2SA (batch 256)": f2sa(1.0, 0.01),
    }
    if not full_grid:
        return best
    grid = {}
    for olr in (0.03, 0.1, 0.3):
        for ilr in (0.3, 1.0):
            grid[f"SOBA Adam {olr}/sqrt(t+1), inner {ilr}/sqrt(t+1)"] = soba(olr, 0.5, ilr, 0.5)
    for olr in (0.1, 0.3):
        for pw in (0.5, 1.0):
            for ilr in (0.3, 1.0):
                grid[f"SOBA Adam {olr}/(t+1)^{pw}, inner {ilr}"] = soba(olr, pw, ilr, 0.0)
    for lr in (0.1, 0.3, 1.0):
        for nu in (0.1, 0.3):
            grid[f"BOREP nm {lr}/sqrt(t+1), nu {nu}"] = borep(lr, nu)
    for n_inner, period in ((50, 1), (10, 1)):
        grid[f"BOREP nm 1.0/sqrt(t+1), nu 0.1, N={n_inner}, I={period}"] = borep(
            1.0, 0.1, period, n_inner)
    for olr in (0.03, 0.1, 0.3):
        for sigma in (1e-2, 1e-3):
            grid[f"Penalty SL Adam {olr}/sqrt(t+1), inner 0.3/sqrt(t+1), sigma {sigma}"] = (
                penalty(olr, 0.5, 0.5, sigma))
        grid[f"Penalty SL Adam {olr}/sqrt(t+1), inner 0.3"] = penalty(olr, 0.5, 0.0)
    for step in (0.1, 0.3, 1.0):
        for ratio in (0.01, 0.1):
            grid[f"F2SA step {step}, outer_ratio {ratio}"] = f2sa(step, ratio)
    grid["F2SA step 1.0, outer_ratio 0.001"] = f2sa(1.0, 0.001)
    return grid


# ------------------------------------------------------------------ vmapped sweep


def sweep_section(quick, dim_outer=10, dim_inner=100, ijcnn1=False, driver="run"):
    """16 Penalty configurations (4 outer steps x 4 sigmas): one vmapped program vs a loop.

    ``driver="run"`` uses ``optlib.run`` (``while_loop``: under ``vmap`` every step
    selects per element between the old and new carry); ``"run_steps"`` uses
    ``optlib.run_steps`` (``scan``, a fixed step count, no per-element selects). The
    loop and the vmapped program always use the same driver.
    """
    if ijcnn1:
        data = problems.ijcnn1_regularization(jax.random.key(0), num_train=10_000)
        problem, x0, y0 = data.problem, data.x0, data.y0
        inner_data, outer_data = data.inner_data, data.outer_data
        label = "ijcnn1 (10,000 x 22)"
        outer, inner_lr, steps = (optax.adam, np.linspace(0.02, 0.1, 4)), 1.0, 20 if quick else 50
    else:
        quad = problems.quadratic(jax.random.key(1), dim_outer=dim_outer, dim_inner=dim_inner)
        problem, x0, y0 = quad.problem, quad.x0, quad.y0
        inner_data, outer_data = quad.inner_data, quad.outer_data
        label = f"quadratic {dim_outer}x{dim_inner}"
        outer, inner_lr, steps = (optax.sgd, np.linspace(0.1, 0.8, 4)), 1.0, 200 if quick else 400
    solver = Penalty(problem, sigma=1e-2, sigma0=1e-2, outer_optimizer=outer[0],
                     outer_hyperparams={"learning_rate": 0.5},
                     inner_hyperparams={"learning_rate": inner_lr}, inner_steps=10)
    lrs, sigmas = np.meshgrid(outer[1], np.array([1e-1, 3e-2, 1e-2, 3e-3]))
    lrs, sigmas = jnp.asarray(lrs.ravel()), jnp.asarray(sigmas.ravel())
    params0 = (x0, y0)

    def one(lr, sigma, params0, inner_data, outer_data):
        s = dataclasses.replace(solver, sigma=sigma, sigma0=sigma,
                                outer_hyperparams={"learning_rate": lr})
        if driver == "run_steps":
            return optlib.run_steps(s, params0, inner_data, outer_data,
                                    num_steps=steps).params[0]
        return optlib.run(s, params0, inner_data, outer_data, max_steps=steps).params[0]

    args = (params0, inner_data, outer_data)
    vm = jax.vmap(one, in_axes=(0, 0, None, None, None))
    single = jax.jit(one)

    def loop(lrs, sigmas, *args):
        return [single(lrs[i], sigmas[i], *args) for i in range(16)]

    # Interleaved: the vmapped program and the loop see the same background load.
    stats = interleave({"vmap": jax.jit(vm), "loop": loop}, (lrs, sigmas, *args),
                       repeats=3 if quick else 5)
    out_v = vm(lrs, sigmas, *args)
    out_l = jnp.stack(loop(lrs, sigmas, *args))
    agree = float(jnp.max(jnp.abs(out_v - out_l)))
    return {"problem": label, "driver": driver, "configs": 16, "steps_each": steps,
            "vmap_s": stats["vmap"]["median_s"], "vmap_compile_s": stats["vmap"]["compile_s"],
            "loop_s": stats["loop"]["median_s"],
            "throughput_ratio": stats["loop"]["median_s"] / stats["vmap"]["median_s"],
            "max_abs_difference": agree}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sections", default="quadratic,ijcnn1,sweep",
                        help="comma-separated subset of quadratic, ijcnn1, ijcnn1_stochastic, "
                             "sweep, sweep_ijcnn1")
    parser.add_argument("--skip-gd-peer", action="store_true",
                        help="leave out the (slow) GradientDescent-inner jaxopt peer")
    parser.add_argument("--stochastic-grid", action="store_true",
                        help="ijcnn1_stochastic: run the whole tuning grid, not its best rows")
    parser.add_argument("--ijcnn1-target", type=float, default=None,
                        help="validation-loss target for ijcnn1_stochastic (printed by the "
                             "ijcnn1 section)")
    args = parser.parse_args()
    sections = set(args.sections.split(","))
    start = time.perf_counter()
    payload = {"quick": args.quick, "sections": sorted(sections)}
    cols = ["solver", "config", "steps", "time_s", "iqr_s", "compile_s", "peer_ratio"]
    if "quadratic" in sections:
        q_rows, q_peer = quadratic_section(args.quick)
        for r in q_rows + [q_peer]:
            r["peer_ratio"] = q_peer["time_s"] / r["time_s"]
        print("\n### Quadratic (dim_outer 10, dim_inner 100): time to "
              "||grad Phi||^2 <= 1e-6 x initial\n")
        print(markdown_table(q_rows + [q_peer], cols))
        payload["quadratic"] = q_rows + [q_peer]
    for which, name in (("full", "ijcnn1"), ("stochastic", "ijcnn1_stochastic")):
        if name not in sections:
            continue
        rows, meta = ijcnn1_section(args.quick, which,
                                    args.ijcnn1_target if which == "stochastic" else None,
                                    gd_peer=not args.skip_gd_peer,
                                    full_grid=args.stochastic_grid)
        peers = [r for r in rows if r["solver"].startswith("jaxopt")]
        best_peer = min((r["time_s"] for r in peers if np.isfinite(r["time_s"])),
                        default=float("nan"))
        for r in rows:
            r["best_peer_ratio"] = best_peer / r["time_s"]
        print(f"\n### {name}: time to validation loss <= {meta['target']:.5f} "
              f"(at x0 {meta['init_val']:.5f}; best in these traces {meta['best_val']:.5f})\n")
        print(markdown_table(rows, ["solver", "steps", "time_s", "iqr_s", "compile_s",
                                    "best_val", "best_step", "final_val", "best_peer_ratio"]))
        payload[name] = rows
        payload[name + "_meta"] = meta
    sweep = []
    if "sweep" in sections:
        sweep += [sweep_section(args.quick, d_out, d_in) for d_out, d_in in ((5, 10), (10, 100))]
    if "sweep_ijcnn1" in sections:
        sweep.append(sweep_section(args.quick, ijcnn1=True))
    if sweep:
        print("\n### vmapped sweep of 16 Penalty configurations vs a Python loop\n")
        print(markdown_table(sweep))
        payload["sweep"] = sweep
    print(f"peak memory {peak_memory_mb():.0f} MB, total {time.perf_counter() - start:.0f} s")
    payload["peak_memory_mb"] = peak_memory_mb()
    tag = "_".join(sorted(sections))
    print("wrote", write_results(f"bilevel_{tag}", payload))


if __name__ == "__main__":
    main()
