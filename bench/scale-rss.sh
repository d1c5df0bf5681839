#!/usr/bin/env bash
# Peak memory of every process of the local stack while one job runs: a Q8_0 round-to-nearest stage and a
# short perplexity evaluation of MODEL (e.g. a `shardwise synth --shape llama-3.2-1b` GGUF, or stories260K).
#   bench/scale-rss.sh MODEL [TEXT] [MAX_TOKENS]
#     TEXT        evaluation text inside the model's folder or ../shared/data (default: TinyStories eval_sample)
#     MAX_TOKENS  tokens the evaluator scores (default 64: the evaluator finishes in minutes on a 1B model)
#   SHARDWISE   how to run the CLI (default: bin/shardwise)
#   RUN_DIR     run folder (default out/scale-rss-<model>-<time>); keeps logs and rss.tsv
# Polls /proc/<pid>/status every 0.2 s. VmHWM is the kernel's peak RSS; RssAnon (heap, native buffers) and
# RssFile (pages of mapped files: page cache, shared and reclaimable) are the largest values seen while polling.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODEL="$(realpath "${1:?usage: bench/scale-rss.sh MODEL [TEXT] [MAX_TOKENS]}")"
TEXT="$(realpath "${2:-$ROOT/../shared/data/text/tinystories/eval_sample.txt}")"
MAX_TOKENS="${3:-64}"
SHARDWISE="${SHARDWISE:-$ROOT/bin/shardwise}"
RUN_DIR="${RUN_DIR:-$ROOT/out/scale-rss-$(basename "$MODEL")-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$RUN_DIR"
RECIPE="$RUN_DIR/recipe.yaml"
cat > "$RECIPE" <<YAML
stages:
  - quantize: { method: rtn, type: Q8_0 }
evaluate: { suites: ["file:$TEXT"], max_tokens: $MAX_TOKENS, compare_to: source }
output:   { format: gguf }
YAML

$SHARDWISE demo --model "$MODEL" --recipe "$RECIPE" --dir "$RUN_DIR/stack" > "$RUN_DIR/demo.out" 2> "$RUN_DIR/demo.err" &
DEMO=$!
declare -A PID HWM ANON FILE
kib() { awk -v k="$1" '$1 == k":" { print $2 }' "$2" 2>/dev/null || true; }
while kill -0 "$DEMO" 2>/dev/null; do
  while read -r name pid; do PID[$name]=$pid; done < <(cat "$RUN_DIR/demo.out" "$RUN_DIR/demo.err" | sed -n 's/^\([a-z0-9-]*\): started, pid \([0-9]*\),.*/\1 \2/p')
  for name in "${!PID[@]}"; do
    st="/proc/${PID[$name]}/status"
    [ -r "$st" ] || continue
    h=$(kib VmHWM "$st"); a=$(kib RssAnon "$st"); f=$(kib RssFile "$st")
    [ -n "$h" ] && [ "$h" -gt "${HWM[$name]:-0}" ] && HWM[$name]=$h
    [ -n "$a" ] && [ "$a" -gt "${ANON[$name]:-0}" ] && ANON[$name]=$a
    [ -n "$f" ] && [ "$f" -gt "${FILE[$name]:-0}" ] && FILE[$name]=$f
  done
  sleep 0.2
done
set +e; wait "$DEMO"; rc=$?; set -e

{
  printf 'process\tVmHWM_MiB\tmax_RssAnon_MiB\tmax_RssFile_MiB\n'
  for name in $(printf '%s\n' "${!PID[@]}" | sort); do
    printf '%s\t%d\t%d\t%d\n' "$name" $(( ${HWM[$name]:-0} / 1024 )) $(( ${ANON[$name]:-0} / 1024 )) $(( ${FILE[$name]:-0} / 1024 ))
  done
} | tee "$RUN_DIR/rss.tsv" | column -t
echo "model $MODEL ($(du -h "$MODEL" | cut -f1)); demo exit $rc; run folder $RUN_DIR (demo.out, demo.err, stack/logs)"
grep -E "ppl|failed|succeeded" "$RUN_DIR/demo.err" "$RUN_DIR/demo.out" | tail -5 || true
exit $rc
