"""DAG structure learning: TopoSwap vs DAGMA and the NOTEARS baseline, same data, same machine.

    python benchmarks/dag.py [--quick] [--parts ...] [--configs 100:ER2:gauss,...] [--cap 300]

Data: the NOTEARS generators of ``optlib.dag`` (ER / scale-free graphs with s0 = k d edges,
weights +-U(0.5, 2), n = 1000, Gaussian / exponential / Gumbel noise of scale 1). Quality:
SHD, TPR, FDR (NOTEARS ``count_accuracy``) of the thresholded graph (|w| < 0.3 removed), and a
common score for all methods: ``refit LS`` = 1/(2n) ||X - X W||^2 on centred X with W the
per-node OLS refit on the estimated support (lower is better; the true graph's is given).
Time: wall seconds of one ``fit`` after compilation (TopoSwap: compile reported apart as the
difference between the first and a second call); DAGMA and NOTEARS have no compile step.
DAGMA and NOTEARS run in a child process with a wall-clock cap (``--cap`` seconds): a run that
does not finish is reported as ``> cap`` with no quality numbers. The 1-minute load average is
recorded next to every row (the machine is shared).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
from _harness import machine_info, markdown_table, peak_memory_mb, write_results  # noqa: E402

import optlib.dag as dag  # noqa: E402


def refit_ls(X: np.ndarray, B: np.ndarray) -> float:
    Xc = X - X.mean(axis=0)
    n, d = Xc.shape
    R = Xc.copy()
    for j in range(d):
        pa = np.flatnonzero(B[:, j])
        if pa.size:
            w = np.linalg.lstsq(Xc[:, pa], Xc[:, j], rcond=None)[0]
            R[:, j] = Xc[:, j] - Xc[:, pa] @ w
    return float(0.5 / n * np.sum(R**2))


def problem(seed: int, d: int, graph: str, sem: str, n: int):
    kind, k = graph[:2], int(graph[2:])
    k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
    B = dag.simulate_dag(k1, d, k * d, kind)
    W = dag.simulate_parameter(k2, B)
    X = dag.simulate_linear_sem(k3, W, n, sem)
    return np.asarray(B), np.asarray(X)


def evaluate(B_true, W_est, X) -> dict:
    B_est = (np.abs(W_est) > 0).astype(int)
    ok = dag.is_dag(B_est)
    if ok:
        acc = dag.count_accuracy(B_true, B_est)
    else:  # count_accuracy requires a DAG; report SHD on the skeleton+direction anyway
        acc = {"shd": float("nan"), "tpr": float("nan"), "fdr": float("nan"),
               "nnz": int(B_est.sum())}
    return {"shd": acc["shd"], "tpr": round(acc["tpr"], 3), "fdr": round(acc["fdr"], 3),
            "nnz": acc["nnz"], "is_dag": ok, "refit_ls": round(refit_ls(X, B_est), 4)}


def _load() -> float:
    return round(os.getloadavg()[0], 1)


def _child(queue, name, X, kwargs, threads):
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads):  # BLAS (OpenBLAS) and OpenMP pools
        if name == "dagma":
            from dagma.linear import DagmaLinear

            calls = []
            minimize = DagmaLinear.minimize

            def counted(self, W, mu, max_iter, s, lr, *args, **kw):  # DAGMA's inner solves
                t1 = time.perf_counter()
                out = minimize(self, W, mu, max_iter, s, lr, *args, **kw)
                calls.append({"mu": mu, "s": s, "lr": lr, "ok": bool(out[1]),
                              "seconds": round(time.perf_counter() - t1, 2)})
                return out

            DagmaLinear.minimize = counted
            t0, c0 = time.perf_counter(), time.process_time()
            W = DagmaLinear(loss_type="l2").fit(X.copy(), **kwargs)
        else:
            calls = []
            t0, c0 = time.perf_counter(), time.process_time()
            W = dag.Notears(**kwargs).fit(X).W
        queue.put((np.asarray(W), time.perf_counter() - t0, time.process_time() - c0, calls))


def run_capped(name: str, X: np.ndarray, cap: float, threads: int = 1, **kwargs):
    """Runs DAGMA or NOTEARS in a child process with ``threads`` BLAS threads.

    Returns:
        ``(W, wall seconds, CPU seconds, inner calls)``, or ``(None, cap, None, [])`` when the
        cap was hit.
    """
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(queue, name, X, kwargs, threads), daemon=True)
    proc.start()
    try:
        W, t, cpu, calls = queue.get(timeout=cap + 60)  # + start-up (imports) of the child
    except Exception:  # noqa: BLE001 - queue.Empty: the cap was hit
        W, t, cpu, calls = None, cap, None, []
    proc.kill()
    proc.join()
    if W is not None and t > cap:
        W, t, cpu = None, cap, None
    return W, t, cpu, calls


def run_topo(X, seed, score="least_squares", single=False, **kw):
    """Two calls: the first compiles. Returns (result, wall s, CPU s, compile s) of the second
    call, compile = first wall - second wall. ``single``: one call, compile included
    (compile s = None)."""
    solver = dag.TopoSwap(score=score)
    t0, c0 = time.perf_counter(), time.process_time()
    res = solver.fit(X, key=jax.random.key(seed), **kw)
    first = time.perf_counter() - t0
    if single:
        return res, first, time.process_time() - c0, None
    t0, c0 = time.perf_counter(), time.process_time()
    res = solver.fit(X, key=jax.random.key(seed), **kw)
    run, cpu = time.perf_counter() - t0, time.process_time() - c0
    return res, run, cpu, max(first - run, 0.0)


def run_final_l1(X, order, lambda1):
    """The sparse final fit (``dag.l1_fit_order``) on a found order, timed apart from the
    search: two calls with one BLAS thread (as ``TopoSwap.fit``); returns (fit, wall s,
    CPU s, compile s) of the second call."""
    from threadpoolctl import threadpool_limits

    gram = dag.TopoSwap().prepare(X).stats
    with threadpool_limits(limits=1, user_api="blas"):
        t0 = time.perf_counter()
        jax.block_until_ready(dag.l1_fit_order(gram, order, lambda1))
        first = time.perf_counter() - t0
        t0, c0 = time.perf_counter(), time.process_time()
        fit = jax.block_until_ready(dag.l1_fit_order(gram, order, lambda1))
        t, cpu = time.perf_counter() - t0, time.process_time() - c0
    return fit, t, cpu, max(first - t, 0.0)


def synthetic(configs, dagma_max_d, notears_max_d, cap, n=1000, seed=0,
              methods=("topo", "dagma", "notears"), threads=(1,), notears_cap=None,
              final_l1=None, topo_single=False):
    rows = []
    for d, graph, sem in configs:
        B, X = problem(seed, d, graph, sem, n)
        truth = refit_ls(X, B)
        base = {"d": d, "graph": graph, "noise": sem, "n": n}
        if "topo" in methods:
            load0 = _load()
            res, t, cpu, c = run_topo(X, seed, single=topo_single)
            rows.append({**base, "method": "TopoSwap", "time_s": round(t, 3),
                         "cpu_s": round(cpu, 2),
                         "compile_s": "incl." if c is None else round(c, 2),
                         "rounds": res.num_rounds, **evaluate(B, res.W, X),
                         "true_refit_ls": round(truth, 4), "load": f"{load0}-{_load()}"})
            print(rows[-1], flush=True)
            for lam in final_l1 or ():
                load0 = _load()
                fit, t2, cpu2, c2 = run_final_l1(X, res.order, lam)
                W = np.asarray(fit.W)
                W = np.where(np.abs(W) >= 0.3, W, 0.0)
                rows.append({**base, "method": f"TopoSwap + final L1 fit ({lam})",
                             "time_s": f"{round(t, 3)} + {round(t2, 3)}",
                             "cpu_s": f"{round(cpu, 2)} + {round(cpu2, 2)}",
                             "compile_s": round(c2, 2),
                             "rounds": f"{res.num_rounds} / {int(fit.num_iters)} ADMM it",
                             **evaluate(B, W, X), "true_refit_ls": round(truth, 4),
                             "load": f"{load0}-{_load()}"})
                print(rows[-1], flush=True)
        for name, max_d, label, kwargs in (
                ("dagma", dagma_max_d, "DAGMA", {"lambda1": 0.02}),
                ("notears", notears_max_d, "NOTEARS (optlib)", {"lambda1": 0.1})):
            if d > max_d or name not in methods:
                continue
            for nt in threads:
                load0 = _load()
                this_cap = notears_cap if (name == "notears" and notears_cap) else cap
                W, t, cpu, calls = run_capped(name, X, this_cap, threads=nt, **kwargs)
                row = {**base, "method": f"{label} ({nt} BLAS thr)", "compile_s": 0.0,
                       "rounds": "", "true_refit_ls": round(truth, 4)}
                if W is None:
                    row.update(time_s=f"> {this_cap:.0f} (cap)", cpu_s="", shd="", tpr="",
                               fdr="", nnz="", is_dag="", refit_ls="")
                else:
                    row.update(time_s=round(t, 2), cpu_s=round(cpu, 2), **evaluate(B, W, X))
                row["load"] = f"{load0}-{_load()}"
                if calls:
                    row["inner_s"] = "/".join(str(c["seconds"]) for c in calls)
                rows.append(row)
                print(rows[-1], flush=True)
    return rows


def n_scaling(d, ns, seed=0):
    """Time per search round against n: the data enter only through X'X / n (prepared once),
    so a round costs the same for every n; the fit time minus the preparation is divided by
    the number of rounds."""
    rows = []
    for n in ns:
        B, X = problem(seed, d, "ER2", "gauss", n)
        load0 = _load()
        res, t, cpu, c = run_topo(X, seed)
        solver = dag.TopoSwap()
        jax.block_until_ready(solver.prepare(X))
        t0 = time.perf_counter()
        jax.block_until_ready(solver.prepare(X))
        prep = time.perf_counter() - t0
        rows.append({"d": d, "n": n, "time_s": round(t, 3), "cpu_s": round(cpu, 2),
                     "prepare_s": round(prep, 3), "compile_s": round(c, 2),
                     "rounds": res.num_rounds,
                     "ms_per_round": round(1e3 * (t - prep) / max(res.num_rounds, 1), 2),
                     "shd": dag.count_accuracy(B, (res.W != 0).astype(int))["shd"],
                     "load": f"{load0}-{_load()}"})
        print(rows[-1], flush=True)
    return rows


def sachs(cap, restarts=8):
    from optlib.datasets import load_sachs

    data = load_sachs()
    X = (data.X - data.X.mean(0)) / data.X.std(0)
    rows = []
    for label, score in (
            ("least squares", "least_squares"),
            ("L1 least squares, lambda1 0.02 (DAGMA's)",
             dag.L1LeastSquaresNode(lambda1=0.02, steps=300)),
            ("L1 least squares, lambda1 0.1 (NOTEARS's)",
             dag.L1LeastSquaresNode(lambda1=0.1, steps=300))):
        res, t, _, _ = run_topo(X, 0, restarts=restarts, score=score)
        B = (res.W != 0).astype(int)
        rows.append({"method": f"TopoSwap, {label} ({restarts} restarts)",
                     "time_s": round(t, 3), **dag.count_accuracy(data.B, B)})
    W, t, _, _ = run_capped("dagma", X, cap, lambda1=0.02)
    Bd = (W != 0).astype(int)
    rows.append({"method": "DAGMA", "time_s": round(t, 2),
                 **(dag.count_accuracy(data.B, Bd) if dag.is_dag(Bd) else {"shd": "not a DAG"})})
    rows.append({"method": "empty graph", "time_s": 0.0,
                 **dag.count_accuracy(data.B, np.zeros_like(data.B))})
    for r in rows:
        print(r, flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="reduced grid (minutes)")
    parser.add_argument("--dagma-max-d", type=int, default=100)
    parser.add_argument("--notears-max-d", type=int, default=20)
    parser.add_argument("--cap", type=float, default=300.0,
                        help="wall-clock cap (s) of one DAGMA or NOTEARS run")
    parser.add_argument("--ns", default="", help="n values of the n-scaling part, e.g. 1000,1e5")
    parser.add_argument("--parts", default="synthetic,noise,large,nscaling,sachs")
    parser.add_argument("--configs", default="",
                        help="override the synthetic grid, e.g. '20:ER2:gauss,50:SF2:exp'")
    parser.add_argument("--tag", default="", help="suffix of the results file")
    parser.add_argument("--methods", default="topo,dagma,notears",
                        help="which of topo, dagma, notears to run")
    parser.add_argument("--threads", default="1",
                        help="BLAS thread counts for DAGMA/NOTEARS, e.g. 1,2 (one row each)")
    parser.add_argument("--notears-cap", type=float, default=None,
                        help="cap (s) of one NOTEARS run (default: --cap)")
    parser.add_argument("--final-l1", default="",
                        help="also refit TopoSwap's order with dag.l1_fit_order at these "
                             "lambda1 values (e.g. 0.02), timed apart; one row each")
    parser.add_argument("--topo-single", action="store_true",
                        help="one TopoSwap call per row, compile included (large d)")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    out: dict = {"machine": machine_info()}
    ns, nd = (1000, 10000, 100000), 100
    if args.quick:
        main_cfg = [(20, "ER2", "gauss"), (50, "ER2", "gauss")]
        noise_cfg = [(20, "ER2", "exp")]
        large_cfg = []
        ns = (1000, 10000)
        nd = 50
    else:
        main_cfg = [(d, g, "gauss") for d in (20, 50, 100) for g in ("ER2", "ER4", "SF2")]
        noise_cfg = [(d, "ER2", s) for d in (20, 50, 100) for s in ("exp", "gumbel")]
        large_cfg = [(200, "ER2", "gauss"), (500, "ER2", "gauss")]
    if args.ns:
        ns = tuple(int(float(v)) for v in args.ns.split(","))
    if args.configs:
        main_cfg = large_cfg = [(int(c.split(":")[0]), c.split(":")[1], c.split(":")[2])
                                for c in args.configs.split(",")]
    kw = {"methods": set(args.methods.split(",")),
          "threads": tuple(int(t) for t in args.threads.split(",")),
          "notears_cap": args.notears_cap,
          "final_l1": tuple(float(v) for v in args.final_l1.split(",") if v),
          "topo_single": args.topo_single}
    if "synthetic" in parts:
        out["synthetic"] = synthetic(main_cfg, args.dagma_max_d, args.notears_max_d, args.cap,
                                     **kw)
    if "noise" in parts:
        out["noise"] = synthetic(noise_cfg, args.dagma_max_d, args.notears_max_d, args.cap, **kw)
    if "large" in parts and large_cfg:
        out["large"] = synthetic(large_cfg, args.dagma_max_d, args.notears_max_d, args.cap, **kw)
    if "nscaling" in parts:
        out["n_scaling"] = n_scaling(nd, ns)
    if "sachs" in parts:
        out["sachs"] = sachs(args.cap)
    out["peak_memory_mb"] = peak_memory_mb()
    for name in ("synthetic", "noise", "large", "n_scaling", "sachs"):
        if name in out:
            print(f"\n### {name}\n")
            print(markdown_table(out[name]))
    path = write_results(("dag_quick" if args.quick else "dag") + args.tag, out)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
