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
from _harness import markdown_table, peak_memory_mb, time_call, time_jitted, write_results  # noqa: E402

import optlib  # noqa: E402
from optlib.bilevel import (  # noqa: E402
    BOREP,
    F2SA,
    SOBA,
    ImplicitDiff,
    Penalty,
    ScaleBiO,
    Unrolled,
    normalized_momentum,
    problems,
)

jax.config.update("jax_enable_x64", True)


# ------------------------------------------------------------------ jaxopt peer


def jaxopt_aid(problem, outer_lr, inner_maxiter=100, outer="sgd"):
    """benchopt's jaxopt_GD: implicit hypergradient through jaxopt.GradientDescent.

    The outer update is plain GD (as in benchopt) or Adam (the same outer optimizer as the
    optlib ImplicitDiff row it is compared with).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import jaxopt

    def make_run(num_steps):
        def run(x0, y0, inner_data, outer_data):
            inner = jaxopt.GradientDescent(
                fun=lambda y, x, d: problem.inner(x, y, d), maxiter=inner_maxiter, tol=1e-10,
                implicit_diff=True, implicit_diff_solve=jaxopt.linear_solve.solve_cg)

            def value(x, y):
                y_star = inner.run(y, x, inner_data).params
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


def ijcnn1_section(quick):
    n = 10_000  # first 10,000 training rows: keeps the off-clock evaluation affordable
    full = problems.ijcnn1_regularization(jax.random.key(0), num_train=n)
    batch = problems.ijcnn1_regularization(jax.random.key(0), num_train=n, inner_batch_size=256,
                                           outer_batch_size=256)
    params0 = (full.x0, full.y0)
    args = (full.inner_data, full.outer_data)

    inner_solver = optlib.OptaxSolver(lambda w, x, d: full.problem.inner(x, w, d), optax.lbfgs(),
                                      tol=1e-9)

    @jax.jit
    def val_loss(x):
        w = optlib.run(inner_solver, full.y0, x, full.inner_data, max_steps=100).params
        return full.problem.outer(x, w, full.outer_data)

    cache = {}

    def metric(x):
        key = np.asarray(x).tobytes()
        if key not in cache:
            cache[key] = float(val_loss(jnp.asarray(x)))
        return cache[key]

    # (max steps, record every) for full-batch hypergradient methods and for stochastic ones
    budget = {"full": (150, 3) if quick else (200, 4), "stoch": (3000, 50) if quick else (5000, 50)}
    fb, sb = full.problem, batch.problem
    repeats = 3 if quick else 5
    const = {"power": 0.0}
    # Each method gets the benchopt-style plain GD outer step (lr 10; the hypergradient of the
    # log-regularization is small) and an Adam alternative; the best of the two is kept.
    def outer(kind):
        return (optax.sgd, {"learning_rate": 10.0}) if kind == "sgd" else (
            optax.adam, {"learning_rate": 0.1})

    grids = {
        "ImplicitDiff (L-BFGS inner, CG, full batch)": [(f"{kind} outer", ImplicitDiff(
            fb, outer_optimizer=outer(kind)[0], outer_hyperparams=outer(kind)[1],
            inner_optimizer=optax.lbfgs(), inner_hyperparams=None, inner_steps=100,
            inner_tol=1e-8, linear_solver=optlib.CG(rtol=1e-8, max_iter=100)))
            for kind in ("sgd", "adam")],
        "SOBA (batch 256)": [(f"lr={lr}", SOBA(sb, outer_hyperparams={"learning_rate": lr,
                                                                      "power": 0.5},
                                               inner_hyperparams={"learning_rate": 1.0, **const}))
                             for lr in (10.0, 30.0)],
        "BOREP (batch 256)": [(f"lr={lr}", BOREP(
            sb, outer_optimizer=normalized_momentum(optax.exponential_decay(lr, 300, 0.7), 0.9),
            inner_hyperparams={"learning_rate": 1.0}, linear_system_lr=0.5)) for lr in (0.1, 0.3)],
        "Penalty single loop (batch 256)": [(f"{kind} outer", Penalty(
            sb, sigma=1e-2, sigma0=1.0, variant="single_loop", outer_optimizer=outer(kind)[0],
            outer_hyperparams=outer(kind)[1], inner_hyperparams={"learning_rate": 1.0}))
            for kind in ("sgd", "adam")],
        "F2SA (batch 256, benchopt schedule)": [(f"step={lr}", F2SA(sb, step_size=lr))
                                                for lr in (0.1, 1.0)],
    }
    key = jax.random.key(1)
    traces = {}
    print("ijcnn1: collecting traces")
    for name, cands in grids.items():
        for label, solver in cands:
            needs_key = solver.problem.stochastic
            max_steps, every = budget["stoch" if needs_key else "full"]
            steps, xs = optlib_trace(solver, params0, args, max_steps, every,
                                     key if needs_key else None)
            traces[(name, label)] = (steps, xs)
    peer_grid = [("sgd outer", jaxopt_aid(fb, 10.0, inner_maxiter=100)),
                 ("adam outer", jaxopt_aid(fb, 0.1, inner_maxiter=100, outer="adam"))]
    max_steps, every = budget["full"]
    for label, make_run in peer_grid:
        _, xs = jax.jit(make_run(max_steps))(params0[0], params0[1], *args)
        xs = np.asarray(xs)[every - 1::every]
        traces[("peer", label)] = (np.arange(every, max_steps + 1, every), xs)
    best_val = min(min(metric(x) for x in xs if np.all(np.isfinite(x)))
                   for _, xs in traces.values())
    target = best_val + 1e-3
    init_val = metric(np.asarray(full.x0))
    print(f"ijcnn1: validation loss at x0 {init_val:.5f}, best {best_val:.5f}, target {target:.5f}")
    rows = []
    for name, cands in grids.items():
        needs_key = cands[0][1].problem.stochastic
        max_steps, every = budget["stoch" if needs_key else "full"]
        rows.append(time_to_target(name, cands, params0, args, metric, target, max_steps, every,
                                   key=key if needs_key else None, repeats=repeats))
    max_steps, every = budget["full"]
    peer = time_to_target("jaxopt implicit diff (peer)", peer_grid, params0, args, metric,
                          target, max_steps, every, peer=True, repeats=repeats)
    return rows, peer, {"best_val": best_val, "target": target, "init_val": init_val}


# ------------------------------------------------------------------ vmapped sweep


def sweep_section(quick, dim_outer=10, dim_inner=100):
    quad = problems.quadratic(jax.random.key(1), dim_outer=dim_outer, dim_inner=dim_inner)
    solver = Penalty(quad.problem, sigma=1e-2, sigma0=1e-2,
                     outer_hyperparams={"learning_rate": 0.5},
                     inner_hyperparams={"learning_rate": 1.0}, inner_steps=10)
    steps = 200 if quick else 400
    lrs, sigmas = np.meshgrid(np.linspace(0.1, 0.8, 4), np.array([1e-1, 3e-2, 1e-2, 3e-3]))
    lrs, sigmas = jnp.asarray(lrs.ravel()), jnp.asarray(sigmas.ravel())
    params0 = (quad.x0, quad.y0)

    def one(lr, sigma, params0, inner_data, outer_data):
        s = dataclasses.replace(solver, sigma=sigma, sigma0=sigma,
                                outer_hyperparams={"learning_rate": lr})
        return optlib.run(s, params0, inner_data, outer_data, max_steps=steps).params[0]

    args = (params0, quad.inner_data, quad.outer_data)
    vm = jax.vmap(one, in_axes=(0, 0, None, None, None))
    vstats = time_jitted(vm, lrs, sigmas, *args, repeats=5)
    single = jax.jit(one)
    jax.block_until_ready(single(lrs[0], sigmas[0], *args))
    lstats = time_call(lambda: [single(lrs[i], sigmas[i], *args) for i in range(16)], repeats=5)
    out_v = vm(lrs, sigmas, *args)
    out_l = jnp.stack([single(lrs[i], sigmas[i], *args) for i in range(16)])
    agree = float(jnp.max(jnp.abs(out_v - out_l)))
    return {"problem": f"quadratic {dim_outer}x{dim_inner}", "configs": 16, "steps_each": steps,
            "vmap_s": vstats["median_s"],
            "vmap_compile_s": vstats["compile_s"], "loop_s": lstats["median_s"],
            "throughput_ratio": lstats["median_s"] / vstats["median_s"],
            "max_abs_difference": agree}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sections", default="quadratic,ijcnn1,sweep",
                        help="comma-separated subset of quadratic, ijcnn1, sweep")
    args = parser.parse_args()
    sections = set(args.sections.split(","))
    start = time.perf_counter()
    cols = ["solver", "config", "steps", "time_s", "iqr_s", "compile_s", "peer_ratio"]

    nan_row = {"solver": "-", "time_s": float("nan")}
    q_rows, q_peer, i_rows, i_peer, i_meta, sweep = [], dict(nan_row), [], dict(nan_row), {
        "best_val": float("nan"), "target": float("nan"), "init_val": float("nan")}, []
    if "quadratic" in sections:
        q_rows, q_peer = quadratic_section(args.quick)
    for r in q_rows:
        r["peer_ratio"] = q_peer["time_s"] / r["time_s"]
    q_peer["peer_ratio"] = 1.0
    if "ijcnn1" in sections:
        i_rows, i_peer, i_meta = ijcnn1_section(args.quick)
    for r in i_rows:
        r["peer_ratio"] = i_peer["time_s"] / r["time_s"]
    i_peer["peer_ratio"] = 1.0
    if "sweep" in sections:
        sweep = [sweep_section(args.quick, 5, 10), sweep_section(args.quick, 10, 100)]

    print("\n### Quadratic (dim_outer 10, dim_inner 100): time to "
          "||grad Phi||^2 <= 1e-6 x initial\n")
    print(markdown_table(q_rows + [q_peer], cols))
    print(f"\n### ijcnn1: time to validation loss <= {i_meta['target']:.5f} "
          f"(best observed {i_meta['best_val']:.5f} + 1e-3; at x0 {i_meta['init_val']:.5f})\n")
    print(markdown_table(i_rows + [i_peer], cols))
    print("\n### vmapped sweep of 16 Penalty configurations vs a Python loop\n")
    print(markdown_table(sweep))
    best = min((r for r in i_rows if np.isfinite(r["time_s"])), key=lambda r: r["time_s"],
               default=None)
    if best is not None:
        print(f"\nijcnn1: best optlib solver {best['solver']} is "
              f"{i_peer['time_s'] / best['time_s']:.2f}x faster than jaxopt AID (target >= 2x)")
    for row in sweep:
        print(f"sweep throughput ratio ({row['problem']}) {row['throughput_ratio']:.2f}x "
              "(target >= 4x)")
    print(f"peak memory {peak_memory_mb():.0f} MB, total {time.perf_counter() - start:.0f} s")
    path = write_results("bilevel", {"quick": args.quick, "sections": sorted(sections),
                                     "quadratic": q_rows + [q_peer],
                                     "ijcnn1": i_rows + [i_peer], "ijcnn1_meta": i_meta,
                                     "sweep": sweep, "peak_memory_mb": peak_memory_mb()})
    print("wrote", path)


if __name__ == "__main__":
    main()
