"""Session-4 check of the refined schedule at the T = 4000, batch-32 scale, on one device.

Linear decay at its tuned peak (2e-2, from the GPU run of the protocol) against the refined
schedule built with the authors' median filter from that run's cached l1 norms, at the two
peaks 1e-2 and 2e-2: one vmapped batch of 9 runs (3 seeds each), paired by seed. Not the full
protocol (no peak re-tuning past these points, no cosine/WSD): it measures how much of the
refined schedule's deficit the filter fix removes at this scale. Writes
``benchmarks/results/schedules_quality_T4000_b32/cpu_check_refined_nearest.json``. About 30
minutes on the 2-core CPU box; seconds on a GPU.

Run from the repository root: ``PYTHONPATH=src python benchmarks/schedules_t4000_check.py``.
``--refined-peaks 4e-2`` (session 5) trains only the refined schedule at the given peaks and
adds them to the same JSON, paired with its cached linear runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import schedules as bench  # noqa: E402

from optlib.datasets import load_tinyshakespeare  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--refined-peaks", type=float, nargs="+", default=None,
                        help="train only the refined schedule at these peaks (extends the JSON)")
    args = parser.parse_args()
    jax.config.update("jax_compilation_cache_dir",
                      os.environ.get("OPTLIB_JAX_CACHE", "/tmp/optlib_jax_cache"))
    bench.TAG = "_T4000_b32"
    qc = dataclasses.replace(bench.QUALITY, steps=4000, batch_size=32)
    linear, _ = bench.schedule_shape("linear", qc, False)
    refined, info = bench.schedule_shape("refined", qc, False)
    info = {k: v for k, v in info.items() if k != "smoothed_norms"}
    print("refined:", info, flush=True)
    corpus = load_tinyshakespeare()
    runner = bench._Runner(qc, jnp.asarray(corpus.train), jnp.asarray(corpus.val))
    seeds = np.asarray(qc.seeds)
    path = bench.cache_dir(False) / "cpu_check_refined_nearest.json"
    if args.refined_peaks:
        out = json.loads(path.read_text())
        k = len(args.refined_peaks)
        start = time.time()
        loss, _, _, _ = runner(np.stack([refined] * 3 * k), np.full(3 * k, qc.steps),
                               np.repeat(args.refined_peaks, 3), np.tile(seeds, k))
        for i, peak in enumerate(args.refined_peaks):
            key = f"refined@{peak:.0e}".replace("e-0", "e-")
            out[key] = loss[3 * i:3 * i + 3].tolist()
            d = np.asarray(out[key]) - np.asarray(out["linear@2e-2"])
            out[key + " - linear"] = [float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d)))]
        out[f"wall_s {args.refined_peaks}"] = time.time() - start
        print(json.dumps(out, indent=1))
        path.write_text(json.dumps(out, indent=1))
        print("wrote", path)
        return
    values = np.stack([linear] * 3 + [refined] * 6)
    peaks = np.array([2e-2] * 3 + [1e-2] * 3 + [2e-2] * 3)
    start, load0 = time.time(), os.getloadavg()[0]
    loss, _, _, _ = runner(values, np.full(9, qc.steps), peaks, np.tile(seeds, 3))
    out = {"machine": bench.machine_info(), "linear@2e-2": loss[:3].tolist(),
           "refined@1e-2": loss[3:6].tolist(), "refined@2e-2": loss[6:].tolist(),
           "wall_s": time.time() - start, "load": [load0, os.getloadavg()[0]],
           "refine_info": info}
    for key in ("refined@1e-2", "refined@2e-2"):
        d = np.asarray(out[key]) - np.asarray(out["linear@2e-2"])
        out[key + " - linear"] = [float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d)))]
    print(json.dumps(out, indent=1))
    path.write_text(json.dumps(out, indent=1))
    print("wrote", path)


if __name__ == "__main__":
    main()
