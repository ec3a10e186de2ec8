"""GPU check of the annealing sampler (run it on a machine with a GPU; nothing here runs on CPU CI).

Targets (issue 6): at least 1 attempted update/ns at n = 64 (8192 replicas) and 2 updates/ns at
n = 1024 dense (32768 replicas), recorded with the card's name. It also checks that the GPU
chain finds the brute-force minimum of a 16-variable QUBO and times QAOA at n = 20, p = 3.

Usage: python benchmarks/qubo_gpu.py [--quick]   (writes benchmarks/results/qubo_gpu.json)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import machine_info, markdown_table, peak_memory_mb, write_results  # noqa: E402

from optlib.qubo import (  # noqa: E402
    QUBO,
    QAOASampler,
    SimulatedAnnealing,
    cvar,
    enumerate_energies,
    qaoa_state,  # noqa: E402
)


def _qubo(n, seed=0):
    rng = np.random.default_rng(seed)
    return QUBO.from_upper(jnp.asarray(np.triu(rng.normal(size=(n, n))), jnp.float32))


def throughput(n, reads, sweeps, block, repeats=3):
    q = _qubo(n)
    f = jax.jit(SimulatedAnnealing(num_reads=reads, num_sweeps=sweeps, block_size=block).sample)
    t0 = time.perf_counter()
    jax.block_until_ready(f(q, jax.random.key(0)))
    compile_s = time.perf_counter() - t0
    times = []
    for r in range(repeats):
        t0 = time.perf_counter()
        out = jax.block_until_ready(f(q, jax.random.key(r + 1)))
        times.append(time.perf_counter() - t0)
    t = float(np.median(times))
    return {"n": n, "reads": reads, "sweeps": sweeps, "block": block,
            "upd/ns": round(reads * n * sweeps / (t * 1e9), 3), "run s": round(t, 4),
            "compile s": round(compile_s, 1), "best E": round(float(out.energies.min()), 3)}


def correctness():
    q = _qubo(16, 1)
    best = float(enumerate_energies(q).min())
    out = SimulatedAnnealing(num_reads=256, num_sweeps=200, block_size=16).sample(
        q, jax.random.key(0))
    return {"brute-force min": best, "SA min": float(out.energies.min()),
            "fraction at min": float(np.mean(np.isclose(np.asarray(out.energies), best,
                                                        rtol=1e-5)))}


def qaoa_timing(n=20, p=3):
    q = _qubo(n, 2)
    c = enumerate_energies(q)

    def loss(a):
        psi = qaoa_state(c, a[0], a[1])
        return cvar(jnp.real(psi * jnp.conj(psi)), c, 0.25)

    f = jax.jit(jax.value_and_grad(loss))
    a = jnp.full((2, p), 0.3, jnp.float32)
    jax.block_until_ready(f(a))
    t0 = time.perf_counter()
    for _ in range(5):
        jax.block_until_ready(f(a))
    vg = (time.perf_counter() - t0) / 5
    s = jax.jit(QAOASampler(layers=p, num_steps=50, num_reads=256).sample)
    jax.block_until_ready(s(q, jax.random.key(0)))
    t0 = time.perf_counter()
    jax.block_until_ready(s(q, jax.random.key(1)))
    return {"n": n, "p": p, "value_and_grad ms": round(vg * 1e3, 2),
            "train 50 steps + sample s": round(time.perf_counter() - t0, 3)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    jax.config.update("jax_default_matmul_precision", "highest")
    info = machine_info()
    print(f"device: {info['device']} ({info['backend']})", flush=True)
    check = correctness()
    print(check, flush=True)
    configs = [(64, 8192, 100, 16), (64, 8192, 100, 32), (1024, 32768, 10, 64),
               (1024, 32768, 10, 128)]
    if args.quick:
        configs = [(64, 8192, 50, 16), (1024, 32768, 5, 128)]
    rows = []
    for cfg in configs:
        rows.append(throughput(*cfg))
        print(rows[-1], flush=True)
    best64 = max(r["upd/ns"] for r in rows if r["n"] == 64)
    best1024 = max(r["upd/ns"] for r in rows if r["n"] == 1024)
    print("\n" + markdown_table(rows))
    print(f"\ntargets: n=64 >= 1 upd/ns: {best64} ({'met' if best64 >= 1 else 'MISSED'}); "
          f"n=1024 >= 2 upd/ns: {best1024} ({'met' if best1024 >= 2 else 'MISSED'})")
    qaoa = qaoa_timing()
    print(qaoa)
    path = write_results("qubo_gpu", {"card": info["device"], "correctness": check,
                                      "throughput": rows, "qaoa": qaoa,
                                      "peak_memory_mb": peak_memory_mb()})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
