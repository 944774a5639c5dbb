#!/usr/bin/env bash
# llmrelay load benchmark and soak (run by hand; not part of `mvn verify`).
#
#   ./proxy-example/bench.sh all                      # every mode with the issue's defaults (~35 min)
#   ./proxy-example/bench.sh throughput               # wrk vs direct / nginx / proxy, 16 and 64 connections
#   ./proxy-example/bench.sh latency                  # added latency at 200 req/s, 50 ms upstream
#   ./proxy-example/bench.sh stream                   # time to first event, per-event forwarding
#   ./proxy-example/bench.sh slowstreams --java /usr/lib/jvm/temurin-25-jdk-amd64   # 5,000 slow streams
#   ./proxy-example/bench.sh soak                     # 10,000 mixed requests, then leak checks
#   ./proxy-example/bench.sh throughput --warmup 5 --rounds 2 --round 5               # a quick run
#   ./proxy-example/bench.sh throughput --variant serial='-XX:+UseSerialGC -Xmx128m' \
#                                       --variant g1='-XX:+UseG1GC -Xmx128m'          # compare JVM flags
#   ./proxy-example/bench.sh throughput --variant before='-Xmx128m jar=/tmp/llmrelay-old.jar' \
#                                       --variant after='-Xmx128m'    # compare two builds in one table
#   ./proxy-example/bench.sh throughput --variant java-jar='' --variant script='script'  # JVM defaults vs
#                                       # the start script target/llmrelay (the default without --variant)
#   (in a variant, jdk=PATH picks another JDK, jar=PATH another llmrelay jar, script starts it
#   through the start script next to the jar; see --help)
#   ./proxy-example/bench.sh --help
#
# Needs wrk for `throughput` (apt-get install wrk) and uses nginx when installed (apt-get install
# nginx; the benchmark starts its own nginx processes on 127.0.0.1 with configs in a temp dir).
# BENCH_JAVA picks the JVM that runs the load generator (default: java on PATH); --java picks the
# proxy's JDK. BENCH_JAR overrides the jar (default proxy-example/target/llmrelay.jar, built if
# missing). The benchmark itself is not in that jar: its classes are proxy-example's test classes
# (src/bench/java, compiled to target/test-classes by every build), run here with the product jar
# on the class path. The jar, the start script beside it and the benchmark classes are copied to a
# temp dir for the run, so rebuilding meanwhile is harmless; so is a variant's jar=PATH (copied
# when the options are read).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
jar="${BENCH_JAR:-$here/target/llmrelay.jar}"
classes="$here/target/test-classes"
if [[ ! -f "$jar" || ! -f "$classes/dev/llmrelay/example/bench/Bench.class" ]]; then
  echo "bench.sh: building $jar and the benchmark classes" >&2
  (cd "$root" && mvn -B -ntp -q -pl proxy-example -am package -DskipTests)
fi
# Thousands of streams need thousands of sockets in this process and in the proxy it starts.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || ulimit -n 65536 2>/dev/null || true
if (( $(ulimit -n) < 16384 )); then
  echo "bench.sh: warning: ulimit -n is $(ulimit -n); slowstreams with 5000 streams needs ~10,000" >&2
fi
copy="$(mktemp -d -t llmrelay-bench-XXXXXX)"
trap 'rm -rf "$copy"' EXIT
cp "$jar" "$copy/llmrelay.jar"
# The start script users run (target/llmrelay), if the build made one beside the jar: the
# benchmark's `script` variants start the proxy through it.
script="$(dirname "$jar")/llmrelay"
if [[ -f "$script" ]]; then
  cp "$script" "$copy/llmrelay" && chmod +x "$copy/llmrelay"
fi
mkdir -p "$copy/bench-classes/dev/llmrelay/example"
cp -R "$classes/dev/llmrelay/example/bench" "$copy/bench-classes/dev/llmrelay/example/"
java="${BENCH_JAVA:-java}"
"$java" -Dllmrelay.jar="$copy/llmrelay.jar" -cp "$copy/bench-classes:$copy/llmrelay.jar" \
  dev.llmrelay.example.bench.Bench "$@"
