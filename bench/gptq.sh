#!/usr/bin/env bash
# GPTQ seconds per layer at Llama-7B shapes (GptqBench, a timed CLI): Hessian accumulation over synthetic calibration
# activations (target 128 x 2048 tokens), the Cholesky of the damped inverse, and the solve for I4_SYM_G128 and
# I4_ASYM_CH, with 1 and 2 threads; wall and process CPU seconds, peak heap; a table at the end.
#
#   bench/gptq.sh                                   all three shapes (4096x4096, 4096x11008, 11008x4096), 262144 tokens
#   bench/gptq.sh --shapes 4096x4096,4096x11008 --tokens 4096:16384    fewer tokens: the Hessian is scaled linearly (marked *)
#   SKIP_BUILD=1 bench/gptq.sh ...                  reuses bench/target/benchmarks.jar
#   GPTQ_HEAP=16g                                   the JVM heap (default 12g; in=11008 holds several 11008^2 doubles)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

java_ok() { [ -x "$1/bin/java" ] && "$1/bin/java" -version 2>&1 | grep -Eq 'version "(2[5-9]|[3-9][0-9])'; }
if [ -n "${JAVA_HOME:-}" ] && java_ok "$JAVA_HOME"; then jh=$JAVA_HOME
elif java_ok /usr/lib/jvm/temurin-25-jdk-amd64; then jh=/usr/lib/jvm/temurin-25-jdk-amd64
else echo "gptq.sh: needs JDK 25 (set JAVA_HOME)" >&2; exit 1; fi

if [ -z "${SKIP_BUILD:-}" ]; then
  (cd "$root" && JAVA_HOME=$jh ./mvnw -q -o install -Dmaven.test.skip=true -pl core,quantizer-service,bench -am)
fi

echo "CPU: $(awk -F: '/^model name/ {print $2; exit}' /proc/cpuinfo), $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)"
exec "$jh/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx"${GPTQ_HEAP:-12g}" \
  -cp "$root/bench/target/benchmarks.jar" io.shardwise.bench.GptqBench "$@"
