#!/usr/bin/env bash
# Hard-example all-gather latency across processes: a coordinator JVM and N worker JVMs (one worker each) on
# 127.0.0.1 over Artery tcp, against the in-JVM reference (`quarry local --workers N`, same run config), alternated
# round by round in one session (the order flips every round). For each run it reads hard_examples.jsonl (one
# record per merge) and reports gather_ms p50/p90/p99 (nearest rank) and the median merge_ms, per run and pooled
# over the rounds of each worker count, and the cluster / local ratios.
#   bench/allgather.sh [ROUNDS] [WORKER_COUNTS] [SAMPLES_PER_SHARD]
#   defaults: 3 rounds, "2 4", 128000 samples per shard (4000 steps of 32 at stub.step-time=5ms, ~20 s, ~40 merges)
# Run config: hard-examples.k=$K (default 1024) window=run merge-interval=500ms merge-mode=round-robin (default), stub
# trainer, sync.mode=none, step-time 5ms, epochs=1, batch-size=32, one shard per worker, telemetry.enabled=false (fast
# mode: lifecycle events only, so the gather competes with training and heartbeats but not with step telemetry).
# TELEMETRY=true turns it on. K=16384 QUARRY_TRANSPORT=aeron-udp measures a K whose snapshot is several frames (every
# node JVM reads QUARRY_TRANSPORT; the local reference runs in one JVM, without a transport). The local reference is
# given trainer=stub and sync.mode=none explicitly: `quarry local` without a run file starts from its default job
# (djl, sync.mode = average), which the submitted cluster run does not.
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/cluster-lib.sh"
rounds="${1:-3}"
counts="${2:-2 4}"
per_shard="${3:-128000}"
k="${K:-1024}"
telemetry="${TELEMETRY:-false}"
work="$(mktemp -d)"
keep="${KEEP:-}"   # KEEP=1 keeps the run directories and logs; RESULTS_OUT=FILE copies the per-run JSON lines there
cleanup() { kill_nodes; [ -z "${RESULTS_OUT:-}" ] || cp "$results" "$RESULTS_OUT"; [ -n "$keep" ] && echo "run directories kept in $work" || rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
results="$work/results.jsonl"
: >"$results"

overrides() { # N
  echo "trainer=stub sync.mode=none hard-examples.k=$k hard-examples.window=run hard-examples.merge-interval=500ms" \
    "stub.step-time=5ms epochs=1 batch-size=32 shards=$1 stub.samples=$(($1 * per_shard)) telemetry.enabled=$telemetry"
}

run_cluster() { # N ROUND
  local n="$1" r="$2" id="cluster-$1-$2" runs="$work/cluster-$1-$2"
  mkdir -p "$runs/logs"; logs_dir="$runs/logs"
  start_cluster "$n" "$runs"
  # shellcheck disable=SC2046
  python3 "$tool" submit "http://127.0.0.1:$http" "$id" "" $(overrides "$n")
  python3 "$tool" wait-run "http://127.0.0.1:$http" "$id" final 600 >"$runs/final.json"
  kill_nodes
  python3 "$tool" merge-stats "$runs/$id" | python3 -c \
    "import json,sys; d=json.load(sys.stdin); d.update(mode='cluster', workers_n=$n, round=$r); print(json.dumps(d))" \
    | tee -a "$results" | python3 -c "import json,sys; d=json.load(sys.stdin); print(f\"  cluster N=$n round $r: \
{d['status']}, {d['merges']} merges ({d['full_k_merges']} with K entries, {d['missing_total']} missing), gather p50 \
{d['gather_p50']:.2f} p90 {d['gather_p90']:.2f} p99 {d['gather_p99']:.2f} ms, merge p50 {d['merge_p50']:.3f} ms\")"
}

run_local() { # N ROUND
  local n="$1" r="$2" id="local-$1-$2" runs="$work/local-$1-$2"
  mkdir -p "$runs"
  # shellcheck disable=SC2046
  java "${java_opts[@]}" -jar "$jar" local --trainer stub --workers "$n" --run-id "$id" --runs-dir "$runs" $(overrides "$n") \
    >"$runs/local.log" 2>&1 || { echo "local run $id failed:"; cat "$runs/local.log"; }
  python3 "$tool" merge-stats "$runs/$id" | python3 -c \
    "import json,sys; d=json.load(sys.stdin); d.update(mode='local', workers_n=$n, round=$r); print(json.dumps(d))" \
    | tee -a "$results" | python3 -c "import json,sys; d=json.load(sys.stdin); print(f\"  local   N=$n round $r: \
{d['status']}, {d['merges']} merges ({d['full_k_merges']} with K entries, {d['missing_total']} missing), gather p50 \
{d['gather_p50']:.2f} p90 {d['gather_p90']:.2f} p99 {d['gather_p99']:.2f} ms, merge p50 {d['merge_p50']:.3f} ms\")"
}

machine_line
echo "transport ${QUARRY_TRANSPORT:-tcp}, rounds $rounds, worker counts [$counts], $per_shard samples per shard, run config (N = workers): $(overrides 1 | sed "s/shards=1/shards=N/; s/stub.samples=$per_shard/stub.samples=N*$per_shard/")"
for n in $counts; do
  for r in $(seq 1 "$rounds"); do
    if [ $((r % 2)) -eq 1 ]; then run_cluster "$n" "$r"; run_local "$n" "$r"
    else run_local "$n" "$r"; run_cluster "$n" "$r"; fi
  done
done
python3 "$tool" allgather-report "$results"
echo "# done $(date -u +%Y-%m-%dT%H:%M:%SZ), load average $(cut -d' ' -f1-3 /proc/loadavg)"
