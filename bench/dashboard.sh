#!/usr/bin/env bash
# The dashboard's benchmarks (BENCHMARKS.md, "Dashboard"): step-to-page latency (p95, with a plain SSE client as the
# reference in the same run), first render of a run page with 200,000 scalar rows (reference: 2,000 rows), and a
# CPU-bound run's steps/s with 50 live streams following it versus none, alternated. Needs Debian's chromium and
# chromium-driver (scripts/install-test-deps.sh).
#   bench/dashboard.sh [latency SECONDS | render ROWS ROUNDS | followers CLIENTS ROUNDS SAMPLES [STEP_TIME|djl]]
#   (default: all of them)
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/build-lib.sh"
need_bench_jar
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load average" \
  "$(cut -d' ' -f1-3 /proc/loadavg), $(java -version 2>&1 | head -1), $(chromium --version 2>/dev/null)"
run() {
  QUARRY_LOG_LEVEL=WARN java -Xmx2g --add-opens java.base/sun.nio.ch=ALL-UNNAMED ${BENCH_JAVA_OPTS:-} \
    -cp "$bench_jar" io.quarry.bench.DashboardBenchmark "$@"
}
if [ $# -gt 0 ]; then run "$@"; exit; fi
run latency 30
run render 200000 5
run followers 50 5 1700000 1ms
run followers 50 9 20000 djl
