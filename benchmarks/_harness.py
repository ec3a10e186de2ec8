"""Shared benchmark harness: warm-up, compile time apart, medians, JSON and Markdown output.

Every clock read is preceded by ``jax.block_until_ready``. Compile time is measured
with ``jax.jit(fn).lower(*args).compile()``; run time is the median over repeats of
the already-compiled executable.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def machine_info() -> dict[str, Any]:
    """CPU model, core count, accelerator, and library versions."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    device = jax.devices()[0]
    import optax

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "backend": jax.default_backend(),
        "device": getattr(device, "device_kind", str(device)),
        "jax": jax.__version__,
        "optax": optax.__version__,
        "python": platform.python_version(),
        "x64": bool(jax.config.jax_enable_x64),
    }


def peak_memory_mb() -> float:
    """Peak memory: device memory on an accelerator, resident set size of this process on CPU."""
    device = jax.devices()[0]
    stats = device.memory_stats() if hasattr(device, "memory_stats") else None
    if stats and "peak_bytes_in_use" in stats:
        return stats["peak_bytes_in_use"] / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def compile_seconds(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[float, Any]:
    """Lowers and compiles ``jax.jit(fn)`` for ``args``; returns (seconds, compiled)."""
    start = time.perf_counter()
    compiled = jax.jit(fn).lower(*args, **kwargs).compile()
    return time.perf_counter() - start, compiled


def time_call(fn: Callable[[], Any], repeats: int = 7, warmup: int = 1) -> dict[str, float]:
    """Median, min and interquartile range of the wall time of ``fn()`` (outputs blocked on)."""
    for _ in range(warmup):
        jax.block_until_ready(fn())
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    times.sort()
    q = statistics.quantiles(times, n=4) if len(times) >= 2 else [times[0]] * 3
    return {"median_s": statistics.median(times), "min_s": times[0], "iqr_s": q[2] - q[0],
            "repeats": repeats}


def time_jitted(fn: Callable[..., Any], *args: Any, repeats: int = 7) -> dict[str, float]:
    """Compile time and run-time statistics of ``jax.jit(fn)(*args)``, measured apart."""
    compile_s, compiled = compile_seconds(fn, *args)
    stats = time_call(lambda: compiled(*args), repeats=repeats)
    stats["compile_s"] = compile_s
    return stats


def time_interleaved(fns: dict[str, Callable[..., Any]], *args: Any, repeats: int = 9
                     ) -> dict[str, dict[str, float]]:
    """Compiles each ``jax.jit(fn)`` apart, then times them round-robin.

    Interleaving the repeats exposes every contender to the same background load, which
    keeps ratios meaningful on a shared machine.
    """
    compiled, compile_s = {}, {}
    for name, fn in fns.items():
        compile_s[name], compiled[name] = compile_seconds(fn, *args)
        jax.block_until_ready(compiled[name](*args))
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in compiled.items():
            start = time.perf_counter()
            jax.block_until_ready(fn(*args))
            times[name].append(time.perf_counter() - start)
    out = {}
    for name, ts in times.items():
        ts.sort()
        q = statistics.quantiles(ts, n=4) if len(ts) >= 2 else [ts[0]] * 3
        out[name] = {"median_s": statistics.median(ts), "min_s": ts[0], "iqr_s": q[2] - q[0],
                     "repeats": repeats, "compile_s": compile_s[name]}
    return out


def markdown_table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None,
                   floatfmt: str = ".4g") -> str:
    """Renders ``rows`` (dicts) as a Markdown table."""
    if not rows:
        return "(no rows)"
    columns = list(columns or rows[0].keys())

    def cell(v: Any) -> str:
        return format(v, floatfmt) if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def write_results(area: str, payload: dict[str, Any]) -> Path:
    """Writes ``benchmarks/results/<area>.json`` with the machine description added."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{area}.json"
    payload = {"machine": machine_info(), "date": time.strftime("%Y-%m-%d %H:%M:%S"), **payload}
    path.write_text(json.dumps(payload, indent=2, default=float))
    return path
