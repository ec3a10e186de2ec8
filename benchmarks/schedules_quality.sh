#!/usr/bin/env bash
# The full quality benchmark (b) of benchmarks/schedules.py, one invocation per stage (each
# caches its result under benchmarks/results/schedules_quality/; the compiled training program
# is shared through JAX's persistent compilation cache). From the repository root:
#   PYTHONPATH=$PWD/src [BENCH_LOCK=/path/to/lock] bash benchmarks/schedules_quality.sh [python [variant flags]]
# Variant flags (--steps, --batch-size, --model, --grid, --tag) are passed to every stage.
# With BENCH_LOCK set, every stage holds that lock (flock) while it runs. STAGES picks a subset
# (e.g. STAGES="refined horizons report" reruns the refined schedule on cached baselines).
set -euo pipefail
PY=${1:-python}
shift || true
for stage in ${STAGES:-linear cosine wsd refined horizons report}; do
    echo "== $stage, load: $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%H:%M:%S)"
    if [[ -n "${BENCH_LOCK:-}" ]]; then
        flock "$BENCH_LOCK" "$PY" benchmarks/schedules.py --part quality --stage "$stage" "$@"
    else
        "$PY" benchmarks/schedules.py --part quality --stage "$stage" "$@"
    fi
done
