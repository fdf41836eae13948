# Sourced by the bench/ scripts: builds what a benchmark needs the way ./quarry builds its jar: with Maven online (a
# machine that never built the project fetches what it needs; nothing assumes a warm local repository), and only when
# the jar is missing or older than the sources. BENCH_BUILD=1 rebuilds the benchmarks jar regardless.
#   need_quarry_jar    deploy/target/quarry.jar (the launcher's own check and build)
#   need_bench_jar     bench/target/benchmarks.jar (profile bench: JMH and the benchmark programs)
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
quarry_jar="$here/deploy/target/quarry.jar"
bench_jar="$here/bench/target/benchmarks.jar"

# True when $1 is missing or a source file of the modules (or a pom) is newer than it.
jar_is_stale() {
  [ ! -f "$1" ] && return 0
  [ -n "$(find "$here/pom.xml" "$here"/{config,protocol,worker,djl,coordinator,deploy,bench}/pom.xml \
      "$here"/{config,protocol,worker,djl,coordinator,deploy,bench}/src/main -type f -newer "$1" -print -quit)" ]
}

need_quarry_jar() {
  "$here/quarry" --version >/dev/null
}

need_bench_jar() {
  if [ -n "${BENCH_BUILD:-}" ] || jar_is_stale "$bench_jar"; then
    echo "bench: building $bench_jar (mvn package -Pbench) ..." >&2
    (cd "$here" && mvn -B -q -Pbench -pl bench -am package -DskipTests)
  fi
}
