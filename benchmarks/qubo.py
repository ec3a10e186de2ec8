"""QUBO benchmark: slack-free dual methods on the shipped instances, and the annealing sampler
against dwave-samplers' SimulatedAnnealingSampler.

Part A runs every dual method on the shipped SAC-94 knapsacks, Sloane MIS graphs and TSPLIB
tours (instances of one kind are padded to one shape and solved as one vmapped batch, so each
method compiles once per kind) and reports variables (slack-free versus slack encoding),
feasibility, optimality gap against the verified optimum, duality gap and time.

Part B measures sampler throughput (attempted single-variable updates per ns) at equal work
(same QUBO, reads and sweeps) and time-to-target energy on dense random QUBOs (n = 64 and
1024) for optlib's SimulatedAnnealing (on one XLA host device, and with the replicas split over
two host devices, one per core) and dwave-samplers' SimulatedAnnealingSampler (single-threaded
C++).

Usage: python benchmarks/qubo.py [--quick] [--only mdkp,mis,tsp,samplers] [--methods a,b]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

# two XLA host devices (one per core) so the sampler comparison can split its replicas over
# both cores; must be set before jax initialises
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                           + " --xla_force_host_platform_device_count=2").strip()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import machine_info, markdown_table, peak_memory_mb, write_results  # noqa: E402

import optlib  # noqa: E402
from optlib.datasets import qubo_instance_names, qubo_instance_path, qubo_optimum  # noqa: E402
from optlib.qubo import (  # noqa: E402
    QUBO,
    AugmentedLagrangian,
    ConstrainedBinaryProblem,
    CuttingPlane,
    DualAveraging,
    ProximalBundle,
    SeparableSolver,
    SimulatedAnnealing,
    SubgradientDual,
    mdkp,
    mis,
    read_dimacs,
    read_mdkp,
    read_tsplib,
    slack_variable_count,
    tsp,
)


def _stack(trees):
    return jax.tree.map(lambda *a: jnp.stack(a), *trees)


def _run_batch(solver, problems, max_steps, key=None):
    """Runs ``solver`` on a stacked batch of problems (one compile); returns (result, seconds)."""
    lam0 = jnp.zeros((problems.objective.linear.shape[0], _num_multipliers(problems)))
    keys = jax.random.split(jax.random.key(0) if key is None else key, lam0.shape[0])

    def one(lam, prob, k):
        return optlib.run(solver, lam, prob, key=k, max_steps=max_steps)

    f = jax.jit(jax.vmap(one))
    t0 = time.perf_counter()
    jax.block_until_ready(f(lam0, problems, keys))
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = jax.block_until_ready(f(lam0, problems, keys))
    run_s = time.perf_counter() - t0
    return out, run_s, first - run_s


def _unstack(stacked):
    size = stacked.objective.linear.shape[0]
    return [jax.tree.map(lambda a, i=i: a[i], stacked) for i in range(size)]


def _num_multipliers(stacked):
    return (stacked.ineq_matrix.shape[-2] + stacked.eq_matrix.shape[-2]
            + stacked.pairs.shape[-2])


# ---------------------------------------------------------------- MDKP
def _mdkp_batch(names):
    insts = [read_mdkp(qubo_instance_path("mdkp", nm)) for nm in names]
    n_max = max(i.profits.size for i in insts)
    m_max = max(i.capacities.size for i in insts)
    probs, scales, counts = [], [], []
    for inst in insts:
        n, m = inst.profits.size, inst.capacities.size
        raw = mdkp(inst.profits, inst.weights, inst.capacities)
        counts.append((n, n + slack_variable_count(raw)))
        # normalise (profits by their max, rows by their capacity) so one set of hyperparameters
        # fits all instances, and pad with zero-profit items and always-satisfied rows
        s = inst.profits.max()
        p = np.zeros(n_max)
        p[:n] = inst.profits / s
        W = np.zeros((m_max, n_max))
        W[:m, :n] = inst.weights / inst.capacities[:, None]
        probs.append(mdkp(p, W, np.ones(m_max)))
        scales.append(s)
    return insts, _stack(probs), np.array(scales), counts


_METHODS: list[str] = []  # --methods: run only the dual methods whose label contains one of these


def _selected(methods):
    """``methods`` (a label -> solver dict) restricted to the ``--methods`` filter."""
    if not _METHODS:
        return methods
    return {k: v for k, v in methods.items() if any(m in k for m in _METHODS)}


def bench_mdkp(quick):
    names = qubo_instance_names("mdkp")
    if quick:
        names = names[:4]
    insts, batch, scales, counts = _mdkp_batch(names)
    steps = 60 if quick else 200
    sa = SimulatedAnnealing(num_reads=32 if quick else 64, num_sweeps=100)
    methods = {
        "subgradient (Polyak)": (SubgradientDual(SeparableSolver()), steps),
        "dual averaging": (DualAveraging(SeparableSolver(), step_size=0.05), steps),
        "proximal bundle": (ProximalBundle(SeparableSolver()), steps),
        "Kelley cutting plane": (CuttingPlane(SeparableSolver()), steps),
        "augmented Lagrangian + SA": (AugmentedLagrangian(sa, rho=2.0, rho_growth=1.5),
                                      30 if quick else 60),
    }
    from scipy.optimize import linprog

    lp = np.array([-linprog(-i.profits, A_ub=i.weights, b_ub=i.capacities, bounds=(0, 1),
                            method="highs").fun for i in insts])
    rows, per_instance = [], []
    for label, (solver, max_steps) in _selected(methods).items():
        out, run_s, compile_s = _run_batch(solver, batch, max_steps)
        primal = -np.asarray(out.state.best_primal) * scales
        dual = -np.asarray(out.state.best_dual) * scales
        opt = np.array([i.optimum for i in insts])
        feas = np.isfinite(primal) & np.array([
            bool(p.is_feasible(x)) for p, x in zip(_unstack(batch), np.asarray(out.state.best_x),
                                                  strict=True)])
        gap = (opt - primal) / opt
        dgap = np.where(np.isfinite(dual), (dual - primal) / primal, np.nan)
        lp_gap = np.where(np.isfinite(dual), (dual - lp) / lp, np.nan)
        rate = np.asarray(out.info.feasible_rate)
        rows.append({"method": label, "instances": len(names),
                     "feasible returned": f"{feas.mean():.0%}",
                     "median opt. gap": f"{np.median(gap):.2%}",
                     "worst opt. gap": f"{gap.max():.2%}",
                     "median dual gap": (f"{np.nanmedian(dgap):.2%}" if np.isfinite(dgap).any()
                                         else "n/a"),
                     "max bound - LP": (f"{np.nanmax(lp_gap):.1e}" if np.isfinite(lp_gap).any()
                                        else "n/a"),
                     "raw feasible rate": f"{rate.mean():.0%}",
                     "oracle calls (median)": int(np.median(np.asarray(out.num_steps))),
                     "run s (batch)": round(run_s, 2), "compile s": round(compile_s, 1)})
        for i, nm in enumerate(names):
            per_instance.append({"method": label, "instance": nm, "optimum": insts[i].optimum,
                                 "primal": float(primal[i]), "dual": float(dual[i]),
                                 "lp": float(lp[i]), "opt_gap": float(gap[i])})
    var_rows = [{"instance": nm, "n": c[0], "slack encoding": c[1],
                 "reduction": f"{1 - c[0] / c[1]:.0%}"} for nm, c in zip(names, counts,
                                                                       strict=True)]
    red = [1 - c[0] / c[1] for c in counts]
    summary = {"min_reduction": float(min(red)), "median_reduction": float(np.median(red))}
    return rows, var_rows, per_instance, summary


# ---------------------------------------------------------------- MIS
def _mis_batch(names):
    graphs = [read_dimacs(qubo_instance_path("mis", nm)) for nm in names]
    n_max = max(g.number_of_nodes() for g in graphs) + 2
    e_max = max(g.number_of_edges() for g in graphs)
    probs = []
    for g in graphs:
        base = mis(g)
        n, e = base.num_variables, base.pairs.shape[0]
        # pad with zero-weight dummy nodes; extra pair constraints all join two dummies
        lin = np.zeros(n_max)
        lin[:n] = -1.0
        pairs = np.full((e_max, 2), [n_max - 2, n_max - 1], np.int32)
        pairs[:e] = np.asarray(base.pairs)
        adj = np.zeros((n_max, n_max))
        adj[:n, :n] = np.asarray(base.data["adjacency"])
        adj[n_max - 2, n_max - 1] = adj[n_max - 1, n_max - 2] = 1
        empty = jnp.zeros((0, n_max))
        probs.append(ConstrainedBinaryProblem(
            QUBO(jnp.zeros((n_max, n_max)), jnp.asarray(lin), jnp.asarray(0.0)), empty,
            jnp.zeros(0), empty, jnp.zeros(0), jnp.asarray(pairs),
            {"adjacency": jnp.asarray(adj)}, "mis"))
    return graphs, _stack(probs)


def bench_mis(quick):
    names = qubo_instance_names("mis")
    graphs, batch = _mis_batch(names)
    sa = SimulatedAnnealing(num_reads=32, num_sweeps=100)
    steps = 30 if quick else 60
    methods = {
        "subgradient (Polyak) + SA": SubgradientDual(sa),
        "dual averaging + SA": DualAveraging(sa, step_size=0.2),
        "proximal bundle + SA": ProximalBundle(sa, max_cuts=32, master_iters=100),
        "augmented Lagrangian + SA": AugmentedLagrangian(sa, rho=0.5),
    }
    opt = np.array([qubo_optimum("mis", nm) for nm in names])
    rows = []
    for label, solver in _selected(methods).items():
        out, run_s, compile_s = _run_batch(solver, batch, steps)
        found = -np.asarray(out.state.best_primal)
        rows.append({"method": label, "graphs": len(names),
                     "optimum found": f"{int(np.sum(found == opt))}/{len(names)}",
                     "sizes found": " ".join(str(int(f)) for f in found),
                     "raw feasible rate": f"{np.asarray(out.info.feasible_rate).mean():.0%}",
                     "final multipliers >= 1": f"{np.mean(np.asarray(out.params) >= 1):.0%}",
                     "run s (batch)": round(run_s, 2), "compile s": round(compile_s, 1)})
    return rows, " ".join(str(int(o)) for o in opt)


# ---------------------------------------------------------------- TSP
def bench_tsp(quick):
    names = ["burma14"] if quick else sorted(qubo_instance_names("tsp"))
    rows = []
    for nm in names:
        D = read_tsplib(qubo_instance_path("tsp", nm)).distances.astype(float)
        scale = D.max()
        prob = tsp(D / scale)
        arc = tsp(D, encoding="arc_mtz")
        arc_slack = arc.num_variables + slack_variable_count(arc)
        sa = SimulatedAnnealing(num_reads=32, num_sweeps=200)
        opt = qubo_optimum("tsp", nm)
        for label, solver in _selected({"subgradient (Polyak) + SA": SubgradientDual(sa),
                                        "augmented Lagrangian + SA": AugmentedLagrangian(
                                            sa, rho=1.0)}).items():
            out, run_s, compile_s = _run_batch(solver, _stack([prob]), 20 if quick else 40)
            length = float(out.state.best_primal[0]) * scale
            rows.append({"instance": nm, "method": label,
                         "variables (position, fixed start)": prob.num_variables,
                         "arc+MTZ slack-free / slack": f"{arc.num_variables} / {arc_slack}",
                         "tour": round(length), "optimum": opt,
                         "opt. gap": f"{(length - opt) / opt:.2%}",
                         "raw feasible rate": f"{float(out.info.feasible_rate[0]):.0%}",
                         "run s": round(run_s, 2), "compile s": round(compile_s, 1)})
    return rows


# ---------------------------------------------------------------- samplers
def _dense_qubo(n, seed):
    rng = np.random.default_rng(seed)
    return np.triu(rng.normal(size=(n, n)))


def _dwave(U, reads, sweeps, seed=0):
    import dimod
    from dwave.samplers import SimulatedAnnealingSampler

    n = U.shape[0]
    iu = np.triu_indices(n, 1)
    bqm = dimod.BinaryQuadraticModel.from_numpy_vectors(np.diag(U).copy(), (iu[0], iu[1], U[iu]),
                                                        0.0, dimod.BINARY)
    sampler = SimulatedAnnealingSampler()
    sampler.sample(bqm, num_reads=1, num_sweeps=10, seed=seed)  # warm-up
    t0 = time.perf_counter()
    ss = sampler.sample(bqm, num_reads=reads, num_sweeps=sweeps, seed=seed)
    return time.perf_counter() - t0, float(ss.first.energy)


def _optlib_fn(U, reads, sweeps, block, devices=1):
    """The jitted sampler; with ``devices = 2`` the replicas are split over two host devices
    (one XLA CPU device per core) as a vmapped pair of half-size anneals."""
    q = QUBO.from_upper(jnp.asarray(U, jnp.float32))
    if devices == 1:
        f = jax.jit(SimulatedAnnealing(num_reads=reads, num_sweeps=sweeps,
                                       block_size=block).sample)
        return lambda seed: f(q, jax.random.key(seed))
    from jax.sharding import NamedSharding, PartitionSpec

    mesh = jax.make_mesh((devices,), ("d",))
    sa = SimulatedAnnealing(num_reads=reads // devices, num_sweeps=sweeps, block_size=block)
    f = jax.jit(jax.vmap(sa.sample, in_axes=(None, 0)),
                in_shardings=(None, NamedSharding(mesh, PartitionSpec("d"))))
    return lambda seed: f(q, jax.random.split(jax.random.key(seed), devices))


def _optlib(U, reads, sweeps, block, repeats=3, devices=1):
    f = _optlib_fn(U, reads, sweeps, block, devices)
    t0 = time.perf_counter()
    jax.block_until_ready(f(0))
    compile_s = time.perf_counter() - t0
    times, best = [], np.inf
    for r in range(repeats):
        t0 = time.perf_counter()
        out = jax.block_until_ready(f(r + 1))
        times.append(time.perf_counter() - t0)
        best = min(best, float(out.energies.min()))
    return float(np.median(times)), best, compile_s


def bench_samplers(quick):
    """Throughput at equal work (the same QUBO, reads and sweeps for both samplers; dwave with
    its default single thread and default beta range), timed interleaved, then time to target."""
    # (n, reads, sweeps, block, dwave reads for time to target, optlib reads for time to target)
    configs = [(64, 1024, 100, 8, 16, 64), (1024, 256, 20, 8, 2, 256)]
    if quick:
        configs = [(64, 512, 50, 8, 8, 64), (1024, 64, 10, 8, 1, 64)]
    devices = len(jax.devices())
    thr_rows, ttt_rows = [], []
    for n, R, S, B, dw_reads, R_ttt in configs:
        U = _dense_qubo(n, n)
        fns = {f"optlib ({d} device{'s' if d > 1 else ''})": _optlib_fn(U, R, S, B, d)
               for d in sorted({1, devices})}
        compile_s = {}
        for name, f in fns.items():
            t0 = time.perf_counter()
            jax.block_until_ready(f(0))
            compile_s[name] = time.perf_counter() - t0
        _dwave(U, 1, 10)
        times = {name: [] for name in [*fns, "dwave"]}
        best = {name: np.inf for name in times}
        for r in range(5 if n <= 64 else 3):  # interleaved: every contender sees the same load
            for name, f in fns.items():
                t0 = time.perf_counter()
                out = jax.block_until_ready(f(r + 1))
                times[name].append(time.perf_counter() - t0)
                best[name] = min(best[name], float(out.energies.min()))
            t, e = _dwave(U, R, S, seed=r + 1)
            times["dwave"].append(t)
            best["dwave"] = min(best["dwave"], e)
        theirs = R * n * S / (np.median(times["dwave"]) * 1e9)
        # time to target on the faster optlib variant of the throughput run
        ttt_devices = 1 if min(fns, key=lambda k: np.median(times[k])).startswith(
            "optlib (1 ") else devices
        for name in fns:
            ours = R * n * S / (np.median(times[name]) * 1e9)
            thr_rows.append({"n (dense)": n, "reads x sweeps (both)": f"{R} x {S}",
                             "optlib": name.removeprefix("optlib "),
                             "optlib upd/ns": round(ours, 4), "optlib ns/upd": round(1 / ours, 2),
                             "optlib best E": round(best[name], 3),
                             "optlib compile s": round(compile_s[name], 1),
                             "dwave upd/ns (1 thread)": round(theirs, 5),
                             "dwave ns/upd": round(1 / theirs, 1),
                             "dwave best E": round(best["dwave"], 3),
                             "throughput ratio (optlib/dwave)": round(ours / theirs, 2)})
        # time to target: the energy dwave reaches with its default 1000 sweeps
        target = _dwave(U, dw_reads, 100 if quick else 1000)[1]
        tol = 1e-4 * abs(target)
        dw_time = None
        for sweeps in ([50, 100, 200, 400, 1000, 2000] if n == 64 else [20, 50, 100, 200, 400]):
            t, e = _dwave(U, dw_reads, sweeps)
            if e <= target + tol:
                dw_time = (t, sweeps)
                break
        op_time = None
        for sweeps in ([25, 50, 100, 200, 400, 800] if n == 64 else [10, 20, 40, 80, 160]):
            t, e, _ = _optlib(U, R_ttt, sweeps, B, repeats=1, devices=ttt_devices)
            if e <= target + tol:
                op_time = (t, sweeps)
                break
        ttt_rows.append({"n (dense)": n, "target E (dwave, 1000 sweeps)": round(target, 3),
                         "dwave time s": (f"{dw_time[0]:.3f} ({dw_reads} x {dw_time[1]})"
                                          if dw_time else "not reached"),
                         "optlib time s": (f"{op_time[0]:.3f} ({R_ttt} x {op_time[1]}, "
                                           f"{ttt_devices} device{'s' if ttt_devices > 1 else ''})"
                                           if op_time else "not reached"),
                         "ratio (dwave/optlib)": (round(dw_time[0] / op_time[0], 2)
                                                  if dw_time and op_time else "n/a")})
    return thr_rows, ttt_rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer instances and steps")
    parser.add_argument("--only", default="mdkp,mis,tsp,samplers",
                        help="comma-separated parts to run (a long run can be split)")
    parser.add_argument("--methods", default="",
                        help="comma-separated substrings: run only the dual methods whose label "
                             "contains one (splits a long run into short locked invocations)")
    args = parser.parse_args()
    _METHODS[:] = [m for m in args.methods.split(",") if m]
    parts = set(args.only.split(","))
    unknown = parts - {"mdkp", "mis", "tsp", "samplers"}
    if unknown:
        parser.error(f"unknown parts {sorted(unknown)}")
    jax.config.update("jax_enable_x64", True)
    info = machine_info()
    print(f"machine: {info['cpu']} ({info['cores']} cores), {info['backend']}, "
          f"{len(jax.devices())} host devices; load average {os.getloadavg()}", flush=True)
    results = {"quick": args.quick, "parts": sorted(parts)}
    if "mdkp" in parts:
        mdkp_rows, var_rows, per_inst, red = bench_mdkp(args.quick)
        print("\n## MDKP (SAC-94)\n" + markdown_table(mdkp_rows), flush=True)
        print("\n" + markdown_table(var_rows), flush=True)
        print(f"variable reduction: min {red['min_reduction']:.0%}, median "
              f"{red['median_reduction']:.0%}", flush=True)
        results.update(mdkp=mdkp_rows, mdkp_variables=var_rows, mdkp_per_instance=per_inst,
                       variable_reduction=red)
    if "mis" in parts:
        mis_rows, alphas = bench_mis(args.quick)
        print(f"\n## MIS (Sloane), optima {alphas}\n" + markdown_table(mis_rows), flush=True)
        results.update(mis=mis_rows)
    if "tsp" in parts:
        tsp_rows = bench_tsp(args.quick)
        print("\n## TSP (TSPLIB)\n" + markdown_table(tsp_rows), flush=True)
        results.update(tsp=tsp_rows)
    if "samplers" in parts:
        jax.config.update("jax_enable_x64", False)
        thr_rows, ttt_rows = bench_samplers(args.quick)
        print("\n## Sampler throughput\n" + markdown_table(thr_rows), flush=True)
        print("\n## Time to target\n" + markdown_table(ttt_rows), flush=True)
        results.update(sampler_throughput=thr_rows, time_to_target=ttt_rows)
    results.update(peak_memory_mb=peak_memory_mb(), load_average_after=os.getloadavg())
    name = "qubo" if len(parts) == 4 else "qubo_" + "_".join(sorted(parts))
    if _METHODS:
        name += "_" + "_".join("".join(c for c in m.lower() if c.isalnum()) for m in _METHODS)
        results.update(methods=list(_METHODS))
    path = write_results(name, results)
    print(f"\nwrote {path}; load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
