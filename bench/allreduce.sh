#!/usr/bin/env bash
# All-reduce of FLOATS floats between WORKERS processes on 127.0.0.1, side by side:
#   ring          Quarry's ring all-reduce (worker/.../collective), one JVM per worker (io.quarry.bench.AllReduceBench
#                 member), on one direct buffer; a round is timed from calling allReduce to its return
#   bound         2(N-1)/N * 4F / B, with B the single-stream loopback bandwidth between two JVMs (one TCP connection,
#                 direct buffers of 1 MiB), measured here, now (median of 3)
#   ring bound    the same with B_N, the per-stream share of the aggregate loopback bandwidth of N concurrent streams,
#                 measured here, now (median of 3): WORKERS JVMs laid out like the ring, each sending to its right
#                 neighbour (a thread of its own) while receiving from its left, all at once; aggregate = N * bytes /
#                 (last byte received anywhere - first byte received anywhere), B_N = aggregate / N. On one machine the
#                 N links of a ring share the same cores and the same loopback, so this is what a ring can reach here.
#   aeron-ipc     (TRANSPORTS) the same ring schedule and order of additions over Aeron (io.quarry.bench.AeronRingAllReduce,
#                 AllReduceBench aeron-member): one exclusive publication to the right neighbour, one subscription from
#                 the left, aeron:ipc through one external media driver process on the host (AllReduceBench
#                 aeron-driver, started here for each ring run, in a fresh directory under /dev/shm)
#   aeron-udp     the same over aeron:udp on 127.0.0.1 (member r subscribed on a port of its own), through the same kind
#                 of driver
#   gloo          torch.distributed.all_reduce with the Gloo backend (Debian's python3-torch, /usr/bin/python3)
#   coordinator   today's averaging round through the run actor (bench/sync.sh, its median round); COORDINATOR_ROUNDS=0
#                 skips it (it takes minutes, and more memory than 100M floats allow on a small machine)
# Every transport's ring and Gloo alternate (REPS times each) so that both see the same load; per round the slowest rank counts, and the
# median is over every timed round of every repetition.
#   bench/allreduce.sh FLOATS WORKERS [ROUNDS]          ROUNDS timed rounds per repetition (default 10, after WARMUP=10 warm-up rounds)
#   REPS (default 2), COORDINATOR_ROUNDS (default 7: 2 warm-up + 5), CHUNK_BYTES (the ring's read size, default 4 MiB),
#   SOCKET_BUFFER_BYTES (the ring connections' SO_SNDBUF/SO_RCVBUF, default 0: the kernel's auto-tuning),
#   TRANSPORTS (default "tcp"; "tcp aeron-ipc aeron-udp" adds the Aeron rings, in that order in each repetition; tcp is
#   always run), AERON_TERM_LENGTH (the driver's IPC and UDP term buffer, default 16 MiB), AERON_MTU (default 65504, the
#   largest: one message of up to MTU-32 bytes per tryClaim), AERON_MAX_PARK_NS (the members' and the driver's
#   BackoffIdleStrategy park ceiling, default 1000000 = 1 ms), AERON_IDLE_SECONDS (default 10: a fresh driver's CPU,
#   idle, with no client, from /proc/PID/stat; 0 skips it),
#   BENCH_JAR (a benchmarks jar to use instead of building this tree's), PROFILE=1 (the members time their phases:
#   socket writes, reads, additions, selector waits, and the round thread's CPU time; printed per member as medians
#   over the timed rounds)
# Ends with: allreduce floats=F workers=N median_ms=... bound_ms=... efficiency=... gloo_median_ms=...
#            coordinator_average_ms=... ring_bound_ms=... ring_efficiency=... single_stream_bytes_per_s=...
#            ring_stream_bytes_per_s=... aeron_ipc_median_ms=... aeron_udp_median_ms=... aeron_driver_idle_cpu_pct=...
#            checksum=...   (the Aeron fields are "skipped" unless TRANSPORTS names them; every member of every ring
#            checks its result bit for bit against a plain loop in the ring's order and prints a checksum of it, and the
#            script fails unless all the rings' checksums are one value)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$here/bench/build-lib.sh"
floats="${1:?usage: bench/allreduce.sh FLOATS WORKERS [ROUNDS]}"
workers="${2:?usage: bench/allreduce.sh FLOATS WORKERS [ROUNDS]}"
rounds="${3:-10}"
warmup="${WARMUP:-10}"
reps="${REPS:-2}"
coordinator_rounds="${COORDINATOR_ROUNDS:-7}"
chunk_bytes="${CHUNK_BYTES:-4194304}"
socket_buffer_bytes="${SOCKET_BUFFER_BYTES:-0}"
python=/usr/bin/python3
transports="${TRANSPORTS:-tcp}"
aeron_term_length="${AERON_TERM_LENGTH:-16777216}"
aeron_mtu="${AERON_MTU:-65504}"
aeron_max_park_ns="${AERON_MAX_PARK_NS:-1000000}"
aeron_idle_seconds="${AERON_IDLE_SECONDS:-10}"
for t in $transports; do
  case "$t" in tcp|aeron-ipc|aeron-udp) ;; *) echo "TRANSPORTS: unknown transport $t; allowed: tcp aeron-ipc aeron-udp" >&2; exit 2 ;; esac
done
case " $transports " in *" tcp "*) ;; *) transports="tcp $transports" ;; esac
# BENCH_JAR: another build's benchmarks jar (e.g. a copy made before a change, to compare in one session).
if [ -n "${BENCH_JAR:-}" ]; then bench_jar="$BENCH_JAR"; else need_bench_jar; fi
work="$(mktemp -d)"
pids=()
aeron_dirs=()
cleanup() {
  local pid dir
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  for dir in "${aeron_dirs[@]}"; do rm -rf "$dir"; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
direct_mb=$(( (8 * floats) / 1048576 + 128 ))
profile_flag=()
[ -n "${PROFILE:-}" ] && profile_flag=(-Dquarry.ring.profile=true)
# --add-opens: the Aeron media driver's TransportPoller reaches into the NIO selector (as for quarry.jar).
jvm=(java -Xmx256m --add-opens java.base/sun.nio.ch=ALL-UNNAMED "-XX:MaxDirectMemorySize=${direct_mb}m" "${profile_flag[@]}" -cp "$bench_jar" io.quarry.bench.AllReduceBench)

# N consecutive free ports on 127.0.0.1; prints the first.
free_ports() {
  "$python" - "$1" <<'PY'
import random, socket, sys
n = int(sys.argv[1])
for _ in range(200):
    base = random.randint(20000, 60000 - n)
    socks = []
    try:
        for p in range(base, base + n):
            s = socket.socket(); s.bind(("127.0.0.1", p)); socks.append(s)
        print(base); break
    except OSError:
        pass
    finally:
        for s in socks: s.close()
PY
}

bandwidth() { # prints bytes/s of one stream
  local port bytes=$(( 16 * floats )) out="$work/bw.txt"
  [ "$bytes" -lt 1073741824 ] && bytes=1073741824
  [ "$bytes" -gt 4294967296 ] && bytes=4294967296
  port=$(free_ports 1)
  "${jvm[@]}" bandwidth-server "$port" "$bytes" >"$out" 2>&1 & pids+=($!)
  local server=$!
  for _ in $(seq 1 200); do grep -q listening "$out" && break; sleep 0.1; done
  "${jvm[@]}" bandwidth-client "$port" "$bytes"
  wait "$server"
  sed -n 's/^bandwidth_bytes_per_s //p' "$out"
}

ring_bandwidth() { # prints bytes/s of one of N concurrent streams laid out like the ring (aggregate / N)
  local port r bytes=$(( 16 * floats ))
  [ "$bytes" -lt 1073741824 ] && bytes=1073741824
  [ "$bytes" -gt 4294967296 ] && bytes=4294967296
  bytes=$(( bytes / workers ))
  port=$(free_ports "$workers")
  local members=()
  for r in $(seq 0 $((workers - 1))); do
    "${jvm[@]}" bandwidth-ring "$r" "$workers" "$port" "$bytes" >"$work/bwr-$r.txt" 2>&1 &
    pids+=($!); members+=($!)
  done
  for r in "${!members[@]}"; do
    if ! wait "${members[$r]}"; then echo "bandwidth-ring member $r failed:" >&2; cat "$work/bwr-$r.txt" >&2; exit 1; fi
  done
  cat "$work"/bwr-*.txt | "$python" -c "
import sys
spans = [tuple(map(int, l.split()[1:])) for l in sys.stdin if l.startswith('ring_stream_ns')]
wall = (max(e for _, e in spans) - min(s for s, _ in spans)) / 1e9
print(f'{$bytes / wall:.0f}')"
}

ring() { # ring TRANSPORT FILE: appends "round_ms RANK I T" lines to FILE
  local transport="$1" out="$2" port r
  port=$(free_ports "$workers")
  local members=()
  if [ "$transport" != tcp ]; then aeron_driver_start; fi
  for r in $(seq 0 $((workers - 1))); do
    if [ "$transport" = tcp ]; then
      "${jvm[@]}" member "$r" "$workers" "$floats" "$rounds" "$warmup" "$port" "$chunk_bytes" "$socket_buffer_bytes" >"$work/ring-$r.txt" 2>&1 &
    else
      "${jvm[@]}" aeron-member "${transport#aeron-}" "$r" "$workers" "$floats" "$rounds" "$warmup" "$aeron_dir" "$port" \
        "$aeron_max_park_ns" >"$work/ring-$r.txt" 2>&1 &
    fi
    pids+=($!); members+=($!)
  done
  for r in "${!members[@]}"; do
    if ! wait "${members[$r]}"; then echo "$transport ring member $r failed:" >&2; cat "$work/ring-$r.txt" >&2; exit 1; fi
    sed -n "s/^round_ms /round_ms $r /p" "$work/ring-$r.txt" >>"$out"
    sed -n "s/^checksum /$transport member $r: /p" "$work/ring-$r.txt" >>"$work/checksums.txt"
    [ -n "${PROFILE:-}" ] && [ "$transport" = tcp ] && sed -n "s/^phases /phases $r /p" "$work/ring-$r.txt" >>"$work/phases.txt"
  done
  if [ "$transport" != tcp ]; then aeron_driver_stop; fi
}

# CPU seconds (user + system) a process has used, from /proc/PID/stat.
cpu_seconds() {
  "$python" -c "
import os, sys
f = open('/proc/$1/stat').read().rsplit(')', 1)[1].split()
print((int(f[11]) + int(f[12])) / os.sysconf('SC_CLK_TCK'))"
}

# Starts the host's media driver in a fresh directory (aeron_dir, aeron_driver); the first time, and unless
# AERON_IDLE_SECONDS=0, measures its CPU while idle with no client.
aeron_driver_idle_cpu_pct=skipped
aeron_driver_start() {
  aeron_dir="/dev/shm/quarry-allreduce-$$-$RANDOM"
  aeron_dirs+=("$aeron_dir")
  "${jvm[@]}" aeron-driver "$aeron_dir" "$aeron_term_length" "$aeron_mtu" "$aeron_max_park_ns" >"$work/driver.txt" 2>&1 &
  aeron_driver=$!; pids+=($!)
  for _ in $(seq 1 300); do grep -q '^ready' "$work/driver.txt" && break; sleep 0.1; done
  grep -q '^ready' "$work/driver.txt" || { echo "the media driver did not start:" >&2; cat "$work/driver.txt" >&2; exit 1; }
  if [ "$aeron_driver_idle_cpu_pct" = skipped ] && [ "$aeron_idle_seconds" != 0 ]; then
    sleep 2
    local c0 c1
    c0=$(cpu_seconds "$aeron_driver"); sleep "$aeron_idle_seconds"; c1=$(cpu_seconds "$aeron_driver")
    aeron_driver_idle_cpu_pct=$("$python" -c "print(f'{($c1 - $c0) / $aeron_idle_seconds * 100:.1f}')")
    echo "# media driver idle (no client) for ${aeron_idle_seconds} s: ${aeron_driver_idle_cpu_pct}% of a core, load average $(cut -d' ' -f1-3 /proc/loadavg)"
  fi
  aeron_driver_cpu0=$(cpu_seconds "$aeron_driver")
}

aeron_driver_stop() {
  local cpu
  cpu=$(cpu_seconds "$aeron_driver")
  echo "$(cut -d' ' -f1 <<<"$aeron_driver_cpu0") $cpu" >>"$work/driver-cpu.txt"
  kill -TERM "$aeron_driver" 2>/dev/null || true
  wait "$aeron_driver" 2>/dev/null || true
  rm -rf "$aeron_dir"
}

gloo() { # appends "round_ms RANK I T" lines to $1
  local port
  port=$(free_ports 1)
  OMP_NUM_THREADS=1 "$python" "$here/bench/gloo_allreduce.py" "$floats" "$workers" "$rounds" "$warmup" "$port" \
    | grep '^round_ms' >>"$1"
}

# Median over rounds of the slowest rank's time; rounds of different repetitions are kept apart.
median_of() {
  "$python" - "$1" <<'PY'
import collections, statistics, sys
rounds = collections.defaultdict(float)
for line in open(sys.argv[1]):
    _, rep, rank, i, ms = line.split()
    key = (rep, i)
    rounds[key] = max(rounds[key], float(ms))
print(f"{statistics.median(rounds.values()):.2f}")
PY
}

echo "# allreduce floats=$floats workers=$workers: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(java -version 2>&1 | head -1), load average $(cut -d' ' -f1-3 /proc/loadavg)"
bws=()
for _ in 1 2 3; do bws+=("$(bandwidth)"); done
bw=$(printf '%s\n' "${bws[@]}" | sort -n | sed -n 2p)
echo "# single-stream loopback bandwidth (bytes/s): ${bws[*]}; median $bw"
rbws=()
for _ in 1 2 3; do rbws+=("$(ring_bandwidth)"); done
rbw=$(printf '%s\n' "${rbws[@]}" | sort -n | sed -n 2p)
echo "# per-stream bandwidth of $workers concurrent streams laid out like the ring (bytes/s): ${rbws[*]}; median $rbw (aggregate $("$python" -c "print(f'{$rbw*$workers:.0f}')")), load average $(cut -d' ' -f1-3 /proc/loadavg)"
: >"$work/phases.txt"
: >"$work/checksums.txt"; : >"$work/gloo.txt"
for t in $transports; do : >"$work/ring-$t.txt"; done
for rep in $(seq 1 "$reps"); do
  summary=""
  for t in $transports; do
    : >"$work/ring-rep.txt"
    ring "$t" "$work/ring-rep.txt"; sed "s/^round_ms /round_ms $rep /" "$work/ring-rep.txt" >>"$work/ring-$t.txt"
    summary+="$t ring $(median_of "$work/ring-$t.txt") ms, "
  done
  gloo "$work/gloo-rep.txt"; sed "s/^round_ms /round_ms $rep /" "$work/gloo-rep.txt" >>"$work/gloo.txt"; : >"$work/gloo-rep.txt"
  echo "# repetition $rep: ${summary}gloo $(median_of "$work/gloo.txt") ms (pooled so far), load average $(cut -d' ' -f1-3 /proc/loadavg)"
done
# Every ring's members checked their result against the plain loop; here all rings of this run must agree too.
if [ "$(awk '{print $NF}' "$work/checksums.txt" | sort -u | wc -l)" != 1 ]; then
  echo "FAILED: the rings' results differ (checksums per transport and member):" >&2; cat "$work/checksums.txt" >&2; exit 1
fi
checksum=$(awk '{print $NF; exit}' "$work/checksums.txt")
echo "# every member of every ring ($(wc -l <"$work/checksums.txt") results): the plain loop's sum, checksum $checksum"
if [ -s "$work/driver-cpu.txt" ]; then
  echo "# media driver CPU during the Aeron ring runs (s, per run, warm-up included): $(awk '{printf "%.2f ", $2 - $1}' "$work/driver-cpu.txt")"
fi
aeron_median() { case " $transports " in *" $1 "*) median_of "$work/ring-$1.txt" ;; *) echo skipped ;; esac; }
aeron_ipc_ms=$(aeron_median aeron-ipc)
aeron_udp_ms=$(aeron_median aeron-udp)
ring_ms=$(median_of "$work/ring-tcp.txt")
gloo_ms=$(median_of "$work/gloo.txt")
bound_ms=$("$python" -c "n=$workers; print(f'{2*(n-1)/n*4*$floats/$bw*1e3:.2f}')")
efficiency=$("$python" -c "print(f'{$bound_ms/$ring_ms:.2f}')")
ring_bound_ms=$("$python" -c "n=$workers; print(f'{2*(n-1)/n*4*$floats/$rbw*1e3:.2f}')")
ring_efficiency=$("$python" -c "print(f'{$ring_bound_ms/$ring_ms:.2f}')")
if [ -n "${PROFILE:-}" ]; then
  "$python" - "$work/phases.txt" <<'PY'
import collections, statistics, sys
per = collections.defaultdict(lambda: collections.defaultdict(list))
for line in open(sys.argv[1]):
    f = line.split()
    for kv in f[3:]:
        k, v = kv.split("=")
        per[f[1]][k].append(float(v))
for member in sorted(per):
    print(f"# profile member {member} (medians over timed rounds): " + " ".join(
        f"{k}={statistics.median(v):.2f}" for k, v in per[member].items()))
PY
fi

coordinator_ms=skipped
if [ "$coordinator_rounds" != 0 ]; then
  sync_log="$work/sync.log"
  if KEEP=1 "$here/bench/sync.sh" "$coordinator_rounds" "$floats" "$workers" >"$sync_log" 2>&1; then
    kept=$(sed -n 's/^run directories kept in //p' "$sync_log")
    coordinator_ms=$("$python" - "$kept" <<'PY'
import json, os, statistics, sys
rounds = []
for root, _, files in os.walk(sys.argv[1]):
    if "sync-bench.json" in files:
        rounds += json.load(open(os.path.join(root, "sync-bench.json")))["round_ms"][2:]
print(f"{statistics.median(rounds):.1f}" if rounds else "failed")
PY
)
    rm -rf "$kept"
  else
    echo "# bench/sync.sh failed; its output:" >&2; cat "$sync_log" >&2; coordinator_ms=failed
  fi
fi
echo "# done $(date -u +%Y-%m-%dT%H:%M:%SZ), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "allreduce floats=$floats workers=$workers median_ms=$ring_ms bound_ms=$bound_ms efficiency=$efficiency gloo_median_ms=$gloo_ms coordinator_average_ms=$coordinator_ms ring_bound_ms=$ring_bound_ms ring_efficiency=$ring_efficiency single_stream_bytes_per_s=$bw ring_stream_bytes_per_s=$rbw aeron_ipc_median_ms=$aeron_ipc_ms aeron_udp_median_ms=$aeron_udp_ms aeron_driver_idle_cpu_pct=$aeron_driver_idle_cpu_pct checksum=$checksum"
