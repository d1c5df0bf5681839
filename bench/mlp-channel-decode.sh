#!/usr/bin/env bash
# Decode tokens/s, dense float model vs the same model with a share of every layer's MLP channels removed (mlp_channels), 1 and 2 threads.
#
#   bench/mlp-channel-decode.sh [shape] [F16|F32] [ratio] [steps] [rounds]     default: llama-3.2-1b F16 0.25 24 2
#   BENCH_DIR=/path  where the synthetic model goes (as bench/decode.sh; 1B F16 is 2.5 GB)
#   SKIP_BUILD=1     reuses bench/target/benchmarks.jar
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
jh=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
if [ -z "${SKIP_BUILD:-}" ]; then
  (cd "$root" && ./mvnw -q -o install -Dmaven.test.skip=true -pl core,pruner-service,bench)
fi
echo "CPU: $(awk -F: '/^model name/ {print $2; exit}' /proc/cpuinfo), $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)"
# the narrowed matrices live off-heap: allow them past the heap-sized default
exec "$jh/bin/java" -Xmx1g -XX:MaxDirectMemorySize=32g --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
  -cp "$root/bench/target/benchmarks.jar" io.shardwise.bench.MlpChannelDecodeBench "$@"
