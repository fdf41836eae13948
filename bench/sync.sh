#!/usr/bin/env bash
# One parameter-averaging round (sync.mode = average) across processes: a coordinator JVM and N worker JVMs (one
# worker each) on 127.0.0.1 over Artery tcp, all from bench/target/benchmarks.jar, whose trainer `sync-bench`
# (io.quarry.bench.SyncRoundTrainer) makes every step one round of P floats and times it as the trainer sees it:
# from handing its parameters to averageParameters to holding the average (chunks to the run actor, the double sum,
# the average's chunks back). Then shard 0's worker, alone on the machine by then, measures two references in its JVM:
# a Kryo write+read of one vector in the same chunks, and the coordinator's arithmetic for one round (N vectors
# summed in double, then divided).
#   bench/sync.sh [ROUNDS] [PARAM_COUNTS] [WORKER_COUNTS]
#   defaults: 12 rounds (the first 2 of each worker are warm-up, not counted), "1000000 10000000", "2 4"
#   QUARRY_BENCH_JAVA_OPTS   JVM options of every node (default here: -Xmx1g)
#   SYNC_TRANSPORT           coordinator (default: the run actor averages) or ring (the workers' all-reduce ring, the
#                            round as a trainer sees it through Quarry: copies, the ring, the division)
set -euo pipefail
export QUARRY_BENCH_JAVA_OPTS="${QUARRY_BENCH_JAVA_OPTS:--Xmx1g}"
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/cluster-lib.sh"
rounds="${1:-12}"
params_counts="${2:-1000000 10000000}"
counts="${3:-2 4}"
transport="${SYNC_TRANSPORT:-coordinator}"
need_bench_jar
work="$(mktemp -d)"
keep="${KEEP:-}"   # KEEP=1 keeps the run directories and logs
cleanup() { kill_nodes; [ -n "$keep" ] && echo "run directories kept in $work" || rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# The nodes run from the benchmark jar: it holds the sync-bench trainer and names it in its reference.conf.
start_node() {
  local name="$1"; shift
  node_log[$name]="$logs_dir/$name.log"
  java "${java_opts[@]}" -cp "$bench_jar" io.quarry.deploy.QuarryCli "$@" >"${node_log[$name]}" 2>&1 &
  node_pid[$name]=$!
}

run_case() { # P N
  local p="$1" n="$2" id="sync-$1-$2" runs="$work/sync-$1-$2"
  mkdir -p "$runs/logs"; logs_dir="$runs/logs"
  start_cluster "$n" "$runs"
  python3 "$tool" submit "http://127.0.0.1:$http" "$id" "" trainer=sync-bench "stub.samples=$p" "shards=$n" \
    "batch-size=16777216" "epochs=$rounds" sync.mode=average "sync.transport=$transport" sync.every=1 sync.timeout=60s telemetry.enabled=false
  python3 "$tool" wait-run "http://127.0.0.1:$http" "$id" final 900 >"$runs/final.json"
  kill_nodes
  echo "  P=$p N=$n: $(python3 -c "import json; print(json.load(open('$runs/final.json')).get('state'))")"
}

machine_line
echo "rounds $rounds per worker (2 warm-up), parameter counts [$params_counts], worker counts [$counts], sync.transport $transport"
for p in $params_counts; do
  for n in $counts; do run_case "$p" "$n"; done
done
python3 "$tool" sync-report "$work"
echo "# done $(date -u +%Y-%m-%dT%H:%M:%SZ), load average $(cut -d' ' -f1-3 /proc/loadavg)"
