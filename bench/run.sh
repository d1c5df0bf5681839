#!/usr/bin/env bash
# Builds bench/target/benchmarks.jar (core + JMH benchmarks) and runs it, then prints each result as GB/s and as
# CPU cycles per 32 values, the unit of the ggml numbers in issue 4.
#
#   bench/run.sh [JMH args]          e.g.  bench/run.sh -t 1 DotBench      bench/run.sh -t 2 -wi 2 -i 3 -p type=Q8_0
#   SKIP_BUILD=1 bench/run.sh ...    reuses the jar already built
#   bench/run.sh -bm sample -tu us -t 1 DotBench    time per op; its p0.00 row (fastest op) is the least disturbed by other load
#
# Cycles assume every core runs at the nominal clock: "cpu MHz" in /proc/cpuinfo (under a hypervisor that is the
# TSC rate the host reports; turbo, throttling and sharing the cores make the true count differ). With -t T the
# cycles are per core: T x nominal Hz x 32 / (values per second summed over the T threads).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

java_ok() { [ -x "$1/bin/java" ] && "$1/bin/java" -version 2>&1 | grep -Eq 'version "(2[5-9]|[3-9][0-9])'; }
if [ -n "${JAVA_HOME:-}" ] && java_ok "$JAVA_HOME"; then jh=$JAVA_HOME
elif java_ok /usr/lib/jvm/temurin-25-jdk-amd64; then jh=/usr/lib/jvm/temurin-25-jdk-amd64
else echo "run.sh: needs JDK 25 (set JAVA_HOME)" >&2; exit 1; fi

if [ -z "${SKIP_BUILD:-}" ]; then
  (cd "$root" && ./mvnw -q -o install -Dmaven.test.skip=true -pl core,bench)
fi

mhz=$(awk -F: '/^cpu MHz/ {gsub(/ /, "", $2); print $2; exit}' /proc/cpuinfo)
if [ -z "$mhz" ]; then
  mhz=$(awk -F'@' '/^model name/ && /GHz/ {gsub(/[ GHz]/, "", $2); print $2 * 1000; exit}' /proc/cpuinfo)
fi
csv=$(mktemp --suffix=.csv)
trap 'rm -f "$csv"' EXIT
echo "JVM: $("$jh/bin/java" -version 2>&1 | head -1); CPU: $(awk -F: '/^model name/ {print $2; exit}' /proc/cpuinfo), ${mhz} MHz nominal, $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)"
"$jh/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
  -jar "$root/bench/target/benchmarks.jar" -rf csv -rff "$csv" "$@"

echo
echo "Per result: values/s summed over threads; cycles per 32 values per core at ${mhz} MHz; GB/s of f32 input (quantize) or of weight bytes (dot)"
awk -v mhz="$mhz" -F',' '
  function unq(s) { gsub(/["\r]/, "", s); return s }
  NR == 1 { for (i = 1; i <= NF; i++) col[unq($i)] = i; next }
  {
    name = unq($col["Benchmark"]); threads = unq($col["Threads"]); score = unq($col["Score"]) + 0
    type = unq($col["Param: type"]); n = unq($col["Param: n"]) + 0; rows = unq($col["Param: rows"]) + 0
    unit = unq($col["Unit"])
    if (n == 0 || score == 0) { print name, type, "(no values per op, skipped)"; next }
    if (unit == "ops/s") values = score * n * rows
    else if (unit ~ /\/op$/) {
      # time per op (e.g. -bm sample, whose :p0.00 row is the fastest op: the least disturbed by other load)
      sec = (unit ~ /^ns/) ? 1e-9 : (unit ~ /^us/) ? 1e-6 : (unit ~ /^ms/) ? 1e-3 : 1
      values = threads * n * rows / (score * sec)
    } else { print name, type, "(unit " unit " not converted)"; next }
    cyc = threads * mhz * 1e6 * 32 / values
    if (name ~ /Quantize/) { gbs = values * 4 / 1e9; what = "GB/s f32 in" }
    else {
      bpv = (type == "Q8_0") ? 34 / 32 : (type == "Q4_0") ? 18 / 32 : (type == "Q4_K") ? 144 / 256 : (type == "Q6_K") ? 210 / 256 : (type == "F16" || type == "BF16") ? 2 : 4
      gbs = values * bpv / 1e9; what = "GB/s weights"
    }
    kern = ("Param: kernels" in col) ? unq($col["Param: kernels"]) : ""
    printf "%-44s %-5s %-7s t=%s  %12.4g values/s  %7.2f cycles/32 values  %7.2f %s\n", name, type, kern, threads, values, cyc, gbs, what
  }' "$csv"
