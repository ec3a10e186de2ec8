"""DAG structure learning: TopoSwap vs DAGMA and the NOTEARS baseline, same data, same machine.

    python benchmarks/dag.py [--quick] [--dagma-max-d 100] [--notears-max-d 20]

Data: the NOTEARS generators of ``optlib.dag`` (ER / scale-free graphs with s0 = k d edges,
weights +-U(0.5, 2), n = 1000, Gaussian / exponential / Gumbel noise of scale 1). Quality:
SHD, TPR, FDR (NOTEARS ``count_accuracy``) of the thresholded graph (|w| < 0.3 removed), and a
common score for all methods: ``refit LS`` = 1/(2n) ||X - X W||^2 on centred X with W the
per-node OLS refit on the estimated support (lower is better; the true graph's is given).
Time: wall seconds of one ``fit`` after compilation (TopoSwap: compile reported apart as the
difference between the first and a second call); DAGMA and NOTEARS have no compile step.
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


def run_topo(X, seed, **kw):
    solver = dag.TopoSwap()
    t0 = time.perf_counter()
    solver.fit(X, key=jax.random.key(seed), **kw)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = solver.fit(X, key=jax.random.key(seed), **kw)
    run = time.perf_counter() - t0
    return res, run, max(first - run, 0.0)


def run_dagma(X, lambda1=0.02):
    from dagma.linear import DagmaLinear

    t0 = time.perf_counter()
    W = DagmaLinear(loss_type="l2").fit(X.copy(), lambda1=lambda1)
    return W, time.perf_counter() - t0


def run_notears(X, lambda1=0.1):
    t0 = time.perf_counter()
    res = dag.Notears(lambda1=lambda1).fit(X)
    return res.W, time.perf_counter() - t0


def synthetic(configs, dagma_max_d, notears_max_d, n=1000, seed=0):
    rows = []
    for d, graph, sem in configs:
        B, X = problem(seed, d, graph, sem, n)
        truth = refit_ls(X, B)
        base = {"d": d, "graph": graph, "noise": sem, "n": n}
        res, t, c = run_topo(X, seed)
        rows.append({**base, "method": "TopoSwap", "time_s": round(t, 3),
                     "compile_s": round(c, 2), "rounds": res.num_rounds,
                     **evaluate(B, res.W, X), "true_refit_ls": round(truth, 4)})
        print(rows[-1], flush=True)
        if d <= dagma_max_d:
            W, t = run_dagma(X)
            rows.append({**base, "method": "DAGMA", "time_s": round(t, 2), "compile_s": 0.0,
                         "rounds": "", **evaluate(B, W, X), "true_refit_ls": round(truth, 4)})
            print(rows[-1], flush=True)
        if d <= notears_max_d:
            W, t = run_notears(X)
            rows.append({**base, "method": "NOTEARS (optlib)", "time_s": round(t, 2),
                         "compile_s": 0.0, "rounds": "", **evaluate(B, W, X),
                         "true_refit_ls": round(truth, 4)})
            print(rows[-1], flush=True)
    return rows


def n_scaling(d, ns, seed=0):
    rows = []
    for n in ns:
        B, X = problem(seed, d, "ER2", "gauss", n)
        res, t, c = run_topo(X, seed)
        rows.append({"d": d, "n": n, "time_s": round(t, 3), "rounds": res.num_rounds,
                     "ms_per_round": round(1e3 * t / max(res.num_rounds, 1), 2),
                     "shd": dag.count_accuracy(B, (res.W != 0).astype(int))["shd"]})
        print(rows[-1], flush=True)
    return rows


def sachs(restarts=8):
    from optlib.datasets import load_sachs

    data = load_sachs()
    X = (data.X - data.X.mean(0)) / data.X.std(0)
    rows = []
    res, t, _ = run_topo(X, 0, restarts=restarts)
    B = (res.W != 0).astype(int)
    rows.append({"method": f"TopoSwap ({restarts} restarts)", "time_s": round(t, 3),
                 **dag.count_accuracy(data.B, B)})
    W, t = run_dagma(X)
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
    parser.add_argument("--parts", default="synthetic,noise,large,nscaling,sachs")
    parser.add_argument("--configs", default="",
                        help="override the synthetic grid, e.g. '20:ER2:gauss,50:SF2:exp'")
    parser.add_argument("--tag", default="", help="suffix of the results file")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    out: dict = {"machine": machine_info()}
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
        ns = (1000, 10000, 100000)
        nd = 100
    if args.configs:
        main_cfg = [(int(c.split(":")[0]), c.split(":")[1], c.split(":")[2])
                    for c in args.configs.split(",")]
    if "synthetic" in parts:
        out["synthetic"] = synthetic(main_cfg, args.dagma_max_d, args.notears_max_d)
    if "noise" in parts:
        out["noise"] = synthetic(noise_cfg, args.dagma_max_d, args.notears_max_d)
    if "large" in parts and large_cfg:
        out["large"] = synthetic(large_cfg, args.dagma_max_d, args.notears_max_d)
    if "nscaling" in parts:
        out["n_scaling"] = n_scaling(nd, ns)
    if "sachs" in parts:
        out["sachs"] = sachs()
    out["peak_memory_mb"] = peak_memory_mb()
    for name in ("synthetic", "noise", "large", "n_scaling", "sachs"):
        if name in out:
            print(f"\n### {name}\n")
            print(markdown_table(out[name]))
    path = write_results(("dag_quick" if args.quick else "dag") + args.tag, out)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
