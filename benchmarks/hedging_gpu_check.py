"""GPU check for issue 7: step time of K-FAC vs Adam on an LSTM(64) hedger, 2^15 paths.

Run on an NVIDIA H200 (jax 0.11.2; ``benchmarks/results/gpu_h200/hedging_gpu.json``: Adam
11.8 ms/step, K-FAC 15.4 ms with inverses every 10 steps (1.31x), 25.4 ms every step
(2.16x), peak memory 4184 vs 5087 MB). Run it on a machine with a GPU:

    python benchmarks/hedging_gpu_check.py [--paths 32768] [--hidden 64]

Prints the median step time of each optimizer (compiled chunk of steps, compile time apart),
the K-FAC/Adam ratio with inverses refreshed every 10 steps (amortised) and every step
(worst case), and the peak device memory; writes ``benchmarks/results/hedging_gpu.json``.
Targets (research note 5.2): amortised K-FAC step <= 1.5x Adam, worst case <= 2.5x,
memory <= 1.3x Adam.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from pathlib import Path

import jax
import optax

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import machine_info, markdown_table, peak_memory_mb, time_call, write_results  # noqa: E402

import optlib  # noqa: E402
import optlib.curvature as oc  # noqa: E402
import optlib.hedging as h  # noqa: E402

# The K-FAC setting of benchmarks/hedging.py at S0 = 100 (without the trust region it diverges
# there, and a non-finite run would stop early and time nothing).
KFAC = {"learning_rate": 0.3, "damping": 0.1, "kl_clip": 0.01}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--paths", type=int, default=2**15)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--stats-paths", type=int, default=2**12)
    parser.add_argument("--chunk", type=int, default=20)
    args = parser.parse_args()
    print(machine_info())
    # The setting of benchmarks/hedging.py: S0 = K = 100, xi = 2, cost 1e-3, entropic lambda 1.
    problem = h.HedgingProblem(option=h.EuropeanOption(100.0), s0=100.0, cost_rate=1e-3)
    policy = h.LSTMHedger(args.hidden)
    configs = {
        "adam": h.DeepHedger(problem, policy, optax.adam, {"learning_rate": 3e-3},
                             num_paths=args.paths),
        "kfac (inverse every 10)": h.DeepHedger(
            problem, policy, functools.partial(oc.kfac, inverse_every=10, sequence="recurrent"),
            KFAC, num_paths=args.paths, stats_paths=args.stats_paths),
        "kfac (inverse every step)": h.DeepHedger(
            problem, policy, functools.partial(oc.kfac, inverse_every=1, sequence="recurrent"),
            KFAC, num_paths=args.paths, stats_paths=args.stats_paths),
    }
    rows = []
    for name, solver in configs.items():
        p0 = solver.init_params(jax.random.key(0))
        fn = jax.jit(lambda p, k, solver=solver: (lambda r: (r.params, r.num_steps))(
            optlib.run(solver, p, key=k, max_steps=args.chunk)))
        t0 = time.perf_counter()
        jax.block_until_ready(fn(p0, jax.random.key(1)))
        compile_s = time.perf_counter() - t0
        stats = time_call(lambda fn=fn, p0=p0: fn(p0, jax.random.key(2)), repeats=5)
        steps = int(fn(p0, jax.random.key(2))[1])
        if steps != args.chunk:
            raise RuntimeError(f"{name}: the timed run stopped after {steps} of {args.chunk} steps")
        rows.append({"optimizer": name, "ms/step": 1e3 * stats["median_s"] / args.chunk,
                     "first call incl. compile (s)": compile_s,
                     "peak memory (MB)": peak_memory_mb()})
    for r in rows:
        r["ratio to Adam"] = r["ms/step"] / rows[0]["ms/step"]
    print(markdown_table(rows))
    write_results("hedging_gpu", {"config": vars(args), "rows": rows})


if __name__ == "__main__":
    main()
