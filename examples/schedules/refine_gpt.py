"""Schedule refinement on a small character-level GPT (tiny Shakespeare).

The protocol of Defazio et al. (arXiv:2310.07831):

1. train with linear decay (5% warm-up), logging the l1/l2 gradient norms of every update;
2. refine a schedule from the l1 norms (the Adam variant);
3. re-tune the refined schedule's peak on a factor-2 grid and compare validation losses.

Plots the gradient norms, the schedules and the loss curves to
``examples/schedules/out/refine_gpt.png``.

    python examples/schedules/refine_gpt.py --quick
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "llm"))

from model import GPTConfig, LMTrainer, eval_loss, init_params, num_params, train  # noqa: E402

import optlib  # noqa: E402
from optlib.datasets import load_tinyshakespeare  # noqa: E402
from optlib.schedules import from_array, linear_decay, logged_grad_norms, refine  # noqa: E402


def smooth(x: np.ndarray, width: int) -> np.ndarray:
    width = max(1, width)
    return np.convolve(x, np.ones(width) / width, mode="valid")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run (about a minute)")
    parser.add_argument("--steps", type=int, default=None, help="training steps")
    parser.add_argument("--peak", type=float, default=5e-3, help="linear decay's peak LR")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    T = args.steps or (100 if args.quick else 400)
    batch = 16 if args.quick else 32

    corpus = load_tinyshakespeare()
    train_data, val_data = jnp.asarray(corpus.train), jnp.asarray(corpus.val)
    cfg = GPTConfig(vocab_size=corpus.vocab_size)
    key = jax.random.key(args.seed)
    params0 = init_params(cfg, jax.random.fold_in(key, 0))
    print(f"GPT with {num_params(params0):,} parameters, {T} steps of batch {batch}")
    evaluate = jax.jit(lambda p: eval_loss(p, cfg, val_data))

    def fit(schedule, desc):
        trainer = LMTrainer(cfg, schedule=schedule, batch_size=batch, log_steps=T)
        result = train(trainer, params0, train_data, T, jax.random.fold_in(key, 1),
                       hooks=[optlib.ProgressBar(every=max(1, T // 20), desc=desc)])
        return result, float(evaluate(result.params))

    # 1. baseline: linear decay with a short warm-up, logging gradient norms
    base_sched = linear_decay(args.peak, T, warmup_steps=max(1, T // 20))
    base, base_val = fit(base_sched, "linear decay")
    logged = logged_grad_norms(base.state)
    l1, l2 = np.asarray(logged.l1), np.asarray(logged.l2)

    # 2. refine from the l1 norms (AdamW)
    out = refine(l1, norm="l1", num_points=T + 1)
    print(f"refined: peak at {out.peak_position:.0%} of the run, warm-up to 90% of the peak "
          f"by {out.warmup_fraction:.0%}, l1 norm drop (10% -> 90%) x{out.norm_drop_ratio:.2f}, "
          f"mean value {out.mean_value:.2f} (linear: 0.50)")

    # 3. re-tune the peak of the refined schedule on a factor-2 grid
    runs = {}
    for peak in (args.peak / 2, args.peak, 2 * args.peak):
        runs[peak] = fit(from_array(out.values, T, peak), f"refined, peak {peak:g}")
        print(f"  refined, peak {peak:g}: final val loss {runs[peak][1]:.4f}")
    best = min(runs, key=lambda p: runs[p][1])
    ref, ref_val = runs[best]
    print(f"final validation loss: linear decay {base_val:.4f}, refined {ref_val:.4f} "
          f"(peak {best:g}); difference {ref_val - base_val:+.4f} nats "
          f"(one seed: see benchmarks/schedules.py for seed noise)")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = np.arange(T)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    ax = axes[0]
    ax.plot(steps, l1 / l1.max(), lw=0.6, alpha=0.5, label="l1 (raw)")
    ax.plot(np.linspace(0, T - 1, out.smoothed_norms.size),
            out.smoothed_norms / out.smoothed_norms.max() * np.median(l1) / l1.max(),
            lw=2, label="l1 (median-filtered)")
    ax.plot(steps, l2 / l2.max(), lw=0.6, alpha=0.5, label="l2 (raw)")
    ax.set(title="gradient norms of the linear-decay run (scaled)", xlabel="step")
    ax.legend()
    ax = axes[1]
    ax.plot(steps, np.asarray(base.history.info.learning_rate), label="linear decay")
    ax.plot(steps, np.asarray(ref.history.info.learning_rate), label=f"refined (peak {best:g})")
    ax.set(title="learning rate", xlabel="step")
    ax.legend()
    ax = axes[2]
    w = max(1, T // 25)
    for name, r in (("linear decay", base), ("refined", ref)):
        ax.plot(steps[w - 1:], smooth(np.asarray(r.history.info.value), w), label=name)
    ax.set(title=f"training loss (moving average of {w})", xlabel="step", ylabel="nats")
    ax.set_ylim(top=float(np.median(np.asarray(base.history.info.value)[: T // 5])))
    ax.legend()
    fig.tight_layout()
    out_dir = HERE / "out"
    out_dir.mkdir(exist_ok=True)
    fig.savefig(out_dir / "refine_gpt.png", dpi=120)
    print("saved", out_dir / "refine_gpt.png")


if __name__ == "__main__":
    main()
