#!/usr/bin/env bash
# Every GPU check of the benchmarks in one call, each under its own time limit, so that a lent
# GPU machine is used once and briefly. From the repository root, on a machine with a GPU:
#   bash benchmarks/gpu_checks.sh [python]
# Writes the log and a tarball of the result files to $OUT (default benchmarks/results/gpu).
#   - issue 6: annealing-sampler throughput at n = 64 and 1024 (benchmarks/qubo_gpu.py)
#   - issue 7: LSTM(64) hedger, 2^15 paths, K-FAC and Adam step times (hedging_gpu_check.py)
#   - issue 3: the vmapped sweep of 16 Penalty configurations against a Python loop
#   - issue 4: the schedule-quality protocol at a longer horizon (T = 4000, batch 32)
set -u
PY=${1:-python3}
OUT=${OUT:-benchmarks/results/gpu}
mkdir -p "$OUT"
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1
SECONDS=0
section() {
    local limit=$1
    shift
    echo "== $* (limit ${limit} s, started at ${SECONDS} s)"
    timeout "$limit" "$@" || echo "== exit status $?: $*"
}
bundle() {
    tar czf "$OUT/results.tgz" $(ls -d benchmarks/results/qubo_gpu.json \
        benchmarks/results/hedging_gpu.json benchmarks/results/bilevel_sweep_sweep_ijcnn1.json \
        benchmarks/results/schedules_quality_T4000_b32* 2>/dev/null)
}
{
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv
    "$PY" -c "import jax, optax, flax; print(jax.__version__, optax.__version__, flax.__version__, jax.devices())"
    section 150 "$PY" benchmarks/qubo_gpu.py
    section 150 "$PY" benchmarks/hedging_gpu_check.py
    section 100 "$PY" benchmarks/bilevel.py --sections sweep,sweep_ijcnn1
    bundle
    for stage in linear cosine wsd refined horizons report; do
        section 150 "$PY" benchmarks/schedules.py --part quality --stage "$stage" \
            --steps 4000 --batch-size 32 --tag T4000_b32
        bundle
    done
    echo "== done at ${SECONDS} s"
} 2>&1 | tee "$OUT/gpu_checks.log"
