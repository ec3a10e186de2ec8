"""Refine a language model's learning-rate schedule from the gradient norms of a previous run.

The recipe of Defazio et al. ("Optimal linear decay learning rate schedules and further
refinements"): train the small GPT of ``examples/llm/model.py`` once with linear decay while
:func:`optlib.schedules.grad_norm_logger` records the l1 norm of every update's gradient;
:func:`optlib.schedules.refine` turns that norm profile into a new schedule (large early
norms give a warm-up, a late rise gives a faster final decay); train again with the refined
schedule, re-tuning its peak, and compare the last-iterate validation loss with linear
decay, cosine (to 10%) and warmup-stable-decay (WSD, 1-sqrt cooldown), every schedule given
the same peak grid and seeds.

This is the quality part of ``benchmarks/schedules.py`` as a readable example: it reuses the
benchmark's batched trainer (one ``vmap`` over peaks and seeds per schedule) at a smaller
scale. Prints a results table and saves the gradient norms, the schedules and the loss
curves to ``examples/llm/out/schedule_refinement.png``.

    python examples/llm/schedule_refinement.py --quick     # < 1 minute on a laptop CPU
    python examples/llm/schedule_refinement.py             # default: 3 seeds, peak grid
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
import warnings
from pathlib import Path

import jax.numpy as jnp
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1] / "benchmarks"))

import schedules as bench  # noqa: E402  (benchmarks/schedules.py)
from _harness import markdown_table  # noqa: E402
from model import GPTConfig, use_cheap_compilation  # noqa: E402

from optlib.datasets import load_tinyshakespeare  # noqa: E402
from optlib.schedules import cosine, linear_decay, refine, wsd  # noqa: E402


@dataclasses.dataclass(frozen=True)
class Config:
    """What a run costs; scale up with a bigger ``model``, a longer horizon, more seeds."""

    model: GPTConfig
    steps: int
    batch_size: int
    peaks: tuple[float, ...]   # peak learning rates tried for every schedule
    seeds: tuple[int, ...]


QUICK = Config(GPTConfig(block_size=32, n_layer=2, n_head=2, n_embd=32), steps=100,
               batch_size=16, peaks=(1e-2,), seeds=(0,))
DEFAULT = Config(GPTConfig(block_size=48, n_layer=2, n_head=2, n_embd=48), steps=250,
                 batch_size=32, peaks=(5e-3, 1e-2, 2e-2), seeds=(0, 1, 2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny model, one seed (< 1 min)")
    opts = parser.parse_args()
    if opts.quick:
        use_cheap_compilation()
    cfg = QUICK if opts.quick else DEFAULT
    T = cfg.steps
    start = time.perf_counter()
    corpus = load_tinyshakespeare()
    train, val = jnp.asarray(corpus.train), jnp.asarray(corpus.val)
    warm = max(1, T // 20)
    shapes = {"linear decay": bench._values(linear_decay(1.0, T, warmup_steps=warm), T),
              "cosine to 10%": bench._values(cosine(1.0, T, warmup_steps=warm, end_value=0.1), T),
              "WSD (1-sqrt, 20%)": bench._values(wsd(1.0, T, warmup_steps=warm,
                                                     cooldown="1-sqrt"), T)}
    P = np.repeat(cfg.peaks, len(cfg.seeds))
    S = np.tile(cfg.seeds, len(cfg.peaks))
    n = len(P)

    def run(values: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every schedule in ``values`` at every (peak, seed) pair, in one batched run."""
        V = np.concatenate([np.broadcast_to(v, (n, T + 1)) for v in values])
        out = bench._train_batch(jnp.asarray(V), jnp.asarray(np.tile(P, len(values))),
                                 jnp.asarray(np.tile(S, len(values))), train, val,
                                 cfg=cfg.model, batch_size=cfg.batch_size, num_steps=T, log=True)
        return tuple(np.asarray(a).reshape(len(values), n, *a.shape[1:]) for a in out)

    print(f"model {cfg.model}; {T} steps of batch {cfg.batch_size}; peaks {cfg.peaks}; "
          f"seeds {cfg.seeds}", flush=True)
    # 1) the baselines, linear decay among them, with the gradient norms logged
    loss, curves, l1 = run(list(shapes.values()))
    print(f"[{time.perf_counter() - start:5.0f} s] baselines trained", flush=True)
    results = {name: (loss[i], curves[i]) for i, name in enumerate(shapes)}
    lin = list(shapes).index("linear decay")
    best_lin = int(np.argmin([loss[lin][P == p].mean() for p in cfg.peaks]))
    pilot = l1[lin][P == cfg.peaks[best_lin]].mean(axis=0)
    # 2) refine from the l1 norms of the best linear-decay run (AdamW: l1 weighting)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ref = refine(pilot, norm="l1", num_points=T + 1)
    for w in caught:
        print(f"refine warned: {w.message}")
    shapes["refined (from linear's l1 norms)"] = ref.values
    # 3) the refined schedule on the same peak grid and seeds
    loss_r, curves_r, _ = run([ref.values])
    print(f"[{time.perf_counter() - start:5.0f} s] refined schedule trained", flush=True)
    results["refined (from linear's l1 norms)"] = (loss_r[0], curves_r[0])

    lin_best = results["linear decay"][0][P == cfg.peaks[best_lin]]
    rows = []
    for name, (ls, _) in results.items():
        means = [ls[P == p].mean() for p in cfg.peaks]
        b = int(np.argmin(means))
        best = ls[P == cfg.peaks[b]]
        diff = best - lin_best                        # paired by seed
        rows.append({"schedule": name, "tuned peak": cfg.peaks[b],
                     "final val loss": float(best.mean()),
                     "s.d. over seeds": float(best.std(ddof=1)) if len(best) > 1 else 0.0,
                     "vs linear (paired)": float(diff.mean()),
                     "all peaks": " ".join(f"{p:g}:{m:.4f}"
                                           for p, m in zip(cfg.peaks, means, strict=True))})
    print()
    print(markdown_table(rows))
    print(f"\nrefined schedule: peak at {100 * ref.peak_position:.0f}% of the run, reaches 90% "
          f"of its peak at {100 * ref.warmup_fraction:.0f}% (warm-up), mean value "
          f"{ref.mean_value:.2f} (linear decay: 0.50); smoothed l1 norm at 10% / at 90% of "
          f"the run: {ref.norm_drop_ratio:.2f}")
    print(f"total time {time.perf_counter() - start:.0f} s")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = HERE / "out"
    out.mkdir(exist_ok=True)
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    t = np.arange(T)
    axes[0].plot(t, pilot, color="C7", alpha=0.5, label="raw")
    # refine() returns the smoothed norms up to a scale; put them on the raw norms' scale
    smooth = ref.smoothed_norms * np.median(pilot) / np.median(ref.smoothed_norms)
    axes[0].plot(np.linspace(0, T, len(smooth)), smooth, color="C0",
                 label="median-smoothed")
    axes[0].set_ylim(0, 3 * float(np.median(pilot)))
    axes[0].set_xlabel("step")
    axes[0].set_ylabel("l1 gradient norm")
    axes[0].set_title("linear-decay run: gradient norms", fontsize=10)
    axes[0].legend(fontsize=8)
    for i, (name, v) in enumerate(shapes.items()):
        axes[1].plot(np.linspace(0, T, len(v)), v, color=f"C{i}", label=name)
    axes[1].set_xlabel("step")
    axes[1].set_ylabel("learning rate / peak")
    axes[1].set_title("schedules", fontsize=10)
    axes[1].legend(fontsize=7)
    k = max(1, T // 15)
    for i, (name, (ls, cv)) in enumerate(results.items()):
        b = int(np.argmin([ls[P == p].mean() for p in cfg.peaks]))
        c = cv[P == cfg.peaks[b]].mean(axis=0)
        smooth = np.convolve(c, np.ones(k) / k, mode="valid")
        axes[2].plot(np.arange(len(smooth)) + k - 1, smooth, color=f"C{i}", label=name)
    axes[2].set_ylim(None, float(np.median(curves[lin][0])) + 0.3)
    axes[2].set_xlabel("step")
    axes[2].set_ylabel("training loss (moving average)")
    axes[2].set_title("training loss at the tuned peak", fontsize=10)
    axes[2].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "schedule_refinement.png", dpi=120)
    print(f"saved {out / 'schedule_refinement.png'}")


if __name__ == "__main__":
    main()
