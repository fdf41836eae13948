#!/usr/bin/env bash
# DJL training throughput with the gradients all-reduced on the ring every step, against no synchronisation: the
# default job's CNN (deploy/src/main/resources/local-default-job.conf) with 2 shards, epochs=2, telemetry off,
#   cluster   a coordinator and WORKERS worker JVMs on 127.0.0.1 (one cpu device each): the ring between JVMs
#   local     `quarry local --workers WORKERS` (all workers in one JVM: they sum in memory, HierarchicalRing)
# for sync.mode = allreduce and none, alternating, ROUNDS times each. A run's steps/s is its steps over the time from
# run_started to run_completed (events.jsonl). One untimed run of each mode first on each side: the first run on fresh
# JVMs pays their warm-up (DJL's native library, the JIT) and ran at less than half the speed of the later ones.
#   bench/ring-training.sh [ROUNDS] [WORKERS]      (defaults 2 and 2)
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/cluster-lib.sh"
rounds="${1:-2}"
workers="${2:-2}"
job="$here/deploy/src/main/resources/local-default-job.conf"
work="$(mktemp -d)"
cleanup() { kill_nodes; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

steps_per_s() { # events.jsonl
  python3 - "$1" <<'PY'
import json, sys
t = {}
steps = 0
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["type"] in ("run_started", "run_completed"):
        t[e["type"]] = e["ts_unix_ns"]
    if e["type"] == "run_completed":
        steps = e["steps"]
print(f'{steps / ((t["run_completed"] - t["run_started"]) / 1e9):.1f} {steps}')
PY
}

mkdir -p "$work/cluster/logs"; logs_dir="$work/cluster/logs"
start_cluster "$workers" "$work/cluster"
cluster_run() { # MODE ROUND
  local id="cluster-$1-$2"
  python3 "$tool" submit "http://127.0.0.1:$http" "$id" "$(cat "$job")" "shards=$workers" epochs=2 \
    telemetry.enabled=false "sync.mode=$1"
  python3 "$tool" wait-run "http://127.0.0.1:$http" "$id" final 900 >/dev/null
  steps_per_s "$work/cluster/$id/events.jsonl"
}
local_run() { # MODE ROUND
  local id="local-$1-$2"
  java -jar "$jar" local --workers "$workers" --run-id "$id" --runs-dir "$work/local" epochs=2 \
    telemetry.enabled=false "sync.mode=$1" >/dev/null 2>&1
  steps_per_s "$work/local/$id/events.jsonl"
}

machine_line
for mode in allreduce none; do cluster_run "$mode" warmup >/dev/null; done
for r in $(seq 1 "$rounds"); do
  for mode in allreduce none; do
    echo "cluster $mode round $r: $(cluster_run "$mode" "$r") (steps/s, steps), load average $(cut -d' ' -f1-3 /proc/loadavg)"
  done
done
kill_nodes
for mode in allreduce none; do local_run "$mode" warmup >/dev/null; done
for r in $(seq 1 "$rounds"); do
  for mode in allreduce none; do
    echo "local $mode round $r: $(local_run "$mode" "$r") (steps/s, steps), load average $(cut -d' ' -f1-3 /proc/loadavg)"
  done
done
echo "# done $(date -u +%Y-%m-%dT%H:%M:%SZ), load average $(cut -d' ' -f1-3 /proc/loadavg)"
