#!/usr/bin/env bash
# End-to-end benchmark of local mode: 4 stub workers at step-time 0, telemetry on vs fast mode (--no-telemetry),
# alternated in one session so both see the same machine state. Reports the median steps/s of each and the ratio.
# Steps/s is the run's own steps over its own wall time (from run_completed), so JVM start-up is not counted.
#   bench/local-run.sh [ROUNDS] [SAMPLES]
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/build-lib.sh"
rounds="${1:-5}"
samples="${2:-4000000}"
need_quarry_jar
jar="$quarry_jar"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

run() { # mode round
  local id="$1-$2" flags=()
  [ "$1" = fast ] && flags=(--no-telemetry)
  java -jar "$jar" local --trainer stub --workers 4 --run-id "$id" --runs-dir "$out" "${flags[@]}" \
    stub.step-time=0 stub.samples="$samples" epochs=1 batch-size=32 checkpoint.every-steps=1000 >/dev/null
  python3 - "$out/$id/events.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["type"] == "run_completed":
        print(e["steps"] / (e["wall_ms"] / 1000.0), e["dropped_events"])
PY
}

declare -a tele fast
for r in $(seq 1 "$rounds"); do
  read -r t td < <(run telemetry "$r")
  read -r f fd < <(run fast "$r")
  tele+=("$t"); fast+=("$f")
  printf 'round %d: telemetry %.0f steps/s (%s dropped), fast %.0f steps/s\n' "$r" "$t" "$td" "$f"
done
python3 - "${tele[*]}" "${fast[*]}" <<'PY'
import statistics, sys
t = [float(x) for x in sys.argv[1].split()]
f = [float(x) for x in sys.argv[2].split()]
mt, mf = statistics.median(t), statistics.median(f)
print(f"median steps/s: telemetry on {mt:.0f}, fast mode {mf:.0f}; fast/telemetry = {mf / mt:.2f}")
PY
