# Shared helpers of bench/allgather.sh, bench/failover.sh and bench/sync.sh: start Quarry node JVMs on 127.0.0.1, remember their
# pids, kill them (by pid, never by name) when the calling script exits. Sourced, not run.
#   QUARRY_BENCH_JAVA_OPTS   JVM options for every node (default: -Xmx384m -XX:+UseSerialGC... see below)
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/build-lib.sh"
jar="$quarry_jar"
tool="$here/bench/cluster_tool.py"
need_quarry_jar
java_opts=(${QUARRY_BENCH_JAVA_OPTS:--Xmx384m})

# The API token of every coordinator these scripts start (--api-tokens "$api_tokens"); cluster_tool.py sends QUARRY_TOKEN.
api_tokens="$(mktemp)"
QUARRY_TOKEN="$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
export QUARRY_TOKEN
printf 'operate %s\n' "$QUARRY_TOKEN" >"$api_tokens"

declare -A node_pid=()   # name -> pid of its JVM
declare -A node_log=()   # name -> its stdout+stderr
logs_dir=""

# Kills every node this script started (SIGKILL, by pid) and waits for them.
kill_nodes() {
  local name
  for name in "${!node_pid[@]}"; do
    kill -9 "${node_pid[$name]}" 2>/dev/null || true
    wait "${node_pid[$name]}" 2>/dev/null || true
  done
  node_pid=()
}

free_port() { python3 "$tool" free-port; }

# start_node NAME ARGS... : starts `java -jar quarry.jar ARGS...` in the background, logging to $logs_dir/NAME.log.
# node_env (optional, e.g. QUARRY_LOG_LEVEL=INFO) is put in that JVM's environment.
node_env=""
start_node() {
  local name="$1"; shift
  node_log[$name]="$logs_dir/$name.log"
  env $node_env java "${java_opts[@]}" -jar "$jar" "$@" >"${node_log[$name]}" 2>&1 &
  node_pid[$name]=$!
}

# await_log NAME TEXT TIMEOUT_S : waits until NAME's log contains TEXT; fails if the JVM dies or time runs out.
await_log() {
  local name="$1" text="$2" timeout="$3" waited=0
  while ! grep -qF "$text" "${node_log[$name]}" 2>/dev/null; do
    if ! kill -0 "${node_pid[$name]}" 2>/dev/null; then
      echo "node $name exited before '$text'; its log:" >&2; cat "${node_log[$name]}" >&2; return 1
    fi
    if [ "$waited" -ge $((timeout * 5)) ]; then
      echo "node $name: no '$text' after ${timeout}s; its log:" >&2; cat "${node_log[$name]}" >&2; return 1
    fi
    sleep 0.2; waited=$((waited + 1))
  done
}

# kill_node NAME : SIGKILL one node; sets killed_at_ms to the wall-clock time (unix ms) taken just before the signal.
killed_at_ms=0
kill_node() {
  local name="$1"
  killed_at_ms=$(date +%s%3N)
  kill -9 "${node_pid[$name]}"
  wait "${node_pid[$name]}" 2>/dev/null || true
  unset "node_pid[$name]"
}

# start_cluster N RUNS_DIR : a coordinator (runs in RUNS_DIR) and N worker JVMs (one cpu device each) on free ports,
# logging to $logs_dir; returns once all N workers have registered. Sets http (the coordinator's HTTP port).
http=""
start_cluster() {
  local n="$1" runs="$2" artery i
  artery=$(free_port); http=$(free_port)
  start_node coordinator coordinator --port "$artery" --http-port "$http" --runs-dir "$runs" --api-tokens "$api_tokens"
  for i in $(seq 1 "$n"); do start_node "worker-$i" worker --seed-nodes "127.0.0.1:$artery" --devices cpu; done
  await_log coordinator "quarry coordinator node up" 90
  for i in $(seq 1 "$n"); do await_log "worker-$i" "quarry worker node up" 90; done
  python3 "$tool" wait-workers "http://127.0.0.1:$http" "$n" 90 >/dev/null
}

# The worker id prefix (host:port) of a worker node, from its "node up" line.
worker_node_id() { sed -n 's/^quarry worker node up at \([^ ]*\) .*/\1/p' "${node_log[$1]}" | head -1; }

machine_line() {
  echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
    "load average $(cut -d' ' -f1-3 /proc/loadavg), $(java -version 2>&1 | head -1), node JVM options: ${java_opts[*]}"
}
