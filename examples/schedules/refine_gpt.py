"""Schedule refinement on a small character-level GPT (tiny Shakespeare).

The protocol of Defazio et al. (arXiv:2310.07831), on the model and setup of the quality
benchmark in ``benchmarks/schedules.py`` (``QUALITY``: the shared GPT of
``examples/llm/model.py`` with 2 layers of width 32, context 32, batch 16, AdamW):

1. train with linear decay (5% warm-up), logging the l1/l2 gradient norms of every update;
2. refine a schedule from the l1 norms (the Adam variant of the closed form);
3. re-tune the refined schedule's peak on a factor-2 grid and compare the last iterate's
   validation loss with linear decay, cosine (to 10%) and warmup-stable-decay.

By default the script plots the benchmark's cached results (3 seeds, every peak tuned,
``benchmarks/results/schedules_quality/``), running any missing stage of the benchmark
first (that takes tens of minutes on a CPU). ``--quick`` runs a one-seed version of the
protocol on the same model with a short horizon (about a minute on a laptop CPU). Plots the
gradient norms, the schedules, the loss curves and the final losses to
``examples/schedules/out/refine_gpt.png``.

    python examples/schedules/refine_gpt.py --quick
    python examples/schedules/refine_gpt.py
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "examples" / "llm"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import schedules as bench  # noqa: E402  (benchmarks/schedules.py)

from optlib.datasets import load_tinyshakespeare  # noqa: E402
from optlib.schedules import refine  # noqa: E402

FAMILIES = bench.FAMILIES
SHORT = {"linear": "linear decay", "cosine": "cosine to 10%", "wsd": "WSD (1-sqrt)",
         "refined": "refined (l1)"}


def quick_protocol() -> dict:
    """One seed, a short horizon: baselines at one peak, the refined schedule re-tuned on a
    factor-2 grid (every call below reuses one compiled program of 3 runs)."""
    qc = dataclasses.replace(bench.QUALITY, steps=150, seeds=(0,), eval_windows=512,
                             curve_every=5)
    corpus = load_tinyshakespeare()
    runner = bench._Runner(qc, jnp.asarray(corpus.train), jnp.asarray(corpus.val))
    T, peak = qc.steps, 1e-2
    shapes = {f: bench.schedule_shape(f, qc, quick=False)[0] for f in ("linear", "cosine", "wsd")}
    loss, curve, l1, l2 = runner(np.stack(list(shapes.values())), np.full(3, T),
                                 np.full(3, peak), np.zeros(3, int))
    out = {f: {"values": shapes[f], "tuned_peak": peak, "peaks": {peak: loss[i]},
               "curve": curve[i]} for i, f in enumerate(shapes)}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ref = refine(l1[0], norm="l1", num_points=T + 1)
    grid = np.array([peak / 2, peak, 2 * peak])
    loss_r, curve_r, _, _ = runner(np.broadcast_to(ref.values, (3, T + 1)), np.full(3, T), grid,
                                   np.zeros(3, int))
    b = int(np.argmin(loss_r))
    out["refined"] = {"values": ref.values, "tuned_peak": float(grid[b]),
                      "peaks": dict(zip(grid.tolist(), loss_r, strict=True)),
                      "curve": curve_r[b]}
    return {"qc": qc, "runs": out, "l1": l1[0], "l2": l2[0], "refined": ref,
            "warnings": [str(w.message) for w in caught], "horizons": None}


def cached_protocol() -> dict:
    """The benchmark's cached stages (running the missing ones first)."""
    qc = bench.QUALITY
    for stage in bench.STAGES[:-1]:
        try:
            bench.load_stage(False, stage)
        except FileNotFoundError:
            print(f"stage {stage!r} is not cached: running it (see benchmarks/schedules.py)",
                  flush=True)
            bench.quality_stage(stage, quick=False)
    runs = {}
    for f in FAMILIES:
        s = bench.load_stage(False, f)
        peaks = {float(p): np.asarray(v["loss"]) for p, v in s["peaks"].items()}
        runs[f] = {"values": np.asarray(s["values"]), "tuned_peak": s["tuned_peak"],
                   "peaks": peaks,
                   "curve": np.asarray(s["peaks"][repr(s["tuned_peak"])]["curve"]).mean(0)}
    lin = bench.load_stage(False, "linear")
    l1 = np.asarray(lin["tuned_l1_mean"])
    ref = refine(l1, norm="l1", num_points=qc.steps + 1, warn=False)
    return {"qc": qc, "runs": runs, "l1": l1, "l2": np.asarray(lin["tuned_l2_mean"]),
            "refined": ref, "warnings": bench.load_stage(False, "refined")["refine_info"]
            ["warnings"], "horizons": bench.load_stage(False, "horizons")["losses"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="one seed, 150 steps, on the benchmark's model (about a minute)")
    args = parser.parse_args()
    jax.config.update("jax_compilation_cache_dir",
                      os.environ.get("OPTLIB_JAX_CACHE", "/tmp/optlib_jax_cache"))
    res = quick_protocol() if args.quick else cached_protocol()
    qc, runs, ref = res["qc"], res["runs"], res["refined"]
    T = qc.steps
    print(f"GPT {qc.model}; {T} steps of batch {qc.batch_size}; seeds {qc.seeds}")
    for w in res["warnings"]:
        print("refine warned:", w)
    print(f"refined schedule: peak at {ref.peak_position:.0%} of the run, 90% of the peak by "
          f"{ref.warmup_fraction:.0%} (warm-up), smoothed l1 norm at 10% / at 90% of the run "
          f"{ref.norm_drop_ratio:.2f}, mean value {ref.mean_value:.2f} (linear decay: 0.50)")
    print("\n| schedule | tuned peak | final val loss | peaks tried (mean loss) |")
    print("|---|---|---|---|")
    for f in FAMILIES:
        r = runs[f]
        final = np.atleast_1d(r["peaks"][r["tuned_peak"]])
        print(f"| {SHORT[f]} | {r['tuned_peak']:g} | {final.mean():.4f} | " + " ".join(
            f"{p:g}:{np.mean(v):.4f}" for p, v in sorted(r["peaks"].items())) + " |")
    if not args.quick:
        print("\n(3 seeds; benchmarks/RESULTS.md has the paired differences and seed noise)")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(18, 4))
    steps = np.arange(T)
    ax = axes[0]
    l1, l2 = res["l1"], res["l2"]
    ax.plot(steps, l1 / np.median(l1), lw=0.6, alpha=0.5, color="C0", label="l1 (raw)")
    ax.plot(steps, l2 / np.median(l2), lw=0.6, alpha=0.5, color="C1", label="l2 (raw)")
    sm = ref.smoothed_norms / np.median(ref.smoothed_norms)
    ax.plot(np.linspace(0, T, sm.size), sm, lw=2, color="C0", label="l1, median-filtered")
    ax.set(title="gradient norms of the linear-decay run", xlabel="step",
           ylabel="norm / its median", ylim=(0, 3))
    ax.legend(fontsize=8)
    ax = axes[1]
    for i, f in enumerate(FAMILIES):
        v = runs[f]["values"]
        ax.plot(np.linspace(0, T, v.size), runs[f]["tuned_peak"] * v, color=f"C{i}",
                label=f"{SHORT[f]} (peak {runs[f]['tuned_peak']:g})")
    ax.set(title="schedules at their tuned peaks", xlabel="step", ylabel="learning rate")
    ax.legend(fontsize=8)
    ax = axes[2]
    for i, f in enumerate(FAMILIES):
        c = runs[f]["curve"]
        ax.plot((np.arange(c.size) + 0.5) * qc.curve_every, c, color=f"C{i}", label=SHORT[f])
    lo = min(float(runs[f]["curve"][-1]) for f in FAMILIES)
    ax.set(title=f"training loss (means over {qc.curve_every} steps)", xlabel="step",
           ylabel="nats", ylim=(lo - 0.1, lo + 0.8))
    ax.legend(fontsize=8)
    ax = axes[3]
    if res["horizons"] is None:
        for i, f in enumerate(FAMILIES):
            ps = sorted(runs[f]["peaks"])
            ax.plot(ps, [np.mean(runs[f]["peaks"][p]) for p in ps], "o-", color=f"C{i}",
                    label=SHORT[f])
        ax.set(xscale="log", title="final validation loss vs peak", xlabel="peak learning rate",
               ylabel="nats")
    else:
        target = float(np.mean(runs["cosine"]["peaks"][runs["cosine"]["tuned_peak"]]))
        for i, f in enumerate(FAMILIES):
            if f == "cosine":
                continue
            hs = {int(h): np.mean(v) for h, v in res["horizons"][f].items()}
            hs[T] = float(np.mean(runs[f]["peaks"][runs[f]["tuned_peak"]]))
            ax.plot(sorted(hs), [hs[h] for h in sorted(hs)], "o-", color=f"C{i}",
                    label=SHORT[f])
        ax.axhline(target, color="C1", ls="--", label="cosine's final loss")
        ax.set(title="final validation loss vs horizon", xlabel="horizon (steps)",
               ylabel="nats")
    ax.legend(fontsize=8)
    fig.tight_layout()
    out_dir = HERE / "out"
    out_dir.mkdir(exist_ok=True)
    fig.savefig(out_dir / "refine_gpt.png", dpi=110)
    print("saved", out_dir / "refine_gpt.png")


if __name__ == "__main__":
    main()
