#!/usr/bin/env bash
# Every GPU check of the benchmarks in one call, each under its own time limit, so that a lent
# GPU machine is used once and briefly. From the repository root, on a machine with a GPU:
#   [SECTIONS="..."] bash benchmarks/gpu_checks.sh [python]
# Writes the log and a tarball of the result files to $OUT (default benchmarks/results/gpu).
# SECTIONS picks and orders the checks (default: the four of session 3):
#   - qubo: issue 6, annealing-sampler throughput at n = 64 and 1024 (benchmarks/qubo_gpu.py)
#   - hedging_step: issue 7, LSTM(64) hedger, 2^15 paths, K-FAC and Adam step times
#   - bilevel: issue 3, the vmapped sweep of 16 Penalty configurations against a Python loop
#   - schedules: issue 4, the whole schedule-quality protocol at T = 4000, batch 32
#   - refined_T4000, refined_L4E128: issue 4, the refined schedule, the horizon runs and the
#     report rerun on the cached baselines of the larger variants (T = 4000 with batch 32;
#     4 x 128 at T = 2000)
#   - hedging_constant, hedging_linear: issue 7, K-FAC against tuned Adam at the issue's
#     sizes (400 steps, 8192 paths per step, 2^17 test paths, 5 seeds), with constant and
#     with linearly decaying steps
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
        benchmarks/results/schedules_quality_T4000_b32* benchmarks/results/schedules_quality_L4E128* \
        benchmarks/results/hedging_gpu_full 2>/dev/null)
}
T4000=(--steps 4000 --batch-size 32 --tag T4000_b32)
L4E128=(--model 4,128,64,4 --steps 2000 --batch-size 16 --grid 1e-3,2e-3,4e-3 --tag L4E128_T2000)
HEDGE=("$PY" benchmarks/hedging.py --xi 2.0 --cost 1e-3 --hidden 32 --seeds 5 --steps 400
       --paths 8192 --stats-paths 1024 --test-paths 131072 --heston-paths 1024 --eval-every 10
       --kfac-lrs 0.3 --dampings 0.1 --cache benchmarks/results/hedging_gpu_full)
{
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv
    "$PY" -c "import jax, optax, flax; print(jax.__version__, optax.__version__, flax.__version__, jax.devices())"
    for name in ${SECTIONS:-qubo hedging_step bilevel schedules}; do
        case $name in
            qubo) section 150 "$PY" benchmarks/qubo_gpu.py ;;
            hedging_step) section 150 "$PY" benchmarks/hedging_gpu_check.py ;;
            bilevel) section 100 "$PY" benchmarks/bilevel.py --sections sweep,sweep_ijcnn1 ;;
            schedules)
                for stage in linear cosine wsd refined horizons report; do
                    section 150 "$PY" benchmarks/schedules.py --part quality --stage "$stage" \
                        "${T4000[@]}"
                    bundle
                done ;;
            refined_T4000 | refined_L4E128)
                declare -n flags=${name#refined_}
                for stage in refined horizons report; do
                    section 100 "$PY" benchmarks/schedules.py --part quality --stage "$stage" \
                        "${flags[@]}"
                done ;;
            hedging_constant)
                section 220 "${HEDGE[@]}" --adam-lrs 4e-2 8e-2 1.6e-1 --kl-clips 0.03 0.1 0.3 ;;
            hedging_linear)
                section 220 "${HEDGE[@]}" --adam-lrs 8e-2 1.6e-1 3.2e-1 --kl-clips 0.1 0.3 1.0 \
                    --schedule linear ;;
            *) echo "== unknown section $name" ;;
        esac
        bundle
    done
    echo "== done at ${SECONDS} s"
} 2>&1 | tee "$OUT/gpu_checks.log"
