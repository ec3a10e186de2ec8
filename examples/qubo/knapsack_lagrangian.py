"""Slack-free Lagrangian duals versus the slack-penalty QUBO on a SAC-94 knapsack.

The penalty route adds binary slack variables to every knapsack row and anneals one big QUBO
for a few penalty weights; the Lagrangian route keeps the n item variables and lets a dual
method (subgradient with Polyak steps, proximal bundle) tune one multiplier per row. The plot
shows the dual bound and the best feasible profit over the dual iterations, next to the LP
bound, the optimum and the best feasible profit the penalty QUBOs reached.

Usage: python examples/qubo/knapsack_lagrangian.py [--instance pet3] [--quick]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from scipy.optimize import linprog

import optlib
from optlib.datasets import qubo_instance_names, qubo_instance_path
from optlib.qubo import (
    ProximalBundle,
    SeparableSolver,
    SimulatedAnnealing,
    SubgradientDual,
    mdkp,
    read_mdkp,
    slack_penalty_qubo,
)

OUT = Path(__file__).resolve().parent / "out"


def penalty_route(prob, inst, penalties, reads, sweeps):
    """Anneal the slack-penalty QUBO for each penalty; best feasible profit and feasible rate."""
    results = []
    for P in penalties:
        enc = slack_penalty_qubo(prob, penalty=P)
        sampler = SimulatedAnnealing(num_reads=reads, num_sweeps=sweeps)
        out = jax.jit(sampler.sample)(enc.qubo, jax.random.key(0))
        x = out.samples[:, :prob.num_variables]
        feasible = np.asarray(prob.is_feasible(x))
        profits = -np.asarray(prob.value(x))
        best = profits[feasible].max() if feasible.any() else float("nan")
        results.append((P, enc.qubo.num_variables, feasible.mean(), best))
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instance", default="pet3", choices=qubo_instance_names("mdkp"))
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    jax.config.update("jax_enable_x64", True)
    inst = read_mdkp(qubo_instance_path("mdkp", args.instance))
    prob = mdkp(inst.profits, inst.weights, inst.capacities)
    lp = -linprog(-inst.profits, A_ub=inst.weights, b_ub=inst.capacities, bounds=(0, 1),
                  method="highs").fun
    steps = 40 if args.quick else 150
    lam0 = jnp.zeros(prob.num_multipliers)
    traces = {}
    for label, solver in {"subgradient (Polyak)": SubgradientDual(SeparableSolver()),
                          "proximal bundle": ProximalBundle(SeparableSolver())}.items():
        res = optlib.run_steps(solver, lam0, prob, num_steps=steps,
                               hooks=[optlib.ProgressBar(every=10, desc=label)])
        info = res.history.info
        traces[label] = (-np.asarray(info.best_dual), -np.asarray(info.primal_value))
        print(f"{label:22s} dual bound {traces[label][0][-1]:10.1f}   best profit "
              f"{traces[label][1][-1]:8.0f}")
    scale = float(np.max(inst.profits))
    penalties = [0.1 * scale, scale, 10 * scale]
    pen = penalty_route(prob, inst, penalties, reads=64 if args.quick else 256,
                        sweeps=200 if args.quick else 1000)
    print(f"optimum {inst.optimum:.0f}, LP bound {lp:.1f}, slack-free variables "
          f"{prob.num_variables}")
    for P, nvar, rate, best in pen:
        print(f"penalty P = {P:9.1f}: {nvar} variables, feasible samples {rate:5.1%}, "
              f"best feasible profit {best}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for (label, (dual, primal)), color in zip(traces.items(), ("C0", "C1"), strict=True):
        k = np.arange(1, dual.size + 1)
        ax.plot(k, dual, color=color, label=f"{label}: dual bound")
        ax.plot(k, np.where(np.isfinite(primal), primal, np.nan), color=color, ls="--",
                label=f"{label}: best feasible")
    ax.axhline(inst.optimum, color="k", lw=1, label="optimum")
    ax.axhline(lp, color="gray", lw=1, ls=":", label="LP bound")
    best_pen = np.nanmax([b for *_, b in pen]) if any(np.isfinite(b) for *_, b in pen) else None
    if best_pen is not None:
        ax.axhline(best_pen, color="C3", lw=1, ls="-.",
                   label=f"best slack-penalty QUBO ({pen[0][1]} variables)")
    ax.set_xlabel("dual iteration (oracle call)")
    ax.set_ylabel("profit")
    low = inst.optimum * 0.9 if best_pen is None else min(inst.optimum * 0.9, best_pen * 0.97)
    ax.set_ylim(low, lp * 1.05)
    ax.set_title(f"{args.instance}: Lagrangian ({prob.num_variables} variables) vs penalty")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "knapsack_lagrangian.png"
    fig.savefig(path, dpi=120)
    print(f"saved {path}")


if __name__ == "__main__":
    main()
