"""Run-loop overhead: ``optlib.run(OptaxSolver(...))`` against hand-written jitted optax loops.

Same problem (logistic regression), same optimizer (Adam), same number of steps. The
hand-written loops are what a user would write without optlib: a ``lax.while_loop`` with the
same gradient-norm stopping rule, and a bare ``lax.fori_loop`` with no checks at all. optlib
adds a non-finite check, a status and hook plumbing on top. Ratio = optlib time / hand time
(target <= 1.05 against the while loop).

    python benchmarks/core.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import optax
from jax import lax

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness  # noqa: E402

import optlib  # noqa: E402


def logistic(w, X, y):
    return jnp.mean(jax.nn.softplus(-y * (X @ w))) + 1e-4 * jnp.sum(w**2)


def make_data(n, d, seed=0):
    kx, kw = jax.random.split(jax.random.key(seed))
    X = jax.random.normal(kx, (n, d))
    y = jnp.sign(X @ jax.random.normal(kw, (d,)) + 0.5 * jax.random.normal(kx, (n,)))
    return X, y


def optlib_loop(lr, X, y, *, steps):
    solver = optlib.OptaxSolver(logistic, optax.adam, hyperparams={"learning_rate": lr}, tol=0.0)
    return optlib.run(solver, jnp.zeros(X.shape[1]), X, y, max_steps=steps).params


def hand_while(lr, X, y, *, steps):
    opt = optax.adam(lr)
    w = jnp.zeros(X.shape[1])

    def cond(c):
        k, _, _, gnorm = c
        return (k < steps) & (gnorm >= 0.0)

    def body(c):
        k, w, s, _ = c
        g = jax.grad(logistic)(w, X, y)
        u, s = opt.update(g, s, w)
        return k + 1, optax.apply_updates(w, u), s, optax.tree.norm(g)

    return lax.while_loop(cond, body, (0, w, opt.init(w), jnp.inf))[1]


def hand_fori(lr, X, y, *, steps):
    opt = optax.adam(lr)
    w = jnp.zeros(X.shape[1])

    def body(_, c):
        w, s = c
        u, s = opt.update(jax.grad(logistic)(w, X, y), s, w)
        return optax.apply_updates(w, u), s

    return lax.fori_loop(0, steps, body, (w, opt.init(w)))[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    opts = parser.parse_args()
    sizes = [(200, 10), (2000, 100)] if opts.quick else [(200, 10), (2000, 100), (20000, 200)]
    steps = 500 if opts.quick else 2000
    repeats = 5 if opts.quick else 9
    rows = []
    for n, d in sizes:
        X, y = make_data(n, d)
        lr = jnp.asarray(1e-2)
        # optlib.run jits internally; all three are wrapped in jax.jit the same way so that
        # compile time is measured apart for each.
        fns = {name: (lambda lr, X, y, fn=fn: fn(lr, X, y, steps=steps))
               for name, fn in [("optlib.run", optlib_loop), ("hand while_loop", hand_while),
                                ("hand fori_loop", hand_fori)]}
        results = _harness.time_interleaved(fns, lr, X, y, repeats=repeats)
        ours = results["optlib.run"]["median_s"]
        rows.append({
            "n x d": f"{n} x {d}", "steps": steps,
            "optlib ms": 1e3 * ours,
            "hand while ms": 1e3 * results["hand while_loop"]["median_s"],
            "hand fori ms": 1e3 * results["hand fori_loop"]["median_s"],
            "ratio vs while": ours / results["hand while_loop"]["median_s"],
            "ratio vs fori": ours / results["hand fori_loop"]["median_s"],
            "compile optlib s": results["optlib.run"]["compile_s"],
            "compile while s": results["hand while_loop"]["compile_s"],
        })
        w_ours = optlib_loop(lr, X, y, steps=steps)
        w_hand = hand_fori(lr, X, y, steps=steps)
        assert jnp.allclose(w_ours, w_hand, rtol=1e-4, atol=1e-5), "loops disagree"
    table = _harness.markdown_table(rows)
    print(table)
    path = _harness.write_results("core", {"steps": steps, "rows": rows})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
