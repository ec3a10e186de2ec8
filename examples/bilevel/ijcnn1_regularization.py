"""Learn 22 per-feature L2 regularization weights of a logistic regression on ijcnn1.

The lower level fits the model on the 49,990 training rows with penalty
``1/2 sum_j exp(x_j) w_j^2``; the upper level is the logistic loss on 10,000 validation rows.
We report validation and test loss and accuracy before and after, the learned weights, and
save a plot of the validation loss along the run.

    python examples/bilevel/ijcnn1_regularization.py [--quick] [--solver soba|penalty|implicit]
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import optlib
from optlib.bilevel import SOBA, ImplicitDiff, Penalty, problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps")
    parser.add_argument("--solver", choices=["soba", "penalty", "implicit"], default="implicit")
    args = parser.parse_args()
    jax.config.update("jax_enable_x64", True)

    stochastic = args.solver in ("soba", "penalty")
    task = problems.ijcnn1_regularization(jax.random.key(0),
                                          inner_batch_size=256 if stochastic else None,
                                          outer_batch_size=256 if stochastic else None)
    steps = {"soba": 3000, "penalty": 3000, "implicit": 200}[args.solver]
    steps = steps // 3 if args.quick else steps
    if args.solver == "soba":
        solver = SOBA(task.problem, outer_hyperparams={"learning_rate": 30.0, "power": 0.5},
                      inner_hyperparams={"learning_rate": 1.0, "power": 0.0})
    elif args.solver == "penalty":
        solver = Penalty(task.problem, sigma=5e-2, sigma0=5e-2, variant="single_loop",
                         outer_optimizer=optax.adam, outer_hyperparams={"learning_rate": 0.01},
                         inner_hyperparams={"learning_rate": 1.0})
    else:
        # 22 inner variables: Newton (dense Hessian) solves the warm-started lower level
        # in one or two steps, and the adjoint system is solved directly.
        solver = ImplicitDiff(task.problem, outer_optimizer=optax.adam,
                              outer_hyperparams={"learning_rate": 0.1},
                              inner_optimizer="newton", inner_hyperparams=None,
                              inner_steps=20, inner_tol=1e-8, linear_solver=optlib.Direct())

    # Evaluation off the run: refit the model accurately for a given x (L-BFGS, full batch).
    full = problems.ijcnn1_regularization(jax.random.key(0))
    refit = optlib.OptaxSolver(lambda w, x, d: full.problem.inner(x, w, d), optax.lbfgs(),
                               tol=1e-9)

    @jax.jit
    def evaluate(x):
        w = optlib.run(refit, full.y0, x, full.inner_data, max_steps=300).params
        out = {}
        for name, (X, t) in (("val", full.outer_data), ("test", full.test_data)):
            out[f"{name}_loss"] = jnp.mean(jnp.logaddexp(0.0, -t * (X @ w)))
            out[f"{name}_acc"] = jnp.mean(jnp.sign(X @ w) == t)
        return out

    start = time.perf_counter()
    result = optlib.run(solver, (task.x0, task.y0), task.inner_data, task.outer_data,
                        key=jax.random.key(1), max_steps=steps,
                        hooks=[optlib.History(every=max(1, steps // (20 if args.quick else 100)),
                                              params=True),
                               optlib.ProgressBar(every=max(1, steps // 50),
                                                  desc=f"ijcnn1 ({args.solver})")])
    jax.block_until_ready(result.params)
    seconds = time.perf_counter() - start
    before, after = evaluate(task.x0), evaluate(result.params[0])
    print(f"solver {args.solver}: {int(result.num_steps)} steps in {seconds:.1f} s "
          f"(status {optlib.Status(int(result.status)).name})")
    for name in ("val_loss", "val_acc", "test_loss", "test_acc"):
        print(f"  {name:9s} before {float(before[name]):.5f}  after {float(after[name]):.5f}")
    print("learned regularization exp(x):", np.round(np.exp(np.asarray(result.params[0])), 4))

    trace = result.history.valid()
    vals = [float(evaluate(jnp.asarray(x))["val_loss"]) for x in trace.params[0]]

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = os.path.join(os.path.dirname(__file__), "out")
    os.makedirs(out, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(trace.step, vals)
    ax.set_xlabel("outer step")
    ax.set_ylabel("validation loss at refitted w*(x)")
    ax.set_title(f"ijcnn1 per-feature regularization ({args.solver})")
    fig.tight_layout()
    path = os.path.join(out, f"ijcnn1_{args.solver}.png")
    fig.savefig(path, dpi=120)
    print("saved", path)


if __name__ == "__main__":
    main()
