"""Clean noisy labels of a recurrent text classifier with BO-REP, SOBA, Penalty and ImplicitDiff.

The task is real text classification from tiny Shakespeare: attribute a 16-word piece of a
speech to its speaker among the three speakers with the most lines (whole speeches go to
training, validation or test; training pieces overlap, starting every 4 words). An LSTM
classifier over word embeddings (flax.linen) is trained on pieces of which 50% carry a wrong
speaker. Data hyper-cleaning is the bilevel problem: the upper level chooses one weight
``sigmoid(x_i)`` per training example so that the LSTM trained on the weighted loss (the
lower level, ``y`` = the LSTM's parameters) does well on a small clean validation set.

Recurrent networks are the motivating case of BO-REP (Hao, Gong & Liu, ICLR 2024): their
upper-level smoothness is unbounded, which BO-REP handles with normalized momentum and
periodic lower-level updates. It is compared with SOBA (single-loop, same hypergradient
estimator without normalization), the first-order :class:`optlib.bilevel.Penalty` method and
:class:`optlib.bilevel.ImplicitDiff` (inner solve plus conjugate gradients), every method
stochastic (minibatches of 64) and started from the same point, with plain training on the
noisy labels and with training on the clean pieces only (the oracle that hyper-cleaning
tries to recover), over 3 seeds (a seed fixes the corruption, initialization and batches;
the split is shared). Test accuracy is measured on clean test pieces every few steps; the
clock excludes compilation and evaluation. Prints a table and saves
``examples/llm/out/borep_text.png`` (test accuracy versus time).

    python examples/llm/borep_text.py --quick     # < 1 minute on a laptop CPU
    python examples/llm/borep_text.py             # default
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1] / "benchmarks"))

from _data import speaker_task  # noqa: E402
from _harness import markdown_table  # noqa: E402
from model import use_cheap_compilation  # noqa: E402

import optlib  # noqa: E402
from optlib.bilevel import (  # noqa: E402
    BOREP,
    SOBA,
    BilevelProblem,
    ImplicitDiff,
    Penalty,
    normalized_momentum,
)


class LSTMClassifier(nn.Module):
    """Word ids ``(B, L)`` -> class logits: embedding, LSTM, mean over time, linear."""

    vocab_size: int
    num_classes: int
    embed: int = 32
    hidden: int = 32

    @nn.compact
    def __call__(self, ids: jax.Array) -> jax.Array:
        h = nn.Embed(self.vocab_size, self.embed)(ids.astype(jnp.int32))
        h = nn.RNN(nn.OptimizedLSTMCell(self.hidden))(h)
        return nn.Dense(self.num_classes)(h.mean(axis=1))


@dataclasses.dataclass(frozen=True)
class Config:
    """What a run costs; scale up with ``hidden``, more steps, more speakers."""

    steps: int
    every: int              # steps between test evaluations
    batch_size: int
    hidden: int
    seeds: tuple[int, ...]  # a seed fixes the label corruption, the initialization, the batches
    num_speakers: int = 3
    length: int = 16        # words per piece
    train_stride: int = 4   # overlapping training pieces: 4x more of them
    corrupt_fraction: float = 0.5


QUICK = Config(steps=20, every=10, batch_size=32, hidden=16, seeds=(0,))
DEFAULT = Config(steps=300, every=25, batch_size=64, hidden=32, seeds=(0, 1, 2))
INNER_LR = 1e-2


def make_problem(model: LSTMClassifier, batch_size: int, reg: float = 1e-4) -> BilevelProblem:
    """Hyper-cleaning: ``x`` = per-example logits, ``y`` = the LSTM's parameters."""

    def ce(y, batch):
        logits = model.apply({"params": y}, batch["x"])
        return optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"])

    def inner(x, y, batch):
        w = jax.nn.sigmoid(x[batch["idx"]])
        l2 = sum(jnp.sum(p**2) for p in jax.tree.leaves(y))
        return jnp.mean(w * ce(y, batch)) + reg * l2

    def outer(x, y, batch):
        return jnp.mean(ce(y, batch)) + 0.0 * jnp.sum(x)

    return BilevelProblem(outer, inner, inner_batch_size=batch_size, outer_batch_size=batch_size)


def solvers(problem: BilevelProblem) -> dict:
    """The four methods; the lower level uses Adam (lr ``INNER_LR``) in every one of them."""
    adam = {"learning_rate": INNER_LR}
    outer_adam = {"learning_rate": 0.1}
    return {
        "BO-REP": BOREP(problem, outer_optimizer=normalized_momentum,
                        outer_hyperparams={"learning_rate": 1.0, "beta": 0.9},
                        inner_optimizer=optax.adam, inner_hyperparams=adam,
                        linear_system_lr=1e-2, period=2, inner_steps=3),
        "SOBA": SOBA(problem, outer_optimizer=optax.adam, outer_hyperparams=outer_adam,
                     inner_optimizer=optax.adam, inner_hyperparams=adam),
        "Penalty": Penalty(problem, outer_optimizer=optax.adam, outer_hyperparams=outer_adam,
                           inner_optimizer=optax.adam, inner_hyperparams=adam,
                           sigma=0.1, sigma0=1.0, inner_steps=3),
        "ImplicitDiff": ImplicitDiff(problem, outer_optimizer=optax.adam,
                                     outer_hyperparams=outer_adam, inner_optimizer=optax.adam,
                                     inner_hyperparams=adam, inner_steps=3, inner_tol=0.0,
                                     linear_solver=optlib.CG(rtol=1e-6, max_iter=5)),
    }


class ERM:
    """Plain minibatch training on the noisy labels (every weight fixed at sigmoid(0)): the
    baseline. It has the ``init``/``step`` shape of the bilevel solvers, so the same timed
    loop runs it; it takes one lower-level optimizer step per step, as the others' inner
    loops do."""

    def __init__(self, problem: BilevelProblem, learning_rate: float):
        self.problem, self.tx = problem, optax.adam(learning_rate)

    def init(self, params, inner_data, outer_data, key=None):
        return self.tx.init(params[1])

    def step(self, params, state, inner_data, outer_data, key=None):
        x, y = params
        batch = self.problem.inner_batch(inner_data, key)
        value, grad = jax.value_and_grad(self.problem.inner, argnums=1)(x, y, batch)
        updates, state = self.tx.update(grad, state, y)
        return (x, optax.apply_updates(y, updates)), state, optlib.bilevel.BilevelInfo(
            value, jnp.zeros_like(value), jnp.zeros_like(value))


def compile_chunk(solver, params, inner_data, outer_data, key, cfg: Config):
    """Compiles ``cfg.every`` steps of ``solver`` as one program whose data, start and key are
    arguments, so every seed reuses it."""

    def chunk(params, state, start, inner_data, outer_data, key):
        def body(carry, k):
            p, s = carry
            p, s, info = solver.step(p, s, inner_data, outer_data,
                                     key=jax.random.fold_in(key, start + k + 1))
            return (p, s), info.outer_value
        (params, state), values = jax.lax.scan(body, (params, state), jnp.arange(cfg.every))
        return params, state, values

    state = solver.init(params, inner_data, outer_data, key=jax.random.fold_in(key, 0))
    return jax.jit(chunk).lower(params, state, 0, inner_data, outer_data, key).compile()


def run_timed(solver, compiled, params, inner_data, outer_data, key, cfg: Config, accuracy):
    """Runs ``compiled`` chunks (the clock sees only the steps) and measures test accuracy
    between chunks."""
    state = solver.init(params, inner_data, outer_data, key=jax.random.fold_in(key, 0))
    times, accs, clock = [0.0], [accuracy(params[1])], 0.0
    for start in range(0, cfg.steps, cfg.every):
        t0 = time.perf_counter()
        params, state, _ = compiled(params, state, start, inner_data, outer_data, key)
        jax.block_until_ready(params)
        clock += time.perf_counter() - t0
        times.append(clock)
        accs.append(accuracy(params[1]))
    return params, np.array(times), np.array(accs)


NO_CLEANING, ORACLE = "no cleaning (noisy labels)", "clean-only oracle"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few steps, one seed (< 1 min)")
    opts = parser.parse_args()
    if opts.quick:
        use_cheap_compilation()
    cfg = QUICK if opts.quick else DEFAULT
    start = time.perf_counter()
    # one split of the speeches; every seed corrupts its training labels differently
    tasks = [speaker_task(jax.random.key(0), num_speakers=cfg.num_speakers, length=cfg.length,
                          corrupt_fraction=cfg.corrupt_fraction, train_stride=cfg.train_stride,
                          corrupt_key=jax.random.key(1000 + s)) for s in cfg.seeds]
    task = tasks[0]
    k = len(task.speakers)
    print(f"speakers: {', '.join(task.speakers)}; pieces of {cfg.length} words: "
          f"{len(task.y_train)} train (overlapping, stride {cfg.train_stride}; "
          f"{np.mean([t.corrupted.mean() for t in tasks]):.0%} labels corrupted), "
          f"{len(task.y_val)} validation, {len(task.y_test)} test; seeds {cfg.seeds}", flush=True)
    model = LSTMClassifier(task.vocab_size, k, hidden=cfg.hidden)
    problem = make_problem(model, cfg.batch_size)
    outer_data = {"x": jnp.asarray(task.x_val), "y": jnp.asarray(task.y_val)}
    x_test, y_test = jnp.asarray(task.x_test), jnp.asarray(task.y_test)

    @jax.jit
    def test_accuracy(y):
        return jnp.mean(jnp.argmax(model.apply({"params": y}, x_test), -1) == y_test)

    def accuracy(y):
        return float(test_accuracy(y))

    methods = {NO_CLEANING: ERM(problem, INNER_LR), ORACLE: ERM(problem, INNER_LR),
               **solvers(problem)}
    results: dict[str, list] = {name: [] for name in methods}
    compiled: dict[str, object] = {}
    for seed, t in zip(cfg.seeds, tasks, strict=True):
        key = jax.random.key(seed + 1)
        inner_data = {"x": jnp.asarray(t.x_train), "y": jnp.asarray(t.y_train),
                      "idx": jnp.arange(len(t.y_train))}
        y0 = model.init(jax.random.fold_in(key, 0), x_test[:1])["params"]
        for name, solver in methods.items():
            # the oracle keeps exactly the clean pieces (weights sigmoid(+-30))
            x0 = (jnp.where(jnp.asarray(t.corrupted), -30.0, 30.0) if name == ORACLE
                  else jnp.zeros(len(t.y_train)))
            kk = jax.random.fold_in(key, 1)
            if name not in compiled:
                compiled[name] = compile_chunk(solver, (x0, y0), inner_data, outer_data, kk, cfg)
            params, times, accs = run_timed(solver, compiled[name], (x0, y0), inner_data,
                                            outer_data, kk, cfg, accuracy)
            w = np.asarray(jax.nn.sigmoid(params[0]))
            results[name].append((times, accs, float(w[~t.corrupted].mean()),
                                  float(w[t.corrupted].mean())))
            print(f"seed {seed} {name}: test accuracy {accs[-1]:.3f} after {times[-1]:.1f} s",
                  flush=True)
    rows, curves = [], {}
    for name, runs in results.items():
        final = np.array([r[1][-1] for r in runs])
        times = np.mean([r[0] for r in runs], axis=0)
        curves[name] = (times, np.mean([r[1] for r in runs], axis=0))
        rows.append({"method": name, "final test acc": float(final.mean()),
                     "s.d. over seeds": float(final.std(ddof=1)) if len(final) > 1 else 0.0,
                     "best test acc": float(np.mean([r[1].max() for r in runs])),
                     "time (s)": float(times[-1]),
                     "ms / step": 1000 * float(times[-1]) / cfg.steps,
                     "mean weight, clean": float(np.mean([r[2] for r in runs])),
                     "mean weight, corrupted": float(np.mean([r[3] for r in runs]))})
    print()
    print(markdown_table(rows))
    base = rows[0]["final test acc"]
    bilevel = [r for r in rows if r["method"] not in (NO_CLEANING, ORACLE)]
    best = max(bilevel, key=lambda r: r["final test acc"])
    print(f"\nchance level {1 / k:.3f}; oracle {rows[1]['final test acc'] - base:+.3f} over no "
          f"cleaning; best bilevel method: {best['method']} "
          f"({best['final test acc'] - base:+.3f} test accuracy over no cleaning, mean of "
          f"{len(cfg.seeds)} seeds)")
    print(f"total time {time.perf_counter() - start:.0f} s")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = HERE / "out"
    out.mkdir(exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for i, (name, (times, accs)) in enumerate(curves.items()):
        ax.plot(times, accs, marker="o", ms=3, color=("C7", "k")[i] if i < 2 else f"C{i - 2}",
                ls="--" if i < 2 else "-", label=name)
    ax.axhline(1 / k, color="k", lw=0.5, ls=":")
    ax.set_xlabel("wall time, excluding compilation and evaluation (s)")
    ax.set_ylabel(f"test accuracy ({k} speakers, mean of {len(cfg.seeds)} seeds)")
    ax.set_title(f"LSTM speaker attribution, {cfg.corrupt_fraction:.0%} of labels corrupted",
                 fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "borep_text.png", dpi=120)
    print(f"saved {out / 'borep_text.png'}")


if __name__ == "__main__":
    main()
