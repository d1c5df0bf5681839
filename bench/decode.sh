#!/usr/bin/env bash
# Decode speed of a real-shape model: writes the llama-3.2-1b shape (seeded random weights) in each type once,
# (F16, then converted to each type by `shardwise convert`), then times `shardwise generate` with 1 and 2 threads and prints its tokens/s line.
#
#   bench/decode.sh [shape] [types...]     default: llama-3.2-1b Q8_0 Q4_0
#   BENCH_DIR=/path  where the synthetic models go (default ~/.cache/shardwise/bench; 1B Q8_0 is 1.3 GB)
#   STEPS=N          tokens to generate (default 48)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shape=${1:-llama-3.2-1b}
shift || true
types=("$@")
[ ${#types[@]} -gt 0 ] || types=(Q8_0 Q4_0)
dir=${BENCH_DIR:-$HOME/.cache/shardwise/bench}
steps=${STEPS:-48}
mkdir -p "$dir"
echo "CPU: $(awk -F: '/^model name/ {print $2; exit}' /proc/cpuinfo), $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)"
for type in "${types[@]}"; do
  model="$dir/$shape-$type.gguf"
  if [ ! -f "$model" ]; then
    f16="$dir/$shape-F16.gguf"
    [ -f "$f16" ] || "$root/bin/shardwise" synth --shape "$shape" --type F16 --out "$f16"
    "$root/bin/shardwise" convert --in "$f16" --out "$model" --type "$type"
  fi
  for threads in 1 2; do
    echo "== $shape $type, $threads thread(s)"
    SHARDWISE_JAVA_OPTS=-Xmx512m "$root/bin/shardwise" generate --model "$model" --prompt "Once upon a time" \
      --steps "$steps" --threads "$threads" --temperature 0 | tail -1
  done
done
