#!/usr/bin/env bash
# Artery tcp vs aeron-udp between two JVMs on 127.0.0.1: round-trip latency (p50/p90/p99/p99.9) and one-way
# throughput of small Quarry records, Kryo in the path, transports alternated round by round in one session.
# Prints each round, the medians over rounds and the aeron-udp / tcp ratios.
#   bench/transport.sh [ROUNDS] [ROUND_TRIPS] [MESSAGES] [TRANSPORTS]
# JVM options for both JVMs: BENCH_JAVA_OPTS, e.g. -Dpekko.remote.artery.advanced.aeron.idle-cpu-level=5
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/build-lib.sh"
need_bench_jar
jar="$bench_jar"
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
  "load average $(cut -d' ' -f1-3 /proc/loadavg), $(java -version 2>&1 | head -1)"
exec java -Xmx512m --add-opens java.base/sun.nio.ch=ALL-UNNAMED ${BENCH_JAVA_OPTS:-} \
  -cp "$jar" io.quarry.bench.TransportBenchmark "$@"
