"""Learn which training data to trust: per-source data weights for a character LM with ScaleBiO.

Four training sources are built from tiny Shakespeare: clean text, text with 30% of its
characters replaced at random, text whose words are shuffled within each line, and clean
text from plays held out of everything else (a domain shift). A clean validation set is the
upper-level data. :class:`optlib.bilevel.ScaleBiO` learns the logits ``theta`` of the
sampling weights ``softmax(theta)`` of the sources (the minimax, fully first-order form of
the bilevel problem: two copies of the model, no Hessians), training the small GPT of
``examples/llm/model.py`` from scratch at the same time.

Then, as in the paper's pipeline, fresh models are trained (same steps, same schedule) on
data sampled in proportion to the learned weights, on the uniform mixture, and on the clean
source alone (the oracle), and their loss on a clean test set is compared, over 3 seeds.
Prints the learned weights and a results table; saves the weight trajectories and the
comparison under ``examples/llm/out/``.

    python examples/llm/data_reweighting.py --quick     # < 1 minute on a laptop CPU
    python examples/llm/data_reweighting.py             # default: 3 seeds, a few minutes
    python examples/llm/data_reweighting.py --lisa      # ScaleBiO with LISA layer sampling
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1] / "benchmarks"))

from _data import lm_sources, windows  # noqa: E402
from _harness import markdown_table  # noqa: E402
from model import (  # noqa: E402
    GPTConfig,
    LMTrainer,
    eval_loss,
    init_params,
    loss_fn,
    train,
    use_cheap_compilation,
)

import optlib  # noqa: E402
from optlib.bilevel import LayerSampling, ScaleBiO, reweighting_problem  # noqa: E402
from optlib.schedules import linear_decay  # noqa: E402


@dataclasses.dataclass(frozen=True)
class Config:
    """What a run costs; scale up with a bigger ``model``, more steps and more seeds."""

    model: GPTConfig
    bilevel_steps: int        # ScaleBiO steps (each: 3 forward/backward passes)
    batch_size: int           # sequences per ScaleBiO batch and per training step
    train_steps: int          # steps of each final training run
    peak_lr: float            # AdamW peak learning rate (linear decay) for the final runs
    model_lr: float           # AdamW learning rate of ScaleBiO's two model copies
    weight_lr: float          # Adam learning rate of the source logits theta
    alpha: float              # ScaleBiO penalty weight (1 / sigma)
    seeds: tuple[int, ...]
    chars_per_source: int


QUICK = Config(GPTConfig(block_size=32, n_layer=2, n_head=2, n_embd=32), bilevel_steps=100,
               batch_size=32, train_steps=150, peak_lr=1e-2, model_lr=3e-3, weight_lr=5e-2,
               alpha=1.0, seeds=(0,), chars_per_source=60_000)
DEFAULT = Config(GPTConfig(block_size=48, n_layer=2, n_head=2, n_embd=48), bilevel_steps=250,
                 batch_size=32, train_steps=400, peak_lr=5e-3, model_lr=3e-3, weight_lr=3e-2,
                 alpha=1.0, seeds=(0, 1, 2), chars_per_source=200_000)


def mixture_stream(sources: tuple[np.ndarray, ...], probs: np.ndarray, length: int
                   ) -> np.ndarray:
    """A token stream in which source ``s`` fills a fraction ``probs[s]`` (tiled if short).

    Training windows drawn uniformly from the stream then come from source ``s`` with
    probability ``probs[s]`` (up to the few windows straddling two segments): training on
    data sampled in proportion to the weights, as ScaleBiO's pipeline does after reweighting.
    """
    counts = np.floor(np.asarray(probs, np.float64) * length).astype(int)
    counts[np.argmax(probs)] += length - counts.sum()
    parts = zip(sources, counts, strict=True)
    return np.concatenate([np.resize(src, n) for src, n in parts if n > 0])


def learn_weights(cfg: Config, data, seed: int, lisa: bool):
    """One ScaleBiO run; returns the learned probabilities and their trajectory."""
    L = cfg.model.block_size + 1
    wins = [windows(src, L) for src in data.sources]
    inner = {"windows": jnp.asarray(np.concatenate(wins)),
             "source": jnp.asarray(np.concatenate([np.full(len(w), i, np.int32)
                                                   for i, w in enumerate(wins)]))}
    outer = {"windows": jnp.asarray(windows(data.val, L))}
    model = cfg.model

    def example_loss(w, batch):
        # per-sequence losses: the model's own loss on one sequence at a time
        return jax.vmap(lambda s: loss_fn(w, model, s[None]))(batch["windows"])

    def validation_loss(w, batch):
        return loss_fn(w, model, batch["windows"])

    problem = reweighting_problem(example_loss, validation_loss, len(data.sources),
                                  inner_batch_size=cfg.batch_size,
                                  outer_batch_size=cfg.batch_size)
    sampling = (LayerSampling(LayerSampling.by_prefix("block_"), num_layers=model.n_layer,
                              num_active=1, interval=20) if lisa else None)
    solver = ScaleBiO(problem, alpha=cfg.alpha,
                      outer_hyperparams={"learning_rate": cfg.weight_lr, "weight_decay": 0.0},
                      inner_hyperparams={"learning_rate": cfg.model_lr, "weight_decay": 0.0},
                      layer_sampling=sampling)
    key = jax.random.key(1000 + seed)
    theta0 = jnp.zeros(len(data.sources))
    w0 = init_params(model, jax.random.fold_in(key, 0))
    every = max(1, cfg.bilevel_steps // 25)
    result = optlib.run(solver, (theta0, w0), inner, outer, key=jax.random.fold_in(key, 1),
                        max_steps=cfg.bilevel_steps,
                        hooks=[optlib.History(every=every, params=True),
                               optlib.ProgressBar(every=10, desc=f"ScaleBiO seed {seed}",
                                                  fields=("outer_value",))])
    trace = result.history.valid()
    probs_trace = np.asarray(jax.nn.softmax(jnp.asarray(trace.params[0]), axis=-1))
    probs = np.asarray(solver.data_weights(result.params))
    return probs, trace.step, probs_trace


def final_runs(cfg: Config, data, conditions: dict[str, np.ndarray], seed: int) -> dict:
    """Trains one fresh model per condition (same seed, steps and schedule); test losses."""
    length = sum(len(s) for s in data.sources)
    trainer = LMTrainer(cfg.model, schedule=linear_decay(cfg.peak_lr, cfg.train_steps,
                                                         warmup_steps=cfg.train_steps // 20),
                        batch_size=cfg.batch_size)
    key = jax.random.key(seed)
    params0 = init_params(cfg.model, jax.random.fold_in(key, 0))
    test = jnp.asarray(data.test)
    out = {}
    for name, probs in conditions.items():
        stream = jnp.asarray(mixture_stream(data.sources, probs, length))
        result = train(trainer, params0, stream, cfg.train_steps, jax.random.fold_in(key, 1))
        out[name] = float(eval_loss(result.params, cfg.model, test))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny model, one seed (< 1 min)")
    parser.add_argument("--lisa", action="store_true",
                        help="ScaleBiO with LISA layer sampling (one block trains at a time)")
    opts = parser.parse_args()
    if opts.quick:
        use_cheap_compilation()
    cfg = QUICK if opts.quick else DEFAULT
    start = time.perf_counter()
    data = lm_sources(jax.random.key(0), chars_per_source=cfg.chars_per_source,
                      val_chars=min(40_000, cfg.chars_per_source // 3))
    names = data.names
    k = len(names)
    sizes = ", ".join(f"{n} ({len(s):,} chars)" for n, s in zip(names, data.sources, strict=True))
    print(f"sources: {sizes}; validation {len(data.val):,}, test {len(data.test):,} chars")
    print(f"model: {cfg.model}")

    learned, losses, traces = [], [], []
    for seed in cfg.seeds:
        probs, steps, trajectory = learn_weights(cfg, data, seed, opts.lisa)
        learned.append(probs)
        traces.append((steps, trajectory))
        print(f"seed {seed}: learned weights " + ", ".join(
            f"{n} {p:.3f}" for n, p in zip(names, probs, strict=True)), flush=True)
        conditions = {"reweighted (ScaleBiO)": probs, "uniform mixture": np.full(k, 1 / k),
                      "clean only (oracle)": np.eye(k)[0]}
        losses.append(final_runs(cfg, data, conditions, seed))
        print(f"seed {seed}: test loss " + ", ".join(f"{c} {v:.4f}"
                                                     for c, v in losses[-1].items()), flush=True)
    learned = np.asarray(learned)

    rows = []
    for name in losses[0]:
        vals = np.array([run[name] for run in losses])
        rows.append({"training data": name,
                     "test loss (nats/char)": float(vals.mean()),
                     "s.d. over seeds": float(vals.std(ddof=1)) if len(vals) > 1 else 0.0,
                     "per seed": " ".join(f"{v:.4f}" for v in vals)})
    weight_rows = [{"source": n, "learned weight (mean)": float(learned[:, i].mean()),
                    "min over seeds": float(learned[:, i].min()),
                    "max over seeds": float(learned[:, i].max())}
                   for i, n in enumerate(names)]
    print()
    print(markdown_table(weight_rows))
    print()
    print(markdown_table(rows))
    rew = np.array([r["reweighted (ScaleBiO)"] for r in losses])
    uni = np.array([r["uniform mixture"] for r in losses])
    ora = np.array([r["clean only (oracle)"] for r in losses])
    gain = uni - rew
    spread = max(rew.std(ddof=1), uni.std(ddof=1)) if len(rew) > 1 else 0.0
    noisy_lowest = bool(np.all(learned[:, 1:3].max(axis=1) < learned[:, [0, 3]].min(axis=1)))
    closed = float(np.mean((uni - rew) / np.maximum(uni - ora, 1e-12)))
    print(f"\nnoisy sources (char noise, shuffled words) get the lowest weights: "
          f"{'yes' if noisy_lowest else 'no'}")
    print(f"reweighted vs uniform: {gain.mean():+.4f} nats lower test loss "
          f"(seed s.d. {spread:.4f}); gap to the oracle closed: {100 * closed:.0f}%")
    print(f"total time {time.perf_counter() - start:.0f} s")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = HERE / "out"
    out.mkdir(exist_ok=True)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for j, (steps, trajectory) in enumerate(traces):
        for i, n in enumerate(names):
            axes[0].plot(steps, trajectory[:, i], color=f"C{i}", alpha=0.9,
                         label=n if j == 0 else None)
    axes[0].set_xlabel("ScaleBiO step")
    axes[0].set_ylabel("source weight softmax(theta)")
    axes[0].legend(fontsize=8)
    axes[0].set_title("learned data weights", fontsize=10)
    x = np.arange(len(rows))
    axes[1].bar(x, [r["test loss (nats/char)"] for r in rows],
                yerr=[r["s.d. over seeds"] for r in rows], color=["C2", "C7", "C0"])
    axes[1].set_xticks(x, ["reweighted", "uniform", "clean only"])
    lo = min(r["test loss (nats/char)"] for r in rows)
    hi = max(r["test loss (nats/char)"] for r in rows)
    axes[1].set_ylim(lo - 0.5 * (hi - lo) - 0.01, hi + 0.3 * (hi - lo) + 0.01)
    axes[1].set_ylabel("clean test loss (nats/char)")
    axes[1].set_title(f"fresh model, {cfg.train_steps} steps, {len(cfg.seeds)} seed(s)",
                      fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "data_reweighting.png", dpi=120)
    print(f"saved {out / 'data_reweighting.png'}")


if __name__ == "__main__":
    main()
