#!/usr/bin/env bash
# Partitions and pauses across node JVMs: deploy's PartitionTest (the scenarios of README's "Partitions, pauses and
# the lease"), repeated REPS times, and the medians of what each scenario measures. The scenarios run with cluster.conf
# as shipped (acceptable-heartbeat-pause 3s, keep-majority stable-after 4s, write-lease 2.5s), two "hosts" being this
# one and a network namespace joined by a veth pair; times are from the wall clock taken just before the link goes
# down (or SIGSTOP) to the events' ts_unix_ns and the checkpoint files' mtimes (same host, same clock).
#
#   partition-25s          worker B's link down 25 s:  lost_ms (worker_lost), training_elsewhere_ms (B's shard started
#                          on the spare), zombie_last_write_ms (B's last checkpoint file), steps_redone
#   sigstop-20s            worker B SIGSTOPped 20 s on 127.0.0.1: the same
#   coordinator-partition  the active coordinator's link down: old_fenced_ms (it stopped writing), recovered_ms
#                          (run_recovered by the standby), training_again_ms (first shard_started after it)
#   flapping               worker B's link down 3 s / up 3 s for a minute: worker_lost_events, worst_overlap_ms (how
#                          long an attempt given up on wrote after the next one started; negative: it never did)
#
#   sudo bench/partition.sh [REPS]        default 3; needs root and iproute2 (ip netns); about 6 minutes a repetition
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
reps="${1:-3}"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
cd "$here"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/ {print $2}') GiB; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for rep in $(seq 1 "$reps"); do
  # -am: the reactor's classes, never stale jars from ~/.m2; -Dtest matches PartitionTest only (deploy).
  if ! mvn -B -q test -pl deploy -am -Dtest=PartitionTest -Dsurefire.failIfNoSpecifiedTests=false >"$out.mvn" 2>&1; then
    echo "repetition $rep: a scenario failed (its measures are kept); see deploy/target/surefire-reports"
    grep -E 'Tests run|FAIL' "$out.mvn" | head -5 || true
  fi
  grep '^\[measure\]' deploy/target/surefire-reports/io.quarry.deploy.PartitionTest-output.txt | sed "s/^/rep=$rep /" \
    | tee -a "$out"
done
rm -f "$out.mvn"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$out" <<'PY'
import collections, re, statistics, sys
values = collections.defaultdict(list)
for line in open(sys.argv[1]):
    m = re.search(r'scenario=(\S+) (\S+)=(-?\d+)', line)
    if m:
        values[(m.group(1), m.group(2))].append(int(m.group(3)))
print(f"{'scenario':24} {'measure':24} {'median':>8}  values")
for (scenario, what), vs in sorted(values.items()):
    print(f"{scenario:24} {what:24} {statistics.median(vs):>8}  {vs}")
PY
