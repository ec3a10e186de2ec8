"""Schedules benchmark: (a) overhead of array-backed schedules and of gradient-norm logging
inside a jitted GPT training step; (b) schedule quality on a char-level GPT (tiny Shakespeare).

    python benchmarks/schedules.py --quick          # minutes
    python benchmarks/schedules.py                  # the full version (tens of minutes on CPU)

(b) follows the refinement protocol of Defazio et al.: tune linear decay's peak on a factor-2
grid, refine from the l1 gradient norms of the tuned linear runs, re-tune the refined
schedule's peak on the same grid; every schedule gets the same grid and seeds. The final
(last-iterate) validation loss is compared, paired by seed (same initialization and batch
order), and the steps each schedule needs to reach cosine's final loss are found by
re-running at shorter horizons.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples" / "llm"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import optlib  # noqa: E402
from _harness import compile_seconds, machine_info, markdown_table, write_results  # noqa: E402
from model import GPTConfig, LMTrainer, eval_loss, init_params  # noqa: E402
from optlib.datasets import load_tinyshakespeare  # noqa: E402
from optlib.schedules import (  # noqa: E402
    ArraySchedule,
    cosine,
    from_array,
    grad_norm_logger,
    linear_decay,
    logged_grad_norms,
    refine,
    wsd,
)

# ----------------------------------------------------------------------------------------
# (a) overhead


def _k_steps(trainer: LMTrainer, k: int):
    def run(params, state, data, key):
        def body(carry, i):
            p, s = carry
            p, s, info = trainer.step(p, s, data, key=jax.random.fold_in(key, i))
            return (p, s), info.value
        (params, state), values = jax.lax.scan(body, (params, state), jnp.arange(k))
        return params, state, values
    return run


def overhead(cfg: GPTConfig, data: jax.Array, quick: bool) -> dict:
    k, rounds, T = (10, 9, 1000) if quick else (20, 25, 5000)
    peak = 3e-3
    variants = {
        "constant LR": LMTrainer(cfg, schedule=peak),
        "linear_decay": LMTrainer(cfg, schedule=linear_decay(peak, T, warmup_steps=T // 20)),
        "from_array (4096 knots)": LMTrainer(cfg, schedule=from_array(
            np.linspace(1.0, 0.0, 4096) ** 2, T, peak)),
        "constant LR + grad_norm_logger": LMTrainer(cfg, schedule=peak, log_steps=T),
        "from_array + grad_norm_logger": LMTrainer(cfg, schedule=from_array(
            np.linspace(1.0, 0.0, 4096) ** 2, T, peak), log_steps=T),
    }
    params = init_params(cfg, jax.random.key(0))
    key = jax.random.key(1)
    compiled, states, compile_s = {}, {}, {}
    for name, trainer in variants.items():
        state = trainer.init(params, data)
        compile_s[name], compiled[name] = compile_seconds(_k_steps(trainer, k), params, state,
                                                          data, key)
        states[name] = state
        jax.block_until_ready(compiled[name](params, state, data, key))
    # interleaved rounds, so slow drifts of a shared machine hit every variant alike
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name in variants:
            start = time.perf_counter()
            jax.block_until_ready(compiled[name](params, states[name], data, key))
            times[name].append((time.perf_counter() - start) / k)
    base = statistics.median(times["constant LR"])

    # component costs: the schedule evaluation and the logger update on their own
    sched = from_array(np.linspace(1.0, 0.0, 4096) ** 2, T, peak)
    counts = jnp.arange(100_000)
    ev = jax.jit(jax.vmap(sched))
    jax.block_until_ready(ev(counts))
    t0 = time.perf_counter()
    for _ in range(5):
        jax.block_until_ready(ev(counts))
    per_eval = (time.perf_counter() - t0) / 5 / counts.size
    logger = grad_norm_logger(T)
    lstate = logger.init(params)
    upd = jax.jit(lambda g, s: logger.update(g, s)[1])
    jax.block_until_ready(upd(params, lstate))
    t0 = time.perf_counter()
    for _ in range(50):
        lstate = upd(params, lstate)
    jax.block_until_ready(lstate)
    per_log = (time.perf_counter() - t0) / 50

    rows = []
    for name in variants:
        med = statistics.median(times[name])
        q = statistics.quantiles(times[name], n=4)
        rows.append({"variant": name, "step ms (median)": 1e3 * med,
                     "IQR ms": 1e3 * (q[2] - q[0]),
                     "overhead vs constant": f"{100 * (med / base - 1):+.2f}%",
                     "compile s": compile_s[name]})
    components = [
        {"component": "from_array schedule evaluation (4096 knots)",
         "cost us": 1e6 * per_eval, "share of a step": f"{100 * per_eval / base:.4f}%",
         "target": "< 0.5%"},
        {"component": "grad_norm_logger update (l2 + l1 of all gradients)",
         "cost us": 1e6 * per_log, "share of a step": f"{100 * per_log / base:.3f}%",
         "target": "< 2%"},
    ]
    return {"steps_per_call": k, "rounds": rounds, "rows": rows, "components": components}


# ----------------------------------------------------------------------------------------
# (b) quality


@functools.partial(jax.jit, static_argnames=("cfg", "batch_size", "num_steps", "log"))
def _train_batch(values, peaks, seeds, train, val, *, cfg, batch_size, num_steps, log):
    """Trains one model per row of ``values``/``peaks``/``seeds`` (vmapped)."""

    def one(v, peak, seed):
        trainer = LMTrainer(cfg, schedule=ArraySchedule(v, num_steps, peak),
                            batch_size=batch_size, log_steps=num_steps if log else 0)
        base = jax.random.key(seed)
        params = init_params(cfg, jax.random.fold_in(base, 0))
        result = optlib.run_steps(trainer, params, train, num_steps=num_steps,
                                  key=jax.random.fold_in(base, 1))
        l1 = logged_grad_norms(result.state).l1 if log else jnp.zeros(num_steps)
        return eval_loss(result.params, cfg, val), result.history.info.value, l1

    return jax.vmap(one)(values, peaks, seeds)


def _values(schedule, T: int) -> np.ndarray:
    # knots at every count 0..T: the array schedule then reproduces the schedule exactly
    return np.asarray(jax.vmap(schedule)(jnp.arange(T + 1)), np.float64)


def quality(cfg: GPTConfig, train: jax.Array, val: jax.Array, quick: bool) -> dict:
    T = 100 if quick else 300
    batch = 16 if quick else 32
    seeds = [0, 1, 2]
    grid = [2.5e-3, 5e-3, 1e-2]
    fractions = [0.5, 0.75] if quick else [0.5, 0.625, 0.75, 0.875]
    warm = max(1, T // 20)
    shapes = {
        "linear decay (5% warm-up)": _values(linear_decay(1.0, T, warmup_steps=warm), T),
        "cosine to 10% (5% warm-up)": _values(cosine(1.0, T, warmup_steps=warm,
                                                     end_value=0.1), T),
        "WSD 1-sqrt 20% (5% warm-up)": _values(wsd(1.0, T, warmup_steps=warm,
                                                   cooldown="1-sqrt"), T),
    }
    run = functools.partial(_train_batch, train=train, val=val, cfg=cfg, batch_size=batch)
    n_runs = 0
    start = time.perf_counter()

    def sweep(name: str, values: np.ndarray, peaks: list[float]) -> dict[float, tuple]:
        nonlocal n_runs
        P = np.repeat(peaks, len(seeds))
        S = np.tile(seeds, len(peaks))
        V = np.broadcast_to(values, (len(P), values.size))
        loss, curve, l1 = jax.device_get(run(jnp.asarray(V), jnp.asarray(P), jnp.asarray(S),
                                             num_steps=T, log=True))
        n_runs += len(P)
        out = {}
        for i, p in enumerate(peaks):
            sl = slice(i * len(seeds), (i + 1) * len(seeds))
            out[p] = (loss[sl], curve[sl], l1[sl])
        print(f"  [{time.perf_counter() - start:6.0f} s] {name}: " + ", ".join(
            f"{p:g} -> {np.mean(v[0]):.4f}" for p, v in out.items()), flush=True)
        return out

    def tuned(name: str, values: np.ndarray) -> tuple[float, dict]:
        results = sweep(name, values, grid)
        best = min(results, key=lambda p: np.mean(results[p][0]))
        # extend the factor-2 grid by one point past an edge optimum
        if best in (grid[0], grid[-1]):
            extra = best / 2 if best == grid[0] else best * 2
            results.update(sweep(name, values, [extra]))
            best = min(results, key=lambda p: np.mean(results[p][0]))
        return best, results

    print(f"quality: T={T}, batch {batch}, seeds {seeds}, grid {grid}", flush=True)
    tuned_runs = {}
    for name, values in shapes.items():
        tuned_runs[name] = (values, *tuned(name, values))
    lin_name = "linear decay (5% warm-up)"
    _, lin_peak, lin_results = tuned_runs[lin_name]
    pilot_l1 = np.mean(lin_results[lin_peak][2], axis=0)
    ref = refine(pilot_l1, norm="l1", num_points=T + 1)
    ref_name = "refined (l1, from tuned linear)"
    tuned_runs[ref_name] = (ref.values, *tuned(ref_name, ref.values))

    cos_name = "cosine to 10% (5% warm-up)"
    cos_loss = tuned_runs[cos_name][2][tuned_runs[cos_name][1]][0]
    target = float(np.mean(cos_loss))
    rows = []
    for name, (values, peak, results) in tuned_runs.items():
        loss = results[peak][0]
        diff = loss - cos_loss                       # paired by seed
        rows.append({"schedule": name, "tuned peak": peak,
                     "final val loss (mean)": float(np.mean(loss)),
                     "s.d. over seeds": float(np.std(loss, ddof=1)),
                     "paired diff vs cosine": float(np.mean(diff)),
                     "s.e. of diff": float(np.std(diff, ddof=1) / np.sqrt(len(diff))),
                     "grid": " ".join(f"{p:g}:{np.mean(r[0]):.3f}"
                                      for p, r in sorted(results.items()))})
    lin_loss = tuned_runs[lin_name][2][lin_peak][0]
    ref_loss = tuned_runs[ref_name][2][tuned_runs[ref_name][1]][0]
    d = ref_loss - lin_loss
    refined_vs_linear = {"paired diff refined - linear": float(np.mean(d)),
                         "s.e.": float(np.std(d, ddof=1) / np.sqrt(len(d)))}

    # steps to reach cosine's final loss: the same schedules, tuned peaks, shorter horizons
    horizon_rows = []
    for name in (lin_name, ref_name):
        values, peak, results = tuned_runs[name]
        curve = {T: float(np.mean(results[peak][0]))}
        for f in fractions:
            H = int(round(f * T))
            shape_h = (_values(linear_decay(1.0, H, warmup_steps=max(1, H // 20)), H)
                       if name == lin_name else
                       np.interp(np.linspace(0, 1, H + 1), np.linspace(0, 1, values.size),
                                 values))
            V = np.broadcast_to(shape_h, (len(seeds), H + 1))
            loss, _, _ = jax.device_get(run(jnp.asarray(V), jnp.full(len(seeds), peak),
                                            jnp.asarray(seeds), num_steps=H, log=False))
            n_runs += len(seeds)
            curve[H] = float(np.mean(loss))
            print(f"  [{time.perf_counter() - start:6.0f} s] {name} at H={H}: "
                  f"{curve[H]:.4f}", flush=True)
        hs = sorted(curve)
        reached = [h for h in hs if curve[h] <= target]
        if not reached:
            steps = None
        else:
            h1 = reached[0]
            i = hs.index(h1)
            if i == 0:
                steps = float(h1)                    # reached already at the shortest horizon
            else:
                h0 = hs[i - 1]                       # interpolate between the bracketing runs
                steps = h0 + (curve[h0] - target) / (curve[h0] - curve[h1]) * (h1 - h0)
        horizon_rows.append({
            "schedule": name, "target (cosine final loss)": target,
            "val loss by horizon": " ".join(f"{h}:{curve[h]:.4f}" for h in hs),
            "steps to target": "not reached" if steps is None else (
                f"<= {steps:.0f}" if steps == hs[0] else f"{steps:.0f}"),
            "fewer steps than cosine": "-" if steps is None else f"{100 * (1 - steps / T):.0f}%"})
    return {"T": T, "batch_size": batch, "seeds": seeds, "grid": grid, "config": vars(cfg),
            "rows": rows, "refined_vs_linear": refined_vs_linear,
            "refine_info": {"peak_position": ref.peak_position,
                            "warmup_fraction": ref.warmup_fraction,
                            "norm_drop_ratio": ref.norm_drop_ratio,
                            "mean_value": ref.mean_value},
            "refined_values": ref.values[:: max(1, T // 50)].tolist(),
            "pilot_l1": pilot_l1.tolist(),
            "horizons": horizon_rows, "runs": n_runs,
            "wall_s": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small version (minutes)")
    parser.add_argument("--part", choices=["all", "overhead", "quality"], default="all")
    args = parser.parse_args()
    corpus = load_tinyshakespeare()
    train, val = jnp.asarray(corpus.train), jnp.asarray(corpus.val)
    cfg = GPTConfig(vocab_size=corpus.vocab_size)
    payload: dict = {"quick": args.quick, "optax": optax.__version__}
    print(machine_info())
    if args.part in ("all", "overhead"):
        payload["overhead"] = overhead(cfg, train, args.quick)
        print(markdown_table(payload["overhead"]["rows"]))
        print(markdown_table(payload["overhead"]["components"]))
    if args.part in ("all", "quality"):
        payload["quality"] = quality(cfg, train, val, args.quick)
        q = payload["quality"]
        print(markdown_table(q["rows"]))
        print(q["refined_vs_linear"], q["refine_info"])
        print(markdown_table(q["horizons"]))
    suffix = "_quick" if args.quick else ""
    part = "" if args.part == "all" else f"_{args.part}"
    print("wrote", write_results(f"schedules{part}{suffix}", payload))


if __name__ == "__main__":
    main()
